# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The writes of each k8s_rollout action, as pure functions of what was read.

Every write is one PUT of the whole object with the resourceVersion it was read at, so an
undo sets the template exactly (a merge patch would keep labels the old template lacks)
and a concurrent change is a 409, never overwritten.

Holding a Deployment after N new pods (``pause_after``) is two writes:

1. *batch*: the new template with ``paused: false``, ``maxSurge: N``, ``maxUnavailable:
   0`` and a ``minReadySeconds`` (and progress deadline) of decades. The controller's
   first sync creates the new ReplicaSet with exactly N pods (all it may add above the
   replica count) and can do nothing more until one of them is available, which the
   long ``minReadySeconds`` keeps from happening; the user's own values are kept in the
   annotation ``progressive.delivery/rollout-hold``.
2. *pause*, once the N pods exist: ``paused: true`` and the user's ``minReadySeconds``
   and deadline back. A paused Deployment is only rescaled when its pods do not add up to
   replicas + maxSurge, which they do (old replicas + N), so the hold stays at N.

Moving a paused hold on to a larger batch starts with a third write, *guard*: the
long ``minReadySeconds`` (and deadline) back while still paused, so the held pods stop
counting as available before the batch write lets the controller scale (the backend waits
for the ReplicaSet and the Deployment status to say so between the two).

``state=resumed`` (or a batch of all the replicas) puts the saved strategy back and
unpauses in one write.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json

from ansible_collections.progressive.delivery.plugins.module_utils.engine import Write
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    DEPLOYMENT,
    Resource,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    FieldErrors,
)
from ansible_collections.progressive.delivery.plugins.module_utils.rollout import (
    history as hist,
)
from ansible_collections.progressive.delivery.plugins.module_utils.rollout import (
    strategy as st,
)

STATEFULSET = Resource("apps/v1", "StatefulSet", "statefulsets", True)
DAEMONSET = Resource("apps/v1", "DaemonSet", "daemonsets", True)
CONTROLLERREVISION = Resource("apps/v1", "ControllerRevision", "controllerrevisions", True)
RESOURCES = {"Deployment": DEPLOYMENT, "StatefulSet": STATEFULSET, "DaemonSet": DAEMONSET}

HOLD = "progressive.delivery/rollout-hold"
# While a batch is being created no new pod may count as available (see the module doc),
# also a pod held for days before the move: the largest the API takes (the deadline must be
# larger still; at the int32 maximum the controller reads it as "no deadline").
GUARD_MIN_READY = 2147483646
GUARD_DEADLINE = 2147483647
DEFAULT_DEADLINE = 600


class PlanError(Exception):
    """The object's state forbids the action (nothing was written)."""


# ---------------------------------------------------------------------------
# the pod template
# ---------------------------------------------------------------------------
def merge(base, patch):
    """``patch`` merged into ``base``: mappings key by key (null removes a key), lists of
    named items (containers, env, ports, volumes) item by item by name, other lists
    replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = copy.deepcopy(base)
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
            else:
                out[key] = merge(out.get(key), value)
        return out
    if _named_list(base) and _named_list(patch):
        out = [copy.deepcopy(item) for item in base]
        index = dict((item["name"], i) for i, item in enumerate(out))
        for item in patch:
            if item["name"] in index:
                out[index[item["name"]]] = merge(out[index[item["name"]]], item)
            else:
                out.append(copy.deepcopy(item))
        return out
    return copy.deepcopy(patch)


def _named_list(value):
    return isinstance(value, list) and all(isinstance(i, dict) and "name" in i for i in value)


def desired_template(spec, template):
    """The pod template after the call's images, env and pod_template; ValidationError
    (nothing written) naming a container that does not exist."""
    template = merge(template or {}, spec.pod_template or {})
    containers = ((template.get("spec") or {}).get("containers")) or []
    inits = ((template.get("spec") or {}).get("initContainers")) or []
    by_name = dict((c.get("name"), c) for c in inits + containers)
    errors = FieldErrors()
    for name, image in sorted((spec.images or {}).items()):
        if name not in by_name:
            errors.add("images.%s" % name, "%r: no container %s in %s %s (containers: %s)",
                       image, name, spec.kind, spec.name, ", ".join(sorted(by_name)) or "none")
        else:
            by_name[name]["image"] = image
    errors.raise_if_any()
    if spec.env:
        for container in containers:
            env = [e for e in container.get("env") or [] if e.get("name") not in spec.env]
            current = dict((e.get("name"), e) for e in container.get("env") or [])
            for var, value in spec.env.items():
                if value is None:
                    continue
                value = str(value)
                old = current.get(var)
                if old is not None and old.get("value") == value and "valueFrom" not in old:
                    env.append(old)
                else:
                    env.append({"name": var, "value": value})
            kept = [e for e in container.get("env") or [] if e in env]
            added = [e for e in env if e not in kept]
            if kept or added:
                container["env"] = kept + added
            else:
                container.pop("env", None)
    return template


# ---------------------------------------------------------------------------
# strategy settings
# ---------------------------------------------------------------------------
def rolling(obj):
    """(maxSurge, maxUnavailable) as IntOrPercent, the API's defaults when unset."""
    spec = obj.get("spec") or {}
    key = "strategy" if obj.get("kind") == "Deployment" else "updateStrategy"
    ru = ((spec.get(key) or {}).get("rollingUpdate")) or {}
    surge_default = st.DEFAULT_SURGE if obj.get("kind") == "Deployment" else 0
    unavailable_default = st.DEFAULT_UNAVAILABLE if obj.get("kind") == "Deployment" else 1
    return (st.from_api(ru.get("maxSurge"), surge_default),
            st.from_api(ru.get("maxUnavailable"), unavailable_default))


