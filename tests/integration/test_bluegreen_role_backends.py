"""The bluegreen role's contour, knative and gateway backends, run by ansible-playbook against
the testbed's real Contour, Knative Serving and Contour Gateway API controllers (the service
backend is covered by the bluegreen and bluegreen_rollback Molecule scenarios), and check mode
on all four."""

import pytest

from canary_objects import pod_template
from playbooks import role_play, run_playbook, write_playbook
from test_k8s_bluegreen import seed001_v1_live, template

from ansible_collections.progressive.delivery.plugins.module_utils.gateway import plan as gp
from ansible_collections.progressive.delivery.plugins.module_utils.knative import common as kn
from ansible_collections.progressive.delivery.plugins.module_utils.contour.proxies import (
    HTTPPROXY,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    DEPLOYMENT,
    NAMESPACE,
    SERVICE,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import (
    condition_is,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import wait_for


def gate_file(tmp_path, name, assertion):
    path = tmp_path / name
    path.write_text("- name: %s\n  ansible.builtin.assert:\n    that: >-\n      %s\n"
                    % (name, assertion.replace("\n", "\n      ")))
    return str(path)


def includes(kube, namespace, name="root"):
    root = kube.get_or_none(HTTPPROXY, namespace, name)
    if root is None:
        return None
    return [((inc.get("conditions") or [{}])[0].get("prefix"), inc["name"])
            for inc in root["spec"].get("includes") or []]


# ---------------------------------------------------------------------------
# contour (seed 002: switch the delegated child proxy)
# ---------------------------------------------------------------------------
def contour_setup(kube, namespace):
    kube.create(SERVICE, namespace, {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "green"},
        "spec": {"selector": {"app": "blog", "version": "green"},
                 "ports": [{"name": "http", "port": 80, "targetPort": 80}]}})
    kube.create(HTTPPROXY, namespace, {
        "apiVersion": HTTPPROXY.api_version, "kind": "HTTPProxy", "metadata": {"name": "blog"},
        "spec": {"routes": [{"services": [{"name": "green", "port": 80}]}]}})
    fqdn = "%s.yangcs.example.com" % namespace.rsplit("-", 1)[-1]
    kube.create(HTTPPROXY, namespace, {
        "apiVersion": HTTPPROXY.api_version, "kind": "HTTPProxy", "metadata": {"name": "root"},
        "spec": {"virtualhost": {"fqdn": fqdn},
                 "includes": [{"name": "blog", "conditions": [{"prefix": "/blog"}]}]}})
    return fqdn


def blue_manifests():
    labels = {"app": "blog", "version": "blue"}
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "blue"},
         "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                  "template": pod_template("ikubernetes/myapp:v2", labels)}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "blue"},
         "spec": {"selector": labels, "ports": [{"name": "http", "port": 80,
                                                 "targetPort": 80}]}},
        {"apiVersion": HTTPPROXY.api_version, "kind": "HTTPProxy", "metadata": {"name": "blog2"},
         "spec": {"routes": [{"services": [{"name": "blue", "port": 80}]}]}},
    ]


def contour_vars(namespace, tmp_path, post_gate="true"):
    preview = gate_file(tmp_path, "preview_gate.yml", (
        "lookup('kubernetes.core.k8s', api_version='projectcontour.io/v1', kind='HTTPProxy',\n"
        "namespace='%s', resource_name='root').spec.includes\n"
        "| selectattr('name', 'equalto', 'blog2') | map(attribute='conditions')\n"
        "| map('first') | map(attribute='prefix') | list == ['/blog-preview']\n"
        "and bluegreen_preview_url.endswith('/blog-preview')" % namespace))
    post = gate_file(tmp_path, "post_gate.yml", post_gate)
    return dict(
        bluegreen_app="blog", bluegreen_namespace=namespace, bluegreen_version="blue",
        bluegreen_backend="contour", bluegreen_app_labels={"app": "blog"},
        bluegreen_manifests=blue_manifests(), bluegreen_wait_timeout=60,
        bluegreen_contour={"name": "root", "path": "/blog", "child": {"name": "blog2"},
                           "preview_path": "/blog-preview"},
        bluegreen_preview_gates=[{"name": "preview-route", "type": "tasks", "file": preview}],
        bluegreen_post_gates=[{"name": "post", "type": "tasks", "file": post}])


