"""gateway_traffic's pure parts: percents and relative weights, which rule is managed, the
header rule and the mirror filter, validation (every bad field at once), the route
verdict predicate, and the backend's single conditional write on the in-memory client
(a concurrent writer's rule survives the 409 re-plan; check mode writes nothing)."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils import engine as eng
from ansible_collections.progressive.delivery.plugins.module_utils.gateway import plan as gp
from ansible_collections.progressive.delivery.plugins.module_utils.gateway import status as gs
from ansible_collections.progressive.delivery.plugins.module_utils.gateway.backend import (
    GatewayRejected,
    GatewayTrafficBackend,
)
from ansible_collections.progressive.delivery.plugins.module_utils.gateway.validation import (
    check_refs,
    grant_allows,
    listener_admits,
    spec_from_params,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    ValidationError,
)

from fake_kube import FakeKube

NS = "web"
PORTS = {"stable": 80, "canary": 80}


def spec(**params):
    base = dict(name="shop", namespace=NS, path="/", validate_refs=True,
                parent_refs=[{"name": "public", "namespace": "gw"}])
    base.update(params)
    return spec_from_params(base)


def ref(name, weight=None, port=80):
    return gp.backend_ref(name, port, weight)


def rule(*refs, **extra):
    r = {"matches": [{"path": {"type": "PathPrefix", "value": extra.pop("path", "/")}}],
         "backendRefs": list(refs)}
    r.update(extra)
    return r


# --- percents and weights -------------------------------------------------------
def test_percents_are_written_as_weights():
    assert gp.weights_for({"stable": 95, "canary": 5}) == {"stable": 95, "canary": 5}


def test_shares_read_relative_weights_and_default_weight_one():
    assert gp.shares([ref("stable", 19), ref("canary", 1)]) == {"stable": 95, "canary": 5}
    assert gp.shares([ref("stable"), ref("canary")]) == {"stable": 50, "canary": 50}
    assert gp.shares([ref("a", 1), ref("b", 2)]) == {"a": 33.33, "b": 66.67}
    assert gp.shares([ref("stable", 0)]) == {"stable": 0}


def test_same_split_compares_shares_exactly():
    assert gp.same_split([ref("stable", 19), ref("canary", 1)], {"stable": 95, "canary": 5})
    assert not gp.same_split([ref("stable", 19), ref("canary", 1)], {"stable": 90, "canary": 10})
    assert not gp.same_split([ref("stable", 100)], {"stable": 100, "canary": 0})
    assert not gp.same_split([ref("stable", 0), ref("canary", 0)], {"stable": 100, "canary": 0})


# --- rule selection -------------------------------------------------------------
def test_rule_found_by_name_or_by_its_only_path_match():
    rules = [rule(ref("a"), path="/api"), dict(rule(ref("b")), name="main")]
    assert gp.find_rule(rules, "main", "/") == 1
    assert gp.find_rule(rules, None, "/api") == 0
    assert gp.find_rule(rules, None, "/x") is None
    # A rule without matches matches "/" (the API's default).
    assert gp.find_rule([{"backendRefs": []}], None, "/") == 0


def test_header_rule_is_not_the_weighted_rule():
    header = {"matches": [{"path": {"type": "PathPrefix", "value": "/"},
                           "headers": [{"name": "x-canary", "value": "true"}]}]}
    assert gp.find_rule([header, rule(ref("a"))], None, "/") == 1
    assert gp.find_header_rule([header, rule(ref("a"))], None, "/", "X-Canary") == 0


def test_two_candidate_rules_is_an_error_naming_them():
    with pytest.raises(gp.PlanError, match=r"2 rules matching only the path prefix '/' \(rules \[0, 1\]\)"):
        gp.find_rule([rule(ref("a")), rule(ref("b"))], None, "/")


# --- planning rules -------------------------------------------------------------
def test_new_rule_when_missing_and_other_rules_kept():
    other = rule(ref("api"), path="/api", filters=[{"type": "URLRewrite"}])
    new = gp.plan_rules(spec(weights={"stable": 95, "canary": 5}), [other], PORTS)
    assert new[0] == other
    assert new[1] == {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                      "backendRefs": [ref("stable", 95), ref("canary", 5)]}


def test_weights_change_keeps_the_rules_other_fields_and_ref_filters():
    current = [rule(dict(ref("stable", 100), filters=[{"type": "RequestHeaderModifier"}]),
                    ref("canary", 0), timeouts={"request": "10s"})]
    new = gp.plan_rules(spec(weights={"stable": 50, "canary": 50}), current, PORTS)
    assert new[0]["timeouts"] == {"request": "10s"}
    assert new[0]["backendRefs"] == [
        dict(ref("stable", 50), filters=[{"type": "RequestHeaderModifier"}]), ref("canary", 50)]


def test_same_shares_with_server_defaults_is_no_change():
    current = [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                "backendRefs": [dict(ref("stable", 19), group="", kind="Service"),
                                dict(ref("canary", 1), group="", kind="Service")]}]
    new = gp.plan_rules(spec(weights={"stable": 95, "canary": 5}), current, PORTS)
    assert gp.canonical(new) == gp.canonical(current)


def test_missing_rule_without_weights_is_an_error():
    with pytest.raises(gp.PlanError, match="no rule matching the path prefix '/'"):
        gp.plan_rules(spec(mirror={"backend": "canary"}), [], PORTS)


def test_header_rule_goes_in_front_and_is_removed_again():
    s = spec(weights={"stable": 95, "canary": 5}, rule_name="main",
             header={"name": "x-canary", "value": "true", "backend": "canary"})
    new = gp.plan_rules(s, [rule(ref("api"), path="/api"), dict(rule(ref("stable", 100)),
                                                                name="main")], PORTS)
    assert [r.get("name") for r in new] == [None, "main-header", "main"]
    assert new[1]["matches"] == [{"path": {"type": "PathPrefix", "value": "/"},
                                  "headers": [{"type": "Exact", "name": "x-canary",
                                               "value": "true"}]}]
    assert new[1]["backendRefs"] == [ref("canary")]
    again = gp.plan_rules(s, new, PORTS)
    assert gp.canonical(again) == gp.canonical(new)
    removed = gp.plan_rules(spec(rule_name="main", header={"state": "absent"}), new, PORTS)
    assert [r.get("name") for r in removed] == [None, "main"]


def test_header_rule_by_match_when_rules_have_no_names():
    s = spec(header={"name": "x-canary", "value": "^(yes|true)$", "type": "RegularExpression",
                     "backend": "canary"})
    new = gp.plan_rules(s, [rule(ref("stable"))], PORTS)
    assert new[0]["matches"][0]["headers"][0]["type"] == "RegularExpression"
    changed = gp.plan_rules(spec(header={"name": "x-canary", "value": "1", "backend": "canary"}),
                            new, PORTS)
    assert len(changed) == 2 and changed[0]["matches"][0]["headers"][0]["value"] == "1"


def test_mirror_filter_added_replaced_and_removed_other_filters_kept():
    keep = {"type": "RequestHeaderModifier", "requestHeaderModifier": {"set": [
        {"name": "x", "value": "1"}]}}
    s = spec(mirror={"backend": "canary", "percent": 10})
    new = gp.plan_rules(s, [rule(ref("stable"), filters=[keep])], PORTS)
    assert new[0]["filters"] == [keep, {"type": "RequestMirror", "requestMirror": {
        "backendRef": {"name": "canary", "port": 80}, "percent": 10}}]
    more = gp.plan_rules(spec(mirror={"backend": "canary", "percent": 100}), new, PORTS)
    assert more[0]["filters"][1]["requestMirror"]["percent"] == 100 and len(more[0]["filters"]) == 2
    gone = gp.plan_rules(spec(mirror={"state": "absent"}), more, PORTS)
    assert gone[0]["filters"] == [keep]


def test_describe_rule_is_readable():
    r = dict(rule(ref("stable", 95), ref("canary", 5)), name="main", filters=[
        gp.mirror_filter(spec(mirror={"backend": "canary", "percent": 20}).mirror, 80)])
    assert gp.describe_rule(r) == "main: / -> stable 95%, canary 5% (mirror canary 20%)"


# --- validation -----------------------------------------------------------------
def test_every_bad_field_is_reported_with_its_value():
    with pytest.raises(ValidationError) as err:
        spec(name="Bad_Name", weights={"stable": 95, "canary": "five"}, path="api",
             header={"name": "bad header", "value": "x"}, mirror={"percent": 0})
    fields = dict((e.path, e.message) for e in err.value.errors)
    assert "'Bad_Name'" in fields["name"]
    assert fields["weights.canary"] == "'five' is not a whole percent (0-100)"
    assert fields["path"] == "'api' must start with '/'"
    assert "'bad header' is not a valid HTTP header name" == fields["header.name"]
    assert "header.backend" in fields and "mirror.backend" in fields
    assert fields["mirror.percent"] == "0 is out of range: a percent from 1 to 100"


def test_percents_must_sum_to_100_with_one_non_zero():
    with pytest.raises(ValidationError, match="percents sum to 110, want 100"):
        spec(weights={"stable": 100, "canary": 10})
    with pytest.raises(ValidationError, match=r"weights.canary: 101 is out of range"):
        spec(weights={"stable": 0, "canary": 101})
    with pytest.raises(ValidationError, match="nothing to do"):
        spec()


def test_refs_checked_services_ports_and_gateway_listeners():
    s = spec(weights={"stable": 90, "canary": 10}, port=8080)
    services = {"stable": {"spec": {"ports": [{"port": 8080}]}}, "canary": None}
    gateway = {"spec": {"listeners": [{"name": "http", "protocol": "HTTP", "port": 80}]}}
    with pytest.raises(ValidationError) as err:
        check_refs(s, None, {}, services, {("gw", "public"): gateway})
    messages = [str(e) for e in err.value.errors]
    assert "weights.canary: Service web/canary does not exist" in messages
    assert any("no listener of Gateway gw/public admits HTTPRoutes from namespace web "
               "(listeners: http HTTP from Same)" in m for m in messages)


def test_service_port_defaults_to_its_only_port_or_the_rules():
    one = {"spec": {"ports": [{"port": 8080}]}}
    two = {"spec": {"ports": [{"port": 80}, {"port": 443}]}}
    assert check_refs(spec(weights={"stable": 100}, parent_refs=[]), {}, {}, {"stable": one},
                      {}) == {"stable": 8080}
    assert check_refs(spec(weights={"stable": 100}, parent_refs=[]), {}, {"stable": 443},
                      {"stable": two}, {}) == {"stable": 443}
    with pytest.raises(ValidationError, match="port: is required: Service web/stable has 2 ports"):
        check_refs(spec(weights={"stable": 100}, parent_refs=[]), {}, {}, {"stable": two}, {})


def test_create_needs_parent_refs():
    with pytest.raises(ValidationError, match="parent_refs: is required to create HTTPRoute web/shop"):
        check_refs(spec(weights={"stable": 100}, parent_refs=[], port=80), None, {}, None, None)


def test_listener_admission():
    http = {"protocol": "HTTP"}
    assert listener_admits(http, "web", "web") is True
    assert listener_admits(http, "gw", "web") is False
    assert listener_admits(dict(http, allowedRoutes={"namespaces": {"from": "All"}}), "gw", "web")
    assert listener_admits(dict(http, allowedRoutes={"namespaces": {"from": "Selector"}}),
                           "gw", "web") is None
    assert listener_admits(dict(http, allowedRoutes={"namespaces": {"from": "All"},
                                                     "kinds": [{"kind": "GRPCRoute"}]}),
                           "gw", "web") is False
    assert listener_admits({"protocol": "TCP", "allowedRoutes": {"namespaces": {"from": "All"}}},
                           "gw", "web") is False


# --- the verdict ----------------------------------------------------------------
def route(generation, *conditions, **parent):
    parent_ref = dict({"name": "public", "namespace": "gw"}, **parent)
    return {"metadata": {"name": "shop", "namespace": NS, "generation": generation},
            "spec": {"parentRefs": [{"name": "public", "namespace": "gw"}]},
            "status": {"parents": [{"parentRef": parent_ref, "conditions": [
                {"type": t, "status": s, "reason": r, "message": m, "observedGeneration": g}
                for t, s, r, m, g in conditions]}]} if conditions else {}}


def test_accepted_and_resolved_for_the_generation():
    ok = route(3, ("Accepted", "True", "Accepted", "", 3), ("ResolvedRefs", "True", "", "", 3))
    assert gs.route_accepted(ok).done


def test_an_older_generation_is_not_proof():
    old = route(3, ("Accepted", "True", "Accepted", "", 2), ("ResolvedRefs", "True", "", "", 2))
    check = gs.route_accepted(old)
    assert not check.done and not check.failed and "generation 3" in check.message
    assert "has not reported" in gs.route_accepted(route(1)).message


def test_false_for_the_generation_fails_with_the_controllers_words():
    bad = route(2, ("Accepted", "True", "Accepted", "", 2),
                ("ResolvedRefs", "False", "BackendNotFound", 'service "x" not found', 2))
    check = gs.route_accepted(bad)
    assert check.failed and check.message == (
        'Gateway gw/public: ResolvedRefs=False (BackendNotFound): service "x" not found')


# --- the backend on the in-memory client ---------------------------------------
SERVICES = [{"apiVersion": "v1", "kind": "Service",
             "metadata": {"name": n, "namespace": NS}, "spec": {"ports": [{"port": 80}]}}
            for n in ("stable", "canary")]
GATEWAY = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
           "metadata": {"name": "public", "namespace": "gw"},
           "spec": {"listeners": [{"name": "http", "protocol": "HTTP",
                                   "allowedRoutes": {"namespaces": {"from": "All"}}}]}}


def existing_route(*rules):
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "shop", "namespace": NS},
            "spec": {"parentRefs": [{"name": "public", "namespace": "gw"}], "rules": list(rules)}}


def run(kube, check_mode=False, **params):
    engine = eng.Engine(kube, check_mode=check_mode, wait=False, diff_view=gp.route_view)
    return engine.run(GatewayTrafficBackend(spec(**params)))


def test_concurrent_writers_rule_survives_the_re_plan():
    kube = FakeKube(SERVICES + [GATEWAY, existing_route(rule(ref("stable", 100),
                                                             ref("canary", 0)))])
    theirs = rule(ref("api"), path="/api")

    def other_writer(fake, verb, key):
        if key[0] == "HTTPRoute" and fake.writes() and len(fake.writes()) == 1:
            current = fake.obj(*key)
            current["spec"]["rules"].append(theirs)
            fake.put(current)

    kube.before_write = other_writer
    result = run(kube, weights={"stable": 95, "canary": 5})
    rules = kube.obj("HTTPRoute", NS, "shop")["spec"]["rules"]
    assert rules[1] == theirs
    assert gp.shares(rules[0]["backendRefs"]) == {"stable": 95, "canary": 5}
    assert [w[0] for w in kube.writes()] == ["patch", "patch"]  # the first one got 409
    assert result["weights"] == {"stable": 95, "canary": 5}


def test_check_mode_writes_nothing_and_reports_the_new_split():
    kube = FakeKube(SERVICES + [GATEWAY, existing_route(rule(ref("stable", 100),
                                                             ref("canary", 0)))])
    result = run(kube, check_mode=True, weights={"stable": 50, "canary": 50})
    assert kube.writes() == []
    assert result["changed"] and result["weights"] == {"stable": 50, "canary": 50}
    assert result["diff"]["before"]["HTTPRoute/shop"]["rules"] == ["/ -> stable 100%, canary 0%"]
    assert result["diff"]["after"]["HTTPRoute/shop"]["rules"] == ["/ -> stable 50%, canary 50%"]


def test_bad_reference_writes_nothing():
    kube = FakeKube(SERVICES[:1] + [GATEWAY])
    with pytest.raises(ValidationError, match="weights.canary: Service web/canary does not exist"):
        run(kube, weights={"stable": 95, "canary": 5})
    assert kube.writes() == []


def test_second_identical_run_is_unchanged():
    kube = FakeKube(SERVICES + [GATEWAY])
    assert run(kube, weights={"stable": 95, "canary": 5})["actions"] == ["create HTTPRoute web/shop"]
    again = run(kube, weights={"stable": 95, "canary": 5})
    assert again["changed"] is False and len(kube.writes()) == 1


def test_ambiguous_rule_is_an_input_error_on_path_and_writes_nothing():
    kube = FakeKube(SERVICES + [GATEWAY, existing_route(rule(ref("stable")), rule(ref("canary")))])
    with pytest.raises(ValidationError) as err:
        run(kube, weights={"stable": 95, "canary": 5})
    assert [e.path for e in err.value.errors] == ["path"]
    assert "give rule_name" in str(err.value)
    assert kube.writes() == []


def test_action_names_the_old_and_new_split_and_the_header_rule():
    kube = FakeKube(SERVICES + [GATEWAY, existing_route(rule(ref("stable", 100), ref("canary", 0)))])
    result = run(kube, weights={"stable": 90, "canary": 10},
                 header={"name": "x-canary", "value": "true", "backend": "canary"})
    assert result["actions"] == [
        "update HTTPRoute web/shop: / -> stable 100%, canary 0% => / -> stable 90%, canary 10%; "
        "header rule / [x-canary=true] -> canary 100%"]


def _refused_after_write(kube, other_writer=None):
    """Run a weight change, then hand the backend a refusal as the proof would."""
    from ansible_collections.progressive.delivery.plugins.module_utils.gateway.backend import (
        GatewayRejected,
    )
    from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import WaitFailed
    backend = GatewayTrafficBackend(spec(weights={"stable": 50, "canary": 50}))
    engine = eng.Engine(kube, wait=False, diff_view=gp.route_view)
    first, observed, writes = engine.reconcile(lambda: backend.observe(engine), backend.plan)
    if other_writer:
        other_writer()
    with pytest.raises(GatewayRejected) as err:
        backend.rejected(engine, observed, writes, WaitFailed("Accepted=False (Nope): no"))
    return str(err.value)


def test_refusal_puts_the_previous_rules_back_even_after_status_writes():
    kube = FakeKube(SERVICES + [GATEWAY, existing_route(rule(ref("stable", 100), ref("canary", 0)))])

    def controller_status():  # a status write moves the resourceVersion, not the generation
        live = kube.store[("HTTPRoute", NS, "shop")]
        live["metadata"]["resourceVersion"] = "999"

    message = _refused_after_write(kube, controller_status)
    assert "refused the change: Accepted=False (Nope): no" in message
    assert "put back the previous rules of HTTPRoute web/shop (/ -> stable 100%, canary 0%)" in message
    assert gp.shares(kube.obj("HTTPRoute", NS, "shop")["spec"]["rules"][0]["backendRefs"]) == {
        "stable": 100, "canary": 0}


def test_refusal_leaves_a_route_someone_else_changed_since():
    kube = FakeKube(SERVICES + [GATEWAY, existing_route(rule(ref("stable", 100), ref("canary", 0)))])

    def other_writer():
        live = kube.obj("HTTPRoute", NS, "shop")
        live["spec"]["rules"].append(rule(ref("api"), path="/api"))
        kube._store(("HTTPRoute", NS, "shop"), live)

    message = _refused_after_write(kube, other_writer)
    assert "left HTTPRoute web/shop alone: someone else changed it since this call's write" in message
    assert len(kube.obj("HTTPRoute", NS, "shop")["spec"]["rules"]) == 2


def test_refusal_of_a_created_route_deletes_it():
    kube = FakeKube(SERVICES + [GATEWAY])
    message = _refused_after_write(kube)
    assert "deleted HTTPRoute web/shop, which this call had created" in message
    assert kube.obj("HTTPRoute", NS, "shop") is None


# --- Services in another namespace (ReferenceGrant) -------------------------------
def grant(namespace="shared", to_name=None, from_ns=NS, kind="HTTPRoute", name="allow-web"):
    to = {"group": "", "kind": "Service"}
    if to_name is not None:
        to["name"] = to_name
    return {"apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": kind,
                               "namespace": from_ns}], "to": [to]}}


def test_services_are_named_by_name_or_namespace_slash_name():
    s = spec(weights={"web/stable": 90, "shared/canary": 10},
             header={"name": "x-canary", "value": "1", "backend": "shared/canary"},
             mirror={"backend": "web/stable"})
    # The route's own namespace is the short form, whichever way it was written.
    assert dict(s.weights) == {"stable": 90, "shared/canary": 10}
    assert s.header.backend == "shared/canary" and s.mirror.backend == "stable"
    assert gp.split_service("shared/canary", NS) == ("shared", "canary")
    assert gp.split_service("stable", NS) == (NS, "stable")


def test_bad_service_names_are_named_with_their_value():
    with pytest.raises(ValidationError) as err:
        spec(weights={"a/b/c": 50, "Shared/canary": 25, "stable": 25, "web/stable": 0},
             header={"name": "x", "value": "1", "backend": "/canary"})
    fields = dict((e.path, e.message) for e in err.value.errors)
    assert fields["weights.a/b/c"] == ("'a/b/c' is not a Service: give name, or namespace/name "
                                       "for a Service in another namespace")
    assert "'Shared'" in fields["weights.Shared/canary"]
    assert fields["weights.web/stable"] == ("names Service web/stable again (in the route's "
                                            "namespace it is stable)")
    assert "'/canary' is not a Service" in fields["header.backend"]
    assert "weights" not in fields  # no sum is judged over names that are wrong


def test_cross_namespace_refs_carry_their_namespace_and_read_back_as_namespace_slash_name():
    refs = [gp.backend_ref("stable", 80, 90), gp.backend_ref("shared/canary", 8080, 10)]
    assert refs[1] == {"name": "canary", "namespace": "shared", "port": 8080, "weight": 10}
    assert "namespace" not in refs[0]
    assert gp.shares(refs, NS) == {"stable": 90, "shared/canary": 10}
    # A ref that spells out the route's own namespace is the same Service as the short name.
    explicit = [dict(refs[0], namespace=NS), refs[1]]
    assert gp.same_split(explicit, {"stable": 90, "shared/canary": 10}, NS)
    assert gp.describe_rule(rule(*refs), NS) == "/ -> stable 90%, shared/canary 10%"


def test_reference_grant_must_allow_this_route_kind_namespace_and_service():
    assert grant_allows(grant(to_name="canary"), "HTTPRoute", NS, "canary")
    assert grant_allows(grant(), "HTTPRoute", NS, "anything")  # every Service
    assert not grant_allows(grant(to_name="other"), "HTTPRoute", NS, "canary")
    assert not grant_allows(grant(from_ns="elsewhere"), "HTTPRoute", NS, "canary")
    assert not grant_allows(grant(kind="GRPCRoute"), "HTTPRoute", NS, "canary")
    secret = grant()
    secret["spec"]["to"] = [{"group": "", "kind": "Secret"}]
    assert not grant_allows(secret, "HTTPRoute", NS, "canary")


def test_missing_grant_names_what_to_create():
    s = spec(weights={"stable": 90, "shared/canary": 10}, parent_refs=[])
    services = {"stable": {"spec": {"ports": [{"port": 80}]}},
                "shared/canary": {"spec": {"ports": [{"port": 8080}]}}}
    assert check_refs(s, {}, {}, services, {}, {"shared": [grant(to_name="canary")]}) == {
        "stable": 80, "shared/canary": 8080}
    with pytest.raises(ValidationError) as err:
        check_refs(s, {}, {}, services, {}, {"shared": [grant(to_name="other")]})
    assert [str(e) for e in err.value.errors] == [
        "weights.shared/canary: no ReferenceGrant in namespace shared allows HTTPRoutes from "
        "namespace web to refer to Service canary: create one in shared with spec.from "
        "[{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: web}] and spec.to "
        "[{group: \"\", kind: Service, name: canary}] (or without name for every Service there)"]
    with pytest.raises(ValidationError, match="the cluster serves no ReferenceGrant API"):
        check_refs(s, {}, {}, services, {}, {"shared": None})


def test_cross_namespace_service_missing_is_named_in_its_namespace():
    s = spec(weights={"shared/canary": 100}, parent_refs=[], port=80)
    with pytest.raises(ValidationError) as err:
        check_refs(s, {}, {}, {"shared/canary": None}, {}, {"shared": [grant()]})
    assert [str(e) for e in err.value.errors] == [
        "weights.shared/canary: Service shared/canary does not exist"]


SHARED = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "canary",
                                                              "namespace": "shared"},
          "spec": {"ports": [{"port": 8080}]}}


def test_backend_writes_a_cross_namespace_ref_when_a_grant_allows_it():
    kube = FakeKube(SERVICES + [SHARED, GATEWAY, grant(to_name="canary")])
    result = run(kube, weights={"stable": 95, "shared/canary": 5})
    refs = kube.obj("HTTPRoute", NS, "shop")["spec"]["rules"][0]["backendRefs"]
    assert refs == [{"name": "stable", "port": 80, "weight": 95},
                    {"name": "canary", "namespace": "shared", "port": 8080, "weight": 5}]
    assert result["weights"] == {"stable": 95, "shared/canary": 5}
    assert ("list", "ReferenceGrant", "shared") in kube.requests
    again = run(kube, weights={"stable": 95, "shared/canary": 5})
    assert again["changed"] is False and len(kube.writes()) == 1


def test_backend_refuses_a_cross_namespace_ref_without_a_grant_and_writes_nothing():
    kube = FakeKube(SERVICES + [SHARED, GATEWAY, grant(to_name="other"),
                                existing_route(rule(ref("stable", 100)))])
    with pytest.raises(ValidationError, match="no ReferenceGrant in namespace shared allows"):
        run(kube, weights={"stable": 95, "shared/canary": 5})
    with pytest.raises(ValidationError, match="mirror.backend: no ReferenceGrant"):
        run(kube, mirror={"backend": "shared/canary"})
    assert kube.writes() == []


def test_same_namespace_calls_read_no_grants():
    kube = FakeKube(SERVICES + [GATEWAY])
    run(kube, weights={"stable": 95, "canary": 5})
    assert not [r for r in kube.requests if r[1] == "ReferenceGrant"]


# --- GRPCRoute: the same split, rules found by method ------------------------------
def grpc(**params):
    params.setdefault("path", None)
    return spec(kind="GRPCRoute", **params)


def test_grpc_route_options_are_checked_against_the_kind():
    with pytest.raises(ValidationError) as err:
        grpc(path="/api", weights={"stable": 100}, method={"service": "shop Cart",
                                                           "method": "Get-1"})
    fields = dict((e.path, e.message) for e in err.value.errors)
    assert fields["path"] == ("selects an HTTPRoute's rule; a GRPCRoute's rule is selected by "
                              "method (or rule_name)")
    assert fields["method.service"] == "'shop Cart' is not a gRPC service name (package.Service)"
    assert fields["method.method"] == "'Get-1' is not a gRPC method name"
    with pytest.raises(ValidationError, match="method: selects a GRPCRoute's rule"):
        spec(weights={"stable": 100}, method={"service": "shop.Cart"})
    with pytest.raises(ValidationError, match="method: give service, method or both"):
        grpc(weights={"stable": 100}, method={"service": ""})


def test_grpc_rule_by_method_or_the_one_without_matches():
    by_method = {"matches": [{"method": {"service": "shop.Cart", "method": "Get"}}],
                 "backendRefs": [ref("stable")]}
    every_call = {"backendRefs": [ref("stable")]}
    service_only = {"matches": [{"method": {"type": "Exact", "service": "shop.Cart"}}],
                    "backendRefs": [ref("stable")]}
    rules = [by_method, every_call, service_only]
    assert gp.find_rule(rules, None, gp.grpc_key("shop.Cart", "Get")) == 0
    assert gp.find_rule(rules, None, gp.grpc_key()) == 1
    assert gp.find_rule(rules, None, gp.grpc_key("shop.Cart")) == 2
    assert gp.find_rule(rules, None, gp.grpc_key("shop.Cart", "Put")) is None
    with pytest.raises(gp.PlanError, match="the GRPCRoute has 2 rules matching only no match"):
        gp.find_rule([every_call, every_call], None, gp.grpc_key())


def test_grpc_plan_new_rule_header_rule_and_mirror():
    s = grpc(weights={"stable": 90, "canary": 10}, method={"service": "shop.Cart"},
             header={"name": "x-canary", "value": "true", "backend": "canary"},
             mirror={"backend": "canary", "percent": 20})
    header, weighted = gp.plan_rules(s, [], PORTS)
    assert weighted["matches"] == [{"method": {"type": "Exact", "service": "shop.Cart"}}]
    assert gp.shares(weighted["backendRefs"]) == {"stable": 90, "canary": 10}
    assert weighted["filters"][0]["requestMirror"]["percent"] == 20
    assert header["matches"] == [{"method": {"type": "Exact", "service": "shop.Cart"},
                                  "headers": [{"type": "Exact", "name": "x-canary",
                                               "value": "true"}]}]
    assert gp.describe_rule(header, NS, "GRPCRoute") == "shop.Cart/* [x-canary=true] -> canary 100%"
    assert gp.describe_rule(weighted, NS, "GRPCRoute") == (
        "shop.Cart/* -> stable 90%, canary 10% (mirror canary 20%)")
    # Planned again on its own result: nothing changes.
    assert gp.canonical(gp.plan_rules(s, [header, weighted], PORTS), "GRPCRoute") == \
        gp.canonical([header, weighted], "GRPCRoute")
    # No method: the rule for every call has no matches at all.
    rules = gp.plan_rules(grpc(weights={"stable": 100}), [], PORTS)
    assert rules == [{"backendRefs": [{"name": "stable", "port": 80, "weight": 100}]}]
    assert gp.describe_rule(rules[0], NS, "GRPCRoute") == "* -> stable 100%"


def test_listener_admission_by_route_kind():
    grpc_only = {"protocol": "HTTP", "allowedRoutes": {"namespaces": {"from": "All"},
                                                       "kinds": [{"kind": "GRPCRoute"}]}}
    assert listener_admits(grpc_only, "gw", "web", "GRPCRoute") is True
    assert listener_admits(grpc_only, "gw", "web", "HTTPRoute") is False
    http_only = dict(grpc_only, allowedRoutes={"namespaces": {"from": "All"},
                                               "kinds": [{"kind": "HTTPRoute"}]})
    with pytest.raises(ValidationError, match="no listener of Gateway gw/public admits "
                       "GRPCRoutes from namespace web .listeners: http HTTP from All kinds "
                       "HTTPRoute."):
        check_refs(grpc(weights={"stable": 100}, port=80), None, {}, None,
                   {("gw", "public"): {"spec": {"listeners": [dict(http_only, name="http")]}}})


def test_backend_creates_and_updates_a_grpc_route():
    kube = FakeKube(SERVICES + [GATEWAY])
    result = run(kube, kind="GRPCRoute", path=None, method={"service": "shop.Cart"},
                 weights={"stable": 95, "canary": 5})
    assert result["actions"] == ["create GRPCRoute web/shop"]
    created = kube.obj("GRPCRoute", NS, "shop")
    assert created["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert kube.obj("HTTPRoute", NS, "shop") is None
    result = run(kube, kind="GRPCRoute", path=None, method={"service": "shop.Cart"},
                 weights={"stable": 50, "canary": 50})
    assert result["actions"] == ["update GRPCRoute web/shop: shop.Cart/* -> stable 95%, "
                                 "canary 5% => shop.Cart/* -> stable 50%, canary 50%"]
    assert result["diff"]["after"]["GRPCRoute/shop"]["rules"] == [
        "shop.Cart/* -> stable 50%, canary 50%"]
    assert result["previous_weights"] == {"stable": 95, "canary": 5}


# --- a controller whose cache has not caught up with a Service just created ---------------
def set_route_status(obj, resolved, reason="ResolvedRefs", message=""):
    generation = obj["metadata"].get("generation", 1)
    obj["status"] = {"parents": [{"parentRef": {"name": "public", "namespace": "gw"},
                                  "conditions": [
        {"type": "Accepted", "status": "True", "reason": "Accepted", "message": "",
         "observedGeneration": generation},
        {"type": "ResolvedRefs", "status": "True" if resolved else "False", "reason": reason,
         "message": message, "observedGeneration": generation}]}]}


def lagging_controller(kube, key):
    if key[0] == "HTTPRoute" and key in kube.store:
        set_route_status(kube.store[key], False, "BackendNotFound",
                         'service "web/canary" not found')


def run_proved(kube, **params):
    engine = eng.Engine(kube, wait=True, wait_timeout=5, diff_view=gp.route_view)
    return engine.run(GatewayTrafficBackend(spec(**params)))


def test_backend_not_found_for_services_that_exist_is_waited_out():
    kube = FakeKube(SERVICES + [GATEWAY, existing_route(rule(ref("stable", 100),
                                                             ref("canary", 0)))],
                    after_write=lagging_controller)
    kube.events[("HTTPRoute", "shop")] = [lambda obj: set_route_status(obj, True)]
    result = run_proved(kube, weights={"stable": 95, "canary": 5})
    assert result["changed"] and [w[0] for w in kube.writes()] == ["patch"]  # no restore
    assert gp.shares(kube.obj("HTTPRoute", NS, "shop")["spec"]["rules"][0]["backendRefs"]) == \
        {"stable": 95, "canary": 5}


def test_backend_not_found_for_a_service_deleted_meanwhile_is_a_rejection():
    kube = FakeKube(SERVICES + [GATEWAY, existing_route(rule(ref("stable", 100),
                                                             ref("canary", 0)))])

    def controller(fake, key):
        if key[0] == "HTTPRoute" and key in fake.store:
            fake.store.pop(("Service", NS, "canary"), None)  # gone after the validation
            lagging_controller(fake, key)
    kube.after_write = controller
    with pytest.raises(GatewayRejected, match="BackendNotFound"):
        run_proved(kube, weights={"stable": 95, "canary": 5})
    assert ("watch", "HTTPRoute", "shop") not in kube.requests
