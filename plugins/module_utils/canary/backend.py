# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs one k8s_canary call: read, plan the next write (canary_plan), write it with the
read resourceVersion as precondition, wait (by watching) for its effect, read again, until
the plan is empty; then report what is live."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.progressive.delivery.plugins.module_utils.canary import plan as cp
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    DEPLOYMENT,
    INGRESS,
    SERVICE,
    KubeError,
    merge_patch,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import (
    WaitError,
    ready_pod_names,
    wait_for_rollout,
    wait_for_service_endpoints,
)

FIELD_MANAGER = "progressive.delivery"
RESOURCES = {"Deployment": DEPLOYMENT, "Ingress": INGRESS}
CONFLICT_RETRIES = 3
# A weight change is at most two writes, a promotion two; more means the cluster keeps
# moving under us (someone else scaling), which is worth an error rather than a loop.
MAX_WRITES = 6


class CanaryRun(object):
    def __init__(self, kube, spec, check_mode, wait, wait_timeout):
        self.kube = kube
        self.spec = spec
        self.check_mode = check_mode
        self.wait = wait and not check_mode
        self.wait_timeout = wait_timeout
        self.actions = []
        self.before = {}
        self.after = {}
        self.changed = False
        self.simulated = {}  # check mode: (kind, name) -> object as the writes leave it

    # --- reading ---------------------------------------------------------
    def _get(self, resource, name):
        key = (resource.kind, name)
        if key in self.simulated:
            return copy.deepcopy(self.simulated[key])
        return self.kube.get_or_none(resource, self.spec.namespace, name)

    def observe(self):
        spec = self.spec
        if spec.backend == "replicas":
            return cp.ReplicasObserved(
                stable=self._get(DEPLOYMENT, spec.stable_deployment),
                canary=self._get(DEPLOYMENT, spec.canary_deployment),
                service=self._get(SERVICE, spec.service),
            )
        nginx = spec.nginx
        return cp.NginxObserved(
            ingress=self._get(INGRESS, nginx["ingress"]),
            canary_ingress=self._get(INGRESS, nginx["canary_ingress"]),
            canary_service=self._get(SERVICE, nginx["canary_service"])
            if nginx.get("canary_service") else None,
        )

    # --- writing ---------------------------------------------------------
    def execute(self, write):
        resource = RESOURCES[write.kind]
        ns = self.spec.namespace
        key = "%s/%s" % (write.kind, write.name)
        current = self._get(resource, write.name)
        self.before.setdefault(key, cp.diff_view(current))
        if write.verb == "apply":
            result = self.kube.apply(resource, ns, write.name, write.body, FIELD_MANAGER,
                                     dry_run=self.check_mode)
        elif write.verb == "create":
            result = self.kube.create(resource, ns, write.body, dry_run=self.check_mode)
        elif write.verb == "patch":
            result = merge_patch(current, write.body) if self.check_mode else \
                self.kube.patch(resource, ns, write.name, write.body)
        elif write.verb == "replace":
            result = copy.deepcopy(write.body) if self.check_mode else \
                self.kube.replace(resource, ns, write.name, write.body)
        else:
            result = None
            if not self.check_mode:
                self.kube.delete(resource, ns, write.name)
        if self.check_mode:
            self.simulated[(write.kind, write.name)] = _as_settled(result)
        self.after[key] = cp.diff_view(result)
        self.actions.append(write.description)
        self.changed = True

    def wait_effect(self, write):
        if self.wait and write.kind == "Deployment":
            wait_for_rollout(self.kube, self.spec.namespace, write.name, self.wait_timeout)

    def converge(self, planner):
        """Write the plan's first step, wait for it, re-read and re-plan, until done. A 409
        (another writer got there first) means read and plan again, never overwrite."""
        conflicts = 0
        for unused_attempt in range(MAX_WRITES + CONFLICT_RETRIES):
            writes = planner(self.observe())
            if not writes:
                return
            try:
                self.execute(writes[0])
            except KubeError as exc:
                if exc.conflict and conflicts < CONFLICT_RETRIES:
                    conflicts += 1
                    continue
                raise
            self.wait_effect(writes[0])
            if len(self.actions) > MAX_WRITES:
                break
        raise cp.PlanError("the release did not settle after %d writes (%s); is something "
                           "else scaling these Deployments?" % (len(self.actions),
                                                                "; ".join(self.actions)))

    # --- proving the traffic split took effect ----------------------------
    def wait_service_spreads(self):
        """The Service's EndpointSlices list exactly the ready pods it selects: the stable and the
        canary pods both receive traffic in the counts the plan set."""
        if not self.wait or self.spec.backend != "replicas":
            return
        service = self._get(SERVICE, self.spec.service)
        selector = cp.service_selector(service)
        wanted = ready_pod_names(self.kube, self.spec.namespace, selector)

        try:
            wait_for_service_endpoints(self.kube, self.spec.namespace, self.spec.service,
                                       wanted, self.wait_timeout, exact=True)
        except WaitError as exc:
            raise WaitError("after scaling: %s" % exc)


