"""contour_delegate's input checks: the request on its own, then against what the
cluster holds (bad input is refused with every field named, nothing written)."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.contour import (
    plan as cp,
    proxies as px,
    validation as cv,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    ValidationError,
)

from contour_objects import (
    MKT,
    ROOT_NS,
    child,
    fields,
    httpproxy,
    observed,
    params,
    root,
    spec,
    svc,
)


# --- validation of the input ---------------------------------------------------
def test_validation_reports_every_problem_at_once():
    with pytest.raises(ValidationError) as err:
        cv.validate(params(name="Root_Blog", namespace="bad ns", path="blog",
                           fqdn="Yangcs.NET", tls_secret="a/b/c", route_path="x",
                           child=dict(name="Blog2", namespace="Mkt")))
    assert fields(err) == ["name", "namespace", "fqdn", "tls_secret", "path", "route_path",
                           "child.name", "child.namespace"]
    assert "'blog' must be a path prefix starting with '/'" in str(err.value)


def test_negative_weight_names_the_field_and_the_value():
    with pytest.raises(ValidationError) as err:
        spec(services=[dict(name="green", port=80, weight=5),
                       dict(name="blue", port=80, weight=-95)])
    assert fields(err) == ["services[1].weight"]
    assert "must be an integer of 0 or more, got -95" in str(err.value)


@pytest.mark.parametrize("bad", [1.5, "5", True, None])
def test_weight_must_be_an_integer(bad):
    with pytest.raises(ValidationError) as err:
        spec(services=[dict(name="green", port=80, weight=bad)])
    assert fields(err) == ["services[0].weight"]


def test_all_zero_weights_are_refused_because_contour_splits_them_evenly():
    with pytest.raises(ValidationError) as err:
        spec(services=[dict(name="green", weight=0), dict(name="blue", weight=0)])
    assert fields(err) == ["services"]
    assert "split the traffic evenly" in str(err.value)


def test_services_checks_names_ports_duplicates_and_total():
    with pytest.raises(ValidationError) as err:
        spec(services=[dict(name="green", port=0, weight=1), dict(name="green", weight=1),
                       dict(name="Blue", port=70000, weight=cv.MAX_TOTAL_WEIGHT)])
    assert fields(err) == ["services[0].port", "services[1].name", "services[2].name",
                           "services[2].port", "services"]
    assert "more than Envoy accepts" in str(err.value)


def test_empty_services_list_is_an_error():
    with pytest.raises(ValidationError) as err:
        spec(services=[])
    assert fields(err) == ["services"]


def test_services_with_state_absent_is_an_error():
    with pytest.raises(ValidationError) as err:
        spec(state="absent", services=[dict(name="green", weight=1)])
    assert fields(err) == ["services"]


def test_child_cannot_be_the_root_itself():
    with pytest.raises(ValidationError) as err:
        spec(child=dict(name="root-blog"))
    assert fields(err) == ["child"]


def test_child_namespace_defaults_to_the_roots_and_route_path_to_path():
    s = spec(child=dict(name="blog"))
    assert s.child == px.ChildRef("blog", ROOT_NS)
    assert s.route_path == "/blog"
    assert s.api == "httpproxy" and s.state == "present"


@pytest.mark.parametrize("good", ["yangcs.net", "*.example.com", "a-b.c"])
def test_fqdn_accepts_hosts_and_wildcards(good):
    assert spec(fqdn=good).fqdn == good


@pytest.mark.parametrize("secret", ["yangcs-net", "certs/yangcs-net"])
def test_tls_secret_name_or_namespace_slash_name(secret):
    assert spec(tls_secret=secret).tls_secret == secret


# --- checks against the cluster (bad input, nothing written) ------------------------
def test_missing_child_proxy_is_an_error_naming_it():
    with pytest.raises(ValidationError) as err:
        cp.plan(spec(), observed(root(), None))
    assert fields(err) == ["child.name"]
    assert "HTTPProxy marketing/blog2 does not exist" in str(err.value)


def test_missing_child_namespace_is_an_error():
    with pytest.raises(ValidationError) as err:
        cp.plan(spec(), observed(root(), None, child_ns=False))
    assert fields(err) == ["child.namespace"]
    assert "namespace 'marketing' does not exist" in str(err.value)


def test_force_lets_a_missing_child_through_to_contour():
    the_plan = cp.plan(spec(force=True), observed(root(), None, child_ns=False))
    assert [w.role for w in the_plan.writes] == ["root"]


def test_child_that_is_a_root_is_refused():
    other_root = httpproxy("blog2", MKT, {"virtualhost": {"fqdn": "x.net"}, "routes": []})
    with pytest.raises(ValidationError) as err:
        cp.plan(spec(), observed(root(), other_root))
    assert fields(err) == ["child"]
    assert "a root cannot include another root" in str(err.value)


def test_unknown_service_and_port_are_errors():
    request = spec(services=[dict(name="green", port=8080, weight=5),
                             dict(name="purple", port=80, weight=95)])
    with pytest.raises(ValidationError) as err:
        cp.plan(request, observed(root(), child(), services={"green": svc("green"),
                                                             "purple": None}))
    assert fields(err) == ["services[0].port", "services[1].name"]
    assert "Service marketing/green has no port 8080 (its ports: 80)" in str(err.value)
    assert "Service marketing/purple does not exist" in str(err.value)


def test_port_is_required_for_a_new_service_with_several_ports():
    request = spec(services=[dict(name="green", weight=5), dict(name="blue", weight=95)])
    with pytest.raises(ValidationError) as err:
        cp.plan(request, observed(root(), child(), services={"green": svc("green", (80, 81)),
                                                             "blue": svc("blue")}))
    assert fields(err) == ["services[0].port"]
    assert "has ports 80, 81" in str(err.value)


def test_path_matching_no_route_of_the_child_is_an_error():
    request = spec(route_path="/blog/admin", services=[dict(name="blue", weight=1)])
    with pytest.raises(ValidationError) as err:
        cp.plan(request, observed(root(), child(), services={"blue": svc("blue")}))
    assert fields(err) == ["route_path"]
    assert "'/blog/admin' matches no route of HTTPProxy marketing/blog2 (its routes serve: " \
           "/blog)" in str(err.value)


def test_weights_of_a_child_that_does_not_exist_cannot_be_set_even_with_force():
    request = spec(force=True, services=[dict(name="blue", port=80, weight=1)])
    with pytest.raises(ValidationError) as err:
        cp.plan(request, observed(root(), None))
    assert fields(err) == ["child.name"]


def test_creating_a_root_needs_fqdn_and_its_namespace():
    with pytest.raises(ValidationError) as err:
        cp.plan(spec(), observed(None, child(), root_ns=False))
    assert fields(err) == ["namespace", "fqdn"]


def test_existing_root_must_serve_the_fqdn_given():
    with pytest.raises(ValidationError) as err:
        cp.plan(spec(fqdn="other.net"), observed(root(), child()))
    assert fields(err) == ["fqdn"]
    assert "does not rename hosts" in str(err.value)


def test_a_proxy_without_virtualhost_is_not_a_root():
    not_root = httpproxy("root-blog", ROOT_NS, {"includes": []})
    with pytest.raises(ValidationError) as err:
        cp.plan(spec(), observed(not_root, child()))
    assert fields(err) == ["name"]


def test_no_child_and_no_delegation_yet_is_an_error():
    request = cv.validate(params(child=None, services=[dict(name="blue", weight=1)]))
    with pytest.raises(ValidationError) as err:
        cp.plan(request, observed(root(includes=[]), None))
    assert fields(err) == ["child"]


def test_tls_secret_must_exist_have_the_tls_type_and_be_delegated_across_namespaces():
    with pytest.raises(ValidationError) as err:
        cp.plan(spec(fqdn="yangcs.net", tls_secret="missing"),
                observed(None, child(), tls_secret=None))
    assert "Secret root-ingressroute/missing does not exist" in str(err.value)
    with pytest.raises(ValidationError) as err:
        cp.plan(spec(fqdn="yangcs.net", tls_secret="yangcs-net"),
                observed(None, child(), tls_secret={"type": "Opaque"}))
    assert "has type 'Opaque'" in str(err.value)
    with pytest.raises(ValidationError) as err:
        cp.plan(spec(fqdn="yangcs.net", tls_secret="certs/yangcs-net"),
                observed(None, child(), tls_secret={"type": "kubernetes.io/tls"}))
    assert "no TLSCertificateDelegation in certs lets namespace root-ingressroute use it" \
        in str(err.value)


def test_tls_delegation_grants_by_namespace_or_star():
    grant = {"spec": {"delegations": [{"secretName": "yangcs-net",
                                       "targetNamespaces": [ROOT_NS]}]}}
    star = {"spec": {"delegations": [{"secretName": "yangcs-net", "targetNamespaces": ["*"]}]}}
    assert cv.tls_delegated([grant], "yangcs-net", ROOT_NS)
    assert cv.tls_delegated([star], "yangcs-net", "anything")
    assert not cv.tls_delegated([grant], "other", ROOT_NS)
    the_plan = cp.plan(spec(fqdn="yangcs.net", tls_secret="certs/yangcs-net"),
                       observed(None, child(), tls_secret={"type": "kubernetes.io/tls"},
                                tls_delegations=[grant]))
    assert the_plan.writes[0].verb == "create"
