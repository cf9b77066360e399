"""The watch-based wait helper against the testbed: rollouts, conditions, predicates."""

import threading
import time

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    CONFIGMAP,
    DEPLOYMENT,
    SERVICE,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import (
    Check,
    condition_is,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import (
    WaitTimeout,
    ready_pod_names,
    wait_for,
    wait_for_all,
    wait_for_rollout,
    wait_for_service_endpoints,
)


def deployment(name, replicas=3, labels=None, annotations=None, image="web:1"):
    pod_labels = dict({"app": name}, **(labels or {}))
    return {"metadata": {"name": name}, "spec": {
        "replicas": replicas, "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": pod_labels, "annotations": annotations or {}},
                     "spec": {"containers": [{"name": "web", "image": image}]}}}}


def test_rollout_of_a_new_deployment_and_of_an_image_change(kube, namespace):
    kube.create(DEPLOYMENT, namespace, deployment("web"))
    done = wait_for_rollout(kube, namespace, "web", 60)
    assert done["status"]["readyReplicas"] == 3
    kube.patch(DEPLOYMENT, namespace, "web", {"spec": {"template": {"spec": {
        "containers": [{"name": "web", "image": "web:2"}]}}}})
    done = wait_for_rollout(kube, namespace, "web", 60)
    assert done["status"]["updatedReplicas"] == 3 and done["status"]["replicas"] == 3
    assert done["status"]["observedGeneration"] == done["metadata"]["generation"] == 2


def test_bad_version_times_out_naming_the_unready_pods(kube, namespace):
    kube.create(DEPLOYMENT, namespace, deployment(
        "bad", replicas=2, labels={"testbed.progressive.delivery/readiness": "never"}))
    start = time.monotonic()
    with pytest.raises(WaitTimeout) as err:
        wait_for_rollout(kube, namespace, "bad", 3)
    assert 2.5 < time.monotonic() - start < 8
    message = str(err.value)
    assert "Deployment %s/bad rollout timed out after 3s: 0 of 2 updated replicas are ready" \
        % namespace in message
    assert message.count("pod bad-") == 2
    assert "Ready=False: ContainersNotReady" in message


def test_slow_version_takes_about_its_delay(kube, namespace):
    kube.create(DEPLOYMENT, namespace, deployment(
        "slow", replicas=1,
        annotations={"testbed.progressive.delivery/ready-after-seconds": "3"}))
    start = time.monotonic()
    wait_for_rollout(kube, namespace, "slow", 30)
    assert 2.5 <= time.monotonic() - start < 8


def test_condition_wait_on_a_deployment(kube, namespace):
    kube.create(DEPLOYMENT, namespace, deployment("cond", replicas=1))
    obj = wait_for(kube, DEPLOYMENT, namespace, "cond",
                   condition_is("Available", "True", "MinimumReplicasAvailable"), 30)
    assert obj["metadata"]["name"] == "cond"


def test_predicate_wait_returns_on_the_event_and_waits_for_creation(kube, namespace):
    def later():
        time.sleep(1)
        kube.create(CONFIGMAP, namespace, {"metadata": {"name": "flag"}, "data": {"v": "1"}})
        time.sleep(1)
        kube.patch(CONFIGMAP, namespace, "flag", {"data": {"v": "2"}})

    threading.Thread(target=later, daemon=True).start()
    start = time.monotonic()
    obj = wait_for(kube, CONFIGMAP, namespace, "flag",
                   lambda o: Check(bool(o) and o["data"]["v"] == "2", "v is not 2"), 20)
    assert obj["data"]["v"] == "2"
    assert 1.8 < time.monotonic() - start < 5


def test_collection_wait_follows_additions_and_deletions(kube, namespace):
    def flag(name):
        return {"metadata": {"name": name, "labels": {"flag": "yes"}}}

    def later():
        kube.create(CONFIGMAP, namespace, flag("one"))
        kube.create(CONFIGMAP, namespace, flag("two"))
        time.sleep(0.5)
        kube.delete(CONFIGMAP, namespace, "one")

    kube.create(CONFIGMAP, namespace, {"metadata": {"name": "unlabelled"}})
    threading.Thread(target=later, daemon=True).start()
    seen = []

    def only_two_is_left(items):
        names = [o["metadata"]["name"] for o in items]
        seen.append(names)
        return Check(names == ["two"], "flags: %s" % names)

    found = wait_for_all(kube, CONFIGMAP, namespace, "flag=yes", only_two_is_left, 20)
    assert [o["metadata"]["name"] for o in found] == ["two"]
    assert ["one", "two"] in seen, "the wait never saw both flags at once: %s" % seen


def serve_web(kube, namespace, replicas):
    kube.create(DEPLOYMENT, namespace, deployment("web", replicas=replicas))
    kube.create(SERVICE, namespace, {"metadata": {"name": "web"}, "spec": {
        "selector": {"app": "web"}, "ports": [{"port": 80}]}})
    wait_for_rollout(kube, namespace, "web", 60)
    return ready_pod_names(kube, namespace, {"app": "web"})


def test_service_endpoints_wait_returns_when_the_slices_list_the_ready_pods(kube, namespace):
    pods = serve_web(kube, namespace, replicas=2)
    slices = wait_for_service_endpoints(kube, namespace, "web", pods, 30, exact=True)
    listed = set(e["targetRef"]["name"] for s in slices for e in s["endpoints"])
    assert listed == pods and len(pods) == 2


def test_service_endpoints_wait_names_what_is_missing_and_what_is_extra(kube, namespace):
    pods = serve_web(kube, namespace, replicas=2)
    with pytest.raises(WaitTimeout) as err:
        wait_for_service_endpoints(kube, namespace, "web", pods | {"web-ghost"}, 2, exact=True)
    assert str(err.value) == "Service web does not send traffic to web-ghost yet"
    kept = sorted(pods)[0]
    with pytest.raises(WaitTimeout) as err:
        wait_for_service_endpoints(kube, namespace, "web", {kept}, 2)
    assert str(err.value) == "Service web still sends traffic to %s" % sorted(pods)[1]
