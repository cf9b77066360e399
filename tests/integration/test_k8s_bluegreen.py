"""k8s_bluegreen against the testbed's real API server, controllers and kwok nodes."""

import threading

import pytest

from modules import run_module

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    DEPLOYMENT,
    ENDPOINTSLICE,
    INGRESS,
    POD,
    SERVICE,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import (
    Check,
    service_slice_selector,
    serving_pod_names,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import wait_for_all

BAD = {"testbed.progressive.delivery/readiness": "never"}


def template(image, labels=None):
    return {"metadata": {"labels": dict(labels or {})},
            "spec": {"containers": [{"name": "myapp", "image": image,
                                     "ports": [{"containerPort": 80}]}]}}


def bluegreen(namespace, **params):
    base = dict(name="myapp", namespace=namespace, service="myapp-lan", wait_timeout=60)
    base.update(params)
    return base


def seed001_v1_live(namespace):
    """Seed 001 start: myapp v1 (3 replicas) behind NodePort Service myapp-lan."""
    result = run_module("k8s_bluegreen", **bluegreen(
        namespace, version="v1", state="promoted", replicas=3,
        pod_template=template("janakiramm/myapp:v1"), service_type="NodePort",
        service_ports=[{"name": "http", "port": 80, "targetPort": 80}]))
    assert not result.get("failed"), result
    return result


def deploy_v2(namespace, state="previewed", **extra):
    params = bluegreen(namespace, version="v2", state=state, replicas=3,
                       pod_template=template("janakiramm/myapp:v2"))
    params.update(extra)
    return run_module("k8s_bluegreen", **params)


def endpoint_pods(kube, namespace, service):
    """The pods the Service sends traffic to, from its EndpointSlices."""
    slices = kube.list(ENDPOINTSLICE, namespace, label_selector=service_slice_selector(service))
    return serving_pod_names(slices["items"])


def pods_of(kube, namespace, version):
    pods = kube.list(POD, namespace, label_selector="app=myapp,version=" + version)
    return set(p["metadata"]["name"] for p in pods["items"])


def resource_versions(kube, namespace):
    """Every object the module could touch, by kind/name -> resourceVersion."""
    seen = {}
    for resource in (DEPLOYMENT, SERVICE, INGRESS):
        for obj in kube.list(resource, namespace)["items"]:
            seen["%s/%s" % (resource.kind, obj["metadata"]["name"])] = \
                obj["metadata"]["resourceVersion"]
    return seen


# --- seed 001: two Deployments behind one Service --------------------------------
def test_seed001_release_preview_promote_and_roll_back(kube, namespace):
    first = seed001_v1_live(namespace)
    assert first["changed"] and first["live_version"] == "v1"
    assert endpoint_pods(kube, namespace, "myapp-lan") == pods_of(kube, namespace, "v1")

    before = kube.get(SERVICE, namespace, "myapp-lan")["metadata"]["resourceVersion"]
    preview = deploy_v2(namespace)
    assert preview["changed"] and preview["preview_version"] == "v2", preview
    assert preview["live_version"] == "v1"
    assert kube.get(SERVICE, namespace, "myapp-lan")["metadata"]["resourceVersion"] == before
    assert endpoint_pods(kube, namespace, "myapp-lan-preview") == pods_of(kube, namespace, "v2")
    assert preview["versions"]["v2"]["ready_replicas"] == 3

    promoted = deploy_v2(namespace, state="promoted")
    assert promoted["changed"], promoted
    assert (promoted["live_version_before"], promoted["live_version"]) == ("v1", "v2")
    assert promoted["previous_version"] == "v1"
    svc = kube.get(SERVICE, namespace, "myapp-lan")
    assert svc["spec"]["selector"] == {"app": "myapp", "version": "v2"}
    assert svc["metadata"]["annotations"]["progressive.delivery/previous-version"] == "v1"
    assert endpoint_pods(kube, namespace, "myapp-lan") == pods_of(kube, namespace, "v2")
    assert kube.get_or_none(SERVICE, namespace, "myapp-lan-preview") is None

    again = deploy_v2(namespace, state="promoted")
    assert not again["changed"], again["actions"]

    rolled = run_module("k8s_bluegreen", **bluegreen(namespace, state="rolled_back"))
    assert rolled["changed"] and rolled["live_version"] == "v1", rolled
    assert rolled["rolled_back_from"] == "v2"
    assert endpoint_pods(kube, namespace, "myapp-lan") == pods_of(kube, namespace, "v1")
    rolled_again = run_module("k8s_bluegreen", **bluegreen(namespace, state="rolled_back"))
    assert not rolled_again["changed"] and rolled_again["live_version"] == "v1"


def test_live_service_never_loses_ready_endpoints_across_the_switch(kube, namespace):
    seed001_v1_live(namespace)
    assert not deploy_v2(namespace, state="deployed").get("failed")
    counts = []
    started, stop = threading.Event(), threading.Event()

    def count_serving_pods(slices):
        counts.append(len(serving_pod_names(slices)))
        started.set()  # the first call follows the list the watch starts from
        return Check(stop.is_set(), "recording")

    def record():
        wait_for_all(kube, ENDPOINTSLICE, namespace, service_slice_selector("myapp-lan"),
                     count_serving_pods, 20)

    watcher = threading.Thread(target=record, daemon=True)
    watcher.start()
    assert started.wait(10), "the EndpointSlice watch did not start"
    result = deploy_v2(namespace, state="promoted")
    assert result["changed"] and result["live_version"] == "v2"
    stop.set()
    # Service labels are copied onto its EndpointSlices: one more event ends the watcher.
    kube.patch(SERVICE, namespace, "myapp-lan", {"metadata": {"labels": {"poke": "1"}}})
    watcher.join(25)
    assert not watcher.is_alive()
    assert len(counts) > 1, "the EndpointSlice watch saw no update during the switch"
    assert min(counts) > 0, "the live Service had no ready endpoints at some point: %s" % counts
    assert endpoint_pods(kube, namespace, "myapp-lan") == pods_of(kube, namespace, "v2")


def test_promotion_of_a_never_ready_version_is_refused(kube, namespace):
    seed001_v1_live(namespace)
    deployed = run_module("k8s_bluegreen", **bluegreen(
        namespace, version="v3", state="deployed", replicas=2,
        pod_template=template("janakiramm/myapp:v3", BAD), wait_timeout=4))
    assert deployed["failed"]
    assert "Deployment %s/myapp-v3 rollout timed out after 4s" % namespace in deployed["msg"]
    assert "unready pods: pod myapp-v3-" in deployed["msg"]
    assert "Ready=False" in deployed["msg"]

    before = resource_versions(kube, namespace)
    refused = run_module("k8s_bluegreen", **bluegreen(namespace, version="v3", state="promoted"))
    assert refused["failed"]
    assert "refusing to promote version v3: Deployment myapp-v3 is not ready: 0 of 2" in \
        refused["msg"]
    assert resource_versions(kube, namespace) == before
    assert kube.get(SERVICE, namespace, "myapp-lan")["spec"]["selector"]["version"] == "v1"


def test_check_mode_writes_nothing_and_reports_the_diff(kube, namespace):
    seed001_v1_live(namespace)
    before = resource_versions(kube, namespace)
    result = deploy_v2(namespace, state="promoted", check=True, diff=True)
    assert result["changed"] and not result.get("failed"), result
    assert result["actions"] == ["create Deployment myapp-v2 (version v2)",
                                 "Service myapp-lan selector version=v1 -> v2"]
    diff = result["diff"]
    assert diff["before"]["Service/myapp-lan"]["selector"]["version"] == "v1"
    assert diff["after"]["Service/myapp-lan"]["selector"]["version"] == "v2"
    assert diff["after"]["Deployment/myapp-v2"]["images"] == {"myapp": "janakiramm/myapp:v2"}
    assert resource_versions(kube, namespace) == before
    assert kube.get_or_none(DEPLOYMENT, namespace, "myapp-v2") is None


def test_scale_down_then_rollback_scales_back_up_first(kube, namespace):
    seed001_v1_live(namespace)
    assert deploy_v2(namespace, state="promoted")["live_version"] == "v2"

    refused = run_module("k8s_bluegreen",
                         **bluegreen(namespace, version="v2", state="scaled_down"))
    assert refused["failed"] and "refusing to scale down version v2: it is live" in refused["msg"]

    scaled = run_module("k8s_bluegreen", **bluegreen(namespace, state="scaled_down"))
    assert scaled["changed"] and scaled["versions"]["v1"]["replicas"] == 0, scaled
    assert kube.get(DEPLOYMENT, namespace, "myapp-v1")["spec"]["replicas"] == 0
    again = run_module("k8s_bluegreen", **bluegreen(namespace, state="scaled_down"))
    assert not again["changed"]

    rolled = run_module("k8s_bluegreen", **bluegreen(namespace, state="rolled_back"))
    assert rolled["changed"] and rolled["live_version"] == "v1", rolled
    assert rolled["actions"][0] == "scale Deployment myapp-v1 0 -> 3"
    assert rolled["versions"]["v1"]["ready_replicas"] == 3
    assert endpoint_pods(kube, namespace, "myapp-lan") == pods_of(kube, namespace, "v1")


@pytest.mark.parametrize("overrides, message", [
    (dict(version="v9", state="promoted"), "no Deployment runs version v9"),
    (dict(version="v2", state="promoted", service="nope", replicas=1,
          pod_template=template("x:v2")), "Service %(ns)s/nope not found"),
    (dict(version="v2", definition={"metadata": {"namespace": "elsewhere"},
                                    "spec": {"template": template("x:v2")}}),
     "definition.metadata.namespace: 'elsewhere' does not match namespace '%(ns)s'"),
    (dict(version="v2", pod_template=template("x:v2", {"version": "v7"})),
     "pod_template.metadata.labels.version: is 'v7' but version is 'v2'"),
    (dict(version="v2", state="previewed", service=None, pod_template=template("x:v2"),
          ingress={"name": "web", "preview_path": "/green(/|$(.*)"}),
     "ingress.preview_path: '/green(/|$(.*)' is not a valid regular expression"),
])
def test_bad_input_is_a_clear_error_and_writes_nothing(kube, namespace, overrides, message):
    seed001_v1_live(namespace)
    before = resource_versions(kube, namespace)
    result = run_module("k8s_bluegreen", **bluegreen(namespace, **overrides))
    assert result["failed"]
    assert message % {"ns": namespace} in result["msg"]
    assert resource_versions(kube, namespace) == before


# --- seed 003: Ingress with a /green preview path ------------------------------------
def seed003_ingress(namespace):
    def path(p, service):
        return {"path": p, "pathType": "ImplementationSpecific",
                "backend": {"service": {"name": service, "port": {"number": 80}}}}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "nginx", "labels": {"app": "nginx"}},
            "spec": {"ingressClassName": "nginx", "rules": [{"host": "example.com", "http": {
                "paths": [path("/*", "nginx-v1-22-0")]}}]}}