def hold_of(obj):
    """The saved strategy of a held Deployment (a dict), or None."""
    text = ((obj.get("metadata") or {}).get("annotations") or {}).get(HOLD)
    if not text:
        return None
    try:
        saved = json.loads(text)
    except ValueError:
        return None
    return saved if isinstance(saved, dict) else None


def _set_rolling(obj, surge, unavailable):
    spec = obj.setdefault("spec", {})
    key = "strategy" if obj.get("kind") == "Deployment" else "updateStrategy"
    strategy = spec.setdefault(key, {})
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        raise PlanError("%s %s uses the %s strategy: maxSurge/maxUnavailable apply to "
                        "RollingUpdate only" % (obj.get("kind"), obj["metadata"]["name"],
                                                strategy.get("type")))
    strategy["type"] = "RollingUpdate"
    strategy["rollingUpdate"] = dict(strategy.get("rollingUpdate") or {},
                                     maxSurge=surge.api(), maxUnavailable=unavailable.api())


def apply_settings(spec, obj, saved=None):
    """The call's strategy settings on a copy of ``obj``; while a hold is on, they go to
    the saved strategy (``saved``, updated in place) instead, to take effect on resume."""
    obj = copy.deepcopy(obj)
    kind = obj.get("kind")
    if saved is not None:
        for option, key in (("max_surge", "maxSurge"), ("max_unavailable", "maxUnavailable")):
            if getattr(spec, option) is not None:
                saved[key] = getattr(spec, option).api()
        for option, key in (("min_ready_seconds", "minReadySeconds"),
                            ("progress_deadline_seconds", "progressDeadlineSeconds")):
            if getattr(spec, option) is not None:
                saved[key] = getattr(spec, option)
    else:
        if spec.max_surge is not None or spec.max_unavailable is not None:
            surge, unavailable = rolling(obj)
            surge = spec.max_surge if spec.max_surge is not None else surge
            unavailable = spec.max_unavailable if spec.max_unavailable is not None else unavailable
            check = st.check_daemonset if kind == "DaemonSet" else st.check_deployment
            problems = check(surge, unavailable)
            if problems:
                errors = FieldErrors()
                for field, message in problems:
                    errors.add(field, "%s (with the %s's current value of the other)"
                               % (message, kind))
                errors.raise_if_any()
            _set_rolling(obj, surge, unavailable)
        for option, key in (("min_ready_seconds", "minReadySeconds"),
                            ("progress_deadline_seconds", "progressDeadlineSeconds")):
            if getattr(spec, option) is not None:
                obj["spec"][key] = getattr(spec, option)
    if spec.revision_history_limit is not None:
        obj["spec"]["revisionHistoryLimit"] = spec.revision_history_limit
    deadline = obj["spec"].get("progressDeadlineSeconds")
    if saved is None and kind == "Deployment" and deadline is not None and \
            deadline <= obj["spec"].get("minReadySeconds", 0):
        errors = FieldErrors()
        errors.add("progress_deadline_seconds", "%d must be greater than minReadySeconds (%d)",
                   deadline, obj["spec"].get("minReadySeconds", 0))
        errors.raise_if_any()
    return obj


def _set_change_cause(obj, cause):
    annotations = obj.setdefault("metadata", {}).setdefault("annotations", {})
    if cause is None:
        annotations.pop(hist.CHANGE_CAUSE, None)
    else:
        annotations[hist.CHANGE_CAUSE] = cause


