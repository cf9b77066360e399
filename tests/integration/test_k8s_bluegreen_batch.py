"""k8s_bluegreen with ``apps``: many apps' blue/green releases in one module call, against
the testbed's real API server, controllers and kwok nodes. Each app starts as v1 behind its
live Service with a v2 Deployment beside it, made by the test itself."""

import collections

from modules import run_module
from test_k8s_bluegreen import resource_versions

from ansible_collections.progressive.delivery.plugins.module_utils.k8s import trace
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    DEPLOYMENT,
    ENDPOINTSLICE,
    POD,
    SERVICE,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import (
    service_slice_selector,
    serving_pod_names,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import (
    wait_for_rollout,
    wait_for_service_endpoints,
)

APPS = ("shop", "cart", "search", "users", "mail")
# kwok keeps pods with this label unready (tests/testbed/README.md): a version that never gets ready
NEVER_READY = {"testbed.progressive.delivery/readiness": "never"}


def deployment(app, version, extra_labels=None):
    labels = {"app": app, "version": version}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "%s-%s" % (app, version), "labels": labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": dict(labels, **(extra_labels or {}))},
                                  "spec": {"containers": [{"name": app,
                                                           "image": "%s:%s" % (app, version)}]}}}}


def make_apps(kube, namespace, apps=APPS, never_ready=()):
    """Each app: Deployments v1 and v2 (v2 never ready for the apps in ``never_ready``) and
    live Service <app> on v1."""
    for app in apps:
        kube.create(DEPLOYMENT, namespace, deployment(app, "v1"))
        kube.create(DEPLOYMENT, namespace, deployment(
            app, "v2", NEVER_READY if app in never_ready else None))
        kube.create(SERVICE, namespace, {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": app},
            "spec": {"selector": {"app": app, "version": "v1"}, "ports": [{"port": 80}]}})
    for app in apps:
        for version in ("v1", "v2"):
            if not (version == "v2" and app in never_ready):
                wait_for_rollout(kube, namespace, "%s-%s" % (app, version), 60)
        # the EndpointSlice controller can lag the pods under load: start from v1 serving
        wait_for_service_endpoints(kube, namespace, app, pods_of(kube, namespace, app, "v1"), 60)


def promote(namespace, apps=APPS, check=False, diff=False, **params):
    base = dict(namespace=namespace, state="promoted", version="v2", wait_timeout=60,
                apps=[dict(name=app, service=app) for app in apps])
    base.update(params)
    return run_module("k8s_bluegreen", check=check, diff=diff, **base)


def endpoint_pods(kube, namespace, service):
    slices = kube.list(ENDPOINTSLICE, namespace, label_selector=service_slice_selector(service))
    return serving_pod_names(slices["items"])


def pods_of(kube, namespace, app, version):
    pods = kube.list(POD, namespace, label_selector="app=%s,version=%s" % (app, version))
    return set(p["metadata"]["name"] for p in pods["items"])


def live_of(kube, namespace, app):
    return kube.get(SERVICE, namespace, app)["spec"]["selector"]["version"]


def requests_of(entries):
    """(GETs per path with its selectors, every other request) of a request trace."""
    reads, others = collections.Counter(), []
    for entry in entries:
        query = dict((k, v) for k, v in entry["query"].items()
                     if k in ("labelSelector", "fieldSelector"))
        if entry["method"] == "GET" and entry["query"].get("watch") != "true":
            reads[entry["path"] + ("?%s" % sorted(query.items()) if query else "")] += 1
        else:
            others.append("%s %s" % (entry["method"], entry["path"]))
    return reads, others


