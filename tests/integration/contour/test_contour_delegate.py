"""contour_delegate against the real Contour (`contour serve`) on the testbed: seed 002's
blue/green switch and canary weights, Contour's verdicts, rollback, check mode, legacy
IngressRoute. Every assertion reads the objects back from the API server."""

import pytest

from modules import run_module

from ansible_collections.progressive.delivery.plugins.module_utils.contour.proxies import (
    HTTPPROXY,
    INGRESSROUTE,
    TLS_DELEGATION,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import SERVICE
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import Check
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import wait_for

from contour_objects import SECRET, tls_secret_manifest


def delegate(seed, **params):
    base = dict(name="root-blog", namespace=seed["root_ns"], path="/blog", wait_timeout=30)
    base.update(params)
    return run_module("contour_delegate", **base)


def child(seed, name):
    return dict(name=name, namespace=seed["child_ns"])


def create_root(seed, **extra):
    result = delegate(seed, fqdn=seed["fqdn"], tls_secret="yangcs-net",
                      child=child(seed, "blog"), **extra)
    assert not result.get("failed"), result
    return result


def read(kube, seed, name, resource=HTTPPROXY, root=False):
    ns = seed["root_ns"] if root else seed["child_ns"]
    return kube.get(resource, ns, name)


def includes(obj):
    return [(i["namespace"], i["name"], i["conditions"]) for i in obj["spec"]["includes"]]


def valid_for_generation(obj):
    cond = [c for c in obj["status"]["conditions"] if c["type"] == "Valid"][0]
    return (obj["status"]["currentStatus"] == "valid" and cond["status"] == "True"
            and cond["observedGeneration"] == obj["metadata"]["generation"])


def wait_status(kube, seed, name, current, timeout=15):
    """Contour's status of a child reaches ``current`` (valid/orphaned/invalid)."""
    def predicate(obj):
        seen = ((obj or {}).get("status") or {}).get("currentStatus")
        return Check(seen == current, "currentStatus is %s" % seen)
    return wait_for(kube, HTTPPROXY, seed["child_ns"], name, predicate, timeout)


# --- seed 002, blue/green ----------------------------------------------------------
def test_seed002_blue_green_switch_to_blog2_and_back(kube, seed002):
    seed = seed002()
    created = create_root(seed)
    assert created["changed"]
    assert created["actions"] == ["create HTTPProxy %s/root-blog for %s with /blog -> %s/blog"
                                  % (seed["root_ns"], seed["fqdn"], seed["child_ns"])]
    root = read(kube, seed, "root-blog", root=True)
    assert root["spec"]["virtualhost"] == {"fqdn": seed["fqdn"],
                                           "tls": {"secretName": "yangcs-net"}}
    assert includes(root) == [(seed["child_ns"], "blog", [{"prefix": "/blog"}])]
    assert valid_for_generation(root)
    assert valid_for_generation(read(kube, seed, "blog"))
    assert created["root"]["status"]["valid"] and created["child"]["status"]["valid"]

    switched = delegate(seed, child=child(seed, "blog2"))
    assert switched["changed"], switched
    assert switched["previous_delegation"] == child(seed, "blog")
    assert switched["delegation"] == child(seed, "blog2")
    root = read(kube, seed, "root-blog", root=True)
    assert root["metadata"]["generation"] == 2  # one write
    assert includes(root) == [(seed["child_ns"], "blog2", [{"prefix": "/blog"}])]
    assert valid_for_generation(root)
    assert valid_for_generation(read(kube, seed, "blog2"))
    assert switched["services"] == [dict(name="blue", port=80, weight=None, share=100.0)]
    wait_status(kube, seed, "blog", "orphaned")  # green no longer receives /blog

    back = delegate(seed, child=child(seed, "blog"))
    assert back["changed"] and back["previous_delegation"] == child(seed, "blog2")
    root = read(kube, seed, "root-blog", root=True)
    assert root["metadata"]["generation"] == 3
    assert includes(root) == [(seed["child_ns"], "blog", [{"prefix": "/blog"}])]
    assert valid_for_generation(root) and valid_for_generation(read(kube, seed, "blog"))
    wait_status(kube, seed, "blog2", "orphaned")


def test_second_identical_run_changes_nothing(kube, seed002):
    seed = seed002()
    create_root(seed)
    delegate(seed, child=child(seed, "blog2"))
    before = read(kube, seed, "root-blog", root=True)["metadata"]["resourceVersion"]
    again = delegate(seed, child=child(seed, "blog2"))
    assert not again.get("failed") and not again["changed"] and again["actions"] == []
    assert read(kube, seed, "root-blog", root=True)["metadata"]["resourceVersion"] == before
    # with the creating call's fqdn and TLS secret as well: the root is adopted as it is
    same = delegate(seed, fqdn=seed["fqdn"], tls_secret="yangcs-net", child=child(seed, "blog2"))
    assert not same["changed"], same
    assert read(kube, seed, "root-blog", root=True)["metadata"]["resourceVersion"] == before


def test_check_mode_reports_the_switch_and_writes_nothing(kube, seed002):
    seed = seed002()
    create_root(seed)
    # Contour marks blog2 (included by no root) orphaned in its own time: wait for that
    # status write before taking the versions that check mode must leave alone
    wait_status(kube, seed, "blog2", "orphaned")
    root_rv = read(kube, seed, "root-blog", root=True)["metadata"]["resourceVersion"]
    child_rv = read(kube, seed, "blog2")["metadata"]["resourceVersion"]
    result = run_module("contour_delegate", check=True, diff=True, name="root-blog",
                        namespace=seed["root_ns"], path="/blog", child=child(seed, "blog2"),
                        services=[dict(name="blue", weight=1), dict(name="green", weight=0)])
    assert not result.get("failed"), result
    assert result["changed"] and len(result["actions"]) == 2
    assert result["delegation"] == child(seed, "blog2")
    assert [s["name"] for s in result["services"]] == ["blue", "green"]
    assert result["diff"]["after"]["root"]["delegations"][0]["name"] == "blog2"
    assert result["diff"]["before"]["root"]["delegations"][0]["name"] == "blog"
    assert read(kube, seed, "root-blog", root=True)["metadata"]["resourceVersion"] == root_rv
    assert read(kube, seed, "blog2")["metadata"]["resourceVersion"] == child_rv


# --- seed 002, canary ------------------------------------------------------------------
def test_seed002_canary_green_5_blue_95_then_100_0(kube, seed002):
    seed = seed002()
    create_root(seed)
    first = delegate(seed, services=[dict(name="green", port=80, weight=5),
                                     dict(name="blue", port=80, weight=95)])
    assert first["changed"], first
    route = read(kube, seed, "blog")["spec"]["routes"][0]
    assert route["services"] == [{"name": "green", "port": 80, "weight": 5},
                                 {"name": "blue", "port": 80, "weight": 95}]
    assert valid_for_generation(read(kube, seed, "blog"))
    assert [(s["name"], s["share"]) for s in first["services"]] == [("green", 5.0),
                                                                    ("blue", 95.0)]
    assert first["child"]["status"]["observed_generation"] == 2

    done = delegate(seed, services=[dict(name="green", weight=100), dict(name="blue", weight=0)])
    assert done["changed"]
    blog = read(kube, seed, "blog")
    assert blog["spec"]["routes"][0]["services"] == [{"name": "green", "port": 80, "weight": 100},
                                                     {"name": "blue", "port": 80, "weight": 0}]
    assert valid_for_generation(blog) and blog["metadata"]["generation"] == 3
    assert [(s["name"], s["share"]) for s in done["services"]] == [("green", 100.0),
                                                                   ("blue", 0.0)]
    again = delegate(seed, services=[dict(name="green", weight=100), dict(name="blue", weight=0)])
    assert not again["changed"]
    assert read(kube, seed, "blog")["metadata"]["resourceVersion"] == \
        blog["metadata"]["resourceVersion"]


# --- Contour's verdict and the rollback --------------------------------------------------
def test_include_of_a_missing_child_is_refused_before_writing(kube, seed002):
    seed = seed002()
    create_root(seed)
    rv = read(kube, seed, "root-blog", root=True)["metadata"]["resourceVersion"]
    result = delegate(seed, child=child(seed, "nope"))
    assert result["failed"]
    assert result["msg"] == ("invalid input: child.name: HTTPProxy %s/nope does not exist "
                             "(create it first, or set force=true to leave the verdict to "
                             "Contour)" % seed["child_ns"])
    assert read(kube, seed, "root-blog", root=True)["metadata"]["resourceVersion"] == rv


def test_contour_rejects_a_missing_child_and_the_previous_include_is_put_back(kube, seed002):
    seed = seed002()
    create_root(seed)
    result = delegate(seed, child=child(seed, "nope"), force=True)
    assert result["failed"]
    assert ("Contour rejected the change: HTTPProxy %s/root-blog is invalid: IncludeNotFound: "
            "include %s/nope not found" % (seed["root_ns"], seed["child_ns"])) in result["msg"]
    assert "put back HTTPProxy %s/root-blog as it was (/blog -> %s/blog)" % (
        seed["root_ns"], seed["child_ns"]) in result["msg"]
    root = read(kube, seed, "root-blog", root=True)
    assert root["metadata"]["generation"] == 3  # the switch, then the restore
    assert includes(root) == [(seed["child_ns"], "blog", [{"prefix": "/blog"}])]

    def valid_again(obj):
        return Check(valid_for_generation(obj), str(obj.get("status")))
    wait_for(kube, HTTPPROXY, seed["root_ns"], "root-blog", valid_again, 15)


def test_contour_rejects_a_child_whose_service_is_missing_and_the_switch_is_undone(
        kube, seed002):
    seed = seed002()
    create_root(seed)
    kube.create(HTTPPROXY, seed["child_ns"], {
        "apiVersion": HTTPPROXY.api_version, "kind": "HTTPProxy", "metadata": {"name": "blog3"},
        "spec": {"routes": [{"services": [{"name": "purple", "port": 80}]}]}})
    result = delegate(seed, child=child(seed, "blog3"))
    assert result["failed"]
    assert ('HTTPProxy %s/blog3 is invalid: ServiceUnresolvedReference: Spec.Routes unresolved '
            'service reference: service "%s/purple" not found'
            % (seed["child_ns"], seed["child_ns"])) in result["msg"]
    assert includes(read(kube, seed, "root-blog", root=True))[0][1] == "blog"


# --- cross-namespace rules ---------------------------------------------------------------
def test_cross_namespace_tls_secret_needs_a_delegation(kube, seed002, namespace):
    seed = seed002()
    kube.create(SECRET, seed["child_ns"], tls_secret_manifest("shared-cert", seed["fqdn"]))
    secret_ref = "%s/shared-cert" % seed["child_ns"]
    refused = delegate(seed, fqdn=seed["fqdn"], tls_secret=secret_ref, child=child(seed, "blog"))
    assert refused["failed"]
    assert "tls_secret: Secret %s is in another namespace and no TLSCertificateDelegation in " \
           "%s lets namespace %s use it" % (secret_ref, seed["child_ns"], namespace) \
        in refused["msg"]
    assert kube.get_or_none(HTTPPROXY, namespace, "root-blog") is None

    kube.create(TLS_DELEGATION, seed["child_ns"], {
        "apiVersion": TLS_DELEGATION.api_version, "kind": "TLSCertificateDelegation",
        "metadata": {"name": "share"},
        "spec": {"delegations": [{"secretName": "shared-cert", "targetNamespaces": [namespace]}]}})
    accepted = delegate(seed, fqdn=seed["fqdn"], tls_secret=secret_ref, child=child(seed, "blog"))
    assert not accepted.get("failed"), accepted
    assert valid_for_generation(read(kube, seed, "root-blog", root=True))


def test_child_namespace_that_does_not_exist_is_refused(kube, seed002):
    seed = seed002()
    create_root(seed)
    result = delegate(seed, child=dict(name="blog", namespace="no-such-namespace-x1"))
    assert result["failed"]
    assert "child.namespace: namespace 'no-such-namespace-x1' does not exist" in result["msg"]


def test_adopting_a_root_keeps_its_other_routes_and_includes(kube, seed002):
    seed = seed002()
    kube.create(SERVICE, seed["root_ns"], {"apiVersion": "v1", "kind": "Service",
                                           "metadata": {"name": "home"},
                                           "spec": {"ports": [{"port": 80}]}})
    kube.create(HTTPPROXY, seed["root_ns"], {
        "apiVersion": HTTPPROXY.api_version, "kind": "HTTPProxy",
        "metadata": {"name": "root-blog"},
        "spec": {"virtualhost": {"fqdn": seed["fqdn"]},
                 "routes": [{"services": [{"name": "home", "port": 80}]}]}})
    result = delegate(seed, child=child(seed, "blog"))
    assert result["changed"], result
    root = read(kube, seed, "root-blog", root=True)
    assert root["spec"]["routes"] == [{"services": [{"name": "home", "port": 80}]}]
    assert includes(root) == [(seed["child_ns"], "blog", [{"prefix": "/blog"}])]
    assert valid_for_generation(root)


# --- bad input writes nothing -------------------------------------------------------------
@pytest.mark.parametrize("services, route_path, field, words", [
    ([dict(name="green", weight=5), dict(name="purple", weight=95)], None,
     "services[1].name", "Service {ns}/purple does not exist"),
    ([dict(name="green", port=81, weight=5)], None,
     "services[0].port", "Service {ns}/green has no port 81 (its ports: 80)"),
    ([dict(name="green", weight=-5)], None,
     "services[0].weight", "must be an integer of 0 or more, got -5"),
    ([dict(name="green", weight=5)], "/blog/admin",
     "route_path", "'/blog/admin' matches no route of HTTPProxy {ns}/blog"),
])
def test_bad_weights_input_names_the_field_and_writes_nothing(kube, seed002, services,
                                                              route_path, field, words):
    seed = seed002()
    create_root(seed)
    rv = read(kube, seed, "blog")["metadata"]["resourceVersion"]
    params = dict(services=services)
    if route_path:
        params["route_path"] = route_path
    result = delegate(seed, **params)
    assert result["failed"]
    assert field in [e["field"] for e in result["errors"]]
    assert words.format(ns=seed["child_ns"]) in result["msg"]
    assert read(kube, seed, "blog")["metadata"]["resourceVersion"] == rv


# --- legacy IngressRoute, on the CRD alone ------------------------------------------------
def test_legacy_ingressroute_switch_and_weights(kube, seed002):
    seed = seed002(api="ingressroute")
    created = delegate(seed, api="ingressroute", fqdn=seed["fqdn"], tls_secret="yangcs-net",
                       child=child(seed, "blog"))
    assert created["changed"], created
    assert created["warnings"] and created["root"]["status"] is None
    root = read(kube, seed, "root-blog", resource=INGRESSROUTE, root=True)
    assert root["spec"] == {"virtualhost": {"fqdn": seed["fqdn"],
                                            "tls": {"secretName": "yangcs-net"}},
                            "routes": [{"match": "/blog", "delegate": child(seed, "blog")}]}

    switched = delegate(seed, api="ingressroute", child=child(seed, "blog2"))
    assert switched["changed"] and switched["previous_delegation"] == child(seed, "blog")
    root = read(kube, seed, "root-blog", resource=INGRESSROUTE, root=True)
    assert root["spec"]["routes"] == [{"match": "/blog", "delegate": child(seed, "blog2")}]
    assert root["metadata"]["generation"] == 2

    back = delegate(seed, api="ingressroute", child=child(seed, "blog"))
    assert back["changed"]
    weights = delegate(seed, api="ingressroute", services=[
        dict(name="green", port=80, weight=5), dict(name="blue", port=80, weight=95)])
    assert weights["changed"], weights
    blog = read(kube, seed, "blog", resource=INGRESSROUTE)
    assert blog["spec"]["routes"] == [{"match": "/blog", "services": [
        {"name": "green", "port": 80, "weight": 5}, {"name": "blue", "port": 80, "weight": 95}]}]
    again = delegate(seed, api="ingressroute", services=[
        dict(name="green", port=80, weight=5), dict(name="blue", port=80, weight=95)])
    assert not again["changed"]
