"""k8s_canary where a careless release would send traffic nowhere or to the wrong pods, on
the testbed: a Service whose selector also reaches a third Deployment is refused before
any write; an abort while the stable version's pods are unready (the canary holds the only
ready pods) waits for them, or keeps the canary serving and fails saying why, for the
replicas and the nginx backends. The EndpointSlices are watched during each abort: there
must be a ready endpoint at every moment."""

import re
import threading

import pytest

from canary_objects import (
    NEVER_READY,
    create_ingress,
    create_service,
    create_stable,
    pod_template,
    ready,
    replicas,
    resource_versions,
)
from modules import run_module

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    DEPLOYMENT,
    ENDPOINTSLICE,
    INGRESS,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import (
    Check,
    service_slice_selector,
    serving_pod_names,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import (
    wait_for_all,
    wait_for_rollout,
)

pytestmark = pytest.mark.reliability

V2 = pod_template("ikubernetes/myapp:v2")
SLOW_SECONDS = 12


def canary(namespace, **params):
    base = dict(name="myapp", namespace=namespace, service="myapp", wait_timeout=60)
    base.update(params)
    return run_module("k8s_canary", **base)


def deployment(kube, namespace, name, replicas_count, labels, selector, annotations=None):
    template = pod_template("ikubernetes/myapp:v1", labels)
    if annotations:
        template["metadata"]["annotations"] = dict(annotations)
    kube.create(DEPLOYMENT, namespace, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas_count, "selector": {"matchLabels": selector},
                 "template": template}})


class ReadyEndpointsWatch(object):
    """Watches a Service's EndpointSlices and keeps the fewest ready endpoints seen."""

    def __init__(self, kube, namespace, service):
        self.kube, self.namespace, self.service = kube, namespace, service
        listed = kube.list(ENDPOINTSLICE, namespace,
                           label_selector=service_slice_selector(service))
        self.slices = dict((s["metadata"]["name"], s) for s in listed["items"])
        self.version = listed["metadata"]["resourceVersion"]
        self.counts = [len(serving_pod_names(self.slices.values()))]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stop.is_set():
            for kind, obj in self.kube.watch(ENDPOINTSLICE, self.namespace, self.version, 2,
                                             label_selector=service_slice_selector(
                                                 self.service)):
                self.version = obj["metadata"].get("resourceVersion") or self.version
                if kind == "BOOKMARK":
                    continue
                if kind == "DELETED":
                    self.slices.pop(obj["metadata"]["name"], None)
                else:
                    self.slices[obj["metadata"]["name"]] = obj
                self.counts.append(len(serving_pod_names(self.slices.values())))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(10)


# ---------------------------------------------------------------------------
# a Service reaching a third Deployment
# ---------------------------------------------------------------------------
def test_a_service_selecting_a_third_deployment_is_refused_with_zero_writes(kube, namespace):
    create_stable(kube, namespace, replicas=2)
    # a worker of the same app whose pods the Service's app=myapp also selects
    deployment(kube, namespace, "myapp-worker", 1, {"app": "myapp", "tier": "worker"},
               {"app": "myapp", "tier": "worker"})
    wait_for_rollout(kube, namespace, "myapp-worker", 60)
    before = resource_versions(kube, namespace)
    for params in (dict(weight=10, pod_template=V2), dict(state="promoted")):
        result = canary(namespace, **params)
        assert result.get("failed"), result
        assert "Service %s/myapp selector {'app': 'myapp'} also selects the pods of Deployment " \
            "myapp-worker, which is neither the stable Deployment myapp nor the canary " \
            "myapp-canary" % namespace in result["msg"], result["msg"]
        assert "Traceback" not in result["msg"]
    assert resource_versions(kube, namespace) == before
    assert kube.get_or_none(DEPLOYMENT, namespace, "myapp-canary") is None


# ---------------------------------------------------------------------------
# abort while the stable version is unready (replicas backend)
# ---------------------------------------------------------------------------
def canary_holds_everything(kube, namespace, stable_annotations=None, stable_labels=None):
    """The stable Deployment at 0 with pods that would be slow or never ready, the canary
    at 100% with the only ready pods (2)."""
    labels = dict({"app": "myapp", "track": "stable", "version": "v1"}, **(stable_labels or {}))
    deployment(kube, namespace, "myapp", 0, labels, {"app": "myapp", "track": "stable"},
               stable_annotations)
    create_service(kube, namespace, "myapp", {"app": "myapp"})
    result = canary(namespace, weight=100, replicas=2, pod_template=V2)
    assert not result.get("failed"), result
    assert (replicas(kube, namespace, "myapp"), ready(kube, namespace, "myapp-canary")) == (0, 2)


def canary_pods_serving(kube, namespace):
    slices = kube.list(ENDPOINTSLICE, namespace,
                       label_selector=service_slice_selector("myapp"))["items"]
    return sorted(n for n in serving_pod_names(slices) if n.startswith("myapp-canary-"))


