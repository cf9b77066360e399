"""The canary role's check of its own input (plugins/filter/canary.py): every problem at
once, each naming the user's variable, secrets masked; nothing when the input is fine."""

from ansible_collections.progressive.delivery.plugins.filter.canary import (
    FilterModule,
    canary_input_errors,
)

CONTOUR = {"name": "root", "path": "/blog", "stable_service": "blog-green",
           "canary_service": "blog-blue"}
GATEWAY = {"route": "shop", "stable_service": "shop-v1", "canary_service": "shop-v2"}


def role(**extra):
    base = dict(canary_backend="replicas", canary_service="myapp", canary_nginx={},
                canary_contour={}, canary_knative={}, canary_gateway={},
                canary_steps=[{"weight": 10}, {"weight": 100}], canary_gates=[])
    base.update(extra)
    return base


def test_the_filter_is_registered_under_its_name():
    assert sorted(FilterModule().filters()) == ["canary_input_errors"]


def test_good_input_has_no_error_on_every_backend():
    assert canary_input_errors(role()) == []
    assert canary_input_errors(role(canary_backend="contour", canary_contour=CONTOUR)) == []
    assert canary_input_errors(role(canary_backend="gateway", canary_gateway=GATEWAY)) == []
    assert canary_input_errors(role(canary_backend="knative", canary_knative={
        "service": "hello", "canary_revision": "hello-00002"})) == []
    assert canary_input_errors(role(canary_backend="rolling", canary_rolling={})) == []


def test_missing_settings_name_the_backend_its_variable_and_what_is_missing():
    assert canary_input_errors(role(canary_backend="nginx", canary_nginx={"ingress": "myapp"})) == [
        "canary_backend=nginx needs ingress, canary_service (canary_nginx); missing: canary_service"]
    assert canary_input_errors(role(canary_service="")) == [
        "canary_backend=replicas needs canary_service (role variables); missing: canary_service"]
    assert canary_input_errors(role(canary_backend="contour", canary_contour={"name": "root"})) == [
        "canary_backend=contour needs name, path, stable_service, canary_service "
        "(canary_contour); missing: path, stable_service, canary_service"]


def test_knative_needs_a_template_or_a_canary_revision():
    assert canary_input_errors(role(canary_backend="knative", canary_knative={"service": "hello"})) == [
        "canary_backend=knative needs canary_knative.template (creates the canary revision) "
        "or canary_knative.canary_revision"]


def test_bad_gates_are_named_as_the_user_counts_them_with_secrets_masked():
    gates = [{"name": "fine", "type": "tasks", "file": "fine.yml"},
             {"name": "latency", "type": "http", "url": "http://user:s3cr3t-pw@127.0.0.1:9/",
              "interval_ms": "100ms"},
             {"type": "smoke"}]
    errors = canary_input_errors(role(canary_gates=gates))
    assert [e.split(":")[0] for e in errors] == ["canary_gates[1].interval_ms",
                                                 "canary_gates[2].type"]
    assert "'100ms'" in errors[0] and "'smoke' is not one of" in errors[1]
    assert not [e for e in errors if "s3cr3t-pw" in e]


def test_a_header_or_mirror_both_as_step_and_setting_is_refused():
    steps = [{"mirror": 100}, {"header": {"name": "x-canary", "value": "true"}}, {"weight": 100}]
    gateway = dict(GATEWAY, mirror=100, header={"name": "x-canary", "value": "true"})
    assert canary_input_errors(role(canary_backend="gateway", canary_gateway=gateway,
                                    canary_steps=steps)) == [
        "canary_gateway.header is set and canary_steps[1] is a header step; "
        "canary_gateway.mirror is set and canary_steps[0] is a mirror step; "
        "give the header and the mirror either as steps or as settings, not both"]
    nginx = {"ingress": "myapp", "canary_service": "myapp-v2", "header": "x-canary"}
    assert canary_input_errors(role(canary_backend="nginx", canary_nginx=nginx,
                                    canary_steps=steps[1:])) == [
        "canary_nginx.header is set and canary_steps[0] is a header step; "
        "give the header and the mirror either as steps or as settings, not both"]
    # the setting alone, or the step alone, is fine; another backend's steps are the
    # record's call to refuse
    assert canary_input_errors(role(canary_backend="gateway", canary_gateway=gateway)) == []
    assert canary_input_errors(role(canary_steps=steps)) == []


def test_every_problem_is_reported_at_once():
    errors = canary_input_errors(role(canary_backend="gateway", canary_gateway={"mirror": 50},
                                      canary_steps=[{"mirror": 50}, "soon"],
                                      canary_gates=[{"type": "smoke"}]))
    assert len(errors) == 3
    assert errors[0].startswith("canary_backend=gateway needs route")
    assert errors[1].startswith("canary_gates[0].type")
    assert errors[2].startswith("canary_gateway.mirror is set and canary_steps[0]")