def nginx(namespace, version, state, **extra):
    params = dict(name="nginx", namespace=namespace, version=version, state=state,
                  version_label="revision", replicas=1, wait_timeout=60,
                  pod_template={"spec": {"containers": [{"name": "nginx",
                                                         "image": "nginx:" + version[1:]}]}},
                  ingress={"name": "nginx", "host": "example.com", "class_name": "nginx",
                           "path": "/*", "path_type": "ImplementationSpecific", "port": 80,
                           "preview_path": "/green(/|$)(.*)"})
    params.update(extra)
    return run_module("k8s_bluegreen", **params)


def test_seed003_ingress_preview_path_then_promote(kube, namespace):
    kube.create(INGRESS, namespace, seed003_ingress(namespace))
    live = nginx(namespace, "v1.22.0", "promoted")
    assert not live.get("failed"), live
    assert live["live_version"] == "v1.22.0"
    assert kube.get(SERVICE, namespace, "nginx-v1-22-0")["spec"]["selector"] == {
        "app": "nginx", "revision": "v1.22.0"}

    preview = nginx(namespace, "v1.24.0", "previewed")
    assert preview["changed"] and preview["preview_version"] == "v1.24.0", preview
    green = kube.get(INGRESS, namespace, "nginx-preview")
    annotations = green["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/rewrite-target"] == "/$2"
    assert annotations["nginx.ingress.kubernetes.io/use-regex"] == "true"
    rule = green["spec"]["rules"][0]
    assert rule["host"] == "example.com"
    assert rule["http"]["paths"][0]["path"] == "/green(/|$)(.*)"
    assert rule["http"]["paths"][0]["backend"]["service"]["name"] == "nginx-v1-24-0"
    main_paths = kube.get(INGRESS, namespace, "nginx")["spec"]["rules"][0]["http"]["paths"]
    assert [(p["path"], p["backend"]["service"]["name"]) for p in main_paths] == [
        ("/*", "nginx-v1-22-0")]
    assert "http://example.com/green(/|$)(.*)" in preview["urls"]
    assert not nginx(namespace, "v1.24.0", "previewed")["changed"]

    promoted = nginx(namespace, "v1.24.0", "promoted")
    assert promoted["changed"] and promoted["live_version"] == "v1.24.0", promoted
    main = kube.get(INGRESS, namespace, "nginx")
    assert [(p["path"], p["backend"]["service"]["name"])
            for p in main["spec"]["rules"][0]["http"]["paths"]] == [("/*", "nginx-v1-24-0")]
    assert main["metadata"]["annotations"]["progressive.delivery/previous-version"] == "v1.22.0"
    assert kube.get_or_none(INGRESS, namespace, "nginx-preview") is None
    assert not nginx(namespace, "v1.24.0", "promoted")["changed"]

    rolled = run_module("k8s_bluegreen", name="nginx", namespace=namespace, state="rolled_back",
                        version_label="revision",
                        ingress={"name": "nginx", "host": "example.com", "path": "/*",
                                 "path_type": "ImplementationSpecific"})
    assert rolled["changed"] and rolled["live_version"] == "v1.22.0", rolled


