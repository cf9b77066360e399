"""gateway_traffic against Contour's Gateway API controller on the testbed (`testbed.py up
--with gateway`): the Gateway `testbed-gateway/testbed` admits HTTPRoutes from namespaces
labelled `testbed.progressive.delivery/gateway-access: granted`. Every verdict here is
Contour's own (status.parents Accepted/ResolvedRefs for the route's generation); every
assertion reads the route back from the API server."""

import os

import pytest
import yaml

from modules import run_module
from playbooks import role_play, run_playbook, write_playbook
from test_rbac import token_kubeconfig

from ansible_collections.progressive.delivery.plugins.module_utils.gateway import plan as gp
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import Check
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import wait_for
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    DEPLOYMENT,
    NAMESPACE,
    SERVICE,
    Resource,
)

GATEWAY_NS, GATEWAY = "testbed-gateway", "testbed"
ACCESS = {"testbed.progressive.delivery/gateway-access": "granted"}
CONTROLLER = "projectcontour.io/gateway-controller"


@pytest.fixture
def gateway(kube, require_crd):
    """The Gateway API component runs: the CRD is there and Contour accepted the Gateway."""
    require_crd("httproutes.gateway.networking.k8s.io")
    gw = kube.get(gp.GATEWAY, GATEWAY_NS, GATEWAY)
    accepted = [c for c in gw.get("status", {}).get("conditions", [])
                if c["type"] == "Accepted" and c["status"] == "True"]
    assert accepted, "Contour has not accepted Gateway %s/%s: %s" % (GATEWAY_NS, GATEWAY, gw.get("status"))
    return gw


def make_services(kube, namespace, *names):
    for name in names:
        kube.create(SERVICE, namespace, {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]}})


@pytest.fixture
def ns(kube, gateway, namespace):
    """A namespace the Gateway admits, with Services stable and canary."""
    kube.patch(NAMESPACE, None, namespace, {"metadata": {"labels": ACCESS}})
    make_services(kube, namespace, "stable", "canary")
    return namespace


def traffic(namespace, check=False, **params):
    base = dict(name="shop", namespace=namespace, hostnames=["%s.example.com" % namespace],
                parent_refs=[{"name": GATEWAY, "namespace": GATEWAY_NS}], wait_timeout=30)
    base.update(params)
    return run_module("gateway_traffic", check=check, diff=True, **base)


def read(kube, namespace):
    return kube.get_or_none(gp.HTTPROUTE, namespace, "shop")


def accepted_for_generation(route):
    """Contour's conditions on our Gateway, each for the route's current generation."""
    generation = route["metadata"]["generation"]
    parents = [p for p in route["status"]["parents"] if p["controllerName"] == CONTROLLER]
    assert len(parents) == 1, route["status"]
    conditions = dict((c["type"], c) for c in parents[0]["conditions"])
    return dict((kind, (conditions[kind]["status"], conditions[kind]["observedGeneration"]))
                for kind in ("Accepted", "ResolvedRefs")) == {
        "Accepted": ("True", generation), "ResolvedRefs": ("True", generation)}


def managed_rule(route, path="/"):
    return route["spec"]["rules"][gp.find_rule(route["spec"]["rules"], None, path)]


def test_canary_steps_each_accepted_for_its_generation(kube, ns):
    generations = []
    for canary in (0, 5, 50, 100):
        result = traffic(ns, weights={"stable": 100 - canary, "canary": canary})
        assert not result.get("failed"), result
        assert result["changed"] is True
        route = read(kube, ns)
        assert accepted_for_generation(route), route["status"]
        weights = dict((r["name"], r["weight"]) for r in managed_rule(route)["backendRefs"])
        assert weights == {"stable": 100 - canary, "canary": canary}
        assert result["weights"] == {"stable": 100 - canary, "canary": canary}
        generations.append(route["metadata"]["generation"])
    assert generations == [1, 2, 3, 4]
    assert result["previous_weights"] == {"stable": 50, "canary": 50}
    assert result["diff"]["before"]["HTTPRoute/shop"]["rules"] == ["/ -> stable 50%, canary 50%"]
    assert result["diff"]["after"]["HTTPRoute/shop"]["rules"] == ["/ -> stable 0%, canary 100%"]

    again = traffic(ns, weights={"stable": 0, "canary": 100})
    assert again["changed"] is False and again["actions"] == []
    assert read(kube, ns)["metadata"]["generation"] == 4