def test_contour_backend_switches_the_child(
        kube, namespace, tmp_path, require_crd):
    require_crd("httpproxies.projectcontour.io")
    contour_setup(kube, namespace)
    path = write_playbook(tmp_path, role_play("progressive.delivery.bluegreen",
                                              contour_vars(namespace, tmp_path)))
    result = run_playbook(path)
    assert not result.failed, result.summary()
    assert includes(kube, namespace) == [("/blog", "blog2")]  # preview path removed
    root = kube.get(HTTPPROXY, namespace, "root")
    assert root["status"]["currentStatus"] == "valid"
    gates = result.results_of("evaluate pod, HTTP and Prometheus gates")
    assert gates and all(g["passed"] for g in gates)  # the candidate's pods were checked
    stats = result.custom_stats
    assert stats["bluegreen_outcome"] == "promoted"
    assert stats["bluegreen_previous_version"] == "%s/blog" % namespace
    assert stats["bluegreen_live_version"] == "%s/blog2" % namespace


def test_contour_backend_switches_back_when_a_live_gate_fails(
        kube, namespace, tmp_path, require_crd):
    require_crd("httpproxies.projectcontour.io")
    contour_setup(kube, namespace)
    path = write_playbook(tmp_path, role_play("progressive.delivery.bluegreen", contour_vars(
        namespace, tmp_path, post_gate="false")))
    result = run_playbook(path)
    assert result.failed, result.summary()
    message = result.failure_messages()[-1]
    assert "Rolled back: live traffic is on %s/blog again." % namespace in message
    assert includes(kube, namespace) == [("/blog", "blog")]
    assert kube.get(HTTPPROXY, namespace, "root")["status"]["currentStatus"] == "valid"
    assert result.custom_stats["bluegreen_outcome"] == "rolled_back"


# ---------------------------------------------------------------------------
# knative (seed 000: a tagged revision at 0%, then 100% with a rollback tag)
# ---------------------------------------------------------------------------
def knative_setup(kube, namespace):
    kube.create(kn.KSERVICE, namespace, {
        "apiVersion": kn.KSERVICE.api_version, "kind": "Service",
        "metadata": {"name": "hello", "namespace": namespace},
        "spec": {"template": {"spec": {"containers": [
            {"image": "gcr.io/knative-samples/knative-route-demo:blue"}]}}}})
    wait_for(kube, kn.KSERVICE, namespace, "hello", condition_is("Ready"), 120)


def knative_vars(namespace, tmp_path, post_gate="true"):
    preview = gate_file(tmp_path, "preview_gate.yml", (
        "bluegreen_preview_url == 'http://v2-hello.%s.example.com'" % namespace))
    post = gate_file(tmp_path, "post_gate.yml", post_gate)
    return dict(
        bluegreen_app="hello", bluegreen_namespace=namespace, bluegreen_version="v2",
        bluegreen_backend="knative", bluegreen_wait_timeout=120,
        bluegreen_knative={"service": "hello", "template": {"spec": {"containers": [
            {"image": "gcr.io/knative-samples/knative-route-demo:green"}]}}},
        bluegreen_preview_gates=[{"name": "preview-url", "type": "tasks", "file": preview}],
        bluegreen_post_gates=[{"name": "post", "type": "tasks", "file": post}])


def spec_traffic(kube, namespace):
    ksvc = kube.get(kn.KSERVICE, namespace, "hello")
    return [(t.get("revisionName"), t["percent"], t.get("tag"))
            for t in ksvc["spec"]["traffic"]]


def test_knative_backend_releases_a_revision(
        kube, namespace, tmp_path, require_crd):
    require_crd("services.serving.knative.dev")
    knative_setup(kube, namespace)
    path = write_playbook(tmp_path, role_play("progressive.delivery.bluegreen",
                                              knative_vars(namespace, tmp_path)))
    result = run_playbook(path)
    assert not result.failed, result.summary()
    preview = result.results_of("the candidate at 0% with its own tag URL")[0]
    assert [(t["revision"], t["percent"], t["tag"]) for t in preview["traffic"]] == [
        ("hello-00001", 100, None), ("hello-00002", 0, "v2")]
    assert spec_traffic(kube, namespace) == [("hello-00002", 100, None),
                                             ("hello-00001", 0, "previous")]
    annotations = kube.get(kn.KSERVICE, namespace, "hello")["metadata"]["annotations"]
    assert annotations["progressive.delivery/live-version"] == "v2"
    assert annotations["progressive.delivery/previous-revision"] == "hello-00001"
    assert result.custom_stats["bluegreen_previous_version"] == "hello-00001"


