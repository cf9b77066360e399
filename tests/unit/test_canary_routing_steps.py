"""Mirror and header steps of a canary release: how they parse, which backends take them,
what each step asks of the backend (the header rule and the mirror in force after every
step, played through gateway_traffic's own planner), and a step on the in-memory client
(one backend call, the weight kept, the record moved on)."""

import hashlib
import json

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.canary import (
    nginx as canary_nginx,
    record_backend,
    release_call,
    release_record as rr,
    step_run,
    step_traffic as st,
    validation as canary_validation,
)
from ansible_collections.progressive.delivery.plugins.module_utils.gateway import (
    plan as gp,
    validation as gateway_validation,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    ValidationError,
)
from ansible_collections.progressive.delivery.plugins.module_utils.report.collect import Recorder
from ansible_collections.progressive.delivery.plugins.module_utils.report.render import render

from fake_kube import FakeKube

NS = "test"
STEPS = [{"mirror": 100}, {"header": {"name": "x-canary", "value": "true"}}, {"weight": 25},
         {"pause": "10s"}, {"header": "absent"}, {"weight": 100}]
GATEWAY = {"route": "shop", "stable_service": "shop-v1", "canary_service": "shop-v2"}
NGINX = {"ingress": "shop", "canary_service": "shop-v2"}


def errors_of(steps, **kwargs):
    with pytest.raises(ValidationError) as err:
        rr.parse_steps(steps, **kwargs)
    return [(e.path, e.message) for e in err.value.errors]


# ---------------------------------------------------------------------------
# parsing
# ---------------------------------------------------------------------------
def test_mirror_and_header_steps_parse_with_their_value_and_text():
    steps = rr.parse_steps(STEPS + [{"header": {"name": "X-Canary", "regex": "^(a|b)$"}}])
    assert [s.kind for s in steps] == ["mirror", "header", "weight", "pause", "header",
                                       "weight", "header"]
    assert [s.text for s in steps] == ["mirror 100%", "header x-canary=true", "weight 25%",
                                       "pause 10s", "header removed", "weight 100%",
                                       "header X-Canary~^(a|b)$"]
    assert steps[0].value == 100
    assert steps[1].value == {"name": "x-canary", "value": "true", "type": "Exact"}
    assert steps[6].value == {"name": "X-Canary", "value": "^(a|b)$",
                              "type": "RegularExpression"}
    assert rr.parse_steps([{"mirror": "50%"}, {"weight": 1}])[0].value == 50
    report = rr.steps_report(steps[:2])
    assert report[0] == dict(index=0, kind="mirror", weight=None, seconds=None,
                             text="mirror 100%", value=100)


def test_a_record_of_weights_and_pauses_keeps_its_fingerprint():
    """A release recorded before mirror and header steps existed still resumes."""
    steps = rr.parse_steps([{"weight": 10}, {"pause": "1m"}, {"weight": 100}])
    before = hashlib.sha256(json.dumps([["weight", 10, None], ["pause", None, 60],
                                        ["weight", 100, None]], sort_keys=True)
                            .encode("utf-8")).hexdigest()[:16]
    assert rr.steps_fingerprint(steps) == before
    # a changed mirror percent or header value is a changed step list
    a = rr.steps_fingerprint(rr.parse_steps([{"mirror": 50}, {"weight": 100}]))
    b = rr.steps_fingerprint(rr.parse_steps([{"mirror": 100}, {"weight": 100}]))
    assert a != b