def test_missing_service_refused_by_contour_and_previous_rules_restored(kube, ns):
    assert not traffic(ns, weights={"stable": 100, "canary": 0}).get("failed")
    before = read(kube, ns)
    result = traffic(ns, weights={"stable": 90, "missing": 10}, port=80, validate_refs=False)
    assert result.get("failed"), result
    assert "ResolvedRefs=False (BackendNotFound)" in result["msg"]
    assert 'service "missing" is invalid: service "%s/missing" not found' % ns in result["msg"]
    assert "put back the previous rules" in result["msg"]
    after = read(kube, ns)
    assert gp.canonical(after["spec"]["rules"]) == gp.canonical(before["spec"]["rules"])
    # Ours, then the restore: two generations, nothing else.
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 2


def test_missing_service_caught_before_writing_when_validating(kube, ns):
    assert not traffic(ns, weights={"stable": 100, "canary": 0}).get("failed")
    version = read(kube, ns)["metadata"]["resourceVersion"]
    result = traffic(ns, weights={"stable": 90, "missing": 10})
    assert result.get("failed")
    assert result["errors"] == [{"field": "weights.missing",
                                 "message": "Service %s/missing does not exist" % ns}]
    assert read(kube, ns)["metadata"]["resourceVersion"] == version


def test_namespace_the_gateway_does_not_admit_is_refused_and_route_removed(kube, gateway, namespace):
    make_services(kube, namespace, "stable", "canary")  # no access label on this namespace
    result = traffic(namespace, weights={"stable": 100, "canary": 0})
    assert result.get("failed"), result
    assert ("Accepted=False (NotAllowedByListeners): No listeners included by this parent "
            "ref allowed this attachment.") in result["msg"]
    assert "deleted HTTPRoute %s/shop, which this call had created" % namespace in result["msg"]
    assert read(kube, namespace) is None


def test_header_rule_and_mirror_filter_added_and_removed(kube, ns):
    assert not traffic(ns, weights={"stable": 100, "canary": 0}).get("failed")
    result = traffic(ns, header={"name": "x-canary", "value": "true", "backend": "canary"},
                     mirror={"backend": "canary", "percent": 25})
    assert not result.get("failed"), result
    route = read(kube, ns)
    assert accepted_for_generation(route)
    header, weighted = route["spec"]["rules"]
    assert header["matches"] == [{"path": {"type": "PathPrefix", "value": "/"},
                                  "headers": [{"type": "Exact", "name": "x-canary",
                                               "value": "true"}]}]
    assert [(r["name"], r.get("weight", 1)) for r in header["backendRefs"]] == [("canary", 1)]
    assert weighted["filters"] == [{"type": "RequestMirror", "requestMirror": {
        "backendRef": {"group": "", "kind": "Service", "name": "canary", "port": 80},
        "percent": 25}}]
    assert result["route"]["rules"] == ["/ [x-canary=true] -> canary 100%",
                                        "/ -> stable 100%, canary 0% (mirror canary 25%)"]
    assert traffic(ns, header={"name": "x-canary", "value": "true", "backend": "canary"},
                   mirror={"backend": "canary", "percent": 25})["changed"] is False

    removed = traffic(ns, header={"state": "absent"}, mirror={"state": "absent"})
    assert not removed.get("failed"), removed
    route = read(kube, ns)
    assert accepted_for_generation(route)
    assert len(route["spec"]["rules"]) == 1 and "filters" not in route["spec"]["rules"][0]


def test_concurrent_writers_rule_preserved(kube, ns):
    assert not traffic(ns, weights={"stable": 100, "canary": 0}).get("failed")
    route = read(kube, ns)
    theirs = {"matches": [{"path": {"type": "PathPrefix", "value": "/api"}}],
              "backendRefs": [{"name": "stable", "port": 80}]}
    # another writer's rule (without a resourceVersion: Contour may write the status meanwhile)
    kube.patch(gp.HTTPROUTE, ns, "shop", {"spec": {"rules": route["spec"]["rules"] + [theirs]}})
    result = traffic(ns, weights={"stable": 50, "canary": 50})
    assert not result.get("failed"), result
    route = read(kube, ns)
    assert accepted_for_generation(route)
    assert gp.find_rule(route["spec"]["rules"], None, "/api") == 1
    assert route["spec"]["rules"][1]["backendRefs"][0]["name"] == "stable"
    assert gp.shares(managed_rule(route)["backendRefs"]) == {"stable": 50, "canary": 50}


