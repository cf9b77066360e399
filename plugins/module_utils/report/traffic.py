# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The live traffic split of a blue/green release over the gateway, contour or knative
backend, read from the results of gateway_traffic, contour_delegate and knative_traffic.

Those modules name what gets traffic by the object that serves it (a Service of an
HTTPRoute's rule, the child HTTPProxy a path is delegated to, a Knative revision), not by
version. The bluegreen role's backend facts (set_fact results the recorder keeps) say which
of them is the candidate; the report shows the candidate under the release's version and
the others under their own names (what the role reports as the previous version too).

Pure: plain dicts in, plain dicts out.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# The backend facts of the bluegreen role (tasks/backends/<backend>/validate.yml) that
# name the candidate and the preview objects, which carry no live traffic.
BACKEND_FACTS = ("bluegreen_gateway_candidate", "bluegreen_gateway_preview_route",
                 "bluegreen_child", "bluegreen_preview_root", "bluegreen_kn_tag")

# Task names of the bluegreen role end with its release label, "<app> <version>".
BLUEGREEN_PREFIX = "Blue/green |"


def remember_backend_facts(store, facts):
    """Keep the backend facts a set_fact result carries (the latest value wins)."""
    for key in BACKEND_FACTS:
        if key in facts:
            store[key] = facts[key]


def bluegreen_release(name):
    """(app, version) from a task name of the bluegreen role ('Blue/green | promote |
    myapp v2'); None for any other task (a canary's traffic task, a direct call)."""
    name = (name or "").split(" : ")[-1].strip()
    if not name.startswith(BLUEGREEN_PREFIX):
        return None
    label = name.split("|")[-1].strip()
    app, _sep, version = label.partition(" ")
    if not app or not version.strip():
        return None
    return app, version.strip()


def _child(ref):
    if not ref or not ref.get("name"):
        return None
    return "%s/%s" % (ref.get("namespace") or "", ref["name"]) if ref.get("namespace") else ref["name"]


def _sum(pairs):
    split = {}
    for target, percent in pairs:
        if target:
            split[target] = split.get(target, 0) + int(percent or 0)
    return split


def knative_before(result):
    """The split before the call from ``previous_traffic`` (spec.traffic as read): a
    target following the latest revision is named by the latest ready one."""
    latest = result.get("latest_ready_revision")
    return _sum((t.get("revisionName") or (latest if t.get("latestRevision") else None),
                 t.get("percent")) for t in result.get("previous_traffic") or [])


def shares(module, result):
    """(before, after): {target: percent} of the traffic object the call managed."""
    if module == "gateway_traffic":
        return (dict((k, int(v)) for k, v in (result.get("previous_weights") or {}).items()),
                dict((k, int(v)) for k, v in (result.get("weights") or {}).items()))
    if module == "contour_delegate":
        before, after = _child(result.get("previous_delegation")), _child(result.get("delegation"))
        return ({before: 100} if before else {}), ({after: 100} if after else {})
    return knative_before(result), _sum((t.get("revision"), t.get("percent"))
                                        for t in result.get("traffic") or [])


def traffic_object(module, args, result):
    """The traffic object a call wrote: (module, namespace, name, path)."""
    if module == "knative_traffic":
        return (module, result.get("namespace") or args.get("namespace"),
                result.get("name") or args.get("service") or args.get("route"), None)
    if module == "contour_delegate":
        return (module, args.get("namespace"), args.get("name"),
                result.get("path") or args.get("path"))
    return (module, args.get("namespace"), args.get("name"), None)


def is_preview(module, args, facts):
    """Whether the call wrote a preview object (a second route or root proxy for a preview
    hostname) rather than the live one."""
    if module == "gateway_traffic":
        return bool(facts.get("bluegreen_gateway_preview_route")) and \
            args.get("name") == facts["bluegreen_gateway_preview_route"]
    if module == "contour_delegate":
        return bool(facts.get("bluegreen_preview_root")) and \
            args.get("name") == facts["bluegreen_preview_root"]
    return False


def candidate(module, facts, result, known=None):
    """The target the candidate is served by, or None when it cannot be told yet.
    ``known``: the one found earlier in the same release (a Knative candidate revision is
    found by its tag when it comes in at 0%; the promotion takes the tag away)."""
    if module == "gateway_traffic":
        return facts.get("bluegreen_gateway_candidate") or known
    if module == "contour_delegate":
        return _child(facts.get("bluegreen_child")) or known
    if known:
        return known
    tag = facts.get("bluegreen_kn_tag")
    for target in result.get("traffic") or []:
        if tag and target.get("tag") == tag:
            return target.get("revision")
    return None


def rolled_back_target(before, after):
    """A call that takes all the traffic from the one target that had all of it: that
    target (a rollback seen without the release before it, e.g. a fleet rolling back a
    cluster released by an earlier job); None otherwise."""
    live = [t for t, p in before.items() if p >= 100]
    if len(live) == 1 and after.get(live[0], 0) == 0 and after:
        return live[0]
    return None


def labelled(split, cand, version, seen=()):
    """The split with the candidate named by its version, every target seen earlier in the
    release and the candidate at 0% when the call left them out."""
    out = dict((version if t == cand else t, p) for t, p in split.items())
    for label in list(seen) + ([version] if cand else []):
        out.setdefault(label, 0)
    return out


def classify(before, after, cand):
    """What a change of the live split did to the release: 'promote' (the candidate has
    all the traffic), 'rollback' (it had traffic and has none), 'preview' (it came in at
    0%), or None (a change of the live split alone, e.g. pinning it before the preview)."""
    if not cand:
        return None
    was, now = before.get(cand, 0), after.get(cand, 0)
    if now >= 100:
        return "promote"
    if was > 0 and now == 0:
        return "rollback"
    if cand in after and was == 0 and now == 0:
        return "preview"
    return None
