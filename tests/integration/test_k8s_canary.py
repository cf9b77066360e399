"""k8s_canary against the testbed's real API server, controllers and kwok nodes."""

import threading

from canary_objects import (
    NEVER_READY,
    create_ingress,
    create_service,
    create_stable,
    endpoint_tracks,
    image,
    pod_template,
    ready,
    replicas,
    resource_versions,
)
from modules import run_module

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    DEPLOYMENT,
    INGRESS,
)

NGINX = "nginx.ingress.kubernetes.io/"
V2 = pod_template("ikubernetes/myapp:v2")


def canary(namespace, **params):
    base = dict(name="myapp", namespace=namespace, service="myapp", wait_timeout=60)
    base.update(params)
    return run_module("k8s_canary", **base)


# ---------------------------------------------------------------------------
# replicas backend
# ---------------------------------------------------------------------------
def test_phased_release_1_10_50_100_then_promote(kube, namespace):
    create_stable(kube, namespace, replicas=10)
    expected = {1: (9, 1), 10: (9, 1), 50: (5, 5), 100: (0, 10)}
    for weight, (stable_n, canary_n) in expected.items():
        result = canary(namespace, weight=weight, version="v2", pod_template=V2)
        assert not result.get("failed"), result
        assert (replicas(kube, namespace, "myapp"), replicas(kube, namespace, "myapp-canary")) \
            == (stable_n, canary_n)
        # the module returned only once the counts were ready and the Service used them
        assert (ready(kube, namespace, "myapp"), ready(kube, namespace, "myapp-canary")) == \
            (stable_n, canary_n)
        tracks = endpoint_tracks(kube, namespace)
        assert tracks.get("stable", 0) == stable_n and tracks.get("canary", 0) == canary_n
        assert result["weight"] == 100.0 * canary_n / 10
        assert result["total_replicas"] == 10
        again = canary(namespace, weight=weight, version="v2", pod_template=V2)
        assert again["changed"] is False, again["actions"]

    result = canary(namespace, state="promoted")
    assert result["changed"], result
    assert result["actions"][0].startswith("promote: stable Deployment myapp runs")
    assert replicas(kube, namespace, "myapp") == 10 and ready(kube, namespace, "myapp") == 10
    assert image(kube, namespace, "myapp") == "ikubernetes/myapp:v2"
    assert replicas(kube, namespace, "myapp-canary") == 0
    stable_obj = kube.get(DEPLOYMENT, namespace, "myapp")
    assert stable_obj["spec"]["template"]["metadata"]["labels"] == {
        "app": "myapp", "track": "stable", "version": "v2"}
    assert result["stable"]["version"] == "v2"
    assert canary(namespace, state="promoted")["changed"] is False


def test_check_mode_changes_nothing_and_reports_the_plan(kube, namespace):
    create_stable(kube, namespace, replicas=4)
    before = resource_versions(kube, namespace)
    result = run_module("k8s_canary", check=True, diff=True, name="myapp", namespace=namespace,
                        service="myapp", weight=50, pod_template=V2, version="v2")
    assert result["changed"] and not result.get("failed"), result
    assert result["actions"] == [
        "create canary Deployment myapp-canary (ikubernetes/myapp:v2) with 2 replica(s)",
        "scale stable Deployment myapp 4 -> 2"]
    assert result["diff"]["after"]["Deployment/myapp"]["replicas"] == 2
    assert result["diff"]["before"]["Deployment/myapp-canary"] == {}
    assert resource_versions(kube, namespace) == before
    assert kube.get_or_none(DEPLOYMENT, namespace, "myapp-canary") is None