def _as_settled(obj):
    """Check mode: a Deployment as if its rollout had completed, so the plan goes on."""
    if obj is None or obj.get("kind") != "Deployment":
        return obj
    obj = copy.deepcopy(obj)
    replicas = (obj.get("spec") or {}).get("replicas", 1)
    meta = obj.setdefault("metadata", {})
    meta.setdefault("resourceVersion", "0")
    obj["status"] = dict(observedGeneration=meta.get("generation", 1), replicas=replicas,
                         updatedReplicas=replicas, readyReplicas=replicas,
                         availableReplicas=replicas)
    return obj


# ---------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------
def run_canary(kube, spec, check_mode=False, wait=True, wait_timeout=300):
    """Carry out ``spec.state``; return the module result (without 'diff' wrapping)."""
    run = CanaryRun(kube, spec, check_mode, wait, wait_timeout)
    first = run.observe()
    before = report_traffic(spec, first)
    planner = cp.plan_replicas if spec.backend == "replicas" else cp.plan_nginx
    run.converge(lambda observed: planner(spec, observed))
    if run.changed:
        run.wait_service_spreads()
    result = report(run, run.observe())
    result["weight_before"] = before["weight"]
    return result


def report_traffic(spec, observed):
    if spec.backend == "replicas":
        stable = cp.replicas_of(observed.stable)
        canary = cp.replicas_of(observed.canary)
        return dict(weight=cp.effective_weight(stable, canary))
    return dict(weight=cp.nginx_weight(observed.canary_ingress))


def report(run, observed):
    spec = run.spec
    result = dict(
        changed=run.changed,
        actions=run.actions,
        backend=spec.backend,
        state=spec.state,
        weight_requested=spec.weight,
        diff=dict(before=run.before, after=run.after),
    )
    if spec.backend == "replicas":
        stable = cp.deployment_report(spec, observed.stable, spec.stable_deployment)
        canary = cp.deployment_report(spec, observed.canary, spec.canary_deployment)
        result.update(
            weight=cp.effective_weight(stable["replicas"], canary["replicas"]),
            total_replicas=cp.total_replicas(spec, observed) if observed.stable else None,
            stable=stable,
            canary=canary,
            canary_selector=cp.canary_selector(spec, observed.service)
            if observed.service else {},
            service=dict(name=spec.service, selector=cp.service_selector(observed.service)),
        )
    else:
        result.update(
            weight=cp.nginx_weight(observed.canary_ingress),
            ingress=cp.ingress_report(observed.ingress),
            canary_ingress=cp.ingress_report(observed.canary_ingress),
            live_services=cp.routed_services(observed.ingress) if observed.ingress else [],
        )
    return result