def test_seed003_single_ingress_with_both_paths_is_adopted(kube, namespace):
    """The seed keeps /* and /green(/|$)(.*) in one Ingress; promotion drops the preview
    path from it."""
    ingress = seed003_ingress(namespace)
    ingress["spec"]["rules"][0]["http"]["paths"].append(
        {"path": "/green(/|$)(.*)", "pathType": "ImplementationSpecific",
         "backend": {"service": {"name": "nginx-v1-24-0", "port": {"number": 80}}}})
    kube.create(INGRESS, namespace, ingress)
    assert not nginx(namespace, "v1.22.0", "deployed").get("failed")
    assert not nginx(namespace, "v1.24.0", "deployed").get("failed")
    result = nginx(namespace, "v1.24.0", "promoted")
    assert (result["live_version_before"], result["live_version"]) == ("v1.22.0", "v1.24.0")
    paths = kube.get(INGRESS, namespace, "nginx")["spec"]["rules"][0]["http"]["paths"]
    assert [(p["path"], p["backend"]["service"]["name"]) for p in paths] == [
        ("/*", "nginx-v1-24-0")]


def test_rerunning_a_finished_release_changes_nothing(kube, namespace):
    """The bluegreen role re-runs 'previewed' after promotion: it must be a quiet no-op."""
    seed001_v1_live(namespace)
    assert deploy_v2(namespace, state="promoted")["live_version"] == "v2"
    before = resource_versions(kube, namespace)
    again = deploy_v2(namespace, state="previewed", wait_timeout=5)
    assert not again.get("failed"), again
    assert not again["changed"] and again["live_version"] == "v2"
    assert resource_versions(kube, namespace) == before