def test_check_mode_writes_nothing(kube, ns):
    result = traffic(ns, check=True, weights={"stable": 95, "canary": 5})
    assert result["changed"] is True and result["actions"] == ["create HTTPRoute %s/shop" % ns]
    assert read(kube, ns) is None
    assert not traffic(ns, weights={"stable": 100, "canary": 0}).get("failed")
    version = read(kube, ns)["metadata"]["resourceVersion"]
    result = traffic(ns, check=True, weights={"stable": 95, "canary": 5},
                     header={"name": "x-canary", "value": "true", "backend": "canary"})
    assert result["changed"] is True and result["weights"] == {"stable": 95, "canary": 5}
    assert result["diff"]["after"]["HTTPRoute/shop"]["rules"] == [
        "/ [x-canary=true] -> canary 100%", "/ -> stable 95%, canary 5%"]
    assert read(kube, ns)["metadata"]["resourceVersion"] == version


def test_bad_input_names_field_and_value_and_writes_nothing(kube, ns):
    result = traffic(ns, weights={"stable": 100, "canary": 10},
                     header={"name": "x canary", "value": "1", "backend": "canary"})
    assert result.get("failed")
    assert "Traceback" not in result["msg"]
    assert {"field": "weights", "message": "percents sum to 110, want 100 (weights are relative "
            "in the Gateway API; this module takes percents)"} in result["errors"]
    assert {"field": "header.name", "message": "'x canary' is not a valid HTTP header name"} \
        in result["errors"]
    result = traffic(ns, weights={"stable": 100}, parent_refs=[{"name": "nowhere",
                                                                "namespace": GATEWAY_NS}])
    assert result["errors"] == [{"field": "parent_refs[0]",
                                 "message": "Gateway %s/nowhere does not exist" % GATEWAY_NS}]
    assert read(kube, ns) is None


# --- Services in another namespace: a ReferenceGrant there must allow the route --------
REFERENCEGRANT = gp.REFERENCEGRANT


@pytest.fixture
def shared(kube, ns):
    """A second namespace holding the Service `canary` the route in `ns` refers to."""
    name = ns[:56] + "-svc"
    kube.create(NAMESPACE, None, {"metadata": {"name": name,
                                               "labels": {"progressive.delivery/test": "true"}}})
    make_services(kube, name, "canary")
    yield name
    kube.delete(NAMESPACE, None, name)


def reference_grant(kube, shared, route_ns, service="canary"):
    to = {"group": "", "kind": "Service"}
    if service:
        to["name"] = service
    kube.create(REFERENCEGRANT, shared, {
        "apiVersion": REFERENCEGRANT.api_version, "kind": "ReferenceGrant",
        "metadata": {"name": "from-" + route_ns[:50]},
        "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute",
                           "namespace": route_ns}], "to": [to]}})


def contour_conditions(route):
    """Contour's conditions on our Gateway: type -> (status, reason, observedGeneration)."""
    parents = [p for p in route["status"]["parents"] if p["controllerName"] == CONTROLLER]
    assert len(parents) == 1, route["status"]
    return dict((c["type"], (c["status"], c["reason"], c["observedGeneration"]))
                for c in parents[0]["conditions"])


def test_reference_grant_crd_is_served(kube, gateway):
    """The testbed serves ReferenceGrant at the standard channel's version (v1beta1)."""
    crd = kube.request("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
                              "referencegrants.gateway.networking.k8s.io")
    served = [v["name"] for v in crd["spec"]["versions"] if v["served"]]
    assert "v1beta1" in served, served


