"""What a call that changes nothing asks of the API server: each of the nine modules, called
a second time with the same arguments on the testbed, with the request trace on
(PD_TRACE_REQUESTS, plugins/module_utils/k8s/trace.py).

The rule (issue 16): each object is read at most once per call unless it changed, so a
no-op call makes at most one read per object it manages. "Manages" is, per module, the
objects the call decides on or proves, listed in each case below (MANAGES); a list read
counts as one read of its own key (the resource, namespace and selectors), and a list
narrowed to one name (metadata.name=x, how a wait reads) counts as a read of that object.
A no-op needs no watch: every wait is satisfied by what was read. A write request the
server answers unchanged (a server-side apply of what is there already) is allowed and
counted apart; nothing may change (resourceVersions before and after are compared).
"""

import collections

import pytest

from canary_objects import create_stable, pod_template
from modules import run_module

from ansible_collections.progressive.delivery.plugins.module_utils.k8s import trace
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    CONFIGMAP,
    DEPLOYMENT,
    NAMESPACE,
    SERVICE,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import wait_for_rollout
from ansible_collections.progressive.delivery.plugins.module_utils.contour.proxies import HTTPPROXY
from ansible_collections.progressive.delivery.plugins.module_utils.gateway import plan as gp
from ansible_collections.progressive.delivery.plugins.module_utils.knative import common as kn

WRITES = ("POST", "PUT", "PATCH", "DELETE")
PORTS = [{"name": "http", "port": 80, "targetPort": 80}]


# ---------------------------------------------------------------------------
# counting
# ---------------------------------------------------------------------------
def read_key(entry):
    """What a GET read: the object's path, or the list's path with its selectors."""
    query = entry["query"]
    name = (query.get("fieldSelector") or "").partition("metadata.name=")[2]
    if name and "," not in name:
        return "%s/%s" % (entry["path"], name)
    selectors = ["%s=%s" % (k, query[k]) for k in ("labelSelector", "fieldSelector") if k in query]
    return entry["path"] + ("?" + "&".join(selectors) if selectors else "")


def tally(entries):
    """(reads per key, watches, write requests) of a trace."""
    reads, watches, writes = collections.Counter(), [], []
    for entry in entries:
        if entry["method"] == "GET" and entry["query"].get("watch") == "true":
            watches.append(read_key(entry))
        elif entry["method"] == "GET":
            reads[read_key(entry)] += 1
        elif entry["method"] in WRITES:
            writes.append("%s %s" % (entry["method"], entry["path"]))
    return reads, watches, writes


def traced(monkeypatch, tmp_path, module, **params):
    """Run the module with the trace on; return (result, trace entries)."""
    path = tmp_path / ("trace-%s" % module)
    if path.exists():
        path.unlink()
    monkeypatch.setenv(trace.ENV, str(path))
    try:
        result = run_module(module, **params)
    finally:
        monkeypatch.delenv(trace.ENV)
    assert not result.get("failed"), result.get("msg", result)
    return result, trace.parse(path.read_text() if path.exists() else "")


def versions(kube, namespace, resources):
    seen = {}
    for resource in resources:
        for obj in kube.list(resource, namespace)["items"]:
            seen["%s/%s" % (resource.kind, obj["metadata"]["name"])] = \
                obj["metadata"]["resourceVersion"]
    return seen


def assert_no_op(monkeypatch, tmp_path, kube, where, resources, module, manages,
                 allowed_writes=0, **params):
    """Call the module twice; the second call (traced) changes nothing and reads each
    managed object at most once. Returns the tally for the report."""
    first = run_module(module, **params)
    assert not first.get("failed"), first.get("msg", first)
    before = versions(kube, where, resources)
    result, entries = traced(monkeypatch, tmp_path, module, **params)
    reads, watches, writes = tally(entries)
    summary = "%s: %d requests: reads %s; watches %s; writes %s" % (
        module, len(entries), dict(reads), watches, writes)
    print(summary)
    assert result["changed"] is False, result
    assert versions(kube, where, resources) == before, "a no-op call changed objects"
    assert [key for key, n in reads.items() if n > 1] == [], summary
    assert sum(reads.values()) <= len(manages), "%s\nmanages: %s" % (summary, manages)
    assert watches == [], summary
    assert len(writes) <= allowed_writes, summary
    return reads, watches, writes


