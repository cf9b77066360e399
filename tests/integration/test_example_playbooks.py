"""The example playbooks under playbooks/ (the seeds' scenarios and the README's demo) run
on the testbed as a user runs them, from a clean start, and leave the state their header
describes. Each test deletes the playbook's namespaces first, so an earlier run cannot
hide a first-run failure."""

import json
import os

from playbooks import run_playbook

from ansible_collections.progressive.delivery.plugins.module_utils.gateway.plan import HTTPROUTE
from ansible_collections.progressive.delivery.plugins.module_utils.knative import common as kn
from ansible_collections.progressive.delivery.plugins.module_utils.contour.proxies import (
    HTTPPROXY,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    CONFIGMAP,
    DEPLOYMENT,
    INGRESS,
    NAMESPACE,
    SERVICE,
    KubeError,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import Check
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import wait_for

PLAYBOOKS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "playbooks")


def fresh(kube, *namespaces):
    """Delete the namespaces and wait until they are gone."""
    for name in namespaces:
        try:
            kube.delete(NAMESPACE, None, name)
        except KubeError as err:
            if not err.not_found:
                raise
    for name in namespaces:
        wait_for(kube, NAMESPACE, None, name,
                 lambda obj: Check(obj is None, "namespace still terminating"), 120)


def run(name, extra_vars=None, check=False):
    result = run_playbook(os.path.join(PLAYBOOKS, name), extra_vars, check=check)
    assert not result.failed, result.summary()
    return result


def test_demo_releases_v2_and_scales_v1_down(kube):
    fresh(kube, "pd-demo")
    result = run("demo.yml")
    assert result.custom_stats["bluegreen_outcome"] == "promoted"
    live = kube.get(SERVICE, "pd-demo", "myapp-lan")
    assert live["spec"]["selector"]["version"] == "v2"
    assert kube.get(DEPLOYMENT, "pd-demo", "myapp-v1")["spec"]["replicas"] == 0


def test_seed001_switches_myapp_lan_to_v2(kube):
    fresh(kube, "blue-green")
    run("bluegreen_service_selector.yml")
    live = kube.get(SERVICE, "blue-green", "myapp-lan")
    assert live["spec"]["selector"] == {"app": "myapp", "version": "v2"}
    assert live["metadata"]["annotations"]["progressive.delivery/previous-version"] == "v1"


def test_rolling_update_holds_a_canary_pod_resumes_and_undoes_to_v1(kube):
    fresh(kube, "rolling-update")
    run("rolling_update.yml")
    dep = kube.get(DEPLOYMENT, "rolling-update", "myapp-deploy")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "ikubernetes/myapp:v1"
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    assert not dep["spec"].get("paused")
    assert "progressive.delivery/rollout-hold" not in dep["metadata"].get("annotations", {})
    assert dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert dep["status"]["updatedReplicas"] == dep["status"]["readyReplicas"] == 5


def test_seed003_promotes_the_ingress_and_drops_the_preview_path(kube):
    fresh(kube, "seed003")
    run("ingress_bluegreen_preview_path.yml")
    ingresses = kube.list(INGRESS, "seed003")["items"]
    paths = [(i["metadata"]["name"], p["path"], p["backend"]["service"]["name"])
             for i in ingresses for p in i["spec"]["rules"][0]["http"]["paths"]]
    assert paths == [("nginx", "/*", "nginx-v1-24-0")]


def test_seed002_contour_delegation_ends_on_green(kube, require_crd):
    require_crd("httpproxies.projectcontour.io")
    fresh(kube, "root-ingressroute", "marketing")
    run("contour_delegation.yml")
    root = kube.get(HTTPPROXY, "root-ingressroute", "root-blog")
    assert root["status"]["currentStatus"] == "valid"
    assert [i["name"] for i in root["spec"]["includes"]] == ["blog"]
    blog = kube.get(HTTPPROXY, "marketing", "blog")
    assert [(s["name"], s["weight"]) for s in blog["spec"]["routes"][0]["services"]] == [
        ("green", 100), ("blue", 0)]