def test_cross_namespace_backend_allowed_by_reference_grant(kube, ns, shared):
    reference_grant(kube, shared, ns)
    canary = shared + "/canary"
    result = traffic(ns, weights={"stable": 90, canary: 10})
    assert not result.get("failed"), result
    route = read(kube, ns)
    assert managed_rule(route)["backendRefs"] == [
        {"group": "", "kind": "Service", "name": "stable", "port": 80, "weight": 90},
        {"group": "", "kind": "Service", "name": "canary", "namespace": shared, "port": 80,
         "weight": 10}]
    # Contour resolves the reference because of the grant.
    assert accepted_for_generation(route), route["status"]
    assert result["weights"] == {"stable": 90, canary: 10}
    assert result["route"]["rules"] == ["/ -> stable 90%%, %s 10%%" % canary]
    again = traffic(ns, weights={"stable": 90, canary: 10})
    assert again["changed"] is False

    # A grant for every Service of the namespace serves as well; the mirror is a reference too.
    kube.delete(REFERENCEGRANT, shared, "from-" + ns[:50])
    reference_grant(kube, shared, ns, service=None)
    result = traffic(ns, mirror={"backend": canary, "percent": 10})
    assert not result.get("failed"), result
    assert accepted_for_generation(read(kube, ns))


def test_cross_namespace_backend_without_a_grant_refused_before_writing(kube, ns, shared):
    assert not traffic(ns, weights={"stable": 100}).get("failed")
    version = read(kube, ns)["metadata"]["resourceVersion"]
    reference_grant(kube, shared, "some-other-namespace")  # a grant, but not for this route
    canary = shared + "/canary"
    result = traffic(ns, weights={"stable": 90, canary: 10})
    assert result.get("failed"), result
    assert result["errors"] == [{"field": "weights." + canary, "message": (
        "no ReferenceGrant in namespace %s allows HTTPRoutes from namespace %s to refer to "
        "Service canary: create one in %s with spec.from [{group: gateway.networking.k8s.io, "
        "kind: HTTPRoute, namespace: %s}] and spec.to [{group: \"\", kind: Service, name: "
        "canary}] (or without name for every Service there)" % (shared, ns, shared, ns))}]
    assert read(kube, ns)["metadata"]["resourceVersion"] == version


def test_without_a_grant_contour_refuses_the_reference(kube, ns, shared):
    """What the validation prevents: the same reference written without it (validate_refs
    off) is refused by Contour with RefNotPermitted, and the module puts the rule back."""
    assert not traffic(ns, weights={"stable": 100}).get("failed")
    before = read(kube, ns)
    result = traffic(ns, weights={"stable": 90, shared + "/canary": 10}, port=80,
                     validate_refs=False)
    assert result.get("failed"), result
    assert ("ResolvedRefs=False (RefNotPermitted): Spec.Rules.BackendRef.Namespace must match "
            "the route's namespace or be covered by a ReferenceGrant") in result["msg"], result["msg"]
    assert "put back the previous rules" in result["msg"]
    after = read(kube, ns)
    assert gp.canonical(after["spec"]["rules"]) == gp.canonical(before["spec"]["rules"])

    # The same by a raw write, and the grant then resolving it for the same generation.
    rules = [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}], "backendRefs": [
        {"name": "stable", "port": 80, "weight": 90},
        {"name": "canary", "namespace": shared, "port": 80, "weight": 10}]}]
    # no resourceVersion: Contour writes the route's status meanwhile, and that is no reason
    # for this raw write to fail
    generation = kube.patch(gp.HTTPROUTE, ns, "shop", {"spec": {"rules": rules}})[
        "metadata"]["generation"]
    refused = wait_for(kube, gp.HTTPROUTE, ns, "shop", lambda route: Check(
        contour_conditions(route).get("ResolvedRefs", (None, None, 0))[2] == generation,
        "waiting for Contour's verdict"), 30)
    assert contour_conditions(refused)["ResolvedRefs"] == ("False", "RefNotPermitted", generation)
    reference_grant(kube, shared, ns)
    resolved = wait_for(kube, gp.HTTPROUTE, ns, "shop", lambda route: Check(
        contour_conditions(route)["ResolvedRefs"][0] == "True", "waiting for the grant"), 30)
    assert contour_conditions(resolved)["ResolvedRefs"] == ("True", "ResolvedRefs", generation)


# --- least privilege: deploy/rbac/gateway.yaml is enough for a whole canary release -------
RBAC = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))), "deploy", "rbac")
ROLE = Resource("rbac.authorization.k8s.io/v1", "Role", "roles", True)
ROLEBINDING = Resource("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", True)
SERVICEACCOUNT = Resource("v1", "ServiceAccount", "serviceaccounts", True)


