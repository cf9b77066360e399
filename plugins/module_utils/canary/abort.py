# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An abort never takes away the last ready pods. Handing traffic back to the stable
version (the canary Deployment to zero, or the canary Ingress deleted) waits until the
stable version serves: its Deployment rolled out with every pod ready and the Service's
EndpointSlices listing those pods (replicas), or the stable Service having ready
endpoints (nginx). If it does not within ``wait_timeout``, the canary keeps serving and
the call fails saying what is live and what is unready. With ``wait=false`` nothing can
be waited for: the canary is left serving with a warning, and a later abort finishes."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.progressive.delivery.plugins.module_utils.canary.nginx import (
    stable_service_of,
)
from ansible_collections.progressive.delivery.plugins.module_utils.canary.objects import (
    PlanError,
    replicas_of,
)
from ansible_collections.progressive.delivery.plugins.module_utils.canary.replicas import (
    readiness,
)
from ansible_collections.progressive.delivery.plugins.module_utils.canary.status import report
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    ENDPOINTSLICE,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import (
    Check,
    service_slice_selector,
    serving_pod_names,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.objects import (
    template_labels,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import (
    WaitError,
    WaitTimeout,
    ready_pod_names,
    wait_for_all,
    wait_for_rollout,
)


class AbortHeld(PlanError):
    """The abort stopped before taking away the canary's ready pods; ``result`` says what
    this call wrote and what is live."""

    def __init__(self, message, result):
        super(AbortHeld, self).__init__(message)
        self.result = result


def hands_back(spec, write):
    """The write that takes the canary out of service: its Deployment scaled to zero
    (replicas) or its Ingress deleted (nginx)."""
    if spec.backend == "replicas":
        return write.resource.kind == "Deployment" and write.name == spec.canary_deployment
    return write.resource.kind == "Ingress" and write.verb == "delete"


def canary_ready_pods(observed):
    return ((observed.canary or {}).get("status") or {}).get("readyReplicas", 0)


def stable_not_ready(spec, observed):
    """Why the stable Deployment cannot take the traffic yet (None when it can, or when
    the canary has no ready pods to lose). Pure: from the Deployments' status."""
    if not canary_ready_pods(observed):
        return None
    ready, text = readiness(observed.stable)
    return None if ready else "the stable Deployment %s is not ready: %s" % (
        spec.stable_deployment, text)


def _slices(kube, namespace, service):
    return (kube.list(ENDPOINTSLICE, namespace,
                      label_selector=service_slice_selector(service)).get("items") or [])


def _lists_ready(service, wanted):
    """Predicate on a Service's EndpointSlices: every pod of ``wanted`` is listed ready
    (others may be too); with ``wanted`` None, some pod is."""
    def predicate(slices):
        serving = serving_pod_names(slices)
        if wanted is None:
            return Check(bool(serving), "Service %s has no ready endpoints" % service)
        missing = wanted - serving
        return Check(bool(wanted) and not missing, "Service %s does not list %d ready pod(s) "
                     "of the stable version yet" % (service, len(missing)))
    return predicate


def nginx_not_serving(engine, spec, observed):
    """nginx: why deleting the canary Ingress would leave no ready endpoints (None when it
    would not): the stable Service has none while the canary Service has some."""
    kube, ns = engine.kube, spec.namespace
    canary_service = spec.nginx.get("canary_service")
    if canary_service and not serving_pod_names(_slices(kube, ns, canary_service)):
        return None
    stable = stable_service_of(spec, observed.ingress)
    if serving_pod_names(_slices(kube, ns, stable)):
        return None
    return "the stable Service %s has no ready endpoints" % stable


def wait_until_stable_serves(engine, spec, observed):
    """Wait (within the call's budget) until handing back is safe; WaitError with what
    was missing otherwise."""
    kube, ns = engine.kube, spec.namespace
    if spec.backend == "replicas":
        if not canary_ready_pods(observed):
            return
        if stable_not_ready(spec, observed):
            wait_for_rollout(kube, ns, spec.stable_deployment, _budget(engine))
        # Deployment status and EndpointSlices are written by different controllers:
        # the stable pods must be listed ready before the canary's pods go.
        wanted = ready_pod_names(kube, ns, template_labels(observed.stable))
        service, predicate = spec.service, _lists_ready(spec.service, wanted)
    elif nginx_not_serving(engine, spec, observed):
        service = stable_service_of(spec, observed.ingress)
        predicate = _lists_ready(service, None)
    else:
        return
    budget = _budget(engine)
    try:
        wait_for_all(kube, ENDPOINTSLICE, ns, service_slice_selector(service), predicate,
                     budget)
    except WaitTimeout as exc:
        raise WaitTimeout("%s (waited %ss)" % (exc, budget), exc.obj)


def _budget(engine):
    """What is left of the call's wait_timeout, in whole seconds for messages."""
    return max(1, int(round(engine.remaining())))


def held_message(engine, spec, observed, why):
    """What the failure says: why the abort stopped, what is live, what was written."""
    kube, ns = engine.kube, spec.namespace
    if spec.backend == "replicas":
        canary_pods = sorted(ready_pod_names(kube, ns, template_labels(observed.canary)))
        stable = observed.stable or {}
        live = ("the canary Deployment %s keeps serving through Service %s with %d ready "
                "pod(s) (%s); the stable Deployment %s has %d of %d replica(s) ready" % (
                    spec.canary_deployment, spec.service, len(canary_pods),
                    ", ".join(canary_pods) or "none", spec.stable_deployment,
                    (stable.get("status") or {}).get("readyReplicas", 0),
                    replicas_of(stable)))
        kept = "the canary Deployment %s was not scaled down" % spec.canary_deployment
    else:
        canary_service = spec.nginx.get("canary_service")
        live = "the canary Ingress %s keeps sending its share to Service %s (%d ready " \
            "endpoint(s)); the stable Service %s has none" % (
                spec.nginx["canary_ingress"], canary_service,
                len(serving_pod_names(_slices(kube, ns, canary_service))),
                stable_service_of(spec, observed.ingress))
        kept = "the canary Ingress %s was not deleted" % spec.nginx["canary_ingress"]
    written = "written by this call: %s" % "; ".join(engine.actions) if engine.actions \
        else "nothing was written by this call"
    return ("abort stopped so that the Service keeps ready endpoints: %s, because %s. Live "
            "now: %s; %s. Make the stable version ready (or promote the canary), then abort "
            "again" % (kept, why, live, written))


def guard(engine, spec, observed, observe, writes):
    """Called with the abort's next writes before any is made. When the first takes the
    canary out of service, make sure the stable version serves, waiting for it; returns
    the writes to make (planned again on fresh reads after a wait; none with wait=false
    while the stable version is not ready). Raises AbortHeld when it does not serve in
    time, and ``held`` turns a failed wait for the stable rollout into the same."""
    if not writes or not hands_back(spec, writes[0]):
        return writes
    if not engine.wait:
        why = stable_not_ready(spec, observed) if spec.backend == "replicas" \
            else nginx_not_serving(engine, spec, observed)
        if why:
            engine.warnings.append("the canary was left serving: %s; abort again (with "
                                   "wait=true to wait for it) to take it down" % why)
            return []
        return writes
    try:
        wait_until_stable_serves(engine, spec, observed)
    except WaitError as exc:
        raise held(engine, spec, observe, str(exc))
    return None  # waited: plan again on fresh reads


def held(engine, spec, observe, why):
    """The AbortHeld for ``why``, with what is live read now."""
    observed = observe()
    result = engine.result(**report(spec, observed))
    result.pop("diff", None)
    return AbortHeld(held_message(engine, spec, observed, why), result)