def test_knative_backend_rolls_back_when_a_live_gate_fails(kube, namespace, tmp_path, require_crd):
    require_crd("services.serving.knative.dev")
    knative_setup(kube, namespace)
    path = write_playbook(tmp_path, role_play("progressive.delivery.bluegreen", knative_vars(
        namespace, tmp_path, post_gate="false")))
    result = run_playbook(path)
    assert result.failed, result.summary()
    assert "Rolled back: live traffic is on hello-00001 again." in result.failure_messages()[-1]
    assert spec_traffic(kube, namespace) == [("hello-00001", 100, None)]
    annotations = kube.get(kn.KSERVICE, namespace, "hello")["metadata"]["annotations"]
    assert "progressive.delivery/live-version" not in annotations
    assert annotations["progressive.delivery/rolled-back-from"] == "v2"
    assert result.custom_stats["bluegreen_outcome"] == "rolled_back"


# ---------------------------------------------------------------------------
# gateway (the weighted rule of a Gateway API HTTPRoute, preview by a header rule)
# ---------------------------------------------------------------------------
GATEWAY_PARENT = {"name": "testbed", "namespace": "testbed-gateway"}
GATEWAY_ACCESS = {"testbed.progressive.delivery/gateway-access": "granted"}


def gateway_setup(kube, namespace):
    """green live: its Service behind the HTTPRoute shop, all traffic on it (the pods are not
    needed: the route only names Services)."""
    kube.patch(NAMESPACE, None, namespace, {"metadata": {"labels": GATEWAY_ACCESS}})
    kube.create(SERVICE, namespace, {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "shop-green"},
        "spec": {"selector": {"app": "shop", "color": "green"},
                 "ports": [{"name": "http", "port": 80, "targetPort": 80}]}})
    kube.create(gp.HTTPROUTE, namespace, {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "shop"},
        "spec": {"parentRefs": [GATEWAY_PARENT], "hostnames": ["%s.example.com" % namespace],
                 "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                            "backendRefs": [{"name": "shop-green", "port": 80, "weight": 100}]}]}})


def shop_blue_manifests():
    labels = {"app": "shop", "color": "blue"}
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "shop-blue"},
         "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                  "template": pod_template("ikubernetes/myapp:v2", labels)}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "shop-blue"},
         "spec": {"selector": labels, "ports": [{"name": "http", "port": 80,
                                                 "targetPort": 80}]}},
    ]


def gateway_vars(namespace, tmp_path, post_gate="true"):
    # The preview, as Contour accepted it: the header rule to shop-blue in front of the
    # weighted rule, where shop-blue has 0%.
    preview = gate_file(tmp_path, "preview_gate.yml", (
        "lookup('kubernetes.core.k8s', api_version='gateway.networking.k8s.io/v1',\n"
        "kind='HTTPRoute', namespace='%s', resource_name='shop').spec.rules\n"
        "| map(attribute='backendRefs')\n"
        "| map('items2dict', key_name='name', value_name='weight') | list\n"
        "== [{'shop-blue': 1}, {'shop-green': 100, 'shop-blue': 0}]\n"
        "and bluegreen_preview_url == 'http://%s.example.com/'" % (namespace, namespace)))
    post = gate_file(tmp_path, "post_gate.yml", post_gate)
    return dict(
        bluegreen_app="shop", bluegreen_namespace=namespace, bluegreen_version="blue",
        bluegreen_backend="gateway", bluegreen_app_labels={"app": "shop"},
        bluegreen_version_label="color",
        bluegreen_manifests=shop_blue_manifests(), bluegreen_wait_timeout=60,
        bluegreen_gateway={"route": "shop", "parent_refs": [GATEWAY_PARENT],
                           "stable_service": "shop-green", "candidate_service": "shop-blue",
                           "preview_header": {"name": "x-preview", "value": "blue"}},
        bluegreen_preview_gates=[{"name": "preview-route", "type": "tasks", "file": preview}],
        bluegreen_post_gates=[{"name": "post", "type": "tasks", "file": post}])


