# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Watch-based waits.

Readiness is a set of small pure predicates over an object (dict) returning a ``Check``;
``wait_for`` only decides *when* to evaluate them: once on a fresh GET, then on every watch
event, so it returns as soon as the server reports the change instead of on the next tick
of a sleep loop.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time
from collections import namedtuple

from ansible_collections.progressive.delivery.plugins.module_utils.kube import (
    DEPLOYMENT,
    ENDPOINTSLICE,
    POD,
    KubeError,
)


class Check(namedtuple("Check", "done message failed")):
    """done: the condition holds; failed: it can no longer hold (stop waiting)."""

    def __new__(cls, done, message, failed=False):
        return super(Check, cls).__new__(cls, done, message, failed)


class WaitError(Exception):
    def __init__(self, message, obj=None):
        super(WaitError, self).__init__(message)
        self.obj = obj


class WaitTimeout(WaitError):
    pass


class WaitFailed(WaitError):
    pass


def _meta(obj, key, default=None):
    return (obj.get("metadata") or {}).get(key, default)


def deployment_rollout(obj):
    """A Deployment's rollout is complete, as ``kubectl rollout status`` defines it."""
    if obj is None:
        return Check(False, "the Deployment does not exist")
    name = _meta(obj, "name")
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    if _meta(obj, "generation", 0) > status.get("observedGeneration", 0):
        return Check(False, "waiting for the Deployment spec update to be observed")
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return Check(False, 'deployment "%s" exceeded its progress deadline' % name, True)
    want = spec.get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    total = status.get("replicas", 0)
    ready = status.get("readyReplicas", 0)
    available = status.get("availableReplicas", 0)
    if updated < want:
        return Check(False, "%d out of %d new replicas have been updated" % (updated, want))
    if total > updated:
        return Check(False, "%d old replicas are pending termination" % (total - updated))
    if ready < updated:
        return Check(False, "%d of %d updated replicas are ready" % (ready, updated))
    if available < updated:
        return Check(False, "%d of %d updated replicas are available" % (available, updated))
    return Check(True, 'deployment "%s" successfully rolled out' % name)


def condition_is(cond_type, status="True", reason=None):
    """Predicate: status condition ``cond_type`` has ``status`` (and ``reason``) for the
    current generation of the object."""
    status = str(status)

    def predicate(obj):
        if obj is None:
            return Check(False, "the object does not exist")
        generation = _meta(obj, "generation")
        obj_status = obj.get("status") or {}
        observed = obj_status.get("observedGeneration")
        if generation is not None and observed is not None and observed < generation:
            return Check(False, "generation %s not observed yet (at %s)" % (generation, observed))
        for cond in obj_status.get("conditions") or []:
            if cond.get("type") != cond_type:
                continue
            cond_gen = cond.get("observedGeneration")
            if generation is not None and cond_gen is not None and cond_gen < generation:
                return Check(False, "condition %s is for generation %s" % (cond_type, cond_gen))
            matches = str(cond.get("status")) == status and (
                reason is None or cond.get("reason") == reason
            )
            text = "condition %s=%s reason=%s: %s" % (
                cond_type, cond.get("status"), cond.get("reason"), cond.get("message", "")
            )
            return Check(matches, text.rstrip(": "))
        return Check(False, "condition %s not reported yet" % cond_type)

    return predicate


def pod_is_ready(pod):
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def describe_unready_pod(pod):
    """One line saying why a pod is not ready: phase, Ready reason, container states."""
    status = pod.get("status") or {}
    parts = ["phase=%s" % status.get("phase", "Unknown")]
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Ready" and cond.get("status") != "True":
            detail = cond.get("reason") or "NotReady"
            if cond.get("message"):
                detail += " (%s)" % cond["message"]
            parts.append("Ready=False: " + detail)
    if status.get("phase") == "Pending":
        for cond in status.get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("status") != "True":
                parts.append("unschedulable: %s" % cond.get("message", cond.get("reason")))
    for container in status.get("containerStatuses") or []:
        state = container.get("state") or {}
        waiting = state.get("waiting")
        if waiting:
            parts.append("container %s waiting: %s" % (container.get("name"), waiting.get("reason")))
        elif not container.get("ready"):
            parts.append("container %s not ready" % container.get("name"))
        if container.get("restartCount"):
            parts.append("restarts=%d" % container["restartCount"])
    node = (pod.get("spec") or {}).get("nodeName") or "unscheduled"
    return "pod %s on %s: %s" % (_meta(pod, "name"), node, "; ".join(parts))


