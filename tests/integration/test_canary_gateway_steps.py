"""The canary role's mirror and header steps over the gateway backend, judged by Contour's
Gateway API controller on the testbed (`testbed.py up --with gateway`). A task-file gate
keeps the HTTPRoute as the API server has it after every step, so each assertion is about
the route Contour accepted at that step: the mirror while the canary has no traffic, the
header rule from its step on, both gone after the promotion or the rollback (also the
rollback of another version's release, from the record's steps). A header step on the nginx
backend is ingress-nginx's canary-by-header. Steps that a backend cannot do are refused
before the role writes anything."""

import json
import os

import pytest

from canary_objects import create_ingress
from playbooks import role_play, run_playbook, write_playbook
from test_gateway_traffic import ACCESS, GATEWAY, GATEWAY_NS, accepted_for_generation, gateway  # noqa: F401 pylint: disable=unused-import

from ansible_collections.progressive.delivery.plugins.module_utils.gateway import plan as gp
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    CONFIGMAP,
    DEPLOYMENT,
    INGRESS,
    NAMESPACE,
    SERVICE,
)
from ansible_collections.progressive.delivery.plugins.module_utils.lease.holding import LEASE

HEADER = {"name": "x-canary", "value": "true"}
STEPS = [{"mirror": 100}, {"header": HEADER}, {"weight": 25}, {"weight": 100}]

# The gate: the route after the step, kept in a file named for the step; it fails at the
# step index given as gate_fail_at.
GATE = """
- name: Gate | read the HTTPRoute
  kubernetes.core.k8s_info:
    api_version: gateway.networking.k8s.io/v1
    kind: HTTPRoute
    namespace: "{{ canary_namespace }}"
    name: shop
  register: gate_route

- name: Gate | keep it
  ansible.builtin.copy:
    content: "{{ gate_route.resources[0] | to_json }}"
    dest: "%s/route-{{ canary_step.index }}.json"
    mode: "0644"

- name: Gate | fail where asked
  ansible.builtin.assert:
    that: canary_step.index | int != gate_fail_at | int
    fail_msg: the test's gate fails at step {{ canary_step.index + 1 }}
"""


def deployment(name, version):
    labels = {"app": "shop", "version": version}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                         {"name": "shop", "image": "ikubernetes/myapp:%s" % version}]}}}}


def service(name, version):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": "shop", "version": version},
                     "ports": [{"name": "http", "port": 80, "targetPort": 80}]}}


@pytest.fixture
def ns(kube, gateway, namespace):  # noqa: F811
    """A namespace the Gateway admits, with the stable version shop-v1 (no route yet: the
    release's preparation creates it)."""
    kube.patch(NAMESPACE, None, namespace, {"metadata": {"labels": ACCESS}})
    kube.create(DEPLOYMENT, namespace, deployment("shop-v1", "v1"))
    kube.create(SERVICE, namespace, service("shop-v1", "v1"))
    return namespace


def release(tmp_path, namespace, fail_at=-1, **extra):
    gate = tmp_path / "gate.yml"
    gate.write_text(GATE % tmp_path)
    role_vars = dict(
        canary_app="shop", canary_namespace=namespace, canary_version="v2",
        canary_backend="gateway", canary_service="", canary_wait_timeout=60,
        canary_gateway={"route": "shop", "stable_service": "shop-v1", "canary_service": "shop-v2",
                        "parent_refs": [{"name": GATEWAY, "namespace": GATEWAY_NS}],
                        "hostnames": ["%s.example.com" % namespace]},
        canary_manifests=[deployment("shop-v2", "v2"), service("shop-v2", "v2")],
        canary_steps=STEPS, canary_gate_interval="1s",
        canary_gates=[{"name": "route-kept", "type": "tasks", "file": str(gate)}],
        gate_fail_at=fail_at)
    role_vars.update(extra)
    return run_playbook(write_playbook(tmp_path, role_play("progressive.delivery.canary",
                                                           role_vars)))


def kept_route(tmp_path, index):
    with open(os.path.join(str(tmp_path), "route-%d.json" % index)) as handle:
        return json.load(handle)


def shape(route):
    """(header rules, weights of the managed rule, mirrors on it) of a route."""
    rules = route["spec"]["rules"]
    managed = rules[gp.find_rule(rules, None, gp.http_key("/"))]
    headers = [(h["name"], h["value"], r["backendRefs"][0]["name"]) for r in rules
               for m in r.get("matches") or [] for h in m.get("headers") or []]
    weights = dict((ref["name"], ref["weight"]) for ref in managed["backendRefs"])
    mirrors = [(f["requestMirror"]["backendRef"]["name"], f["requestMirror"].get("percent"))
               for f in managed.get("filters") or [] if f["type"] == "RequestMirror"]
    return headers, weights, mirrors


