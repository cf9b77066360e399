# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs one knative_traffic call: read, plan (knative_traffic_plan), write spec.traffic
once, watch until Knative reports the split, put the old block back if it does not."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.progressive.delivery.plugins.module_utils.knative import common as kn
from ansible_collections.progressive.delivery.plugins.module_utils.knative import traffic_plan as ktp
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    ValidationError,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import KubeError
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import Check
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import (
    WaitError,
    WaitTimeout,
    wait_for,
)

CONFLICT_RETRIES = 3


class TrafficFailed(Exception):
    """The write happened but Knative did not report the split; ``result`` says what is
    live now and whether the previous block was put back."""

    def __init__(self, message, result):
        super(TrafficFailed, self).__init__(message)
        self.result = result


def generation_settled(kind, name):
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


class TrafficRun(object):
    def __init__(self, kube, spec, check_mode=False, wait=True, wait_timeout=300,
                 rollback=True, clock=time.monotonic):
        self.kube = kube
        self.spec = spec
        self.check_mode = check_mode
        self.wait = wait and not check_mode
        self.wait_timeout = wait_timeout
        self.rollback = rollback
        self.clock = clock
        self.deadline = clock() + wait_timeout
        self.resource = kn.KSERVICE if spec.kind == "Service" else kn.ROUTE

    def remaining(self):
        return max(1, self.deadline - self.clock())

    # --- reading ---------------------------------------------------------
    def observe(self):
        spec = self.spec
        owner = self.kube.get_or_none(self.resource, spec.namespace, spec.name)
        names = set([spec.configuration])
        names.update(t.configuration for t in spec.targets or [] if t.configuration)
        names.update(t.configuration for t in spec.tags if t.configuration)
        for entry in ktp.current_traffic(owner):
            if entry.get("configurationName"):
                names.add(entry["configurationName"])
        configurations = dict(
            (name, self.kube.get_or_none(kn.CONFIGURATION, spec.namespace, name))
            for name in sorted(names))
        revisions = self.kube.list(kn.REVISION, spec.namespace).get("items") or []
        return ktp.Observed(owner=owner, configurations=configurations,
                            revisions=dict((kn.meta(r, "name"), r) for r in revisions))

    def _wait_quietly(self, resource, name, predicate):
        """Wait, but let a timeout fall through to the planner's own verdict."""
        try:
            wait_for(self.kube, resource, self.spec.namespace, name, predicate,
                     self.remaining())
        except WaitTimeout:
            pass

    def settle(self, observed):
        """Before deciding: let the controllers catch up with a template change (so
        @latest_created names the new revision) and let starting revisions finish
        starting (so 'not Ready' is an answer, not a moment). Returns fresh reads."""
        if not self.wait:
            return observed
        spec = self.spec
        pinned = [t for t in list(spec.targets or []) + list(spec.tags)
                  if t.revision in (ktp.LATEST_CREATED, ktp.LATEST_READY)]
        if pinned and spec.kind == "Service" and observed.owner is not None and \
                not kn.generation_observed(observed.owner):
            self._wait_quietly(self.resource, spec.name, generation_settled("Service", spec.name))
            observed = self.observe()
        configs = ktp.configurations_to_settle(spec, observed)
        for name in configs:
            self._wait_quietly(kn.CONFIGURATION, name,
                               generation_settled("Configuration", name))
        if configs:
            observed = self.observe()
        pending = ktp.revisions_to_settle(spec, observed)
        for name in pending:
            self._wait_quietly(kn.REVISION, name, revision_settled(name))
        if pending:
            observed = self.observe()
        return observed

    # --- writing ---------------------------------------------------------
    def create_route(self, traffic):
        body = {"apiVersion": kn.ROUTE.api_version, "kind": kn.ROUTE.kind,
                "metadata": {"name": self.spec.name, "namespace": self.spec.namespace},
                "spec": {"traffic": traffic}}
        return self.kube.create(kn.ROUTE, self.spec.namespace, body)

    def write(self, owner, traffic):
        patch = {"metadata": {"resourceVersion": kn.meta(owner, "resourceVersion")},
                 "spec": {"traffic": traffic if traffic else None}}
        return self.kube.patch(self.resource, self.spec.namespace, self.spec.name, patch)

    def plan_and_write(self):
        """Plan on fresh reads and write once; a 409 (someone wrote in between) means
        read and plan again, never overwrite blindly."""
        observed = self.settle(self.observe())
        for attempt in range(CONFLICT_RETRIES):
            plan = ktp.plan(self.spec, observed)
            if not plan.changed or self.check_mode:
                return observed, plan, None
            try:
                if plan.create:
                    return observed, plan, self.create_route(plan.traffic)
                return observed, plan, self.write(observed.owner, plan.traffic)
            except KubeError as exc:
                if not exc.conflict or attempt == CONFLICT_RETRIES - 1:
                    raise
            observed = self.observe()
        raise AssertionError("unreachable")

    # --- proving it, or undoing it ---------------------------------------
    def wait_settled(self, traffic, timeout):
        predicate = ktp.traffic_settled(self.spec.kind, self.spec.name, traffic)
        return wait_for(self.kube, self.resource, self.spec.namespace, self.spec.name,
                        predicate, timeout)

    def undo(self, before_owner, plan, error):
        """The split did not take: put the previous block back when the change is what
        broke a Ready object, and say exactly what happened."""
        spec = self.spec
        what = "%s %s/%s" % (spec.kind, spec.namespace, spec.name)
        timed_out = isinstance(error, WaitTimeout)
        lines = ["%s did not become Ready with traffic [%s] (%s): %s" % (
            what, ktp.describe_traffic(plan.traffic),
            "timed out after %ss" % self.wait_timeout if timed_out else "Knative reported a failure",
            error)]
        rolled_back = False
        current = self.kube.get_or_none(self.resource, spec.namespace, spec.name)
        if not self.rollback:
            lines.append("the new traffic block was left in place (rollback_on_failure=false)")
        elif before_owner is None:
            lines.append("the Route was created by this call and is left in place to be "
                         "looked at")
        elif not kn.is_ready(before_owner):
            lines.append("it was not Ready before the change either (%s), so the new traffic "
                         "block was left in place" % kn.describe_condition(
                             kn.condition(before_owner, "Ready")))
        elif current is None:
            lines.append("it was deleted meanwhile")
        elif not ktp.same_traffic(ktp.current_traffic(current), plan.traffic):
            lines.append("someone else changed spec.traffic meanwhile (now [%s]); it was left "
                         "as is" % ktp.describe_traffic(ktp.current_traffic(current)))
        else:
            self.write(current, plan.before)
            rolled_back = True
            try:
                current = self.wait_settled(plan.before, self.wait_timeout)
                lines.append("the previous traffic block [%s] was put back and %s is Ready "
                             "again" % (ktp.describe_traffic(plan.before), what))
            except WaitError as exc:
                current = exc.obj
                lines.append("the previous traffic block [%s] was put back, but %s is still "
                             "not Ready: %s" % (ktp.describe_traffic(plan.before), what, exc))
        result = report(self, plan, current, changed=True, written=True)
        result["rolled_back"] = rolled_back
        result.pop("diff", None)
        raise TrafficFailed("; ".join(lines), result)


