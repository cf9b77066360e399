# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Proof that a traffic change took effect (Knative reports the object Ready for the new
generation with the requested split), the predicates the backend waits on before
planning, and the split as the module reports it."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import Check
from ansible_collections.progressive.delivery.plugins.module_utils.knative import common as kn
from ansible_collections.progressive.delivery.plugins.module_utils.knative.traffic_block import (
    describe_traffic,
    normal_entry,
)


# ---------------------------------------------------------------------------
# proving the change took effect
# ---------------------------------------------------------------------------
def expected_status(traffic):
    """status.traffic as Knative will report it for this spec: one entry per target, in
    order, pinned entries with their revision, latest ones with whatever is latest."""
    return [normal_entry(e) for e in traffic]


def status_matches(obj, traffic):
    """(matches?, text): status.traffic reports exactly the requested targets."""
    reported = kn.status(obj).get("traffic") or []
    if len(reported) != len(traffic):
        return False, "status.traffic is [%s], want [%s]" % (
            describe_traffic(reported), describe_traffic(traffic))
    for want, got in zip(expected_status(traffic), reported):
        revision, latest, _config, percent, tag = want
        got_latest = bool(got.get("latestRevision"))
        if got_latest != latest or int(got.get("percent") or 0) != percent or \
                (got.get("tag") or None) != tag or \
                (not latest and got.get("revisionName") != revision):
            return False, "status.traffic is [%s], want [%s]" % (
                describe_traffic(reported), describe_traffic(traffic))
    return True, "status.traffic is [%s]" % describe_traffic(reported)


def traffic_settled(kind, name, traffic):
    """Predicate for wait_for: Ready for the current generation with the requested
    status.traffic. Ready=False for the current generation is a failure."""
    def predicate(obj):
        if obj is None:
            return Check(False, "%s %s was deleted" % (kind, name), True)
        if not kn.generation_observed(obj):
            return Check(False, "%s %s: generation %s not observed yet (at %s)" % (
                kind, name, kn.meta(obj, "generation"), kn.status(obj).get("observedGeneration")))
        ready = kn.condition(obj, "Ready")
        text = kn.describe_condition(ready)
        if kn.condition_status(obj, "Ready") == "False":
            return Check(False, "%s %s is not Ready: %s%s" % (
                kind, name, text, _failing_conditions(obj)), True)
        if kn.condition_status(obj, "Ready") != "True":
            return Check(False, "%s %s is not Ready yet: %s%s" % (
                kind, name, text, _failing_conditions(obj)))
        matches, detail = status_matches(obj, traffic)
        if not matches:
            return Check(False, "%s %s is Ready but %s" % (kind, name, detail))
        return Check(True, "%s %s is Ready: %s" % (kind, name, detail))

    return predicate


def _failing_conditions(obj):
    others = [kn.describe_condition(c) for c in kn.status(obj).get("conditions") or []
              if c.get("type") != "Ready" and str(c.get("status")) != "True"]
    return "; " + "; ".join(others) if others else ""


# ---------------------------------------------------------------------------
# letting the controllers settle before planning
# ---------------------------------------------------------------------------
def generation_settled(kind, name):
    """The controller has observed the object's latest spec."""
    def predicate(obj):
        if obj is None:
            return Check(False, "%s %s does not exist" % (kind, name), True)
        if kn.generation_observed(obj):
            return Check(True, "%s %s observed generation %s" % (
                kind, name, kn.meta(obj, "generation")))
        return Check(False, "%s %s: generation %s not observed yet" % (
            kind, name, kn.meta(obj, "generation")))
    return predicate


def revision_settled(name):
    """The revision's Ready condition is True or False (not Unknown any more)."""
    def predicate(obj):
        if obj is None:
            return Check(False, "revision %s was deleted" % name, True)
        state = kn.condition_status(obj, "Ready")
        text = "revision %s: %s" % (name, kn.describe_condition(kn.condition(obj, "Ready")))
        return Check(state in ("True", "False"), text)
    return predicate


# ---------------------------------------------------------------------------
# the split as the module reports it
# ---------------------------------------------------------------------------
def split_from_status(obj):
    """status.traffic as a list of plain dicts (the split Knative has in force)."""
    split = []
    for entry in kn.status(obj).get("traffic") or []:
        split.append(dict(
            revision=entry.get("revisionName"),
            percent=int(entry.get("percent") or 0),
            tag=entry.get("tag") or None,
            latest_revision=bool(entry.get("latestRevision")),
            url=entry.get("url"),
        ))
    return split


def predicted_split(plan, obj):
    """For check mode: the split the plan asks for, with tag URLs Knative already
    reports for those tags (new tags get theirs once written)."""
    urls = dict((e["tag"], e["url"]) for e in split_from_status(obj) if e["tag"])
    split = []
    for item in plan.resolved:
        entry = item.entry or {}
        split.append(dict(
            revision=item.revision_name,
            percent=int(entry.get("percent") or 0),
            tag=entry.get("tag"),
            latest_revision=bool(entry.get("latestRevision")),
            url=urls.get(entry.get("tag")),
        ))
    return split