def test_mirror_then_header_then_weights_each_accepted_then_promoted(kube, ns, tmp_path):
    result = release(tmp_path, ns)
    assert not result.failed, result.summary()
    header = [("x-canary", "true", "shop-v2")]
    expected = [
        ([], {"shop-v1": 100, "shop-v2": 0}, [("shop-v2", 100)]),
        (header, {"shop-v1": 100, "shop-v2": 0}, [("shop-v2", 100)]),
        (header, {"shop-v1": 75, "shop-v2": 25}, []),
        (header, {"shop-v1": 0, "shop-v2": 100}, []),
    ]
    for index, wanted in enumerate(expected):
        route = kept_route(tmp_path, index)
        assert shape(route) == wanted, (index, route["spec"])
        assert accepted_for_generation(route), (index, route["status"])
    # the promotion removed the header rule (and the route is still Contour's)
    route = kube.get(gp.HTTPROUTE, ns, "shop")
    assert shape(route) == ([], {"shop-v1": 0, "shop-v2": 100}, [])
    assert len(route["spec"]["rules"]) == 1 and accepted_for_generation(route)
    # one canary_step call per step, titled as the timeline reads
    titles = [n for n in result.ran() if n.startswith("Canary | step ") and "|" in n[8:]
              and n.endswith("| shop v2") and "," not in n]
    assert titles == ["Canary | step 1/4 mirror 100% (gateway) | shop v2",
                      "Canary | step 2/4 header x-canary=true (gateway) | shop v2",
                      "Canary | step 3/4 send 25% to the canary (gateway) | shop v2",
                      "Canary | step 4/4 send 100% to the canary (gateway) | shop v2"]
    record = json.loads(kube.get(CONFIGMAP, ns, "shop-release")["metadata"]["annotations"][
        "progressive.delivery/canary-release"])
    assert record["phase"] == "promoted"
    assert record["steps"] == ["mirror 100%", "header x-canary=true", "weight 25%",
                               "weight 100%"]
    # the record moved on at every step (it starts at step 0), then promoting, promoted
    assert [(h["step"], h["phase"]) for h in record["history"]] == [
        (1, "progressing"), (2, "progressing"), (3, "progressing"), (3, "promoting"),
        (3, "promoted")]


def test_a_gate_failing_after_the_header_step_removes_the_header_rule_and_the_mirror(
        kube, ns, tmp_path):
    result = release(tmp_path, ns, fail_at=1)
    assert result.failed
    # at the failing step both were there
    assert shape(kept_route(tmp_path, 1)) == (
        [("x-canary", "true", "shop-v2")], {"shop-v1": 100, "shop-v2": 0}, [("shop-v2", 100)])
    assert not os.path.exists(os.path.join(str(tmp_path), "route-2.json"))
    # rolled back: all traffic on the stable Service, no header rule, no mirror, accepted
    route = kube.get(gp.HTTPROUTE, ns, "shop")
    assert shape(route) == ([], {"shop-v1": 100, "shop-v2": 0}, [])
    assert accepted_for_generation(route), route["status"]
    assert kube.get(DEPLOYMENT, ns, "shop-v2")["spec"]["replicas"] == 0
    record = json.loads(kube.get(CONFIGMAP, ns, "shop-release")["metadata"]["annotations"][
        "progressive.delivery/canary-release"])
    assert record["phase"] == "aborted" and record["weight"] == 0
    assert result.custom_stats["canary_outcome"] == "rolled_back"
    assert result.custom_stats["canary_failed_step"] == "2/4 (header x-canary=true)"


def test_rolling_back_another_versions_release_removes_the_header_rule_its_steps_added(
        kube, ns, tmp_path):
    """canary_on_resume=rollback of a release left in flight: the header rule and the
    mirror are known from the record's steps, not from this run's (weights only)."""
    first = release(tmp_path, ns, canary_promote=False,
                    canary_steps=[{"mirror": 50}, {"header": HEADER}, {"weight": 10}])
    assert not first.failed, first.summary()
    assert shape(kube.get(gp.HTTPROUTE, ns, "shop")) == (
        [("x-canary", "true", "shop-v2")], {"shop-v1": 90, "shop-v2": 10}, [])
    second = release(tmp_path, ns, canary_version="v3", canary_on_resume="rollback",
                     canary_steps=[{"weight": 100}])
    assert second.failed  # a rolled back release fails the job, by design
    assert "rolling it back (on_resume=rollback)" in failed_message(second)
    route = kube.get(gp.HTTPROUTE, ns, "shop")
    assert shape(route) == ([], {"shop-v1": 100, "shop-v2": 0}, [])
    assert accepted_for_generation(route), route["status"]