def run_traffic(kube, spec, check_mode=False, wait=True, wait_timeout=300, rollback=True):
    """Carry out one knative_traffic call; return the module result (with 'diff')."""
    if ktp.identity_errors(spec):
        raise ValidationError(spec.input_errors)
    run = TrafficRun(kube, spec, check_mode, wait, wait_timeout, rollback)
    observed, plan, written = run.plan_and_write()
    if written is None:
        current = observed.owner
        if run.wait and not plan.changed:
            # nothing to write, but an earlier write may still be settling
            predicate = ktp.traffic_settled(spec.kind, spec.name, plan.traffic)
            if not predicate(current).done:
                current = run.wait_settled(plan.traffic, run.remaining())
        return report(run, plan, current, changed=plan.changed, written=False)
    current = written
    if run.wait:
        try:
            current = run.wait_settled(plan.traffic, run.remaining())
        except WaitError as exc:
            run.undo(observed.owner, plan, exc)
    return report(run, plan, current, changed=True, written=True)


# ---------------------------------------------------------------------------
# the result
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


def report(run, plan, obj, changed, written):
    spec = run.spec
    if changed and not written:
        split = predicted_split(plan, obj)  # check mode
    else:
        split = split_from_status(obj)
    config = run.kube.get_or_none(kn.CONFIGURATION, spec.namespace, spec.configuration)
    config_status = kn.status(config) if config else kn.status(obj)
    actions = []
    if changed and plan.create:
        actions.append("create Route %s/%s with spec.traffic [%s]" % (
            spec.namespace, spec.name, ktp.describe_traffic(plan.traffic)))
    elif changed:
        actions.append("%s %s/%s spec.traffic: [%s] -> [%s]" % (
            spec.kind, spec.namespace, spec.name, ktp.describe_traffic(plan.before),
            ktp.describe_traffic(plan.traffic)))
    return dict(
        changed=changed,
        actions=actions,
        kind=spec.kind,
        name=spec.name,
        namespace=spec.namespace,
        traffic=split,
        tag_urls=dict((e["tag"], e["url"]) for e in split if e["tag"]),
        url=kn.status(obj).get("url"),
        ready=kn.is_ready(obj),
        spec_traffic=plan.traffic if changed else plan.before,
        previous_traffic=plan.before,
        latest_created_revision=config_status.get("latestCreatedRevisionName"),
        latest_ready_revision=config_status.get("latestReadyRevisionName"),
        diff=dict(before={"spec": {"traffic": plan.before}},
                  after={"spec": {"traffic": plan.traffic}}),
    )