def workload(name, version):
    labels = {"app": "shop", "version": version}
    return [{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
             "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                      "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                          {"name": "shop", "image": "ikubernetes/myapp:" + version}]}}}},
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
             "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 80}]}}]


@pytest.fixture
def releaser(kube, ns, kubeconfig, tmp_path):
    """A kubeconfig for a ServiceAccount holding only the shipped Roles: the route's one in
    the test namespace, the Gateway reader in the Gateway's (removed afterwards)."""
    with open(os.path.join(RBAC, "gateway.yaml")) as handle:
        route_role = yaml.safe_load(handle)
    with open(os.path.join(RBAC, "gateway-parent.yaml")) as handle:
        parent_role = yaml.safe_load(handle)
    binding = "releaser-" + ns
    kube.create(ROLE, ns, route_role)
    parent_role["metadata"]["name"] = binding
    kube.create(ROLE, GATEWAY_NS, parent_role)
    kube.create(SERVICEACCOUNT, ns, {"metadata": {"name": "releaser"}})
    subject = [{"kind": "ServiceAccount", "name": "releaser", "namespace": ns}]
    for where, role in ((ns, route_role), (GATEWAY_NS, parent_role)):
        kube.create(ROLEBINDING, where, {
            "metadata": {"name": binding},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                        "name": role["metadata"]["name"]}, "subjects": subject})
    token = kube.request("POST", "/api/v1/namespaces/%s/serviceaccounts/releaser/token" % ns,
                         body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                               "spec": {"expirationSeconds": 3600}})["status"]["token"]
    yield token_kubeconfig(kubeconfig, token, tmp_path / "releaser.kubeconfig")
    kube.delete(ROLEBINDING, GATEWAY_NS, binding)
    kube.delete(ROLE, GATEWAY_NS, binding)


def test_canary_role_over_the_gateway_as_the_least_privileged_identity(
        kube, ns, releaser, tmp_path, monkeypatch):
    for obj in workload("shop-v1", "v1"):
        kube.create(DEPLOYMENT if obj["kind"] == "Deployment" else SERVICE, ns, obj)
    monkeypatch.setenv("KUBECONFIG", releaser)
    monkeypatch.setenv("K8S_AUTH_KUBECONFIG", releaser)
    result = run_playbook(write_playbook(tmp_path, role_play("progressive.delivery.canary", {
        "canary_app": "shop", "canary_namespace": ns, "canary_version": "v2",
        "canary_backend": "gateway",
        "canary_gateway": {"route": "shop", "stable_service": "shop-v1",
                           "canary_service": "shop-v2", "hostnames": [ns + ".example.com"],
                           "parent_refs": [{"name": GATEWAY, "namespace": GATEWAY_NS}],
                           "header": {"name": "x-canary", "value": "true"}, "mirror": 50},
        "canary_manifests": workload("shop-v2", "v2"),
        "canary_steps": [{"pause": "1s"}, {"weight": 20}, {"weight": 100}],
        "canary_gate_interval": "1s"})))
    assert not result.failed, result.summary()
    assert result.custom_stats["canary_outcome"] == "promoted"
    route = read(kube, ns)
    assert accepted_for_generation(route)
    assert [(r["name"], r["weight"]) for r in route["spec"]["rules"][0]["backendRefs"]] == [
        ("shop-v1", 0), ("shop-v2", 100)]
    assert len(route["spec"]["rules"]) == 1


def test_cross_namespace_call_as_the_least_privileged_identity(kube, ns, shared, releaser):
    """gateway.yaml in the route's namespace, gateway-parent.yaml in the Gateway's and
    gateway-backend.yaml in the Service's are enough to validate and write a
    cross-namespace backend; without the last one the module cannot read the grants."""
    reference_grant(kube, shared, ns)
    canary = shared + "/canary"
    denied = traffic(ns, weights={"stable": 90, canary: 10}, kubeconfig=releaser)
    assert denied.get("failed") and "forbidden" in denied["msg"].lower(), denied
    assert read(kube, ns) is None

    with open(os.path.join(RBAC, "gateway-backend.yaml")) as handle:
        backend_role = yaml.safe_load(handle)
    kube.create(ROLE, shared, backend_role)
    kube.create(ROLEBINDING, shared, {
        "metadata": {"name": "releaser"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                    "name": backend_role["metadata"]["name"]},
        "subjects": [{"kind": "ServiceAccount", "name": "releaser", "namespace": ns}]})
    result = traffic(ns, weights={"stable": 90, canary: 10}, kubeconfig=releaser)
    assert not result.get("failed"), result
    assert accepted_for_generation(read(kube, ns))