def route_rules(kube, namespace):
    """Each rule of the route as (header match or None, [(Service, weight)])."""
    route = kube.get(gp.HTTPROUTE, namespace, "shop")
    rules = []
    for rule in route["spec"]["rules"]:
        headers = [h["name"] + "=" + h["value"] for m in rule.get("matches") or []
                   for h in m.get("headers") or []]
        rules.append((headers[0] if headers else None,
                      [(b["name"], b.get("weight", 1)) for b in rule["backendRefs"]]))
    return rules


def route_accepted(kube, namespace):
    route = kube.get(gp.HTTPROUTE, namespace, "shop")
    parents = route["status"]["parents"]
    return bool(parents) and all(
        c["status"] == "True" and c["observedGeneration"] == route["metadata"]["generation"]
        for p in parents for c in p["conditions"] if c["type"] in ("Accepted", "ResolvedRefs"))


def test_gateway_backend_switches_the_rule(
        kube, namespace, tmp_path, require_crd):
    require_crd("httproutes.gateway.networking.k8s.io")
    gateway_setup(kube, namespace)
    path = write_playbook(tmp_path, role_play("progressive.delivery.bluegreen",
                                              gateway_vars(namespace, tmp_path)))
    result = run_playbook(path)
    assert not result.failed, result.summary()
    # One rule left (the header rule is gone), all traffic on the candidate.
    assert route_rules(kube, namespace) == [(None, [("shop-green", 0), ("shop-blue", 100)])]
    assert route_accepted(kube, namespace)
    gates = result.results_of("evaluate pod, HTTP and Prometheus gates")
    assert gates and all(g["passed"] for g in gates)  # the preview gate and the candidate's pods
    stats = result.custom_stats
    assert stats["bluegreen_outcome"] == "promoted"
    assert stats["bluegreen_previous_version"] == "shop-green"
    assert stats["bluegreen_live_version"] == "shop-blue"


def test_gateway_backend_switches_back_when_a_live_gate_fails(
        kube, namespace, tmp_path, require_crd):
    require_crd("httproutes.gateway.networking.k8s.io")
    gateway_setup(kube, namespace)
    path = write_playbook(tmp_path, role_play("progressive.delivery.bluegreen", gateway_vars(
        namespace, tmp_path, post_gate="false")))
    result = run_playbook(path)
    assert result.failed, result.summary()
    assert "Rolled back: live traffic is on shop-green again." in result.failure_messages()[-1]
    assert route_rules(kube, namespace) == [(None, [("shop-green", 100)])]
    assert route_accepted(kube, namespace)
    assert result.custom_stats["bluegreen_outcome"] == "rolled_back"


def test_gateway_backend_previews_on_a_second_hostname(kube, namespace, tmp_path, require_crd):
    require_crd("httproutes.gateway.networking.k8s.io")
    gateway_setup(kube, namespace)
    role_vars = gateway_vars(namespace, tmp_path)
    preview_host = "preview-%s.example.com" % namespace
    del role_vars["bluegreen_gateway"]["preview_header"]
    role_vars["bluegreen_gateway"]["preview_hostname"] = preview_host
    # During the preview: the route shop-preview, accepted, sends the preview host to shop-blue;
    # the live rule has shop-blue at 0%.
    role_vars["bluegreen_preview_gates"] = [{"name": "preview-host", "type": "tasks", "file": gate_file(
        tmp_path, "preview_host_gate.yml", (
            "lookup('kubernetes.core.k8s', api_version='gateway.networking.k8s.io/v1',\n"
            "kind='HTTPRoute', namespace='%s', resource_name='shop-preview').spec.hostnames\n"
            "== ['%s']\n"
            "and lookup('kubernetes.core.k8s', api_version='gateway.networking.k8s.io/v1',\n"
            "kind='HTTPRoute', namespace='%s', resource_name='shop-preview').spec.rules[0].backendRefs\n"
            "| items2dict(key_name='name', value_name='weight') == {'shop-blue': 100}\n"
            "and lookup('kubernetes.core.k8s', api_version='gateway.networking.k8s.io/v1',\n"
            "kind='HTTPRoute', namespace='%s', resource_name='shop').spec.rules[0].backendRefs\n"
            "| items2dict(key_name='name', value_name='weight') == {'shop-green': 100, 'shop-blue': 0}\n"
            "and bluegreen_preview_url == 'http://%s/'"
            % (namespace, preview_host, namespace, namespace, preview_host)))}]
    result = run_playbook(write_playbook(tmp_path, role_play("progressive.delivery.bluegreen",
                                                             role_vars)))
    assert not result.failed, result.summary()
    gates = result.results_of("evaluate pod, HTTP and Prometheus gates")
    assert gates and all(g["passed"] for g in gates)
    assert [t for t in result.ran() if "preview_host_gate.yml" in t], result.ran()
    assert route_rules(kube, namespace) == [(None, [("shop-green", 0), ("shop-blue", 100)])]
    assert kube.get_or_none(gp.HTTPROUTE, namespace, "shop-preview") is None
    assert result.custom_stats["bluegreen_outcome"] == "promoted"