def test_previewing_on_an_ingress_that_holds_both_paths_moves_the_preview_path(kube, namespace):
    """The hand-written Ingress has the live path, the /green preview path and the rewrite
    annotations: previewing moves the preview path and those annotations to the preview
    Ingress (no host+path is ever in two Ingresses) and the live path is not rewritten."""
    ingress = seed003_ingress(namespace)
    ingress["metadata"]["annotations"] = {
        "nginx.ingress.kubernetes.io/rewrite-target": "/$2",
        "nginx.ingress.kubernetes.io/use-regex": "true"}
    ingress["spec"]["rules"][0]["http"]["paths"].append(
        {"path": "/green(/|$)(.*)", "pathType": "ImplementationSpecific",
         "backend": {"service": {"name": "nginx-v1-24-0", "port": {"number": 80}}}})
    kube.create(INGRESS, namespace, ingress)
    assert not nginx(namespace, "v1.22.0", "deployed").get("failed")
    preview = nginx(namespace, "v1.24.0", "previewed")
    assert not preview.get("failed"), preview
    live = kube.get(INGRESS, namespace, "nginx")
    assert [p["path"] for p in live["spec"]["rules"][0]["http"]["paths"]] == ["/*"]
    assert "nginx.ingress.kubernetes.io/rewrite-target" not in (
        live["metadata"].get("annotations") or {})
    green = kube.get(INGRESS, namespace, "nginx-preview")
    assert [p["path"] for p in green["spec"]["rules"][0]["http"]["paths"]] == [
        "/green(/|$)(.*)"]
    assert green["metadata"]["annotations"]["nginx.ingress.kubernetes.io/rewrite-target"] == \
        "/$2"
    routes = [(rule.get("host"), p["path"])
              for ing in kube.list(INGRESS, namespace)["items"]
              for rule in ing["spec"]["rules"] for p in rule["http"]["paths"]]
    assert len(routes) == len(set(routes)), routes
    assert not nginx(namespace, "v1.24.0", "previewed")["changed"]
