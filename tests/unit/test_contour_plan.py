"""The Contour delegation planner: validation, what is written for each request, and how
Contour's status is read."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.contour import plan as cp
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    ValidationError,
)

ROOT_NS = "root-ingressroute"
MKT = "marketing"


def params(**overrides):
    base = dict(name="root-blog", namespace=ROOT_NS, path="/blog",
                child=dict(name="blog2", namespace=MKT))
    base.update(overrides)
    return base


def spec(**overrides):
    return cp.validate(params(**overrides))


def httpproxy(name, namespace, spec_body, rv="10", generation=1, status=None):
    obj = {"apiVersion": "projectcontour.io/v1", "kind": "HTTPProxy",
           "metadata": {"name": name, "namespace": namespace, "resourceVersion": rv,
                        "generation": generation},
           "spec": spec_body}
    if status is not None:
        obj["status"] = status
    return obj


def root(includes=None, routes=None, tls="yangcs-net"):
    body = {"virtualhost": {"fqdn": "yangcs.net"}}
    if tls:
        body["virtualhost"]["tls"] = {"secretName": tls}
    body["includes"] = includes if includes is not None else [
        {"name": "blog", "namespace": MKT, "conditions": [{"prefix": "/blog"}]}]
    if routes:
        body["routes"] = routes
    return httpproxy("root-blog", ROOT_NS, body, rv="100", generation=3)


def child(name="blog2", services=None, routes=None):
    if routes is None:
        routes = [{"services": services or [{"name": "blue", "port": 80}]}]
    return httpproxy(name, MKT, {"routes": routes}, rv="200")


def svc(name, ports=(80,)):
    return {"metadata": {"name": name, "namespace": MKT},
            "spec": {"ports": [{"port": p} for p in ports]}}


def observed(root_obj=None, child_obj=None, services=None, root_ns=True, child_ns=True,
             tls_secret=cp.UNCHECKED, tls_delegations=()):
    return cp.Observed(root=root_obj, root_namespace_exists=root_ns, child=child_obj,
                       child_namespace_exists=child_ns, services=services or {},
                       tls_secret=tls_secret, tls_delegations=list(tls_delegations))


def fields(exc_info):
    return [e.path for e in exc_info.value.errors]


# --- validation of the input ---------------------------------------------------
def test_validation_reports_every_problem_at_once():
    with pytest.raises(ValidationError) as err:
        cp.validate(params(name="Root_Blog", namespace="bad ns", path="blog",
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
                       dict(name="Blue", port=70000, weight=cp.MAX_TOTAL_WEIGHT)])
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
    assert s.child == cp.ChildRef("blog", ROOT_NS)
    assert s.route_path == "/blog"
    assert s.api == "httpproxy" and s.state == "present"


@pytest.mark.parametrize("good", ["yangcs.net", "*.example.com", "a-b.c"])
def test_fqdn_accepts_hosts_and_wildcards(good):
    assert spec(fqdn=good).fqdn == good


@pytest.mark.parametrize("secret", ["yangcs-net", "certs/yangcs-net"])
def test_tls_secret_name_or_namespace_slash_name(secret):
    assert spec(tls_secret=secret).tls_secret == secret


# --- reading delegations and routes ----------------------------------------------
def test_delegations_of_an_httpproxy_root_skip_header_includes():
    obj = root(includes=[
        {"name": "blog", "namespace": MKT, "conditions": [{"prefix": "/blog"}]},
        {"name": "api", "conditions": [{"prefix": "/api"}, {"header": {"name": "x"}}]},
        {"name": "home"},
    ])
    assert cp.delegations("httpproxy", obj) == [
        (0, "/blog", cp.ChildRef("blog", MKT)), (2, "/", cp.ChildRef("home", ROOT_NS))]


def test_duplicate_delegation_of_the_path_is_refused():
    obj = root(includes=[{"name": "blog", "namespace": MKT, "conditions": [{"prefix": "/blog"}]},
                         {"name": "blog2", "namespace": MKT,
                          "conditions": [{"prefix": "/blog"}]}])
    with pytest.raises(cp.PlanError, match="delegates /blog 2 times"):
        cp.find_delegation(spec(), obj)


@pytest.mark.parametrize("include, route_prefix, expected", [
    ("/blog", None, "/blog"),
    ("/blog", "/", "/blog/"),
    ("/blog/", "/admin", "/blog/admin"),
    ("/", None, "/"),
    ("/", "/x", "/x"),
])
def test_route_paths_join_like_contour(include, route_prefix, expected):
    route = {"services": [{"name": "s", "port": 80}]}
    if route_prefix:
        route["conditions"] = [{"prefix": route_prefix}]
    routes = cp.child_routes("httpproxy", child(routes=[route]), include)
    assert [path for _i, path, _route in routes] == [expected]


def test_find_route_prefers_exact_then_ignores_trailing_slash():
    routes = [{"conditions": [{"prefix": "/"}], "services": [{"name": "a", "port": 80}]},
              {"conditions": [{"prefix": "/admin"}], "services": [{"name": "b", "port": 80}]},
              {"conditions": [{"prefix": "/admin"}, {"header": {"name": "x"}}],
               "services": [{"name": "c", "port": 80}]}]
    obj = child(routes=routes)
    assert cp.find_route(spec(), obj)[0] == 0  # /blog/ is the route for /blog
    assert cp.find_route(spec(route_path="/blog/admin"), obj)[0] == 1
    assert cp.find_route(spec(route_path="/blog/other"), obj) == (None, None)


def test_two_routes_for_one_path_is_a_plan_error():
    routes = [{"services": [{"name": "a", "port": 80}]},
              {"conditions": [{"prefix": "/"}], "services": [{"name": "b", "port": 80}]},
              {"services": [{"name": "c", "port": 80}]}]
    with pytest.raises(cp.PlanError, match="2 routes for /blog"):
        cp.find_route(spec(), child(routes=routes))


@pytest.mark.parametrize("weights, shares", [
    ([5, 95], [5.0, 95.0]),
    ([100, 0], [100.0, 0.0]),
    ([20, 30, 20], [28.57, 42.86, 28.57]),
    ([None, None], [50.0, 50.0]),
    ([3, None], [100.0, 0.0]),
])
def test_traffic_shares_follow_contours_rules(weights, shares):
    services = [dict(name="s%d" % i, weight=w) for i, w in enumerate(weights)]
    assert [cp.traffic_shares(services)["s%d" % i] for i in range(len(weights))] == shares


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
    request = cp.validate(params(child=None, services=[dict(name="blue", weight=1)]))
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
    assert cp.tls_delegated([grant], "yangcs-net", ROOT_NS)
    assert cp.tls_delegated([star], "yangcs-net", "anything")
    assert not cp.tls_delegated([grant], "other", ROOT_NS)
    the_plan = cp.plan(spec(fqdn="yangcs.net", tls_secret="certs/yangcs-net"),
                       observed(None, child(), tls_secret={"type": "kubernetes.io/tls"},
                                tls_delegations=[grant]))
    assert the_plan.writes[0].verb == "create"


# --- planning ---------------------------------------------------------------------
def test_create_root_with_tls_and_an_include_in_another_namespace():
    request = spec(fqdn="yangcs.net", tls_secret="yangcs-net", child=dict(name="blog",
                                                                          namespace=MKT))
    the_plan = cp.plan(request, observed(None, child("blog")))
    (write,) = the_plan.writes
    assert write.verb == "create" and write.role == "root"
    assert write.body["spec"] == {
        "virtualhost": {"fqdn": "yangcs.net", "tls": {"secretName": "yangcs-net"}},
        "includes": [{"name": "blog", "namespace": MKT, "conditions": [{"prefix": "/blog"}]}]}
    assert write.body["apiVersion"] == "projectcontour.io/v1"
    assert the_plan.delegation_before is None
    assert the_plan.delegation_after == cp.ChildRef("blog", MKT)


def test_switch_is_one_merge_patch_of_the_includes_with_the_read_resource_version():
    other = {"name": "shop", "namespace": "sales", "conditions": [{"prefix": "/shop"}],
             "extra": "kept"}
    current = root(includes=[other, {"name": "blog", "namespace": MKT,
                                     "conditions": [{"prefix": "/blog"}], "keep": 1}],
                   routes=[{"services": [{"name": "home", "port": 80}]}])
    the_plan = cp.plan(spec(), observed(current, child()))
    (write,) = the_plan.writes
    assert write.verb == "patch" and write.role == "root"
    assert write.body == {
        "metadata": {"resourceVersion": "100"},
        "spec": {"includes": [other, {"name": "blog2", "namespace": MKT,
                                      "conditions": [{"prefix": "/blog"}], "keep": 1}]}}
    assert "/blog -> marketing/blog2 (was marketing/blog)" in write.description
    assert the_plan.delegation_before == cp.ChildRef("blog", MKT)
    assert the_plan.root_after["spec"]["routes"] == current["spec"]["routes"]


def test_switch_back_is_the_same_call_with_the_other_child():
    switched = root(includes=[{"name": "blog2", "namespace": MKT,
                               "conditions": [{"prefix": "/blog"}]}])
    the_plan = cp.plan(spec(child=dict(name="blog", namespace=MKT)),
                       observed(switched, child("blog")))
    assert the_plan.writes[0].body["spec"]["includes"][0]["name"] == "blog"


def test_nothing_to_do_when_the_delegation_is_already_in_force():
    current = root(includes=[{"name": "blog2", "namespace": MKT,
                              "conditions": [{"prefix": "/blog"}]}])
    assert cp.plan(spec(tls_secret="yangcs-net"), observed(current, child())).writes == []


def test_adopting_a_root_appends_the_include_and_keeps_the_rest():
    current = root(includes=[{"name": "shop", "namespace": "sales",
                              "conditions": [{"prefix": "/shop"}]}])
    (write,) = cp.plan(spec(), observed(current, child())).writes
    assert write.body["spec"]["includes"] == [
        {"name": "shop", "namespace": "sales", "conditions": [{"prefix": "/shop"}]},
        {"name": "blog2", "namespace": MKT, "conditions": [{"prefix": "/blog"}]}]
    assert "add /blog -> marketing/blog2" in write.description


def test_changing_the_tls_secret_patches_virtualhost_in_the_same_write():
    current = root(includes=[{"name": "blog2", "namespace": MKT,
                              "conditions": [{"prefix": "/blog"}]}])
    (write,) = cp.plan(spec(tls_secret="new-cert"), observed(current, child(),
                                                             tls_secret={"type": cp.TLS_SECRET_TYPE}
                                                             )).writes
    assert write.body["spec"] == {"virtualhost": {"fqdn": "yangcs.net",
                                                  "tls": {"secretName": "new-cert"}}}


def test_canary_weights_patch_the_childs_route_only():
    current = root(includes=[{"name": "blog", "namespace": MKT,
                              "conditions": [{"prefix": "/blog"}]}])
    blog = child("blog", services=[{"name": "green", "port": 80, "protocol": "h2c"},
                                   {"name": "shadow", "port": 80, "mirror": True}])
    request = cp.validate(params(child=None, services=[dict(name="green", weight=5),
                                                       dict(name="blue", weight=95)]))
    the_plan = cp.plan(request, observed(current, blog, services={"green": svc("green"),
                                                                  "blue": svc("blue")}))
    (write,) = the_plan.writes
    assert write.role == "child" and write.name == "blog" and write.namespace == MKT
    assert write.body == {"metadata": {"resourceVersion": "200"}, "spec": {"routes": [
        {"services": [{"name": "green", "port": 80, "protocol": "h2c", "weight": 5},
                      {"name": "blue", "port": 80, "weight": 95},
                      {"name": "shadow", "port": 80, "mirror": True}]}]}}
    assert write.description == "HTTPProxy marketing/blog route /blog weights green=- -> " \
                                "green=5/blue=95"
    assert the_plan.route_index == 0


def test_canary_second_step_and_idempotence():
    blog = child("blog", services=[{"name": "green", "port": 80, "weight": 5},
                                   {"name": "blue", "port": 80, "weight": 95}])
    current = root()
    step = cp.validate(params(child=None, services=[dict(name="green", weight=100),
                                                    dict(name="blue", weight=0)]))
    services = {"green": svc("green"), "blue": svc("blue")}
    (write,) = cp.plan(step, observed(current, blog, services=services)).writes
    new_services = write.body["spec"]["routes"][0]["services"]
    assert [(s["name"], s["weight"]) for s in new_services] == [("green", 100), ("blue", 0)]
    done = child("blog", services=new_services)
    assert cp.plan(step, observed(current, done, services=services)).writes == []


def test_switch_and_weights_in_one_call_write_child_then_root():
    request = spec(services=[dict(name="blue", weight=1)])
    the_plan = cp.plan(request, observed(root(), child(), services={"blue": svc("blue")}))
    assert [w.role for w in the_plan.writes] == ["child", "root"]


def test_absent_removes_the_include_or_deletes_an_empty_root():
    shop = {"name": "shop", "namespace": "sales", "conditions": [{"prefix": "/shop"}]}
    blog = {"name": "blog2", "namespace": MKT, "conditions": [{"prefix": "/blog"}]}
    (write,) = cp.plan(spec(state="absent"), observed(root(includes=[shop, blog]), None)).writes
    assert write.verb == "patch" and write.body["spec"] == {"includes": [shop]}
    (write,) = cp.plan(spec(state="absent"), observed(root(includes=[blog]), None)).writes
    assert write.verb == "delete"
    # a child other than the one delegated, or no root: nothing to do
    assert cp.plan(spec(state="absent", child=dict(name="blog", namespace=MKT)),
                   observed(root(includes=[blog]), None)).writes == []
    assert cp.plan(spec(state="absent"), observed(None, None)).writes == []


# --- legacy IngressRoute ------------------------------------------------------------
def ingressroute(name, namespace, body, rv="5"):
    return {"apiVersion": "contour.heptio.com/v1beta1", "kind": "IngressRoute",
            "metadata": {"name": name, "namespace": namespace, "resourceVersion": rv,
                         "generation": 1}, "spec": body}


def legacy_root(delegate="blog"):
    return ingressroute("root-blog", ROOT_NS, {
        "virtualhost": {"fqdn": "yangcs.net", "tls": {"secretName": "yangcs-net"}},
        "routes": [{"match": "/", "services": [{"name": "home", "port": 80}]},
                   {"match": "/blog", "delegate": {"name": delegate, "namespace": MKT}}]})


def test_legacy_switch_rewrites_the_routes_delegate():
    request = spec(api="ingressroute")
    blog2 = ingressroute("blog2", MKT, {"routes": [{"match": "/blog",
                                                    "services": [{"name": "blue", "port": 80}]}]})
    (write,) = cp.plan(request, observed(legacy_root(), blog2)).writes
    assert write.body == {"metadata": {"resourceVersion": "5"}, "spec": {"routes": [
        {"match": "/", "services": [{"name": "home", "port": 80}]},
        {"match": "/blog", "delegate": {"name": "blog2", "namespace": MKT}}]}}
    assert write.description.startswith("IngressRoute root-ingressroute/root-blog:")


def test_legacy_create_and_weights():
    request = spec(api="ingressroute", fqdn="yangcs.net", tls_secret="yangcs-net",
                   child=dict(name="blog", namespace=MKT),
                   services=[dict(name="green", port=80, weight=5),
                             dict(name="blue", port=80, weight=95)])
    blog = ingressroute("blog", MKT, {"routes": [{"match": "/blog",
                                                  "services": [{"name": "green", "port": 80}]}]})
    child_write, root_write = cp.plan(request, observed(None, blog, services={
        "green": svc("green"), "blue": svc("blue")})).writes
    assert root_write.body["spec"]["routes"] == [
        {"match": "/blog", "delegate": {"name": "blog", "namespace": MKT}}]
    assert root_write.body["apiVersion"] == "contour.heptio.com/v1beta1"
    assert child_write.body["spec"]["routes"][0]["services"] == [
        {"name": "green", "port": 80, "weight": 5}, {"name": "blue", "port": 80, "weight": 95}]


def test_legacy_route_with_services_at_the_path_is_not_replaced_by_a_delegate():
    current = ingressroute("root-blog", ROOT_NS, {
        "virtualhost": {"fqdn": "yangcs.net"},
        "routes": [{"match": "/blog", "services": [{"name": "x", "port": 80}]}]})
    with pytest.raises(cp.PlanError, match="routes /blog to services"):
        cp.plan(spec(api="ingressroute"), observed(current, None))


# --- restore ------------------------------------------------------------------------
def test_restore_patch_puts_the_previous_includes_back_on_the_live_object():
    before = root()
    live = root(includes=[{"name": "nope", "namespace": MKT,
                           "conditions": [{"prefix": "/blog"}]}])
    live["metadata"]["resourceVersion"] = "150"
    patch = cp.restore_patch(spec(), "root", before, live)
    assert patch["metadata"] == {"resourceVersion": "150"}
    assert patch["spec"]["includes"] == before["spec"]["includes"]
    assert cp.restore_patch(spec(), "root", before, before) is None
    assert cp.changed_since(spec(), "root", live, before)
    assert not cp.changed_since(spec(), "root", live, live)


def test_restore_patch_removes_a_field_the_root_did_not_have():
    before = root()
    del before["spec"]["includes"]
    patch = cp.restore_patch(spec(), "root", before, root())
    assert patch["spec"]["includes"] is None  # merge patch null deletes the field


# --- Contour's status ---------------------------------------------------------------
def status(valid, generation, errors=(), description=None):
    cond = {"type": "Valid", "status": "True" if valid else "False",
            "observedGeneration": generation,
            "reason": "Valid" if valid else "ErrorPresent",
            "message": "Valid HTTPProxy" if valid else
            "At least one error present, see Errors for details",
            "errors": [dict(type=t, reason=r, message=m, status="True") for t, r, m in errors]}
    current = "valid" if valid else ("orphaned" if any(e[0] == "Orphaned" for e in errors)
                                     else "invalid")
    return {"currentStatus": current, "description": description or cond["message"],
            "conditions": [cond]}


def test_valid_for_the_generation_is_done():
    obj = httpproxy("r", "ns", {}, generation=4, status=status(True, 4))
    check = cp.proxy_valid(4)(obj)
    assert check.done and not check.failed


def test_stale_status_is_waited_for():
    obj = httpproxy("r", "ns", {}, generation=4, status=status(True, 3))
    check = cp.proxy_valid(4)(obj)
    assert not check.done and not check.failed
    assert "has not processed generation 4" in check.message


def test_no_status_yet_is_waited_for():
    check = cp.proxy_valid(1)(httpproxy("r", "ns", {}))
    assert not check.done and not check.failed


def test_orphaned_is_waited_for_invalid_fails_with_contours_words():
    orphan = httpproxy("blog2", MKT, {}, status=status(False, 1, [
        ("Orphaned", "Orphaned", "this HTTPProxy is not part of a delegation chain")]))
    check = cp.proxy_valid(1)(orphan)
    assert not check.done and not check.failed and "orphaned" in check.message
    invalid = httpproxy("root-blog", ROOT_NS, {}, generation=2, status=status(False, 2, [
        ("IncludeError", "IncludeNotFound", "include marketing/nope not found")]))
    check = cp.proxy_valid(2)(invalid)
    assert check.failed
    assert check.message == ("HTTPProxy root-ingressroute/root-blog is invalid: "
                             "IncludeNotFound: include marketing/nope not found")


def test_deleted_while_waiting_fails():
    assert cp.proxy_valid(1)(None).failed


def test_status_report_and_views():
    obj = root()
    obj["status"] = status(False, 3, [("TLSError", "SecretNotValid", "Secret not found")])
    report = cp.status_report(obj)
    assert report["current"] == "invalid" and not report["valid"]
    assert report["observed_generation"] == 3 and report["generation"] == 3
    assert report["errors"] == [dict(type="TLSError", reason="SecretNotValid",
                                     message="Secret not found")]
    assert cp.status_report(httpproxy("x", "y", {})) is None
    view = cp.proxy_view(spec(), obj, "root")
    assert view["delegations"] == [dict(path="/blog", name="blog", namespace=MKT)]
    assert view["fqdn"] == "yangcs.net" and view["tls_secret"] == "yangcs-net"
    child_view = cp.diff_view(spec(), child(services=[{"name": "blue", "port": 80,
                                                       "weight": 3}]), "child")
    assert child_view == dict(name="blog2", namespace=MKT, routes=[
        dict(path="/blog", services=[dict(name="blue", port=80, weight=3)])])