# ---------------------------------------------------------------------------
# the nine modules
# ---------------------------------------------------------------------------
def bg_template(image):
    return {"metadata": {"labels": {}},
            "spec": {"containers": [{"name": "myapp", "image": image,
                                     "ports": [{"containerPort": 80}]}]}}


def test_k8s_bluegreen_preview_no_op(monkeypatch, tmp_path, kube, namespace):
    """Manages: the namespace's Deployments (one list: the versions), the live and the
    preview Service; its proof reads the candidate's pods and the preview Service's
    EndpointSlices. The version's Deployment is applied (server-side, unchanged)."""
    base = dict(name="myapp", namespace=namespace, service="myapp-lan", wait_timeout=60,
                replicas=2)
    v1 = run_module("k8s_bluegreen", version="v1", state="promoted", service_ports=PORTS,
                    pod_template=bg_template("myapp:v1"), **base)
    assert not v1.get("failed"), v1
    manages = ["Deployments (list)", "Service myapp-lan", "Service myapp-preview",
               "pods of v2 (list)", "EndpointSlices of myapp-preview (list)"]
    assert_no_op(monkeypatch, tmp_path, kube, namespace, (DEPLOYMENT, SERVICE), "k8s_bluegreen",
                 manages, allowed_writes=1, version="v2", state="previewed",
                 preview_service="myapp-preview", pod_template=bg_template("myapp:v2"), **base)


def test_k8s_bluegreen_promoted_no_op(monkeypatch, tmp_path, kube, namespace):
    """Manages: the Deployments (list), the live Service and the preview Service
    (<service>-preview by default: a promotion deletes one left behind); the proof reads
    the live version's pods and the Service's EndpointSlices. No pod_template: nothing is
    applied."""
    base = dict(name="myapp", namespace=namespace, service="myapp-lan", wait_timeout=60)
    v1 = run_module("k8s_bluegreen", version="v1", state="promoted", replicas=2,
                    service_ports=PORTS, pod_template=bg_template("myapp:v1"), **base)
    assert not v1.get("failed"), v1
    manages = ["Deployments (list)", "Service myapp-lan", "Service myapp-lan-preview",
               "pods of v1 (list)", "EndpointSlices of myapp-lan (list)"]
    assert_no_op(monkeypatch, tmp_path, kube, namespace, (DEPLOYMENT, SERVICE), "k8s_bluegreen",
                 manages, version="v1", state="promoted", **base)


def test_k8s_bluegreen_switch_lists_the_namespace_once(monkeypatch, tmp_path, kube, namespace):
    """A promotion that switches traffic in a namespace of many apps: every Deployment of
    the namespace is listed once (the plan's checks need them all). A Service selector
    patch moves only the Service's EndpointSlices, so the report after the switch reads
    no Deployment and no other Service again, unless the proof had to watch (time
    passed: then it reads just the app's own Deployments, by name, never the namespace's
    ~300 KB list of 50 apps again)."""
    base = dict(name="myapp", namespace=namespace, service="myapp-lan", wait_timeout=60,
                service_ports=PORTS)
    for other in range(3):
        made = run_module("k8s_bluegreen", name="other%d" % other, namespace=namespace,
                          version="v1", state="deployed", replicas=1, wait_timeout=60,
                          pod_template=bg_template("other:v1"))
        assert not made.get("failed"), made
    for version in ("v1", "v2"):
        made = run_module("k8s_bluegreen", version=version, state="promoted", replicas=1,
                          pod_template=bg_template("myapp:" + version), **base)
        assert not made.get("failed"), made
    result, entries = traced(monkeypatch, tmp_path, "k8s_bluegreen", version="v1",
                             state="promoted", **base)
    reads, watches, writes = tally(entries)
    summary = "%d requests: reads %s; watches %s; writes %s" % (
        len(entries), dict(reads), watches, writes)
    deployments = "/apis/apps/v1/namespaces/%s/deployments" % namespace
    assert result["changed"] is True and result["live_version"] == "v1", result
    assert reads[deployments] == 1, summary
    again = 1 if watches else 0
    assert reads[deployments + "/myapp-v1"] == again, summary
    assert reads[deployments + "/myapp-v2"] == again, summary
    assert not [key for key in reads if "/deployments/other" in key], summary
    preview = "/api/v1/namespaces/%s/services/myapp-lan-preview" % namespace
    assert reads[preview] == 1 + again, summary
    assert sorted(result["versions"]) == ["v1", "v2"], result
    assert result["versions"]["v1"]["ready_replicas"] == 1, result
    assert writes == ["PATCH /api/v1/namespaces/%s/services/myapp-lan" % namespace], summary