def _release_hold(obj):
    """Unpause and put the saved strategy back (one write with the rest)."""
    saved = hold_of(obj)
    obj["spec"]["paused"] = False
    if saved is None:
        obj["spec"].pop("paused")
        return obj
    obj["metadata"]["annotations"].pop(HOLD, None)
    _set_rolling(obj, st.parse(saved["maxSurge"]), st.parse(saved["maxUnavailable"]))
    for key in ("minReadySeconds", "progressDeadlineSeconds"):
        if saved.get(key) is None:
            obj["spec"].pop(key, None)
        else:
            obj["spec"][key] = saved[key]
    return obj


def _write(spec, current, desired, description):
    if _comparable(current) == _comparable(desired):
        return []
    body = copy.deepcopy(desired)
    body.pop("status", None)
    body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
    return [Write("replace", RESOURCES[spec.kind], spec.namespace, spec.name, body,
                  description)]


def _comparable(obj):
    spec = copy.deepcopy(obj.get("spec") or {})
    if not spec.get("paused"):
        spec.pop("paused", None)
    annotations = dict((obj.get("metadata") or {}).get("annotations") or {})
    return spec, annotations


# ---------------------------------------------------------------------------
# the actions
# ---------------------------------------------------------------------------
def _what(spec, current, desired):
    parts = []
    before = hist.images_of(current["spec"].get("template"))
    after = hist.images_of(desired["spec"].get("template"))
    for name in sorted(after):
        if before.get(name) != after[name]:
            parts.append("image %s=%s" % (name, after[name]))
    if current["spec"].get("template") != desired["spec"].get("template") and not parts:
        parts.append("pod template")
    old_spec = dict((k, v) for k, v in current["spec"].items() if k != "template")
    new_spec = dict((k, v) for k, v in desired["spec"].items() if k != "template")
    if old_spec != new_spec:
        parts.append("settings")
    return ", ".join(parts) or "annotations"


def plan_update(spec, obj, pause=None):
    """present / paused / resumed: settings, template and change-cause in one write;
    ``pause`` True/False sets ``spec.paused`` (False also releases a hold)."""
    if pause is False:
        desired = apply_settings(spec, _release_hold(copy.deepcopy(obj)))
    else:
        held = hold_of(obj) if obj.get("kind") == "Deployment" else None
        saved = dict(held) if held is not None else None
        desired = apply_settings(spec, obj, saved)
        if saved is not None and saved != held:
            desired["metadata"].setdefault("annotations", {})[HOLD] = json.dumps(
                saved, sort_keys=True)
    template = desired_template(spec, obj["spec"].get("template"))
    desired["spec"]["template"] = template
    if spec.change_cause is not None:
        _set_change_cause(desired, spec.change_cause)
    if pause is True:
        desired["spec"]["paused"] = True
    verb = {None: "update", True: "pause", False: "resume"}[pause]
    return _write(spec, obj, desired, "%s %s %s/%s (%s)" % (
        verb, spec.kind, spec.namespace, spec.name, _what(spec, obj, desired)))


def template_changes(spec, obj):
    return desired_template(spec, obj["spec"].get("template")) != obj["spec"].get("template")


def new_replicaset(obj, replicasets):
    """The ReplicaSet running the Deployment's template, or None."""
    current = hist.without_hash(obj["spec"].get("template"))
    for rs in hist.owned_by(obj, replicasets):
        if hist.without_hash((rs.get("spec") or {}).get("template")) == current:
            return rs
    return None


def new_replicas(obj, replicasets):
    """Pods (spec.replicas of the ReplicaSet) running the Deployment's template, or 0."""
    rs = new_replicaset(obj, replicasets)
    return ((rs or {}).get("spec") or {}).get("replicas", 0)


def moving_on(spec, obj, replicasets, batch):
    """The ReplicaSet whose pods a paused Deployment holds when this call moves it on to a
    larger ``batch`` of the same template, else None. Its pods may count as available
    (the pause put the Deployment's own minReadySeconds back), and the controller removes
    one old pod per available new pod: they must stop counting before the batch write."""
    if not obj["spec"].get("paused") or template_changes(spec, obj):
        return None
    rs = new_replicaset(obj, replicasets)
    held = ((rs or {}).get("spec") or {}).get("replicas", 0)
    return rs if 0 < held < batch else None


def guarded(obj):
    return (obj["spec"].get("minReadySeconds") == GUARD_MIN_READY and
            obj["spec"].get("progressDeadlineSeconds") == GUARD_DEADLINE)