def test_every_bad_mirror_or_header_step_is_named():
    found = errors_of([
        {"mirror": 0}, {"mirror": 101}, {"mirror": "all"}, {"header": {"value": "1"}},
        {"header": {"name": "x-a", "value": "1", "regex": "1"}}, {"header": {"name": "x-a"}},
        {"header": {"name": "x-a", "regex": "("}}, {"header": {"name": "x a", "value": "1"}},
        {"header": {"name": "x-a", "value": "1", "cookie": "c"}}, {"header": "on"},
        {"mirror": 10, "header": {"name": "x-a", "value": "1"}},
        {"header": {"name": "x-b", "value": "1"}},
        {"weight": 5}, {"mirror": 100}, {"weight": 100}])
    assert found == [
        ("steps[0].mirror", "must be an integer percent from 1 to 100 (of the live requests "
                            "copied to the canary), got 0"),
        ("steps[1].mirror", "must be an integer percent from 1 to 100 (of the live requests "
                            "copied to the canary), got 101"),
        ("steps[2].mirror", "must be an integer percent from 1 to 100 (of the live requests "
                            "copied to the canary), got 'all'"),
        ("steps[3].header.name", "None is not an HTTP header name"),
        ("steps[4].header", "needs exactly one of value (an exact match) or regex, got value "
                            "and regex"),
        ("steps[5].header", "needs exactly one of value (an exact match) or regex, got "
                            "neither"),
        ("steps[6].header.regex", "'(' is not a regular expression: missing ), unterminated "
                                  "subpattern at position 0"),
        ("steps[7].header.name", "'x a' is not an HTTP header name"),
        ("steps[8].header.cookie", "is not a header key (name, and value or regex)"),
        ("steps[9].header", "must be {name: H, value: V}, {name: H, regex: R} or absent, "
                            "got 'on'"),
        ("steps[10]", "has both mirror and header; make them two steps"),
        ("steps[13].mirror", "comes after weight 5%: a mirror copies traffic to a canary that "
                             "has none yet; put it before the first weight step above 0"),
    ]


def test_one_header_per_release_and_absent_needs_one_before():
    found = errors_of([{"header": "absent"}, {"header": {"name": "x-a", "value": "1"}},
                       {"header": {"name": "x-b", "value": "1"}}, {"weight": 100}])
    assert found == [
        ("steps[0].header", "absent removes the header rule of an earlier header step; there "
                            "is none before it"),
        ("steps[2].header.name", "'x-b' differs from 'x-a' of steps[1]: a release routes by "
                                 "one header (a later step may change its value)")]
    # the same header with another value (any case) is fine, and so is a mirror at weight 0
    rr.parse_steps([{"weight": 0}, {"mirror": 10}, {"header": {"name": "x-a", "value": "1"}},
                    {"header": {"name": "X-A", "value": "2"}}, {"weight": 100}])


def test_a_list_of_routing_steps_only_still_needs_a_weight():
    assert errors_of([{"mirror": 100}, {"header": {"name": "x-a", "value": "1"}}]) == [
        ("steps", "has no weight step; nothing would reach the canary")]


@pytest.mark.parametrize("backend, refused", [
    ("gateway", []),
    ("nginx", [("steps[0]", "a mirror step needs the gateway backend (got nginx)")]),
    ("replicas", [("steps[0]", "a mirror step needs the gateway backend (got replicas)"),
                  ("steps[1]", "a header step needs the gateway or nginx backend (got "
                               "replicas)"),
                  ("steps[4]", "a header step needs the gateway or nginx backend (got "
                               "replicas)")]),
    ("contour", [("steps[0]", "a mirror step needs the gateway backend (got contour)"),
                 ("steps[1]", "a header step needs the gateway or nginx backend (got contour)"),
                 ("steps[4]", "a header step needs the gateway or nginx backend (got "
                              "contour)")]),
])
def test_backends_that_cannot_mirror_or_match_a_header_refuse_the_step(backend, refused):
    steps = rr.parse_steps(STEPS)
    if not refused:
        rr.check_backend(steps, backend)
        return
    with pytest.raises(ValidationError) as err:
        rr.check_backend(steps, backend)
    assert [(e.path, e.message) for e in err.value.errors] == refused


