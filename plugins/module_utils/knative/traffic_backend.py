# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""knative_traffic on the release engine: read (letting starting revisions settle first),
plan the spec.traffic block as one engine write, prove Knative reports the split, put the
old block back if it does not, report."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.progressive.delivery.plugins.module_utils import engine as eng
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import JSON_PATCH
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    ValidationError,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import (
    WaitError,
    WaitTimeout,
    wait_for,
)
from ansible_collections.progressive.delivery.plugins.module_utils.knative import (
    common as kn,
    traffic_plan as ktp,
    traffic_status as kts,
)
from ansible_collections.progressive.delivery.plugins.module_utils.knative.traffic_block import (
    LATEST_CREATED,
    LATEST_READY,
    current_traffic,
    describe_traffic,
    same_traffic,
)
from ansible_collections.progressive.delivery.plugins.module_utils.knative.traffic_validation import (
    identity_errors,
)


class TrafficFailed(Exception):
    """The write happened but Knative did not report the split; ``result`` says what is
    live now and whether the previous block was put back."""

    def __init__(self, message, result):
        super(TrafficFailed, self).__init__(message)
        self.result = result


class TrafficBackend(object):
    """One knative_traffic call, for ``Engine.run``."""

    # Nothing to write still waits: an earlier write may still be settling.
    prove_unchanged = True

    def __init__(self, spec, rollback=True):
        self.spec = spec
        self.rollback = rollback
        self.resource = kn.KSERVICE if spec.kind == "Service" else kn.ROUTE
        self.plan_made = None  # the last ktp.Plan
        self.proven = None     # the object as the proof left it
        self.engine = None

    # --- reading ---------------------------------------------------------
    def observe(self, engine):
        """Fresh reads, once the controllers have caught up (see ``catch_up``)."""
        self.engine = engine
        return self.catch_up(engine, self.read(engine))

    def read(self, engine):
        spec = self.spec
        owner = engine.get(self.resource, spec.namespace, spec.name)
        names = set([spec.configuration])
        names.update(t.configuration for t in spec.targets or [] if t.configuration)
        names.update(t.configuration for t in spec.tags if t.configuration)
        for entry in current_traffic(owner):
            if entry.get("configurationName"):
                names.add(entry["configurationName"])
        configurations = dict(
            (name, engine.get(kn.CONFIGURATION, spec.namespace, name)) for name in sorted(names))
        # only the revisions the targets name: the cost stays flat however many there are
        without = ktp.Observed(owner=owner, configurations=configurations, revisions={})
        revisions = {}
        for name in ktp.revisions_to_read(spec, without):
            revision = engine.get(kn.REVISION, spec.namespace, name)
            if revision is not None:
                revisions[name] = revision
        return without._replace(revisions=revisions)

    def catch_up(self, engine, observed):
        """Before deciding: let the controllers catch up with a template change (so
        @latest_created names the new revision) and let starting revisions finish
        starting (so 'not Ready' is an answer, not a moment). Returns fresh reads."""
        if not engine.wait:
            return observed
        spec = self.spec
        pinned = [t for t in list(spec.targets or []) + list(spec.tags)
                  if t.revision in (LATEST_CREATED, LATEST_READY)]
        if pinned and spec.kind == "Service" and observed.owner is not None and \
                not kn.generation_observed(observed.owner):
            self._wait_quietly(engine, self.resource, spec.name,
                               kts.generation_settled("Service", spec.name))
            observed = self.read(engine)
        configs = ktp.configurations_to_settle(spec, observed)
        for name in configs:
            self._wait_quietly(engine, kn.CONFIGURATION, name,
                               kts.generation_settled("Configuration", name))
        if configs:
            observed = self.read(engine)
        pending = ktp.revisions_to_settle(spec, observed)
        for name in pending:
            self._wait_quietly(engine, kn.REVISION, name, kts.revision_settled(name))
        if pending:
            observed = self.read(engine)
        return observed

    def _wait_quietly(self, engine, resource, name, predicate):
        """Wait, but let a timeout fall through to the planner's own verdict."""
        try:
            wait_for(engine.kube, resource, self.spec.namespace, name, predicate,
                     engine.remaining())
        except WaitTimeout:
            pass
        # The controllers moved while we waited (a wait answered by its first read opens no
        # watch, so the call's read cache would keep the Configuration read before it, and
        # @latest_created would name the revision before the template change): read afresh.
        engine.reads.forget()

    # --- planning --------------------------------------------------------
    def plan(self, observed):
        spec = self.spec
        earlier = self.plan_made
        self.plan_made = plan = ktp.plan(spec, observed)
        if earlier is not None and not same_traffic(earlier.before, plan.before):
            # Our write's test failed: another writer changed the block after we read it.
            # Its block was read and checked again; say so rather than replace it quietly.
            self.engine.warnings.append(
                "%s %s/%s spec.traffic was changed by another writer while this call was "
                "writing it ([%s] -> [%s]); the request was checked and planned again on "
                "their block" % (spec.kind, spec.namespace, spec.name,
                                 describe_traffic(earlier.before),
                                 describe_traffic(plan.before)))
        if not plan.changed:
            return []
        if plan.create:
            body = {"apiVersion": kn.ROUTE.api_version, "kind": kn.ROUTE.kind,
                    "metadata": {"name": spec.name, "namespace": spec.namespace},
                    "spec": {"traffic": plan.traffic}}
            return [eng.Write("create", kn.ROUTE, spec.namespace, spec.name, body,
                              "create Route %s/%s with spec.traffic [%s]" % (
                                  spec.namespace, spec.name, describe_traffic(plan.traffic)))]
        return [eng.Write("json_patch", self.resource, spec.namespace, spec.name,
                          traffic_patch(observed.owner, plan.traffic),
                          "%s %s/%s spec.traffic: [%s] -> [%s]" % (
                              spec.kind, spec.namespace, spec.name,
                              describe_traffic(plan.before), describe_traffic(plan.traffic)))]

    # --- proving it, or undoing it ---------------------------------------
    def wait_settled(self, engine, traffic, timeout):
        predicate = kts.traffic_settled(self.spec.kind, self.spec.name, traffic)
        return wait_for(engine.kube, self.resource, self.spec.namespace, self.spec.name,
                        predicate, timeout)

    def prove(self, engine, observed, writes):
        traffic = self.plan_made.traffic
        current = observed.owner
        predicate = kts.traffic_settled(self.spec.kind, self.spec.name, traffic)
        if writes or not predicate(current).done:
            current = self.wait_settled(engine, traffic, engine.remaining())
        self.proven = current

    def rejected(self, engine, observed, writes, error):
        """The split did not take: put the previous block back when the change is what
        broke a Ready object, and say exactly what happened."""
        if not writes:
            raise error  # nothing was written: Knative's answer is the whole story
        spec, plan, kube, before_owner = self.spec, self.plan_made, engine.kube, observed.owner
        what = "%s %s/%s" % (spec.kind, spec.namespace, spec.name)
        timed_out = isinstance(error, WaitTimeout)
        lines = ["%s did not become Ready with traffic [%s] (%s): %s" % (
            what, describe_traffic(plan.traffic),
            "timed out after %ss" % engine.wait_timeout if timed_out else
            "Knative reported a failure", error)]
        rolled_back = False
        current = kube.get_or_none(self.resource, spec.namespace, spec.name)
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
        elif not same_traffic(current_traffic(current), plan.traffic):
            lines.append("someone else changed spec.traffic meanwhile (now [%s]); it was left "
                         "as is" % describe_traffic(current_traffic(current)))
        else:
            kube.patch(self.resource, spec.namespace, spec.name,
                       traffic_patch(current, plan.before), JSON_PATCH)
            rolled_back = True
            try:
                current = self.wait_settled(engine, plan.before, engine.wait_timeout)
                lines.append("the previous traffic block [%s] was put back and %s is Ready "
                             "again" % (describe_traffic(plan.before), what))
            except WaitError as exc:
                current = exc.obj
                lines.append("the previous traffic block [%s] was put back, but %s is still "
                             "not Ready: %s" % (describe_traffic(plan.before), what, exc))
        result = engine.result(**self.view(engine, current, changed=True, written=True))
        result["rolled_back"] = rolled_back
        result.pop("diff", None)
        raise TrafficFailed("; ".join(lines), result)

    # --- the result ------------------------------------------------------
    def report(self, engine, first, observed, writes):
        changed = bool(writes)
        written = changed and not engine.check_mode
        if self.proven is not None:
            current = self.proven
        elif written:
            current = engine.written[writes[-1].key]
        else:
            current = observed.owner
        return self.view(engine, current, changed, written)

    def view(self, engine, obj, changed, written):
        spec, plan = self.spec, self.plan_made
        if changed and not written:
            split = kts.predicted_split(plan, obj)  # check mode
        else:
            split = kts.split_from_status(obj)
        config = engine.get(kn.CONFIGURATION, spec.namespace, spec.configuration)
        config_status = kn.status(config) if config else kn.status(obj)
        return dict(
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


def traffic_patch(owner, traffic):
    """A JSON patch of the whole block, conditional on the block as read, not on the
    object's resourceVersion.

    Why: a resourceVersion precondition makes the write lose to any change of the object,
    and Knative Services are written often by others (annotations from CI or GitOps,
    labels, the template): a client touching one annotation every 20 ms made every write
    here end in 409s. The ``test`` operation makes the API server apply the write only if
    ``spec.traffic`` is still what this call read and validated (it checks and writes in
    one step, on the object as stored), so it conflicts exactly on the field this module
    manages: a change of another field no longer matters, and a change of the block is
    still never overwritten unseen (the engine reads it again, plans again and the
    module warns). Server-side apply with ``force: false`` was the other way: it fails
    as soon as another manager owns ``spec.traffic`` (whoever created the Service does),
    so every first call would need ``force``, which takes the field without looking."""
    block = ((owner or {}).get("spec") or {}).get("traffic")
    ops = [{"op": "test", "path": "/spec/traffic", "value": block}]
    if traffic:
        ops.append({"op": "add", "path": "/spec/traffic", "value": traffic})
    elif block is not None:
        ops.append({"op": "remove", "path": "/spec/traffic"})
    return ops


def run_traffic(kube, spec, check_mode=False, wait=True, wait_timeout=300, rollback=True):
    """Carry out one knative_traffic call; return the module result (with 'diff')."""
    if identity_errors(spec):
        raise ValidationError(spec.input_errors)
    engine = eng.Engine(kube, check_mode=check_mode, wait=wait, wait_timeout=wait_timeout)
    return engine.run(TrafficBackend(spec, rollback))