def test_five_apps_promoted_in_one_call_then_a_no_op_then_rolled_back(kube, namespace,
                                                                      monkeypatch, tmp_path):
    make_apps(kube, namespace)
    result = promote(namespace)
    assert result["changed"] and not result.get("failed"), result.get("msg", result)
    assert [a["name"] for a in result["apps"]] == list(APPS)
    for app, found in zip(APPS, result["apps"]):
        assert (found["live_version_before"], found["live_version"]) == ("v1", "v2"), found
        assert found["changed"] and not found["failed"] and found["namespace"] == namespace
        assert live_of(kube, namespace, app) == "v2"
        annotations = kube.get(SERVICE, namespace, app)["metadata"]["annotations"]
        assert annotations["progressive.delivery/previous-version"] == "v1"
        # the module proved it, but read the slices back: only v2's pod serves
        assert endpoint_pods(kube, namespace, app) == pods_of(kube, namespace, app, "v2")
    assert "%s/mail: Service mail selector version=v1 -> v2" % namespace in result["actions"]

    before = resource_versions(kube, namespace)
    monkeypatch.setenv(trace.ENV, str(tmp_path / "trace"))
    again = promote(namespace)
    monkeypatch.delenv(trace.ENV)
    assert not again["changed"] and not again.get("failed"), again.get("msg")
    assert again["actions"] == [] and [a["live_version"] for a in again["apps"]] == ["v2"] * 5
    assert resource_versions(kube, namespace) == before
    # each app's no-op asks what a call for it alone asks (test_request_counts.py): its
    # Service and preview Service, its pods, its EndpointSlices; no write, no watch; and
    # the namespace's Deployments, listed once for the apps that start together
    # (batch.NamespaceDeployments), not once per app
    reads, others = requests_of(trace.parse((tmp_path / "trace").read_text()))
    assert others == []
    deployments = "/apis/apps/v1/namespaces/%s/deployments" % namespace
    assert reads.pop(deployments) == 1
    assert len(reads) == 4 * 5 and set(reads.values()) == {1}, reads

    # no cross-app rollback: going back is the same call with state rolled_back
    back = run_module("k8s_bluegreen", namespace=namespace, state="rolled_back", wait_timeout=60,
                      apps=[dict(name=app, service=app) for app in APPS])
    assert back["changed"] and not back.get("failed"), back.get("msg")
    for app in APPS:
        assert live_of(kube, namespace, app) == "v1"
        assert endpoint_pods(kube, namespace, app) == pods_of(kube, namespace, app, "v1")


def test_one_invalid_element_writes_nothing_for_any_app(kube, namespace):
    make_apps(kube, namespace, APPS[:3])
    before = resource_versions(kube, namespace)
    apps = [dict(name=app, service=app) for app in APPS[:3]]
    apps[1]["version"] = "v2!"
    apps.append(dict(name="shop", service="shop-again"))
    result = run_module("k8s_bluegreen", namespace=namespace, state="promoted", version="v2",
                        apps=apps)
    assert result["failed"]
    assert result["msg"].startswith("invalid input: apps[1].version: 'v2!' is not a valid label "
                                    "value"), result["msg"]
    assert "apps[3]: app %s/shop is already apps[0]" % namespace in result["msg"]
    assert {"field": "apps[1].version", "message": result["errors"][0]["message"]} == \
        result["errors"][0]
    assert resource_versions(kube, namespace) == before
    assert [live_of(kube, namespace, app) for app in APPS[:3]] == ["v1"] * 3


def test_an_app_whose_candidate_is_not_ready_fails_alone(kube, namespace):
    make_apps(kube, namespace, APPS[:3], never_ready=("cart",))
    cart_service = kube.get(SERVICE, namespace, "cart")["metadata"]["resourceVersion"]
    result = promote(namespace, APPS[:3])
    assert result["failed"]
    assert result["msg"].startswith("1 of 3 apps failed"), result["msg"]
    assert ("%s/cart: refusing to promote version v2: Deployment cart-v2 is not ready"
            % namespace) in result["msg"]
    shop, cart, search = result["apps"]
    assert cart["failed"] and not cart["changed"] and "refusing to promote" in cart["msg"]
    assert not shop["failed"] and not search["failed"]
    assert shop["live_version"] == search["live_version"] == "v2"
    assert result["changed"]
    # cart's traffic is untouched, the others are on v2
    assert kube.get(SERVICE, namespace, "cart")["metadata"]["resourceVersion"] == cart_service
    assert endpoint_pods(kube, namespace, "cart") == pods_of(kube, namespace, "cart", "v1")
    for app in ("shop", "search"):
        assert live_of(kube, namespace, app) == "v2"
        assert endpoint_pods(kube, namespace, app) == pods_of(kube, namespace, app, "v2")


def test_check_mode_writes_nothing_and_reports_each_apps_change(kube, namespace):
    make_apps(kube, namespace, APPS[:3])
    before = resource_versions(kube, namespace)
    result = promote(namespace, APPS[:3], check=True, diff=True)
    assert result["changed"] and not result.get("failed"), result.get("msg")
    assert result["actions"] == ["%s/%s: Service %s selector version=v1 -> v2"
                                 % (namespace, app, app) for app in APPS[:3]]
    assert [a["live_version"] for a in result["apps"]] == ["v2"] * 3
    assert [d["before_header"] for d in result["diff"]] == [
        "%s/%s" % (namespace, app) for app in APPS[:3]]
    first = result["diff"][0]
    assert first["before"]["Service/shop"]["selector"]["version"] == "v1"
    assert first["after"]["Service/shop"]["selector"]["version"] == "v2"
    assert resource_versions(kube, namespace) == before
    assert [live_of(kube, namespace, app) for app in APPS[:3]] == ["v1"] * 3
