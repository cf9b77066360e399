# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One k8s_rollout call on the release engine: read the workload and its history, write
(``Engine.reconcile``: the read resourceVersion as precondition, 409 -> read and plan
again), wait by watching for the rollout as ``kubectl rollout status`` defines it (or for
the held batch), report the history and the pod counts."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
from collections import namedtuple

from ansible_collections.progressive.delivery.plugins.module_utils.engine import Engine
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    DEPLOYMENT,
    POD,
    REPLICASET,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import (
    ROLLOUT_STATUS,
    deployment_batch,
    label_selector_string,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import (
    WaitError,
    WaitFailed,
    WaitTimeout,
    unready_pods_report,
    wait_for,
    wait_for_rollout,
)
from ansible_collections.progressive.delivery.plugins.module_utils.rollout import (
    guard,
)
from ansible_collections.progressive.delivery.plugins.module_utils.rollout import (
    history as hist,
)
from ansible_collections.progressive.delivery.plugins.module_utils.rollout import plan as pl
from ansible_collections.progressive.delivery.plugins.module_utils.rollout import (
    strategy as st,
)

Observed = namedtuple("Observed", "obj replicasets revisions pods")


class RolloutBackend(object):
    def __init__(self, spec):
        self.spec = spec
        self.resource = pl.RESOURCES[spec.kind]

    # --- reading ---------------------------------------------------------
    def observe(self, engine):
        spec = self.spec
        obj = engine.get(self.resource, spec.namespace, spec.name)
        if obj is None:
            raise pl.PlanError("%s %s/%s not found" % (spec.kind, spec.namespace, spec.name))
        obj.setdefault("kind", spec.kind)
        selector = label_selector_string((obj.get("spec") or {}).get("selector") or {})
        if spec.kind == "Deployment":
            return Observed(obj, engine.list(REPLICASET, spec.namespace, selector), [], [])
        return Observed(obj, [], engine.list(pl.CONTROLLERREVISION, spec.namespace, selector),
                        engine.list(POD, spec.namespace, selector))

    def observe_deployment(self, engine):
        spec = self.spec
        return Observed(engine.get(self.resource, spec.namespace, spec.name), [], [], [])

    def history(self, observed):
        if self.spec.kind == "Deployment":
            return hist.deployment_history(observed.obj, observed.replicasets)
        return hist.controller_history(observed.obj, observed.revisions, observed.pods)

    # --- the actions -------------------------------------------------------
    def run(self, engine):
        spec = self.spec
        observe = functools.partial(self.observe, engine)
        if spec.state == "undone":
            first, unused, made = engine.reconcile(observe, lambda o: pl.plan_undo(
                spec, o.obj, hist.undo_target(self.history(o), spec.to_revision, spec.to_image),
                spec.change_cause))
            if made:
                engine.prove(lambda: self.wait_rollout(engine))
            return first
        if spec.pause_after is not None:
            first = observe()
            replicas = (first.obj.get("spec") or {}).get("replicas", 1)
            batch = st.batch_size(spec.pause_after, replicas)
            if batch < replicas:
                return self.hold(engine, first, batch)
            pause = False  # a batch of every pod is the end of the rollout
        else:
            pause = {"present": None, "paused": True, "resumed": False}[spec.state]
        first, last, made = engine.reconcile(observe, lambda o: pl.plan_update(
            spec, o.obj, pause))
        now = engine.written.get((spec.kind, spec.namespace, spec.name)) or last.obj
        # Like kubectl rollout status, an update or resume that finds its change already
        # made still waits for the rollout under way (a rerun after an interrupted run
        # returns once it is done); a call that only reads does not wait.
        asks = spec.updates_template or pause is False
        if not (now.get("spec") or {}).get("paused") and (
                made or (asks and not ROLLOUT_STATUS[spec.kind](now).done)):
            engine.prove(lambda: self.wait_rollout(engine))
        return first

    def hold(self, engine, first, batch):
        """Two writes (see plan.py): the batch, then, once its pods exist, the pause; a
        paused hold moving on to a larger batch first writes and waits for the guard."""
        spec = self.spec
        template = pl.desired_template(spec, first.obj["spec"].get("template"))
        others = [rs for rs in hist.owned_by(first.obj, first.replicasets)
                  if (rs.get("spec") or {}).get("replicas") and
                  hist.without_hash(rs["spec"].get("template")) != template]
        if len(others) > 1:
            engine.warnings.append(
                "%s %s/%s was still between %d versions (ReplicaSets %s): the hold counts "
                "the pods of the new template exactly, but the controller may rebalance the "
                "older versions among themselves" % (
                    spec.kind, spec.namespace, spec.name, len(others),
                    ", ".join(sorted(rs["metadata"]["name"] for rs in others))))
        observe = functools.partial(self.observe, engine)
        # Moving a paused hold on: its pods first stop counting as available (see plan.py).
        unused, before, unused_made = engine.reconcile(observe, lambda o: pl.plan_guard(
            spec, o.obj, o.replicasets, batch))
        held_rs = pl.moving_on(spec, before.obj, before.replicasets, batch)
        if held_rs is not None and not engine.check_mode:
            # Not optional either (wait=false too): the batch write is safe only once the
            # controller counts none of the held pods as available.
            self.wait_held_unavailable(engine, held_rs)
        unused, unused_last, made = engine.reconcile(observe, lambda o: pl.plan_batch(
            spec, o.obj, o.replicasets, batch))
        if made and not engine.check_mode:
            # Not optional (wait=false too): paused before the controller made the batch,
            # the Deployment would hold no new pod at all.
            self.wait_batch(engine, batch, ready=False)
        # The pause follows the batch's pods at once: each moment between them is one the
        # controller may use to go past the batch (see docs/rollout.md, "Holding a batch"), so
        # its plan reads the Deployment alone (the wait above just read it).
        unused, unused_last, paused = engine.reconcile(
            lambda: self.observe_deployment(engine), lambda o: pl.plan_hold(spec, o.obj))
        if made or paused:
            engine.prove(lambda: self.wait_batch(engine, batch, ready=True))
        return first

    # --- waiting -----------------------------------------------------------
    def _generation(self, engine):
        written = engine.written.get((self.spec.kind, self.spec.namespace, self.spec.name))
        return ((written or {}).get("metadata") or {}).get("generation", 0)

    def wait_batch(self, engine, batch, ready):
        spec = self.spec
        try:
            return wait_for(engine.kube, DEPLOYMENT, spec.namespace, spec.name,
                            deployment_batch(batch, self._generation(engine), ready),
                            engine.remaining())
        except WaitError as exc:
            lines = ["Deployment %s/%s: holding at %d new pod(s) %s: %s" % (
                spec.namespace, spec.name, batch,
                "timed out" if isinstance(exc, WaitTimeout) else "failed", exc)]
            unready = unready_pods_report(engine.kube, exc.obj)
            if unready:
                lines.append("unready pods: " + " | ".join(unready))
            raise type(exc)("; ".join(lines), exc.obj)

    def wait_held_unavailable(self, engine, held_rs):
        """Until the held pods count as unavailable where the controller's scale-down reads
        it: the ReplicaSet's status (recomputed by the ReplicaSet controller with the long
        minReadySeconds the Deployment controller copied to it), then the Deployment's
        status, which the Deployment controller writes from its cache of that ReplicaSet
        (a cache behind the API server would otherwise still show the pods available)."""
        spec = self.spec
        steps = ((REPLICASET, held_rs["metadata"]["name"], guard.held_pods_unavailable(
            pl.GUARD_MIN_READY)),
            (DEPLOYMENT, spec.name, guard.deployment_counts_held_unavailable(
                self._generation(engine))))
        for resource, name, predicate in steps:
            try:
                wait_for(engine.kube, resource, spec.namespace, name, predicate,
                         engine.remaining())
            except WaitError as exc:
                raise type(exc)("Deployment %s/%s: before moving on to the next batch, %s %s "
                                "%s: %s" % (spec.namespace, spec.name, resource.kind, name,
                                            "timed out" if isinstance(exc, WaitTimeout)
                                            else "failed", exc), exc.obj)

    def wait_rollout(self, engine):
        spec = self.spec
        if spec.kind == "Deployment":
            try:
                return wait_for_rollout(engine.kube, spec.namespace, spec.name,
                                        engine.remaining())
            except WaitFailed as exc:
                raise WaitFailed("%s (Progressing condition: ProgressDeadlineExceeded)" % exc,
                                 exc.obj)
        try:
            return wait_for(engine.kube, self.resource, spec.namespace, spec.name,
                            ROLLOUT_STATUS[spec.kind], engine.remaining())
        except WaitError as exc:
            raise type(exc)("%s %s/%s rollout %s: %s" % (
                spec.kind, spec.namespace, spec.name,
                "timed out" if isinstance(exc, WaitTimeout) else "failed", exc), exc.obj)

    # --- the report ----------------------------------------------------------
    def report(self, engine, first):
        spec = self.spec
        last = self.observe(engine)
        revisions = self.history(last)
        before = hist.current_of(self.history(first))
        current = hist.current_of(revisions)
        obj = last.obj
        status = obj.get("status") or {}
        check = ROLLOUT_STATUS[spec.kind](obj)
        held = pl.hold_of(obj) if spec.kind == "Deployment" else None
        result = dict(
            kind=spec.kind, name=spec.name, namespace=spec.namespace, state=spec.state,
            current_revision=current["revision"] if current else None,
            revision_before=before["revision"] if before else None,
            history=hist.public(revisions),
            pod_selector=dict(((obj.get("spec") or {}).get("selector") or {}).get(
                "matchLabels") or {}, **(current["pod_labels"] if current else {})),
            pods_by_revision=dict((str(r["revision"]), r["replicas"]) for r in revisions
                                  if r["replicas"]),
            paused=bool((obj.get("spec") or {}).get("paused")),
            held=None if held is None else dict(
                batch=held.get("batch"), saved_strategy=dict(
                    (k, v) for k, v in held.items() if k != "batch")),
            rollout=dict(complete=bool(check.done), message=check.message),
            settings=settings_report(obj, held),
            status=dict((k, v) for k, v in status.items() if k != "conditions"),
        )
        if spec.kind != "StatefulSet":
            result["pod_counts"] = pod_counts_report(obj, held)
        if spec.revision:
            try:
                result["revision_detail"] = hist.detail(revisions, spec.revision)
            except hist.UndoRefused as exc:
                if not engine.changed:
                    raise
                engine.warnings.append(str(exc))  # the writes are made: report them
                result["revision_detail"] = None
        if spec.state == "undone":
            result["undone_to"] = current["revision"] if current else None
        return result


def settings_report(obj, held):
    spec = obj.get("spec") or {}
    out = dict(revision_history_limit=spec.get("revisionHistoryLimit"),
               min_ready_seconds=spec.get("minReadySeconds", 0))
    if obj.get("kind") == "StatefulSet":
        return out
    surge, unavailable = pl.rolling(obj)
    out.update(max_surge=surge.api(), max_unavailable=unavailable.api())
    if obj.get("kind") == "Deployment":
        out["progress_deadline_seconds"] = spec.get("progressDeadlineSeconds")
        if held:  # what the rollout goes on with after resume
            out.update(max_surge=held.get("maxSurge"), max_unavailable=held.get("maxUnavailable"),
                       min_ready_seconds=held.get("minReadySeconds") or 0,
                       progress_deadline_seconds=held.get("progressDeadlineSeconds"))
    return out


def pod_counts_report(obj, held):
    """The counts the controller uses for the current replica count (the rounding)."""
    if obj.get("kind") == "DaemonSet":
        replicas = (obj.get("status") or {}).get("desiredNumberScheduled", 0)
    else:
        replicas = (obj.get("spec") or {}).get("replicas", 1)
    surge, unavailable = pl.rolling(obj)
    if held:
        surge, unavailable = st.parse(held["maxSurge"]), st.parse(held["maxUnavailable"])
    return st.pod_counts(replicas, surge, unavailable).as_dict()


def run_rollout(kube, spec, check_mode=False, wait=True, wait_timeout=300):
    engine = Engine(kube, check_mode=check_mode, wait=wait, wait_timeout=wait_timeout,
                    diff_view=diff_view)
    backend = RolloutBackend(spec)
    first = backend.run(engine)
    return engine.result(**backend.report(engine, first))


def diff_view(obj):
    """What --diff shows: the spec and the annotations (no status, no managedFields)."""
    if not obj:
        return obj
    meta = obj.get("metadata") or {}
    return dict(metadata=dict(name=meta.get("name"), annotations=meta.get("annotations") or {}),
                spec=obj.get("spec"))