def test_k8s_canary_weight_no_op(monkeypatch, tmp_path, kube, namespace):
    """Manages: the stable and canary Deployments and the Service."""
    create_stable(kube, namespace, replicas=4)
    manages = ["Deployment myapp", "Deployment myapp-canary", "Service myapp"]
    assert_no_op(monkeypatch, tmp_path, kube, namespace, (DEPLOYMENT, SERVICE), "k8s_canary",
                 manages, allowed_writes=1, name="myapp", namespace=namespace, service="myapp",
                 weight=25, version="v2", pod_template=pod_template("myapp:v2"),
                 wait_timeout=60)


def test_k8s_rollout_no_op(monkeypatch, tmp_path, kube, namespace):
    """Manages: the Deployment and its ReplicaSets (one list: the history)."""
    kube.create(DEPLOYMENT, namespace, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "web:v1"}]}}}})
    wait_for_rollout(kube, namespace, "web", 60)
    manages = ["Deployment web", "ReplicaSets of web (list)"]
    assert_no_op(monkeypatch, tmp_path, kube, namespace, (DEPLOYMENT,), "k8s_rollout", manages,
                 name="web", namespace=namespace, images={"web": "web:v2"}, wait_timeout=60)


def test_canary_release_state_no_op(monkeypatch, tmp_path, kube, namespace):
    """Manages: the release record's ConfigMap."""
    steps = [{"weight": 10}, {"pause": "1m"}, {"weight": 100}]
    started = run_module("canary_release_state", name="myapp", namespace=namespace,
                         version="v2", steps=steps, state="started", stable_version="v1")
    assert not started.get("failed"), started
    assert_no_op(monkeypatch, tmp_path, kube, namespace, (CONFIGMAP,), "canary_release_state",
                 ["ConfigMap myapp-release"], name="myapp", namespace=namespace, version="v2",
                 steps=steps, state="query")


def test_canary_release_state_present_no_op(monkeypatch, tmp_path, kube, namespace):
    """state=present with the event the record already holds (a re-run task, a pause slice
    whose gates answered as before): one read, no write, changed=false. Manages: the
    record's ConfigMap."""
    steps = [{"weight": 10}, {"pause": "1m"}, {"weight": 100}]
    base = dict(name="myapp", namespace=namespace, version="v2", steps=steps)
    started = run_module("canary_release_state", state="started", stable_version="v1", **base)
    assert not started.get("failed"), started
    gates = [{"name": "pods", "passed": True, "message": "2/2 ready"}]
    assert_no_op(monkeypatch, tmp_path, kube, namespace, (CONFIGMAP,), "canary_release_state",
                 ["ConfigMap myapp-release"], state="present", step=1, phase="progressing",
                 weight=10, gate_results=gates, **base)
    # a new fact is still written: other gate results
    moved = run_module("canary_release_state", state="present", step=1, weight=10,
                       gate_results=[dict(gates[0], passed=False)], **base)
    assert moved["changed"] is True and moved["record"]["gates"][0]["passed"] is False, moved


def test_gate_check_no_op(monkeypatch, tmp_path, kube, namespace):
    """Manages: the pods its pods_ready gate selects (one list)."""
    create_stable(kube, namespace, replicas=2, service=False)
    gates = [{"name": "pods", "type": "pods_ready", "namespace": namespace,
              "selector": {"app": "myapp"}}]
    assert_no_op(monkeypatch, tmp_path, kube, namespace, (DEPLOYMENT,), "gate_check",
                 ["pods of app=myapp (list)"], gates=gates)