def test_canary_release_state_refuses_the_step_before_reading_when_given_the_backend():
    params = dict(name="shop", namespace=NS, state="query", version="v2", steps=STEPS,
                  backend="replicas", gates=None, gate_interval=None)
    with pytest.raises(ValidationError) as err:
        release_call.validate(params)
    assert str(err.value).startswith(
        "steps[0]: a mirror step needs the gateway backend (got replicas); steps[1]: a header "
        "step needs the gateway or nginx backend (got replicas)")
    # without a backend (the record's other writers) the steps alone are checked
    assert release_call.validate(dict(params, backend=None))[1][0].kind == "mirror"


# ---------------------------------------------------------------------------
# what each step asks of the backend
# ---------------------------------------------------------------------------
def test_the_header_and_mirror_in_force_after_each_step():
    steps = rr.parse_steps(STEPS)
    header = {"name": "x-canary", "value": "true", "type": "Exact"}
    assert [st.step_routing(steps, s.index) for s in steps] == [
        (None, 100), (header, 100), (header, "absent"), (header, "absent"),
        ("absent", "absent"), (None, "absent")]
    assert st.step_routing(steps, None) == ("absent", "absent")
    plain = rr.parse_steps([{"weight": 10}, {"weight": 100}])
    assert st.step_routing(plain, 0) == (None, None) and st.step_routing(plain, None) == (
        None, None)


def play_gateway(steps, settings=None):
    """The HTTPRoute's rules after every step's call (and the promotion's), as
    gateway_traffic plans them: its validator takes each call as the module would."""
    settings = GATEWAY if settings is None else settings
    rules, after = [], []
    ports = {"shop-v1": 80, "shop-v2": 80}
    for step in steps + [None]:
        if step is not None and step.kind == "pause":
            continue
        index = None if step is None else step.index
        weight = 100 if step is None else (step.weight if step.kind == "weight" else
                                           rr.last_weight_before(steps, step.index))
        call = st.traffic_call("gateway", settings, weight, "shop", NS, "v2", {},
                               action="promote" if step is None else "weight",
                               routing=st.step_routing(steps, index))
        assert call.module == "gateway_traffic"
        spec = gateway_validation.spec_from_params(call.params)
        rules = gp.plan_rules(spec, rules, ports)
        after.append([gp.describe_rule(r, NS) for r in rules])
    return after


def test_the_route_after_each_gateway_step():
    assert play_gateway(rr.parse_steps(STEPS)) == [
        ["/ -> shop-v1 100%, shop-v2 0% (mirror shop-v2 100%)"],
        ["/ [x-canary=true] -> shop-v2 100%", "/ -> shop-v1 100%, shop-v2 0% (mirror shop-v2 100%)"],
        ["/ [x-canary=true] -> shop-v2 100%", "/ -> shop-v1 75%, shop-v2 25%"],
        ["/ -> shop-v1 75%, shop-v2 25%"],
        ["/ -> shop-v1 0%, shop-v2 100%"],
        ["/ -> shop-v1 0%, shop-v2 100%"]]


def test_a_header_rule_stays_until_the_promotion_and_a_regex_is_a_regular_expression():
    steps = rr.parse_steps([{"header": {"name": "x-canary", "regex": "^(yes|1)$"}},
                            {"mirror": 20}, {"weight": 50}, {"weight": 100}])
    assert play_gateway(steps) == [
        ["/ [x-canary~^(yes|1)$] -> shop-v2 100%", "/ -> shop-v1 100%, shop-v2 0%"],
        ["/ [x-canary~^(yes|1)$] -> shop-v2 100%",
         "/ -> shop-v1 100%, shop-v2 0% (mirror shop-v2 20%)"],
        ["/ [x-canary~^(yes|1)$] -> shop-v2 100%", "/ -> shop-v1 50%, shop-v2 50%"],
        ["/ [x-canary~^(yes|1)$] -> shop-v2 100%", "/ -> shop-v1 0%, shop-v2 100%"],
        ["/ -> shop-v1 0%, shop-v2 100%"]]