def test_abort_waits_for_a_slow_stable_version_with_a_ready_endpoint_throughout(kube, namespace):
    canary_holds_everything(kube, namespace, stable_annotations={
        "testbed.progressive.delivery/ready-after-seconds": str(SLOW_SECONDS)})

    # too short a wait: the canary keeps serving, the failure says why
    with ReadyEndpointsWatch(kube, namespace, "myapp") as watch:
        held = canary(namespace, state="aborted", wait_timeout=2)
    assert held.get("failed"), held
    message = held["msg"]
    assert message.startswith("abort stopped so that the Service keeps ready endpoints: the "
                              "canary Deployment myapp-canary was not scaled down, because "
                              "Deployment %s/myapp rollout timed out after 2s" % namespace), message
    assert "Live now: the canary Deployment myapp-canary keeps serving through Service myapp " \
        "with 2 ready pod(s)" in message
    assert "the stable Deployment myapp has 0 of 2 replica(s) ready" in message
    assert "written by this call: scale stable Deployment myapp 0 -> 2" in message
    assert replicas(kube, namespace, "myapp-canary") == 2
    assert min(watch.counts) >= 2, watch.counts

    # again, with time enough: it waits for the stable pods, then drops the canary
    with ReadyEndpointsWatch(kube, namespace, "myapp") as watch:
        result = canary(namespace, state="aborted", wait_timeout=60)
    assert not result.get("failed"), result
    assert result["actions"] == ["scale canary Deployment myapp-canary 2 -> 0"]
    assert (replicas(kube, namespace, "myapp"), ready(kube, namespace, "myapp")) == (2, 2)
    assert replicas(kube, namespace, "myapp-canary") == 0
    assert min(watch.counts) >= 1, watch.counts
    assert len(watch.counts) > 1  # the watch saw the hand-over
    assert canary_pods_serving(kube, namespace) == []


def test_abort_keeps_the_canary_when_the_stable_version_never_gets_ready(kube, namespace):
    canary_holds_everything(kube, namespace, stable_labels=NEVER_READY)
    serving = canary_pods_serving(kube, namespace)
    assert len(serving) == 2
    for attempt, written in ((1, "written by this call: scale stable Deployment myapp 0 -> 2"),
                             (2, "nothing was written by this call")):
        with ReadyEndpointsWatch(kube, namespace, "myapp") as watch:
            result = canary(namespace, state="aborted", wait_timeout=6)
        assert result.get("failed"), (attempt, result)
        message = result["msg"]
        # the first waits the whole wait_timeout after growing the stable version, the
        # second what is left of it after its reads (less on a busy machine)
        assert re.search(r"the canary Deployment myapp-canary was not scaled down, because "
                         r"Deployment %s/myapp rollout timed out after \d+s: 0 of 2 updated "
                         r"replicas are ready; unready pods: " % namespace, message), \
            (attempt, message)
        assert "Live now: the canary Deployment myapp-canary keeps serving through Service " \
            "myapp with 2 ready pod(s) (%s)" % ", ".join(serving) in message, message
        assert "the stable Deployment myapp has 0 of 2 replica(s) ready" in message
        assert written in message, (attempt, message)
        assert "Make the stable version ready (or promote the canary), then abort again" in \
            message
        assert min(watch.counts) == 2, (attempt, watch.counts)
        assert replicas(kube, namespace, "myapp-canary") == 2
        assert canary_pods_serving(kube, namespace) == serving


# ---------------------------------------------------------------------------
# abort while the stable Service has no ready endpoints (nginx backend)
# ---------------------------------------------------------------------------
def nginx(namespace, **params):
    settings = dict(ingress="myapp", canary_service="myapp-v2")
    base = dict(name="myapp", namespace=namespace, backend="nginx", nginx=settings,
                wait_timeout=60)
    base.update(params)
    return run_module("k8s_canary", **base)


def test_nginx_abort_keeps_the_canary_ingress_while_the_stable_service_has_no_ready_pods(
        kube, namespace):
    deployment(kube, namespace, "myapp-v1", 1, dict({"app": "myapp", "version": "v1"},
                                                    **NEVER_READY),
               {"app": "myapp", "version": "v1"})
    deployment(kube, namespace, "myapp-v2", 1, {"app": "myapp", "version": "v2"},
               {"app": "myapp", "version": "v2"})
    create_service(kube, namespace, "myapp-v1", {"app": "myapp", "version": "v1"})
    create_service(kube, namespace, "myapp-v2", {"app": "myapp", "version": "v2"})
    create_ingress(kube, namespace)
    wait_for_rollout(kube, namespace, "myapp-v2", 60)
    wait_for_all(kube, ENDPOINTSLICE, namespace, service_slice_selector("myapp-v2"),
                 lambda slices: Check(bool(serving_pod_names(slices)), "no ready endpoint"), 60)
    assert not nginx(namespace, weight=50).get("failed")
    before = resource_versions(kube, namespace)
    result = nginx(namespace, state="aborted", wait_timeout=4)
    assert result.get("failed"), result
    assert re.search(r"the canary Ingress myapp-canary was not deleted, because Service "
                     r"myapp-v1 has no ready endpoints \(waited \d+s\)", result["msg"]), \
        result["msg"]
    assert "the stable Service myapp-v1 has none" in result["msg"]
    assert "nothing was written by this call" in result["msg"]
    assert resource_versions(kube, namespace) == before
    assert kube.get_or_none(INGRESS, namespace, "myapp-canary") is not None