def test_gateway_backend_refuses_missing_settings_and_writes_nothing(
        kube, namespace, tmp_path, require_crd):
    require_crd("httproutes.gateway.networking.k8s.io")
    gateway_setup(kube, namespace)
    before = snapshot(kube, namespace, [DEPLOYMENT, SERVICE, gp.HTTPROUTE])
    role_vars = gateway_vars(namespace, tmp_path)
    del role_vars["bluegreen_gateway"]["candidate_service"]
    result = run_playbook(write_playbook(tmp_path, role_play("progressive.delivery.bluegreen",
                                                             role_vars)))
    assert result.failed, result.summary()
    message = result.failure_messages()[-1]
    assert "bluegreen_backend=gateway needs" in message and ".candidate_service" in message
    assert snapshot(kube, namespace, [DEPLOYMENT, SERVICE, gp.HTTPROUTE]) == before


# ---------------------------------------------------------------------------
# check mode (--check, an AWX "Check" job), every backend
# ---------------------------------------------------------------------------
def snapshot(kube, namespace, resources):
    """(kind, name) -> what a writer of ours could change (spec, labels, annotations) of
    every object of ``resources`` in the namespace; controllers keep writing status (so
    resourceVersions move) on their own."""
    return {(r.kind, o["metadata"]["name"]): (o.get("spec"), o["metadata"].get("labels"),
                                              o["metadata"].get("annotations"))
            for r in resources for o in kube.list(r, namespace)["items"]}


def service_setup(kube, namespace):
    seed001_v1_live(namespace)


def service_vars(namespace, tmp_path):
    return dict(bluegreen_app="myapp", bluegreen_namespace=namespace, bluegreen_version="v2",
                bluegreen_service="myapp-lan",
                bluegreen_pod_template=template("janakiramm/myapp:v2"), bluegreen_replicas=3,
                bluegreen_pause="5s")


CHECK_MODE_CASES = {
    # backend: (CRD it needs, set-up, role variables, live version before, objects to compare)
    "service": (None, service_setup, service_vars, "v1", [DEPLOYMENT, SERVICE]),
    "contour": ("httpproxies.projectcontour.io", contour_setup, contour_vars, "/blog",
                [DEPLOYMENT, SERVICE, HTTPPROXY]),
    "knative": ("services.serving.knative.dev", knative_setup, knative_vars, "hello-00001",
                [kn.KSERVICE, kn.CONFIGURATION, kn.REVISION, kn.ROUTE]),
    "gateway": ("httproutes.gateway.networking.k8s.io", gateway_setup, gateway_vars,
                "shop-green", [DEPLOYMENT, SERVICE, gp.HTTPROUTE]),
}


@pytest.mark.parametrize("backend", sorted(CHECK_MODE_CASES))
def test_check_mode_shows_the_plan_and_writes_nothing(
        kube, namespace, tmp_path, backend, require_crd):
    crd, setup, role_vars, live_before, resources = CHECK_MODE_CASES[backend]
    if crd:
        require_crd(crd)
    setup(kube, namespace)
    before = snapshot(kube, namespace, resources)
    path = write_playbook(tmp_path, role_play("progressive.delivery.bluegreen",
                                              role_vars(namespace, tmp_path)))
    result = run_playbook(path, check=True)
    assert not result.failed, result.summary()
    assert snapshot(kube, namespace, resources) == before
    plan = result.results_of("check mode, the plan")
    assert len(plan) == 1, result.summary()
    assert "switch live traffic from " in plan[0]["msg"][1]
    assert live_before in plan[0]["msg"][1]
    ran = result.ran()
    assert not [n for n in ran if "gates on the preview" in n or "| promote |" in n], ran
    assert result.custom_stats["bluegreen_outcome"] == "check_mode"