def test_a_step_mirror_removes_only_the_copy_to_the_canary():
    steps = rr.parse_steps([{"mirror": 100}, {"weight": 10}])
    other = {"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "audit",
                                                                       "port": 80}}}
    rules = [{"matches": [gp.path_match("/")], "filters": [other], "backendRefs": [
        {"name": "shop-v1", "port": 80, "weight": 100}]}]
    ports = {"shop-v1": 80, "shop-v2": 80}
    for step in steps:
        call = st.traffic_call("gateway", GATEWAY, step.weight or 0, "shop", NS, "v2", {},
                               routing=st.step_routing(steps, step.index))
        rules = gp.plan_rules(gateway_validation.spec_from_params(call.params), rules, ports)
    assert rules[0]["filters"] == [other]


def test_the_settings_header_and_mirror_still_work_without_steps():
    settings = dict(GATEWAY, header={"name": "x-canary", "value": "true"}, mirror=100)
    steps = rr.parse_steps([{"weight": 10}, {"weight": 100}])
    assert play_gateway(steps, settings) == [
        ["/ [x-canary=true] -> shop-v2 100%", "/ -> shop-v1 90%, shop-v2 10%"],
        ["/ [x-canary=true] -> shop-v2 100%", "/ -> shop-v1 0%, shop-v2 100%"],
        ["/ -> shop-v1 0%, shop-v2 100%"]]


@pytest.mark.parametrize("backend, settings, kinds", [
    ("gateway", dict(GATEWAY, header={"name": "x-a", "value": "1"}, mirror=50),
     ["header", "mirror"]),
    ("gateway", dict(GATEWAY, mirror=50), ["mirror"]),
    ("nginx", dict(NGINX, header="x-a"), ["header"]),
])
def test_a_step_and_the_setting_of_the_same_name_are_refused_together(backend, settings, kinds):
    steps = rr.parse_steps([{"mirror": 100}, {"header": {"name": "x-a", "value": "1"}},
                            {"weight": 100}] if backend == "gateway" else
                           [{"header": {"name": "x-a", "value": "1"}}, {"weight": 100}])
    with pytest.raises(ValidationError) as err:
        st.check_step_settings(backend, settings, steps)
    assert [e.path for e in err.value.errors] == ["settings.%s" % k for k in kinds]
    assert "give the %s either as steps or as the setting, not both" % kinds[0] in \
        str(err.value)
    st.check_step_settings(backend, GATEWAY if backend == "gateway" else NGINX, steps)


def nginx_annotations(steps, index):
    step = steps[index]
    weight = step.weight if step.kind == "weight" else rr.last_weight_before(steps, index)
    call = st.traffic_call("nginx", NGINX, weight, "shop", NS, "v2", {},
                           routing=st.step_routing(steps, index))
    spec = canary_validation.validate(call.params)
    return dict((k[len(canary_nginx.NGINX):], v) for k, v in
                canary_nginx.canary_annotations(spec, weight).items()
                if k.startswith(canary_nginx.NGINX + "canary-by"))


def test_an_nginx_header_step_is_ingress_nginx_canary_by_header():
    steps = rr.parse_steps([{"header": {"name": "x-canary", "value": "true"}}, {"weight": 10},
                            {"header": {"name": "x-canary", "regex": "^(a|b)$"}},
                            {"header": "absent"}, {"weight": 50}])
    assert [nginx_annotations(steps, i) for i in range(5)] == [
        {"canary-by-header": "x-canary", "canary-by-header-value": "true"},
        {"canary-by-header": "x-canary", "canary-by-header-value": "true"},
        {"canary-by-header": "x-canary", "canary-by-header-pattern": "^(a|b)$"},
        {}, {}]


