# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Revision history, as ``kubectl rollout history`` reads it, and undo targets.

A Deployment keeps one ReplicaSet per pod template it has run, numbered by the annotation
``deployment.kubernetes.io/revision``; a StatefulSet or a DaemonSet keeps one
ControllerRevision per template, numbered by its ``revision`` field, with the template in
``data.spec.template``. Going back to a template reuses its ReplicaSet/ControllerRevision,
which then gets the next number: the current revision is always the highest. Only
``revisionHistoryLimit`` old ones are kept; older numbers are gone for good.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

REVISION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE = "kubernetes.io/change-cause"
RS_HASH = "pod-template-hash"
CR_HASH = "controller.kubernetes.io/hash"
POD_REVISION = "controller-revision-hash"


class UndoRefused(Exception):
    """The undo target does not exist (any more); the message lists those that do."""


def _meta(obj):
    return obj.get("metadata") or {}


def owned_by(owner, items):
    """The items whose controller reference is ``owner`` (by uid)."""
    uid = _meta(owner).get("uid")
    return [i for i in items or [] if any(
        ref.get("uid") == uid and ref.get("controller") for ref in _meta(i).get(
            "ownerReferences") or [])]


def without_hash(template, key=RS_HASH):
    """A pod template with the controller's hash label removed (for comparing)."""
    template = copy.deepcopy(template or {})
    labels = (template.get("metadata") or {}).get("labels")
    if labels and key in labels:
        del labels[key]
    return template


def images_of(template):
    """{container name: image}, init containers included."""
    spec = (template or {}).get("spec") or {}
    return dict((c.get("name"), c.get("image")) for c in
                (spec.get("initContainers") or []) + (spec.get("containers") or []))


def _int(value, default=0):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _revision(number, name, template, annotations, created, replicas, ready, available,
              pod_labels):
    return dict(revision=number, name=name, pod_labels=pod_labels,
                change_cause=(annotations or {}).get(CHANGE_CAUSE),
                images=images_of(template), created=created, replicas=replicas,
                ready_replicas=ready, available_replicas=available, current=False,
                template=template)


def deployment_history(deployment, replicasets):
    """The Deployment's retained revisions, oldest first (see ``mark_current``)."""
    revisions = []
    for rs in owned_by(deployment, replicasets):
        meta, status = _meta(rs), rs.get("status") or {}
        number = _int((meta.get("annotations") or {}).get(REVISION), None)
        if number is None:
            continue  # adopted but not yet numbered by the controller
        revisions.append(_revision(
            number, meta.get("name"), without_hash((rs.get("spec") or {}).get("template")),
            meta.get("annotations"), meta.get("creationTimestamp"),
            status.get("replicas", 0), status.get("readyReplicas", 0),
            status.get("availableReplicas", 0),
            {RS_HASH: (meta.get("labels") or {}).get(RS_HASH) or _hash_of(rs)}))
    current = without_hash((deployment.get("spec") or {}).get("template"))
    return mark_current(sorted(revisions, key=lambda r: r["revision"]),
                        lambda r: r["template"] == current)


def controller_history(obj, controller_revisions, pods):
    """A StatefulSet's or DaemonSet's retained revisions, oldest first. Pods are counted
    per revision by their ``controller-revision-hash`` label (a StatefulSet's pods carry
    the ControllerRevision's name, a DaemonSet's its hash label)."""
    revisions = []
    kind = obj.get("kind")
    for cr in owned_by(obj, controller_revisions):
        meta = _meta(cr)
        template = copy.deepcopy(((cr.get("data") or {}).get("spec") or {}).get("template")
                                 or {})
        template.pop("$patch", None)
        keys = set([meta.get("name"), (meta.get("labels") or {}).get(CR_HASH)]) - set([None])
        mine = [p for p in pods or [] if (_meta(p).get("labels") or {}).get(POD_REVISION) in keys
                and not _meta(p).get("deletionTimestamp")]
        ready = [p for p in mine if _pod_ready(p)]
        revisions.append(_revision(
            _int(cr.get("revision")), meta.get("name"), template, meta.get("annotations"),
            meta.get("creationTimestamp"), len(mine), len(ready), len(ready),
            {POD_REVISION: (meta.get("labels") or {}).get(CR_HASH) if kind == "DaemonSet"
             else meta.get("name")}))
    revisions.sort(key=lambda r: r["revision"])
    status = obj.get("status") or {}
    if kind == "StatefulSet" and status.get("updateRevision"):
        return mark_current(revisions, lambda r: r["name"] == status["updateRevision"])
    current = (obj.get("spec") or {}).get("template")
    return mark_current(revisions, lambda r: _same_template(r["template"], current))


def _hash_of(rs):
    labels = (((rs.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels")
    return (labels or {}).get(RS_HASH)


def _same_template(a, b):
    return without_hash(a, POD_REVISION) == without_hash(b, POD_REVISION)


def _pod_ready(pod):
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def mark_current(revisions, is_current):
    """Flag the current revision: the highest one whose template is the object's (the
    controller renumbers a reused one, so there is at most one after it caught up)."""
    for rev in reversed(revisions):
        if is_current(rev):
            rev["current"] = True
            break
    return revisions


def current_of(revisions):
    for rev in revisions:
        if rev["current"]:
            return rev
    return None


def public(revisions):
    """The history as reported: without the templates (see ``detail``)."""
    return [dict((k, v) for k, v in rev.items() if k != "template") for rev in revisions]


def detail(revisions, number):
    """``kubectl rollout history --revision N``: the revision with its pod template."""
    for rev in revisions:
        if rev["revision"] == number:
            return copy.deepcopy(rev)
    raise UndoRefused("revision %d not found; retained revisions: %s"
                      % (number, _numbers(revisions)))


def _numbers(revisions):
    return ", ".join(str(r["revision"]) for r in revisions) or "none"


def undo_target(revisions, to_revision=None, to_image=None):
    """The revision an undo goes to. ``to_revision`` 0/None: the one before the current
    (what ``kubectl rollout undo`` does); N: that number; ``to_image``: the newest revision
    running that image (the current one if it does). Raises UndoRefused with the retained
    revisions when there is no such revision."""
    current = current_of(revisions)
    if to_image:
        matches = [r for r in revisions if to_image in r["images"].values()]
        if not matches:
            raise UndoRefused("no retained revision runs image %s; retained: %s" % (
                to_image, "; ".join("%d: %s" % (r["revision"], ", ".join(
                    sorted(r["images"].values()))) for r in revisions) or "none"))
        if current is not None and current in matches:
            return current
        return matches[-1]
    if to_revision:
        for rev in revisions:
            if rev["revision"] == to_revision:
                return rev
        raise UndoRefused("revision %d not found (pruned by revisionHistoryLimit, or never "
                          "made); retained revisions: %s" % (to_revision, _numbers(revisions)))
    below = [r for r in revisions if current is None or r["revision"] < current["revision"]]
    if not below:
        raise UndoRefused("no revision before the current one to undo to; retained "
                          "revisions: %s" % _numbers(revisions))
    return below[-1]