NGINX_GATE = """
- name: Gate | keep the canary Ingress's annotations
  ansible.builtin.copy:
    content: >-
      {{ lookup('kubernetes.core.k8s', api_version='networking.k8s.io/v1', kind='Ingress',
         namespace=canary_namespace, resource_name='shop-canary').metadata.annotations | to_json }}
    dest: "%s/ingress-{{ canary_step.index }}.json"
    mode: "0644"
"""


def test_a_header_step_on_nginx_is_canary_by_header_until_removed(kube, namespace, tmp_path):
    """ingress-nginx's own canary-by-header annotations on the canary Ingress (the testbed
    has no ingress-nginx: the annotations as written are the proof)."""
    kube.create(DEPLOYMENT, namespace, deployment("shop-v1", "v1"))
    kube.create(SERVICE, namespace, service("shop-v1", "v1"))
    create_ingress(kube, namespace, name="shop", service="shop-v1")
    gate = tmp_path / "gate.yml"
    gate.write_text(NGINX_GATE % tmp_path)
    role_vars = dict(
        canary_app="shop", canary_namespace=namespace, canary_version="v2",
        canary_backend="nginx", canary_service="", canary_wait_timeout=60,
        canary_nginx={"ingress": "shop", "canary_service": "shop-v2"},
        canary_manifests=[deployment("shop-v2", "v2"), service("shop-v2", "v2")],
        canary_steps=[{"header": HEADER}, {"weight": 10},
                      {"header": {"name": "x-canary", "regex": "^(1|yes)$"}},
                      {"header": "absent"}, {"weight": 100}],
        canary_gate_interval="1s",
        canary_gates=[{"name": "ingress-kept", "type": "tasks", "file": str(gate)}])
    result = run_playbook(write_playbook(tmp_path, role_play("progressive.delivery.canary",
                                                             role_vars)))
    assert not result.failed, result.summary()
    prefix = "nginx.ingress.kubernetes.io/canary-"
    seen = []
    for index in range(5):
        with open(os.path.join(str(tmp_path), "ingress-%d.json" % index)) as handle:
            annotations = json.load(handle)
        seen.append(dict((k[len(prefix):], v) for k, v in annotations.items()
                         if k.startswith(prefix)))
    assert seen == [
        {"weight": "0", "by-header": "x-canary", "by-header-value": "true"},
        {"weight": "10", "by-header": "x-canary", "by-header-value": "true"},
        {"weight": "10", "by-header": "x-canary", "by-header-pattern": "^(1|yes)$"},
        {"weight": "10"},
        {"weight": "100"}]
    assert kube.get_or_none(INGRESS, namespace, "shop-canary") is None
    assert result.custom_stats["canary_outcome"] == "promoted"


def failed_message(result):
    return [r for r in result.results_of("") if r.get("failed")][0]["msg"]


def nothing_written(kube, namespace):
    assert kube.list(LEASE, namespace)["items"] == []
    assert kube.get_or_none(CONFIGMAP, namespace, "shop-release") is None
    assert kube.get_or_none(CONFIGMAP, namespace, "myapp-release") is None
    assert kube.get_or_none(gp.HTTPROUTE, namespace, "shop") is None


def test_a_header_step_on_the_replicas_backend_is_refused_before_any_write(kube, namespace,
                                                                           tmp_path):
    role_vars = dict(canary_app="myapp", canary_namespace=namespace, canary_version="v2",
                     canary_service="myapp", canary_pod_template={"spec": {"containers": [
                         {"name": "app", "image": "ikubernetes/myapp:v2"}]}},
                     canary_steps=[{"weight": 0}, {"header": HEADER}, {"mirror": 10},
                                   {"weight": 100}])
    result = run_playbook(write_playbook(tmp_path, role_play("progressive.delivery.canary",
                                                             role_vars)))
    assert result.failed
    message = failed_message(result)
    assert "steps[1]: a header step needs the gateway or nginx backend (got replicas)" in message
    assert "steps[2]: a mirror step needs the gateway backend (got replicas)" in message
    assert "take the release lease" not in " ".join(result.ran())
    nothing_written(kube, namespace)


def test_a_mirror_step_and_the_mirror_setting_together_are_refused_before_any_write(
        kube, ns, tmp_path):
    result = release(tmp_path, ns, canary_gateway={
        "route": "shop", "stable_service": "shop-v1", "canary_service": "shop-v2",
        "parent_refs": [{"name": GATEWAY, "namespace": GATEWAY_NS}], "mirror": 100})
    assert result.failed
    assert "canary_gateway.mirror is set and canary_steps[0] is a mirror step" in \
        failed_message(result)
    nothing_written(kube, ns)
    assert kube.get_or_none(DEPLOYMENT, ns, "shop-v2") is None