def test_contour_delegate_no_op(monkeypatch, tmp_path, kube, namespace, require_crd):
    """Manages: the root and the child HTTPProxy (Contour's verdict is read from them)."""
    require_crd("httpproxies.projectcontour.io")
    kube.create(SERVICE, namespace, {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "green"},
        "spec": {"selector": {"app": "green"}, "ports": [{"port": 80, "targetPort": 8080}]}})
    kube.create(HTTPPROXY, namespace, {
        "apiVersion": HTTPPROXY.api_version, "kind": "HTTPProxy", "metadata": {"name": "blog"},
        "spec": {"routes": [{"services": [{"name": "green", "port": 80}]}]}})
    fqdn = "%s.example.com" % namespace.rsplit("-", 1)[-1]
    assert_no_op(monkeypatch, tmp_path, kube, namespace, (HTTPPROXY,), "contour_delegate",
                 ["HTTPProxy root-blog", "HTTPProxy blog"], name="root-blog",
                 namespace=namespace, path="/blog", fqdn=fqdn,
                 child={"name": "blog", "namespace": namespace}, wait_timeout=30)


def test_gateway_traffic_no_op(monkeypatch, tmp_path, kube, namespace, require_crd):
    """Manages: the HTTPRoute, the two Services it names and the parent Gateway (read to
    validate the references)."""
    require_crd("httproutes.gateway.networking.k8s.io")
    kube.patch(NAMESPACE, None, namespace, {"metadata": {"labels": {
        "testbed.progressive.delivery/gateway-access": "granted"}}})
    for name in ("stable", "canary"):
        kube.create(SERVICE, namespace, {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]}})
    manages = ["HTTPRoute shop", "Service stable", "Service canary", "Gateway testbed"]
    assert_no_op(monkeypatch, tmp_path, kube, namespace, (gp.HTTPROUTE, SERVICE),
                 "gateway_traffic", manages, name="shop", namespace=namespace,
                 hostnames=["%s.example.com" % namespace],
                 parent_refs=[{"name": "testbed", "namespace": "testbed-gateway"}],
                 weights={"stable": 90, "canary": 10}, wait_timeout=30)


@pytest.fixture
def knative_app(kube, namespace, require_crd):
    """A Configuration whose first revision is Ready, behind a Route the module made."""
    require_crd("services.serving.knative.dev")
    kube.create(kn.CONFIGURATION, namespace, {
        "apiVersion": kn.CONFIGURATION.api_version, "kind": "Configuration",
        "metadata": {"name": "app", "namespace": namespace},
        "spec": {"template": {"spec": {"containers": [
            {"image": "gcr.io/knative-samples/helloworld-go"}]}}}})
    made = run_module("knative_traffic", namespace=namespace, route="app", wait_timeout=120,
                      traffic=[{"revision": "@latest_created", "percent": 100}])
    assert not made.get("failed"), made
    return "app"


def test_knative_traffic_no_op(monkeypatch, tmp_path, kube, namespace, knative_app):
    """Manages: the Route, its Configuration and the one Revision its traffic names (read
    by name: the namespace's Revisions are not listed, so the cost stays flat however many
    the Configuration keeps)."""
    manages = ["Route app", "Configuration app", "Revision app-00001"]
    assert_no_op(monkeypatch, tmp_path, kube, namespace, (kn.ROUTE, kn.CONFIGURATION),
                 "knative_traffic", manages, namespace=namespace, route="app",
                 traffic=[{"revision": "app-00001", "percent": 100}], wait_timeout=120)


def test_knative_revision_info_no_op(monkeypatch, tmp_path, kube, namespace, knative_app):
    """Manages (reads only): the Configuration, its Revisions (one list), the Route, and
    for the replica counts the PodAutoscalers and the revisions' Deployments (one list
    each)."""
    manages = ["Configuration app", "Revisions of app (list)", "Route app",
               "PodAutoscalers (list)", "Deployments of revisions (list)"]
    assert_no_op(monkeypatch, tmp_path, kube, namespace, (kn.ROUTE, kn.CONFIGURATION),
                 "knative_revision_info", manages, namespace=namespace, configuration="app",
                 route="app")
