# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""k8s_canary on the release engine: what a call reads, which planner decides (replicas.py
or nginx.py), the wait after each Deployment write, the EndpointSlice proof and the report
(status.py). Reading, writing with the read resourceVersion, re-planning on 409 and check
mode are the engine's (engine.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.progressive.delivery.plugins.module_utils.canary import abort
from ansible_collections.progressive.delivery.plugins.module_utils.canary.nginx import (
    NginxObserved,
    plan_nginx,
)
from ansible_collections.progressive.delivery.plugins.module_utils.canary.objects import (
    replicas_of,
)
from ansible_collections.progressive.delivery.plugins.module_utils.canary.replicas import (
    ReplicasObserved,
    plan_replicas,
    service_selector,
)
from ansible_collections.progressive.delivery.plugins.module_utils.canary.status import (
    canary_weight,
    diff_view,
    report,
)
from ansible_collections.progressive.delivery.plugins.module_utils.canary.validation import (
    validate,
)
from ansible_collections.progressive.delivery.plugins.module_utils.engine import Engine
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    DEPLOYMENT,
    INGRESS,
    SERVICE,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import (
    WaitError,
    wait_for_rollout,
    wait_for_service_to_serve_selected,
)

# A weight change is at most two writes, a promotion two; more means the cluster keeps
# moving under us (someone else scaling), which is worth an error rather than a loop.
MAX_WRITES = 6


def observe(engine, spec):
    """The objects the call acts on (in check mode as the simulated writes left them)."""
    ns = spec.namespace
    if spec.backend == "replicas":
        # The namespace's Deployments first (the Service must reach no other workload):
        # the stable and the canary are then found in that list, not read again.
        deployments = engine.list(DEPLOYMENT, ns)
        return ReplicasObserved(
            stable=engine.get(DEPLOYMENT, ns, spec.stable_deployment),
            canary=engine.get(DEPLOYMENT, ns, spec.canary_deployment),
            service=engine.get(SERVICE, ns, spec.service),
            deployments=deployments,
        )
    nginx = spec.nginx
    return NginxObserved(
        ingress=engine.get(INGRESS, ns, nginx["ingress"]),
        canary_ingress=engine.get(INGRESS, ns, nginx["canary_ingress"]),
        canary_service=engine.get(SERVICE, ns, nginx["canary_service"])
        if nginx.get("canary_service") else None,
    )


def plan(spec, observed):
    """The next writes, first one first (the engine makes one, settles it, plans again)."""
    if spec.backend == "replicas":
        return plan_replicas(spec, observed)
    return plan_nginx(spec, observed)


def wait_rollout(engine, spec, write):
    """Settle a Deployment write: its rollout is complete before the next write is
    planned, so a canary that never gets ready leaves the stable version untouched. (An
    Ingress has no status that proves a weight, so nothing waits for one.)"""
    if write.resource.kind == "Deployment":
        wait_for_rollout(engine.kube, spec.namespace, write.name, engine.wait_timeout)


def service_spreads(engine, spec):
    """The proof (replicas): the Service's EndpointSlices list exactly the ready pods it
    selects, so the stable and the canary pods receive traffic in the counts planned."""
    service = engine.get(SERVICE, spec.namespace, spec.service)
    try:
        wait_for_service_to_serve_selected(engine.kube, spec.namespace, spec.service,
                                           service_selector(service), engine.wait_timeout)
    except WaitError as exc:
        raise WaitError("after scaling: %s" % exc)


def live_now(engine, spec, first):
    """The canary's share as the first read and this call's writes leave it (no request:
    a failure midway may be a lost permission)."""
    if first is None:
        return None
    ns = spec.namespace
    if spec.backend == "replicas":
        now = first._replace(
            stable=engine.latest(DEPLOYMENT, ns, spec.stable_deployment, first.stable),
            canary=engine.latest(DEPLOYMENT, ns, spec.canary_deployment, first.canary))
        return "traffic now: the canary gets %s%% of the pods behind Service %s (stable %s: " \
            "%d replica(s), canary %s: %d)" % (
                canary_weight(spec, now), spec.service, spec.stable_deployment,
                replicas_of(now.stable), spec.canary_deployment, replicas_of(now.canary))
    key = (INGRESS.kind, ns, spec.nginx["canary_ingress"])
    now = first._replace(canary_ingress=engine.written[key] if key in engine.written
                         else first.canary_ingress)
    return "traffic now: the canary Ingress %s sends %s%% to the canary" % (
        spec.nginx["canary_ingress"], canary_weight(spec, now))


def run_canary(kube, spec, check_mode=False, wait=True, wait_timeout=300):
    """Carry out ``spec.state``; return the module result."""
    # Check mode sends the Deployment applies and the Ingress creations as server dry
    # runs, as the module's documentation says.
    engine = Engine(kube, check_mode=check_mode, wait=wait, wait_timeout=wait_timeout,
                    diff_view=diff_view, dry_run_create=True)

    seen = {}

    def read():
        observed = observe(engine, spec)
        seen.setdefault("first", observed)
        return observed

    def next_writes(observed):
        writes = plan(spec, observed)
        if spec.state != "aborted":
            return writes
        # An abort never takes away the last ready pods (abort.py): it may wait here
        # for the stable version, then plans again on what it reads.
        guarded = abort.guard(engine, spec, observed, read, writes)
        return plan(spec, read()) if guarded is None else guarded

    with engine.accounting(lambda: live_now(engine, spec, seen.get("first"))):
        try:
            first, unused_last, writes = engine.reconcile(
                read, next_writes, one_at_a_time=True,
                settle=lambda write: wait_rollout(engine, spec, write), max_writes=MAX_WRITES)
        except WaitError as exc:
            if spec.state != "aborted":
                raise
            # the stable version grown for the abort did not roll out: the canary stays
            raise abort.held(engine, spec, read, str(exc))
        if writes and spec.backend == "replicas":
            engine.prove(lambda: service_spreads(engine, spec))
        result = engine.result(**report(spec, observe(engine, spec)))
    result["weight_before"] = canary_weight(spec, first)
    return result


def run(params, kube_for, check_mode=False):
    """One k8s_canary call: validate (bad input never reaches the cluster), then run.
    ``kube_for()`` makes the client."""
    spec = validate(params)
    return run_canary(kube_for(), spec, check_mode=check_mode, wait=params.get("wait", True),
                      wait_timeout=params.get("wait_timeout", 300))