def test_gateway_canary_ends_with_all_traffic_on_v2(kube, require_crd):
    require_crd("httproutes.gateway.networking.k8s.io")
    fresh(kube, "gateway-canary")
    result = run("gateway_canary.yml")
    assert result.custom_stats["canary_outcome"] == "promoted"
    assert "Canary | step 1/8 mirror 100% (gateway) | shop v2" in result.ran()
    assert "Canary | step 3/8 header x-canary=true (gateway) | shop v2" in result.ran()
    route = kube.get(HTTPROUTE, "gateway-canary", "shop")
    assert [(r["name"], r["weight"]) for r in route["spec"]["rules"][0]["backendRefs"]] == [
        ("shop-v1", 0), ("shop-v2", 100)]
    assert len(route["spec"]["rules"]) == 1 and "filters" not in route["spec"]["rules"][0]
    parent = route["status"]["parents"][0]
    assert [(c["type"], c["status"], c["observedGeneration"]) for c in sorted(
        parent["conditions"], key=lambda c: c["type"])] == [
        ("Accepted", "True", route["metadata"]["generation"]),
        ("ResolvedRefs", "True", route["metadata"]["generation"])]
    assert kube.get(DEPLOYMENT, "gateway-canary", "shop-v2")["status"]["readyReplicas"] == 2


def test_seed000_knative_route_ends_on_revision_2_with_tag_v1(kube, require_crd):
    require_crd("services.serving.knative.dev")
    run("knative_bluegreen_revisions.yml")
    route = kube.get(kn.ROUTE, "knative-bluegreen", "blue-green-demo")
    assert [(t["revisionName"], t["percent"], t.get("tag")) for t in route["status"]["traffic"]] == [
        ("blue-green-demo-00001", 0, "v1"), ("blue-green-demo-00002", 100, None)]


def test_seed004_kn_traffic_ends_split_three_ways(kube, require_crd):
    require_crd("services.serving.knative.dev")
    run("knative_traffic_split.yml")
    ksvc = kube.get(kn.KSERVICE, "knative-kn", "hello")
    assert [(t["revisionName"], t["percent"]) for t in ksvc["status"]["traffic"]] == [
        ("hello-00003", 50), ("hello-00002", 25), ("hello-00001", 25)]


def test_canary_playbook_check_then_quick_release_then_a_rerun_that_is_a_no_op(kube):
    fresh(kube, "canary-demo")
    planned = run("canary.yml", {"release_quick": True}, check=True)
    assert planned.custom_stats["canary_outcome"] == "check_mode"
    assert kube.get_or_none(NAMESPACE, None, "canary-demo") is None
    result = run("canary.yml", {"release_quick": True})
    assert result.custom_stats["canary_outcome"] == "promoted"
    record = kube.get(CONFIGMAP, "canary-demo", "myapp-release")
    assert json.loads(record["metadata"]["annotations"][
        "progressive.delivery/canary-release"])["phase"] == "promoted"
    again = run("canary.yml", {"release_quick": True})
    assert again.stats["changed"] == 0, again.summary()


def test_many_apps_go_live_on_v2_in_one_call_each_step(kube):
    fresh(kube, "many-apps")
    result = run("bluegreen_many_apps.yml")
    train, = result.results_of("Many apps | v2 of every app deployed and switched to")
    assert [(a["name"], a["live_version_before"], a["live_version"]) for a in train["apps"]] == [
        ("shop", "v1", "v2"), ("cart", "v1", "v2"), ("search", "v1", "v2")]
    for app in ("shop", "cart", "search"):
        live = kube.get(SERVICE, "many-apps", app)
        assert live["spec"]["selector"] == {"app": app, "version": "v2"}
        assert live["metadata"]["annotations"]["progressive.delivery/previous-version"] == "v1"
        dep = kube.get(DEPLOYMENT, "many-apps", "%s-v2" % app)
        assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "ikubernetes/myapp:v2"
        assert dep["status"]["readyReplicas"] == 2