# --- GRPCRoute: the same code, rules found by gRPC method ------------------------------
def test_grpc_route_weights_each_accepted_for_its_generation(kube, ns, require_crd):
    require_crd("grpcroutes.gateway.networking.k8s.io")
    # Contour wants both service and method in a method match (InvalidMethodMatch otherwise).
    cart = {"service": "shop.Cart", "method": "Get"}
    generations = []
    for canary in (0, 10, 100):
        result = traffic(ns, kind="GRPCRoute", method=cart,
                         weights={"stable": 100 - canary, "canary": canary})
        assert not result.get("failed"), result
        route = kube.get(gp.GRPCROUTE, ns, "shop")
        assert accepted_for_generation(route), route["status"]
        rule, = route["spec"]["rules"]
        assert rule["matches"] == [{"method": {"type": "Exact", "service": "shop.Cart",
                                               "method": "Get"}}]
        assert dict((r["name"], r["weight"]) for r in rule["backendRefs"]) == {
            "stable": 100 - canary, "canary": canary}
        generations.append(route["metadata"]["generation"])
    assert generations == [1, 2, 3]
    assert result["route"]["rules"] == ["shop.Cart/Get -> stable 0%, canary 100%"]
    assert traffic(ns, kind="GRPCRoute", method=cart,
                   weights={"stable": 0, "canary": 100})["changed"] is False

    # The header rule in front, for the same method.
    result = traffic(ns, kind="GRPCRoute", method=cart,
                     header={"name": "x-canary", "value": "true", "backend": "stable"})
    assert not result.get("failed"), result
    route = kube.get(gp.GRPCROUTE, ns, "shop")
    assert accepted_for_generation(route), route["status"]
    assert result["route"]["rules"] == ["shop.Cart/Get [x-canary=true] -> stable 100%",
                                        "shop.Cart/Get -> stable 0%, canary 100%"]
    assert read(kube, ns) is None  # no HTTPRoute of that name was made

    # A second rule for a match Contour refuses: its verdict, and the rules put back.
    before = kube.get(gp.GRPCROUTE, ns, "shop")
    result = traffic(ns, kind="GRPCRoute", method={"service": "shop.Cart"},
                     weights={"stable": 100})
    assert result.get("failed"), result
    assert ("Accepted=False (InvalidMethodMatch): GRPCRoute.Spec.Rules.Matches.Method: Both "
            "Service and Method need be configured") in result["msg"], result["msg"]
    assert "put back the previous rules of GRPCRoute %s/shop" % ns in result["msg"]
    after = kube.get(gp.GRPCROUTE, ns, "shop")
    assert gp.canonical(after["spec"]["rules"], "GRPCRoute") == \
        gp.canonical(before["spec"]["rules"], "GRPCRoute")


def test_grpc_route_missing_service_refused_by_contour_and_restored(kube, ns, require_crd):
    require_crd("grpcroutes.gateway.networking.k8s.io")
    assert not traffic(ns, kind="GRPCRoute", weights={"stable": 100}).get("failed")
    before = kube.get(gp.GRPCROUTE, ns, "shop")
    assert "matches" not in before["spec"]["rules"][0]  # the rule for every call
    result = traffic(ns, kind="GRPCRoute", weights={"stable": 90, "missing": 10}, port=80,
                     validate_refs=False)
    assert result.get("failed"), result
    assert "ResolvedRefs=False (BackendNotFound)" in result["msg"], result["msg"]
    assert "put back the previous rules of GRPCRoute %s/shop (* -> stable 100%%)" % ns \
        in result["msg"]
    after = kube.get(gp.GRPCROUTE, ns, "shop")
    assert gp.canonical(after["spec"]["rules"], "GRPCRoute") == \
        gp.canonical(before["spec"]["rules"], "GRPCRoute")