# ---------------------------------------------------------------------------
# a step on the in-memory client
# ---------------------------------------------------------------------------
def start_release(kube, steps, backend="gateway"):
    params = dict(name="shop", namespace=NS, record_name=None, state="started", version="v2",
                  steps=steps, on_resume="continue", gates=None, stable_version="v1",
                  backend=backend, step=None, phase=None, weight=None, gate_results=None,
                  reason=None, data=None, gate_interval=None)
    return record_backend.run_release_state(params, lambda: kube, clock=lambda: 1000.0)


def step_params(step, steps, **extra):
    params = dict(name="shop", namespace=NS, record_name=None, version="v2", steps=steps,
                  step=step, backend="gateway", settings=dict(GATEWAY), gates=[],
                  pods_gate=True, max_restarts=0, gate_interval="10s", wait_timeout=5)
    params.update(extra)
    return params


@pytest.fixture
def calls(monkeypatch):
    seen = []

    def move(unused_kube, call, **options):
        seen.append(call)
        return {"changed": True}

    monkeypatch.setattr(st, "move_traffic", move)
    return seen


def test_a_header_step_is_one_call_keeping_the_weight_and_is_recorded(calls):
    steps = [{"weight": 10}, {"header": {"name": "x-canary", "value": "true"}},
             {"weight": 100}]
    kube = FakeKube()
    start_release(kube, steps)
    step_run.StepRun(step_params(0, steps), kube, clock=lambda: 1001.0).run()
    result = step_run.StepRun(step_params(1, steps), kube, clock=lambda: 1002.0).run()
    assert len(calls) == 2
    assert calls[1].params["weights"] == {"shop-v1": 90, "shop-v2": 10}
    assert calls[1].params["header"] == {"name": "x-canary", "value": "true", "type": "Exact",
                                         "backend": "shop-v2", "state": "present"}
    assert calls[1].params["mirror"] is None
    assert result["title"] == "step 2/3 header x-canary=true (gateway)"
    assert result["step"]["kind"] == "header" and result["weight"] == 10
    record = result["record"]
    assert record["step"] == 1 and record["weight"] == 10
    assert record["steps"] == ["weight 10%", "header x-canary=true", "weight 100%"]


def test_a_mirror_step_fails_when_the_api_server_drops_its_percent(calls):
    steps = [{"mirror": 25}, {"weight": 100}]
    route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
             "metadata": {"name": "shop", "namespace": NS}, "spec": {"rules": [{
                 "matches": [gp.path_match("/")],
                 "filters": [{"type": "RequestMirror", "requestMirror": {
                     "backendRef": {"name": "shop-v2", "port": 80}}}],
                 "backendRefs": [{"name": "shop-v1", "port": 80, "weight": 100}]}]}}
    kube = FakeKube([route])
    start_release(kube, steps)
    with pytest.raises(step_run.StepFailed) as err:
        step_run.StepRun(step_params(0, steps), kube, clock=lambda: 1001.0).run()
    assert "did not keep requestMirror.percent 25" in str(err.value)
    assert calls[0].params["mirror"] == {"backend": "shop-v2", "percent": 25,
                                         "state": "present"}
    # with the percent kept, the step passes
    route["spec"]["rules"][0]["filters"][0]["requestMirror"]["percent"] = 25
    kube.put(route)
    result = step_run.StepRun(step_params(0, steps), kube, clock=lambda: 1002.0).run()
    assert result["record"]["weight"] == 0 and result["step"]["text"] == "mirror 25%"


def test_a_refused_step_reads_and_writes_nothing(calls):
    kube = FakeKube()
    with pytest.raises(ValidationError) as err:
        step_run.run_step(step_params(0, STEPS, backend="replicas", settings={}),
                          lambda: kube)
    assert str(err.value).startswith(
        "steps[0]: a mirror step needs the gateway backend (got replicas)")
    assert kube.requests == [] and calls == []
    with pytest.raises(ValidationError) as err:
        step_run.run_step(step_params(0, STEPS, settings=dict(GATEWAY, mirror=100)),
                          lambda: kube)
    assert str(err.value).startswith("settings.mirror: is set and steps[0] is a mirror step")
    assert kube.requests == []