def plan_guard(spec, obj, replicasets, batch):
    """Moving a hold on, write 1 of 3: the long minReadySeconds while still paused (the
    controller copies it to the new ReplicaSet and scales nothing), the Deployment's own
    values kept in the hold annotation (a Deployment paused by someone else gets one).
    Empty when there is nothing held to move on from, or the guard is on already."""
    rs = moving_on(spec, obj, replicasets, batch)
    if rs is None or guarded(obj):
        return []
    desired = copy.deepcopy(obj)
    if hold_of(obj) is None:
        saved = dict(_strategy_of(obj), batch=rs["spec"]["replicas"])
        desired["metadata"].setdefault("annotations", {})[HOLD] = json.dumps(
            saved, sort_keys=True)
    desired["spec"]["minReadySeconds"] = GUARD_MIN_READY
    desired["spec"]["progressDeadlineSeconds"] = GUARD_DEADLINE
    return _write(spec, obj, desired, "stop %s %s/%s's %d new pod(s) counting as available "
                  "(minReadySeconds %d) before moving on" % (
                      spec.kind, spec.namespace, spec.name, rs["spec"]["replicas"],
                      GUARD_MIN_READY))


def plan_batch(spec, obj, replicasets, batch):
    """Hold, write 1: the new template rolled out by exactly ``batch`` surge pods. Empty
    when the Deployment already runs at least that many pods of it (held or not)."""
    template = desired_template(spec, obj["spec"].get("template"))
    at = new_replicas(obj, replicasets) if template == obj["spec"].get("template") else 0
    held = hold_of(obj)
    if at >= batch or (held and held.get("batch") == batch and not obj["spec"].get("paused")
                       and template == obj["spec"].get("template")):
        return []
    saved = dict(held) if held is not None else _strategy_of(obj)
    desired = apply_settings(spec, obj, saved)
    saved["batch"] = batch
    desired["metadata"].setdefault("annotations", {})[HOLD] = json.dumps(saved, sort_keys=True)
    desired["spec"]["template"] = template
    if spec.change_cause is not None:
        _set_change_cause(desired, spec.change_cause)
    desired["spec"]["paused"] = False
    _set_rolling(desired, st.IntOrPercent(batch, False), st.IntOrPercent(0, False))
    desired["spec"]["minReadySeconds"] = GUARD_MIN_READY
    desired["spec"]["progressDeadlineSeconds"] = GUARD_DEADLINE
    return _write(spec, obj, desired, "roll out %s %s/%s to %d new pod(s) (%s)" % (
        spec.kind, spec.namespace, spec.name, batch, _what(spec, obj, desired)))


def _strategy_of(obj):
    surge, unavailable = rolling(obj)
    return dict(maxSurge=surge.api(), maxUnavailable=unavailable.api(),
                minReadySeconds=obj["spec"].get("minReadySeconds"),
                progressDeadlineSeconds=obj["spec"].get("progressDeadlineSeconds"))


def plan_hold(spec, obj):
    """Hold, write 2: pause, the user's minReadySeconds and deadline back (also on a
    Deployment paused already: a run stopped after the guard of a move left it on)."""
    held = hold_of(obj)
    if held is None:
        return []
    desired = copy.deepcopy(obj)
    desired["spec"]["paused"] = True
    for key in ("minReadySeconds", "progressDeadlineSeconds"):
        if held.get(key) is None:
            desired["spec"].pop(key, None)
        else:
            desired["spec"][key] = held[key]
    if obj["spec"].get("paused"):
        what = "put back %s %s/%s's own minReadySeconds and deadline, held at %d new pod(s)"
    else:
        what = "pause %s %s/%s at %d new pod(s)"
    return _write(spec, obj, desired, what % (
        spec.kind, spec.namespace, spec.name, held.get("batch", 0)))


def plan_undo(spec, obj, target, cause_given=None):
    """Undo: the target revision's template (and its change-cause) in one write; a held
    or paused Deployment is also resumed, with its saved strategy."""
    desired = copy.deepcopy(obj)
    desired["spec"]["template"] = copy.deepcopy(target["template"])
    _set_change_cause(desired, cause_given if cause_given is not None else
                      target.get("change_cause"))
    if spec.kind == "Deployment" and (desired["spec"].get("paused") or hold_of(desired)):
        desired = _release_hold(desired)
    return _write(spec, obj, desired, "undo %s %s/%s to revision %d (%s)" % (
        spec.kind, spec.namespace, spec.name, target["revision"],
        ", ".join("%s=%s" % kv for kv in sorted(target["images"].items()))))