def test_bad_canary_fails_and_leaves_stable_untouched_then_abort(kube, namespace):
    create_stable(kube, namespace, replicas=10)
    stable_rv = kube.get(DEPLOYMENT, namespace, "myapp")["metadata"]["resourceVersion"]
    bad = pod_template("ikubernetes/myapp:v2", NEVER_READY)
    result = canary(namespace, weight=10, pod_template=bad, wait_timeout=5)
    assert result.get("failed"), result
    assert "Deployment %s/myapp-canary rollout timed out after 5s" % namespace in result["msg"]
    assert "unready pods: pod myapp-canary-" in result["msg"]
    assert kube.get(DEPLOYMENT, namespace, "myapp")["metadata"]["resourceVersion"] == stable_rv
    assert ready(kube, namespace, "myapp") == 10

    result = canary(namespace, state="aborted")
    assert not result.get("failed"), result
    assert result["actions"] == ["scale canary Deployment myapp-canary 1 -> 0"]
    assert replicas(kube, namespace, "myapp") == 10 and replicas(kube, namespace,
                                                                 "myapp-canary") == 0
    assert endpoint_tracks(kube, namespace) == {"stable": 10}


def test_abort_never_drops_below_the_ready_pods_it_had(kube, namespace):
    create_stable(kube, namespace, replicas=6)
    assert not canary(namespace, weight=50, pod_template=V2).get("failed")
    assert ready(kube, namespace, "myapp") + ready(kube, namespace, "myapp-canary") == 6

    lowest = []
    stop = threading.Event()

    def watch_ready():
        low = 6
        while not stop.is_set():
            total = ready(kube, namespace, "myapp") + ready(kube, namespace, "myapp-canary")
            low = min(low, total)
        lowest.append(low)

    thread = threading.Thread(target=watch_ready)
    thread.start()
    try:
        result = canary(namespace, state="aborted")
    finally:
        stop.set()
        thread.join()
    assert not result.get("failed"), result
    assert result["actions"] == ["scale stable Deployment myapp 3 -> 6",
                                 "scale canary Deployment myapp-canary 3 -> 0"]
    assert lowest == [6]
    assert canary(namespace, state="aborted")["changed"] is False


def test_adopts_an_existing_canary_deployment(kube, namespace):
    create_stable(kube, namespace, replicas=4)
    kube.create(DEPLOYMENT, namespace, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "myapp-canary"},
        "spec": {"replicas": 0,
                 "selector": {"matchLabels": {"app": "myapp", "track": "canary"}},
                 "template": pod_template("ikubernetes/myapp:v2",
                                          {"app": "myapp", "track": "canary"})}})
    result = canary(namespace, weight=25)
    assert not result.get("failed"), result
    assert (replicas(kube, namespace, "myapp"), replicas(kube, namespace, "myapp-canary")) == \
        (3, 1)
    assert result["canary"]["images"] == {"myapp": "ikubernetes/myapp:v2"}


def test_bad_input_is_refused_before_any_write(kube, namespace):
    create_stable(kube, namespace, replicas=4)
    before = resource_versions(kube, namespace)
    result = canary(namespace, weight=101, pod_template=V2)
    assert result["failed"] and "weight: must be a percent from 0 to 100, got 101" in \
        result["msg"]
    assert result["errors"] == [{"field": "weight",
                                 "message": "must be a percent from 0 to 100, got 101"}]
    result = canary(namespace, weight=10, stable_deployment="nope", pod_template=V2)
    assert result["failed"] and "stable Deployment %s/nope not found" % namespace in \
        result["msg"]
    result = canary(namespace, weight=10, service="gone", pod_template=V2)
    assert result["failed"] and "Service %s/gone not found" % namespace in result["msg"]
    result = canary(namespace, weight=10)
    assert result["failed"] and "give definition or pod_template" in result["msg"]
    assert resource_versions(kube, namespace) == before


def test_service_selecting_one_track_is_refused(kube, namespace):
    create_stable(kube, namespace, replicas=2,
                  service_selector={"app": "myapp", "track": "stable"})
    result = canary(namespace, weight=10, pod_template=V2)
    assert result["failed"] and "only one track gets traffic" in result["msg"]
    assert kube.get_or_none(DEPLOYMENT, namespace, "myapp-canary") is None