def label_selector_string(selector):
    """metav1.LabelSelector (dict) -> the string form the API's labelSelector takes."""
    terms = ["%s=%s" % item for item in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        op = expr.get("operator")
        values = ",".join(expr.get("values") or [])
        if op == "In":
            terms.append("%s in (%s)" % (expr["key"], values))
        elif op == "NotIn":
            terms.append("%s notin (%s)" % (expr["key"], values))
        elif op == "Exists":
            terms.append(expr["key"])
        elif op == "DoesNotExist":
            terms.append("!" + expr["key"])
    return ",".join(terms)


def unready_pods_report(kube, deployment):
    """The unready pods of a Deployment, one line each (for timeout messages)."""
    if not deployment:
        return []
    selector = label_selector_string((deployment.get("spec") or {}).get("selector") or {})
    try:
        pods = kube.list(POD, _meta(deployment, "namespace"), label_selector=selector)
    except KubeError as exc:
        return ["(could not list pods: %s)" % exc]
    return [
        describe_unready_pod(pod)
        for pod in pods.get("items") or []
        if not pod_is_ready(pod) and not _meta(pod, "deletionTimestamp")
    ]


def wait_for(kube, resource, namespace, name, predicate, timeout, clock=time.monotonic):
    """Block until ``predicate(obj)`` is done; return the object (None if absent).

    Evaluates once on a fresh read, then on every watch event for that one object. Raises
    WaitFailed if the predicate says the condition can no longer hold, WaitTimeout with the
    last message when ``timeout`` seconds pass.
    """

    def read():
        return _read_with_version(kube, resource, namespace, name)

    def events(resource_version, remaining):
        return kube.watch(resource, namespace, resource_version, remaining, name=name)

    def apply(unused_obj, event_type, event_obj):
        return None if event_type == "DELETED" else event_obj

    return _watch_until(read, events, apply, predicate, timeout, clock)


def wait_for_all(kube, resource, namespace, label_selector, predicate, timeout,
                 clock=time.monotonic):
    """Like wait_for, over every object matching ``label_selector``: ``predicate`` gets the
    list of them (sorted by name); returns that list."""

    def read():
        listed = kube.list(resource, namespace, label_selector=label_selector)
        items = dict((_meta(obj, "name"), obj) for obj in listed.get("items") or [])
        return items, (listed.get("metadata") or {}).get("resourceVersion")

    def events(resource_version, remaining):
        return kube.watch(resource, namespace, resource_version, remaining,
                          label_selector=label_selector)

    def apply(items, event_type, event_obj):
        items = dict(items)
        if event_type == "DELETED":
            items.pop(_meta(event_obj, "name"), None)
        else:
            items[_meta(event_obj, "name")] = event_obj
        return items

    def in_order(items):
        return [items[name] for name in sorted(items)]

    found = _watch_until(read, events, apply, lambda items: predicate(in_order(items)),
                         timeout, clock, error_object=lambda unused: None)
    return in_order(found)


def _watch_until(read, events, apply, predicate, timeout, clock, error_object=lambda s: s):
    """The loop behind the waits: judge the state on a read, then after every watch event
    folded into it. A watch that ends early (server timeout, 410 Gone) restarts from a
    fresh read, so no change between the two is missed."""
    deadline = clock() + timeout
    while True:
        state, resource_version = read()
        check = predicate(state)
        if not (check.done or check.failed) and clock() < deadline:
            for event_type, event_obj in events(resource_version, deadline - clock()):
                if event_type == "ERROR":
                    break  # typically 410 Gone: read again and watch from there
                if event_type == "BOOKMARK":
                    continue
                state = apply(state, event_type, event_obj)
                check = predicate(state)
                if check.done or check.failed or clock() >= deadline:
                    break
        if check.done:
            return state
        if check.failed:
            raise WaitFailed(check.message, error_object(state))
        if clock() >= deadline:
            raise WaitTimeout(check.message, error_object(state))


def _read_with_version(kube, resource, namespace, name):
    """The object (or None) and a resourceVersion to watch from, in one consistent read:
    a list filtered to the name, so an object created between a GET and a later LIST
    cannot be missed."""
    listed = kube.list(resource, namespace, field_selector="metadata.name=" + name)
    items = listed.get("items") or []
    obj = items[0] if items else None
    if obj is not None:
        obj.setdefault("kind", resource.kind)
        obj.setdefault("apiVersion", resource.api_version)
    return obj, (listed.get("metadata") or {}).get("resourceVersion")


def wait_for_rollout(kube, namespace, name, timeout, clock=time.monotonic):
    """Wait for a Deployment rollout; on timeout name the unready pods and why."""
    try:
        return wait_for(kube, DEPLOYMENT, namespace, name, deployment_rollout, timeout, clock)
    except WaitError as exc:
        kind = "timed out after %ss" % timeout if isinstance(exc, WaitTimeout) else "failed"
        lines = ["Deployment %s/%s rollout %s: %s" % (namespace, name, kind, exc)]
        unready = unready_pods_report(kube, exc.obj)
        if unready:
            lines.append("unready pods: " + " | ".join(unready))
        raise type(exc)("; ".join(lines), exc.obj)


def ready_pod_names(kube, namespace, selector):
    """Names of the ready, not terminating pods matching ``selector`` (matchLabels dict)."""
    pods = kube.list(POD, namespace, label_selector=label_selector_string(
        {"matchLabels": selector}))
    return set(p["metadata"]["name"] for p in pods.get("items") or []
               if pod_is_ready(p) and not _meta(p, "deletionTimestamp"))


def service_slice_selector(service):
    """The label selector of a Service's EndpointSlices."""
    return "kubernetes.io/service-name=" + service


def serving_pod_names(slices):
    """Names of the pods a Service sends traffic to, from its EndpointSlices: endpoints whose
    ``ready`` condition is not false (unset means ready, as the API defines it). An endpoint
    without a pod behind it is named by its addresses, so it counts as a stray."""
    names = set()
    for endpoint_slice in slices or []:
        for endpoint in endpoint_slice.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            ref = endpoint.get("targetRef") or {}
            names.add(ref.get("name") if ref.get("kind", "Pod") == "Pod" and ref.get("name")
                      else ",".join(endpoint.get("addresses") or []))
    return names


def _some(names, limit=5):
    names = sorted(n for n in names if n)
    more = len(names) - limit
    return ", ".join(names[:limit]) + (" and %d more" % more if more > 0 else "")


def service_serves(service, wanted, exact=False):
    """Predicate on a Service's EndpointSlices (a list): traffic goes to ``wanted`` pods and
    no others (and, with ``exact``, to every one of them)."""

    def predicate(slices):
        if not slices:
            return Check(False, "no EndpointSlices for Service %s yet" % service)
        ready = serving_pod_names(slices)
        strays, missing = ready - wanted, wanted - ready
        if not ready:
            return Check(False, "Service %s has no ready endpoints" % service)
        if strays:
            return Check(False, "Service %s still sends traffic to %s" % (service, _some(strays)))
        if exact and missing:
            return Check(False, "Service %s does not send traffic to %s yet" % (
                service, _some(missing)))
        return Check(True, "Service %s sends traffic to %d pods" % (service, len(ready)))

    return predicate


def wait_for_service_endpoints(kube, namespace, service, wanted, timeout, exact=False,
                               clock=time.monotonic):
    """Wait until the Service's EndpointSlices (what kube-proxy and ingress controllers
    route by) list ``wanted`` ready pods and no others. EndpointSlices rather than v1
    Endpoints: the Endpoints controller can keep a stale object after a burst of pod
    changes and never correct it (kubernetes/kubernetes#127429); its successor retries."""
    return wait_for_all(kube, ENDPOINTSLICE, namespace, service_slice_selector(service),
                        service_serves(service, wanted, exact), timeout, clock)