def test_the_promotion_removes_what_the_steps_added(calls):
    kube = FakeKube()
    start_release(kube, STEPS)
    step_run.StepRun(step_params(None, STEPS, action="promote"), kube,
                     clock=lambda: 1001.0).run()
    assert calls[0].params["header"]["state"] == "absent"
    assert calls[0].params["mirror"] == {"backend": "shop-v2", "percent": 100,
                                         "state": "absent"}
    assert calls[0].params["weights"] == {"shop-v1": 0, "shop-v2": 100}


def test_a_resumed_release_puts_the_header_rule_back_at_the_step_it_resumes(calls):
    """A job killed after the header step, resumed at the weight step: that call alone
    carries the header rule (and removes the mirror), whatever the first job managed."""
    kube = FakeKube()
    start_release(kube, STEPS)
    step_run.StepRun(step_params(0, STEPS), kube, clock=lambda: 1001.0).run()
    step_run.StepRun(step_params(1, STEPS), kube, clock=lambda: 1002.0).run()
    started = dict(step_params(2, STEPS), action="step")
    # the killed job had recorded step 2 as started; a new job's query resumes there
    step_run.StepRun(started, kube, clock=lambda: 1003.0).write_record(phase="progressing")
    record = rr.read_record(kube.obj("ConfigMap", NS, "shop-release"))
    decision = rr.decide(record, "v2", rr.parse_steps(STEPS))
    assert (decision.action, decision.start_step) == ("resume", 2)
    calls[:] = []
    result = step_run.StepRun(step_params(2, STEPS), kube, clock=lambda: 1004.0).run()
    (call,) = calls
    assert call.params["weights"] == {"shop-v1": 75, "shop-v2": 25}
    assert call.params["header"]["state"] == "present"
    assert call.params["mirror"] == {"backend": "shop-v2", "percent": 100, "state": "absent"}
    assert result["record"]["weight"] == 25


def test_the_release_report_shows_mirror_and_header_steps_as_steps():
    steps = ["mirror 100%", "header x-canary=true", "weight 25%", "weight 100%"]
    base = dict(name="shop", namespace=NS, version="v2")

    def result(index, kind, weight, phase="progressing"):
        record = dict(version="v2", stable_version="v1", weight=weight, phase=phase,
                      step=index, steps=steps)
        return dict(record=record, evaluations=[], step=dict(index=index, kind=kind,
                                                             text=steps[index]))

    rec = Recorder()
    step = "progressive.delivery.canary_step"
    rec.task("c1", step, "Canary | prepare the canary at 0% and record the start (gateway) | shop v2",
             dict(base, action="prepare", step=None), result(0, None, 0), 1, 2)
    for index, kind, weight in ((0, "mirror", 0), (1, "header", 0), (2, "weight", 25),
                                (3, "weight", 100)):
        rec.task("c1", step, "Canary | step %d/4 | shop v2" % (index + 1), dict(base, step=index),
                 result(index, kind, weight), 3 + 2 * index, 4 + 2 * index)
    rec.task("c1", step, "Canary | promote: v2 becomes the stable version (gateway) | shop v2",
             dict(base, action="promote", step=None), result(3, None, 100, "promoted"), 12, 13)
    (report,) = rec.reports()
    assert [(s["name"], s["traffic"]) for s in report["steps"]] == [
        ("step 1/4: mirror 100%", {"v1": 100, "v2": 0}),
        ("step 2/4: header x-canary=true", {"v1": 100, "v2": 0}),
        ("step 3/4: weight 25%", {"v1": 75, "v2": 25}),
        ("step 4/4: weight 100%", {"v1": 0, "v2": 100}),
        ("promote", {"v1": 0, "v2": 100})]
    assert report["outcome"] == "promoted"
    page = render(report)
    assert "step 2/4: header x-canary=true" in page