# ---------------------------------------------------------------------------
# nginx backend (no ingress controller runs on the testbed: the objects are asserted)
# ---------------------------------------------------------------------------
def nginx(namespace, **params):
    settings = dict(ingress="myapp", canary_service="myapp-v2")
    settings.update(params.pop("nginx", {}))
    base = dict(name="myapp", namespace=namespace, backend="nginx", nginx=settings)
    base.update(params)
    return run_module("k8s_canary", **base)


def nginx_setup(kube, namespace):
    create_service(kube, namespace, "myapp-v1", {"app": "myapp", "version": "v1"})
    create_service(kube, namespace, "myapp-v2", {"app": "myapp", "version": "v2"})
    create_ingress(kube, namespace)


def test_nginx_canary_ingress_at_each_step_then_promote(kube, namespace):
    nginx_setup(kube, namespace)
    main_rv = kube.get(INGRESS, namespace, "myapp")["metadata"]["resourceVersion"]
    for weight in (1, 10, 50, 100):
        result = nginx(namespace, weight=weight, nginx={"header": "X-Canary"})
        assert not result.get("failed"), result
        obj = kube.get(INGRESS, namespace, "myapp-canary")
        ann = obj["metadata"]["annotations"]
        assert ann[NGINX + "canary"] == "true"
        assert ann[NGINX + "canary-weight"] == str(weight)
        assert ann[NGINX + "canary-by-header"] == "X-Canary"
        assert obj["spec"] == {"ingressClassName": "nginx", "rules": [
            {"host": "myapp.example.com", "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": {"service": {
                    "name": "myapp-v2", "port": {"number": 80}}}}]}}]}
        assert result["weight"] == weight
        assert nginx(namespace, weight=weight, nginx={"header": "X-Canary"})["changed"] is False
    # the main Ingress was never touched while the canary ran
    assert kube.get(INGRESS, namespace, "myapp")["metadata"]["resourceVersion"] == main_rv

    result = nginx(namespace, weight=100)  # header routing dropped
    assert NGINX + "canary-by-header" not in kube.get(
        INGRESS, namespace, "myapp-canary")["metadata"]["annotations"]

    result = nginx(namespace, state="promoted")
    assert not result.get("failed"), result
    assert result["actions"] == ["promote: Ingress myapp routes myapp-v2 instead of myapp-v1",
                                 "delete canary Ingress myapp-canary"]
    main = kube.get(INGRESS, namespace, "myapp")
    backend = main["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "myapp-v2", "port": {"number": 80}}
    assert main["metadata"]["annotations"]["progressive.delivery/previous-service"] == "myapp-v1"
    assert kube.get_or_none(INGRESS, namespace, "myapp-canary") is None
    assert nginx(namespace, state="promoted")["changed"] is False


def test_nginx_abort_removes_the_canary_ingress(kube, namespace):
    nginx_setup(kube, namespace)
    assert not nginx(namespace, weight=10).get("failed")
    result = nginx(namespace, state="aborted")
    assert result["actions"] == [
        "abort: delete canary Ingress myapp-canary (all traffic to the stable Service)"]
    assert kube.get_or_none(INGRESS, namespace, "myapp-canary") is None
    assert nginx(namespace, state="aborted")["changed"] is False


def test_nginx_check_mode_and_missing_objects(kube, namespace):
    nginx_setup(kube, namespace)
    before = resource_versions(kube, namespace)
    result = run_module("k8s_canary", check=True, diff=True, name="myapp", namespace=namespace,
                        backend="nginx", weight=5,
                        nginx=dict(ingress="myapp", canary_service="myapp-v2"))
    assert result["changed"] and result["weight"] == 5, result
    assert result["diff"]["after"]["Ingress/myapp-canary"]["annotations"][
        NGINX + "canary-weight"] == "5"
    assert resource_versions(kube, namespace) == before
    result = nginx(namespace, weight=5, nginx={"ingress": "nope"})
    assert result["failed"] and "Ingress %s/nope not found" % namespace in result["msg"]
    result = nginx(namespace, weight=5, nginx={"canary_service": "myapp-v9"})
    assert result["failed"] and "Service %s/myapp-v9 not found" % namespace in result["msg"]
    assert resource_versions(kube, namespace) == before
