# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Watch-based waits.

``wait_for`` evaluates a predicate from ``conditions.py`` once on a fresh read, then on
every watch event, so it returns as soon as the server reports the change instead of on
the next tick of a sleep loop.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    DEPLOYMENT,
    ENDPOINTSLICE,
    POD,
    SERVICE,
    KubeError,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import (
    Check,
    deployment_rollout,
    describe_unready_pod,
    label_selector_string,
    meta_value,
    pod_is_ready,
    service_serves,
    service_slice_selector,
    serving_pod_names,
)


class WaitError(Exception):
    def __init__(self, message, obj=None):
        super(WaitError, self).__init__(message)
        self.obj = obj


class WaitTimeout(WaitError):
    pass


class WaitFailed(WaitError):
    pass


def unready_pods_report(kube, deployment):
    """The unready pods of a Deployment, one line each (for timeout messages)."""
    if not deployment:
        return []
    selector = label_selector_string((deployment.get("spec") or {}).get("selector") or {})
    try:
        pods = kube.list(POD, meta_value(deployment, "namespace"), label_selector=selector)
    except KubeError as exc:
        return ["(could not list pods: %s)" % exc]
    return [
        describe_unready_pod(pod)
        for pod in pods.get("items") or []
        if not pod_is_ready(pod) and not meta_value(pod, "deletionTimestamp")
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


def wait_for_verdict(kube, resource, namespace, name, predicate, remaining, missing_services,
                     once_seen):
    """wait_for on a controller's verdict that may come from a cache behind the API server.

    A verdict that fails only because Services are missing (``missing_services(obj)``: their
    (namespace, name), empty for any other failure) while every one of them exists is the
    controller judging before its cache had a Service created a moment earlier: then wait
    again with ``once_seen(missing)``, a predicate that waits for its next verdict.
    ``remaining()``: the seconds left, asked before each wait."""
    try:
        return wait_for(kube, resource, namespace, name, predicate, remaining())
    except WaitFailed as exc:
        missing = missing_services(exc.obj)
        if not missing or any(kube.get_or_none(SERVICE, svc_namespace, svc_name) is None
                              for svc_namespace, svc_name in missing):
            raise
    return wait_for(kube, resource, namespace, name, once_seen(missing), remaining())


def wait_for_all(kube, resource, namespace, label_selector, predicate, timeout,
                 clock=time.monotonic):
    """Like wait_for, over every object matching ``label_selector``: ``predicate`` gets the
    list of them (sorted by name); returns that list."""

    def read():
        listed = kube.list(resource, namespace, label_selector=label_selector)
        items = dict((meta_value(obj, "name"), obj) for obj in listed.get("items") or [])
        return items, (listed.get("metadata") or {}).get("resourceVersion")

    def events(resource_version, remaining):
        return kube.watch(resource, namespace, resource_version, remaining,
                          label_selector=label_selector)

    def apply(items, event_type, event_obj):
        items = dict(items)
        if event_type == "DELETED":
            items.pop(meta_value(event_obj, "name"), None)
        else:
            items[meta_value(event_obj, "name")] = event_obj
        return items

    def in_order(items):
        return [items[name] for name in sorted(items)]

    found = _watch_until(read, events, apply, lambda items: predicate(in_order(items)),
                         timeout, clock, error_object=lambda unused: None)
    return in_order(found)


def _watch_until(read, events, apply, predicate, timeout, clock, error_object=lambda s: s,
                 sleep=time.sleep):
    """The loop behind the waits: judge the state on a read, then after every watch event
    folded into it. A watch that ends early (server timeout, 410 Gone, the connection
    dropped by an API server restart) restarts from a fresh read, so no change between
    the two is missed; an unreachable server is retried until the deadline."""
    deadline = clock() + timeout
    state, check = None, Check(False, "no answer from the API server yet")
    while True:
        try:
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
        except KubeError as exc:
            if not exc.transient:
                raise
            check = Check(False, "%s (last seen: %s)" % (exc, check.message))
            if clock() < deadline:
                sleep(min(1.0, max(0.0, deadline - clock())))
                continue
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
               if pod_is_ready(p) and not meta_value(p, "deletionTimestamp"))


def wait_for_service_to_serve_selected(kube, namespace, service, selector, timeout,
                                       clock=time.monotonic):
    """Wait until the Service's EndpointSlices list exactly the ready, not terminating pods
    its selector matches. Which pods those are is read again whenever the slices disagree
    with the last reading: while Deployments scale, the pods that should serve change under
    the wait (pods being scaled away must not be waited for)."""
    seen = {}

    def predicate(slices):
        serving = serving_pod_names(slices)
        if seen.get("wanted") != serving:
            seen["wanted"] = ready_pod_names(kube, namespace, selector)
        return service_serves(service, seen["wanted"], exact=True)(slices)

    return wait_for_all(kube, ENDPOINTSLICE, namespace, service_slice_selector(service),
                        predicate, timeout, clock)


def wait_for_service_endpoints(kube, namespace, service, wanted, timeout, exact=False,
                               clock=time.monotonic):
    """Wait until the Service's EndpointSlices (what kube-proxy and ingress controllers
    route by) list ``wanted`` ready pods and no others. EndpointSlices rather than v1
    Endpoints: the Endpoints controller can keep a stale object after a burst of pod
    changes and never correct it (kubernetes/kubernetes#127429); its successor retries."""
    return wait_for_all(kube, ENDPOINTSLICE, namespace, service_slice_selector(service),
                        service_serves(service, wanted, exact), timeout, clock)
