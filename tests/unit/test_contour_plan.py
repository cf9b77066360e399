"""The Contour delegation planner: what is written for each request, and what a
restore puts back."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.contour import (
    plan as cp,
    proxies as px,
    validation as cv,
)

from contour_objects import MKT, ROOT_NS, child, observed, params, root, spec, svc


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
    assert the_plan.delegation_after == px.ChildRef("blog", MKT)


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
    assert the_plan.delegation_before == px.ChildRef("blog", MKT)
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
                                                             tls_secret={"type": cv.TLS_SECRET_TYPE}
                                                             )).writes
    assert write.body["spec"] == {"virtualhost": {"fqdn": "yangcs.net",
                                                  "tls": {"secretName": "new-cert"}}}


def test_canary_weights_patch_the_childs_route_only():
    current = root(includes=[{"name": "blog", "namespace": MKT,
                              "conditions": [{"prefix": "/blog"}]}])
    blog = child("blog", services=[{"name": "green", "port": 80, "protocol": "h2c"},
                                   {"name": "shadow", "port": 80, "mirror": True}])
    request = cv.validate(params(child=None, services=[dict(name="green", weight=5),
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
    step = cv.validate(params(child=None, services=[dict(name="green", weight=100),
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
    with pytest.raises(px.PlanError, match="routes /blog to services"):
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
