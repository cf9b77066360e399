"""canary_step's pure parts (the backend calls a weight makes, the gates of a moment, the
pause slices) and a step on the in-memory client: the record it leaves is the one
canary_release_state's own calls leave, a pause waits only what is left of it and records
the gates after every slice, a failed gate is recorded and then fails the step."""

import copy

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.canary import (
    record_backend,
    release_record,
    step_prepare,
    step_run,
    step_traffic,
)
from ansible_collections.progressive.delivery.plugins.module_utils.contour import (
    validation as contour_validation,
)
from ansible_collections.progressive.delivery.plugins.module_utils.canary import (
    validation as canary_validation,
)
from ansible_collections.progressive.delivery.plugins.module_utils.gateway import (
    validation as gateway_validation,
)
from ansible_collections.progressive.delivery.plugins.module_utils.knative import (
    traffic_validation,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    ValidationError,
)
from ansible_collections.progressive.delivery.plugins.module_utils.rollout import (
    validation as rollout_validation,
)

from fake_kube import FakeKube

NS = "test"
STEPS = [{"weight": 10}, {"pause": "25s"}, {"weight": 100}]
RECORD = {"total_replicas": 10, "canary_selector": {"app": "myapp", "track": "canary"},
          "stable_revision": "hello-00001", "canary_revision": "hello-00002"}


# ---------------------------------------------------------------------------
# the backend call of a weight: the module's own parameters, accepted by its validator
# ---------------------------------------------------------------------------
def test_replicas_weight_is_a_k8s_canary_call_with_the_recorded_total():
    template = {"spec": {"containers": [{"name": "app", "image": "myapp:v2"}]}}
    call = step_traffic.traffic_call(
        "replicas", {"service": "myapp", "pod_template": template, "total_replicas": 0},
        25, "myapp", NS, "v2", RECORD)
    assert call.module == "k8s_canary"
    assert call.params["weight"] == 25 and call.params["replicas"] == 10
    assert call.params["version"] == "v2" and call.params["state"] == "present"
    spec = canary_validation.validate(dict(call.params, wait=True, wait_timeout=5))
    assert spec.weight == 25 and spec.service == "myapp"


def test_nginx_weight_fills_the_nginx_suboptions():
    call = step_traffic.traffic_call("nginx", {"ingress": "myapp", "canary_service": "myapp-v2"},
                                     50, "myapp", NS, "v2", {})
    assert call.params["nginx"]["ingress"] == "myapp" and call.params["nginx"]["cookie"] is None
    assert canary_validation.validate(call.params).weight == 50


def test_contour_weight_puts_the_canary_first_and_the_rest_on_stable():
    settings = {"name": "root", "path": "/blog", "stable_service": "blog-green",
                "canary_service": "blog-blue", "port": 8080}
    call = step_traffic.traffic_call("contour", settings, 5, "blog", NS, "v2", {})
    assert call.module == "contour_delegate"
    assert call.params["services"] == [{"name": "blog-blue", "weight": 5, "port": 8080},
                                       {"name": "blog-green", "weight": 95, "port": 8080}]
    spec = contour_validation.validate(call.params)
    assert spec.path == "/blog" and spec.namespace == NS


def test_knative_weight_splits_the_recorded_revisions_and_tags_the_canary():
    call = step_traffic.traffic_call("knative", {"service": "hello"}, 10, "hello", NS, "v2",
                                     RECORD)
    assert [(t["revision"], t["percent"], t["tag"]) for t in call.params["traffic"]] == [
        ("hello-00001", 90, None), ("hello-00002", 10, "canary")]
    traffic_validation.validate(call.params, strict=False)


def test_gateway_weight_keeps_the_mirror_only_at_zero_and_the_header_until_the_end():
    settings = {"route": "shop", "stable_service": "shop-green", "canary_service": "shop-blue",
                "header": {"name": "x-canary", "value": "true"}, "mirror": 100}
    at_zero = step_traffic.traffic_call("gateway", settings, 0, "shop", NS, "v2", {})
    assert at_zero.params["mirror"] == {"backend": "shop-blue", "percent": 100,
                                        "state": "present"}
    assert at_zero.params["header"]["backend"] == "shop-blue"
    later = step_traffic.traffic_call("gateway", settings, 30, "shop", NS, "v2", {})
    assert later.params["mirror"]["state"] == "absent"
    assert later.params["weights"] == {"shop-green": 70, "shop-blue": 30}
    gateway_validation.spec_from_params(later.params)


@pytest.mark.parametrize("weight, state, pause_after", [
    (0, "present", None), (25, "present", "25%"), (100, "resumed", None)])
def test_rolling_weight_is_a_held_batch_and_100_finishes_it(weight, state, pause_after):
    call = step_traffic.traffic_call("rolling", {"images": {"app": "myapp:v2"}}, weight,
                                     "myapp", NS, "v2", {})
    assert call.module == "k8s_rollout" and call.params["name"] == "myapp"
    assert call.params["state"] == state and call.params["pause_after"] == pause_after
    assert (call.params["images"] is not None) == (weight > 0)
    rollout_validation.validate(call.params)


def test_missing_settings_are_named_by_field():
    with pytest.raises(ValidationError) as err:
        step_traffic.check_settings("contour", {"name": "root"}, {})
    assert [e.path for e in err.value.errors] == [
        "settings.path", "settings.stable_service", "settings.canary_service"]
    with pytest.raises(ValidationError) as err:
        step_traffic.check_settings("knative", {"service": "hello"}, {})
    assert [e.path for e in err.value.errors] == ["record.stable_revision",
                                                  "record.canary_revision"]


def test_the_rolling_canary_pods_are_the_rollouts():
    assert step_traffic.canary_pods_selector(
        "rolling", {}, {"pod_selector": {"pod-template-hash": "abc"}}) == {
            "pod-template-hash": "abc"}
    assert step_traffic.canary_pods_selector("contour", {"canary_selector": {"a": "b"}},
                                             None) == {"a": "b"}


# ---------------------------------------------------------------------------
# gates, titles, slices
# ---------------------------------------------------------------------------
def test_the_pods_gate_goes_first_when_the_canary_has_pods():
    user = [{"name": "smoke", "type": "http", "url": "http://127.0.0.1/"}]
    gates = step_run.gates_to_run(user, True, {"app": "a"}, NS, 2, "replicas", 10)
    assert [g["name"] for g in gates] == ["canary-pods", "smoke"]
    assert gates[0]["max_restarts"] == 2 and gates[0]["selector"] == {"app": "a"}
    # a replicas canary at 0% has no pods; no selector, or the gate turned off: none
    assert step_run.gates_to_run(user, True, {"app": "a"}, NS, 0, "replicas", 0) == user
    assert step_run.gates_to_run(user, True, {}, NS, 0, "contour", 10) == user
    assert step_run.gates_to_run(user, False, {"app": "a"}, NS, 0, "contour", 10) == user
    assert len(step_run.gates_to_run([], True, {"app": "a"}, NS, 0, "contour", 0)) == 1


def test_task_file_gates_are_left_to_the_role():
    gates = [{"type": "tasks", "file": "x.yml"}, {"type": "http", "url": "http://127.0.0.1/"}]
    assert step_run.split_gates(gates) == ([gates[1]], [gates[0]])


def test_titles_read_as_a_timeline():
    steps = release_record.parse_steps([{"weight": 25}, {"pause": "1m"}])
    assert step_run.step_title(steps[0], 4, "contour") == \
        "step 1/4 send 25% to the canary (contour)"
    assert step_run.step_title(steps[1], 4, "contour") == "step 2/4 pause 1m"


def test_a_slice_never_runs_past_the_end_of_the_pause():
    assert step_run.slice_plan(10, 1000.0, 985.0) == 10
    assert step_run.slice_plan(10, 1000.0, 995.5) == 5
    assert step_run.slice_plan(10, 1000.0, 1003.0) == 0


def test_gate_outcome_names_the_failed_gates():
    results = [dict(name="a", type="http", passed=True, message="ok", values={}),
               dict(name="b", type="http", passed=False, message="500s", values={})]
    passed, failed, summary = step_run.gate_outcome(results)
    assert not passed and [r["name"] for r in failed] == ["b"] and summary == "b: 500s"


# ---------------------------------------------------------------------------
# a step on the in-memory client
# ---------------------------------------------------------------------------
class Clock(object):
    """A clock that a fake sleep moves on."""

    def __init__(self, now):
        self.now = now
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def start_release(kube, now, data=None):
    params = dict(name="myapp", namespace=NS, record_name=None, state="started", version="v2",
                  steps=STEPS, on_resume="continue", gates=None, stable_version="v1",
                  backend="contour", step=None, phase=None, weight=None, gate_results=None,
                  reason=None, data=data, gate_interval=None)
    return record_backend.run_release_state(params, lambda: kube, clock=lambda: now)


def step_params(step, **extra):
    params = dict(name="myapp", namespace=NS, record_name=None, version="v2", steps=STEPS,
                  step=step, backend="contour", settings={}, gates=[], pods_gate=True,
                  max_restarts=0, gate_interval="10s", wait_timeout=5)
    params.update(extra)
    return params


def pod(name, ready=True, restarts=0):
    return {"kind": "Pod", "apiVersion": "v1",
            "metadata": {"name": name, "namespace": NS, "labels": {"app": "myapp"}},
            "status": {"conditions": [{"type": "Ready", "status": str(ready)}],
                       "containerStatuses": [{"restartCount": restarts}]}}


def test_a_pause_waits_in_slices_with_the_gates_recorded_after_each():
    kube = FakeKube([pod("myapp-v2-a")])
    start_release(kube, 1000.0, data={"canary_selector": {"app": "myapp"}})
    clock = Clock(1001.0)
    result = step_run.StepRun(step_params(1), kube, clock=clock, sleep=clock.sleep).run()
    assert clock.slept == [10, 10, 5]
    assert result["remaining"] == 25 and result["waited"] == 25
    assert len(result["evaluations"]) == 3
    assert [g["name"] for g in result["gate_results"]] == ["canary-pods"] and result["passed"]
    record = result["record"]
    assert record["step"] == 1 and record["step_started"] == 1001.0
    # the step's start and the first slice's gate results; the later slices' gates answered
    # the same, which the record holds already: nothing to write (release_call.record_after)
    assert record["gates_checked"] == 1011.0
    assert [w[0] for w in kube.writes() if w[1] == "ConfigMap"] == ["create"] + ["patch"] * 2


def test_a_steps_later_record_writes_patch_without_reading_the_record_again():
    """The step's start and its gate results: two patches of the record, one read (the
    second patch carries the resourceVersion the first one's answer gave)."""
    kube = FakeKube([pod("myapp-v2-a", ready=False)])
    start_release(kube, 1000.0, data={"canary_selector": {"app": "myapp"}})
    del kube.requests[:]
    clock = Clock(1001.0)
    with pytest.raises(step_run.StepFailed):
        step_run.StepRun(step_params(1), kube, clock=clock, sleep=clock.sleep).run()
    assert [r[0] for r in kube.requests if r[1] == "ConfigMap"] == ["get", "patch", "patch"]


def test_a_record_written_by_another_job_between_a_steps_writes_is_read_again_not_overwritten():
    """Someone else writes the record after the step's start was recorded: the next patch
    (with the resourceVersion this call wrote) gets a 409; the record is read again and
    this call's event applied to it, keeping the other writer's change."""
    kube = FakeKube([pod("myapp-v2-a", ready=False)])
    start_release(kube, 1000.0, data={"canary_selector": {"app": "myapp"}})
    del kube.requests[:]

    def another_writer(fake, key):
        if key[0] == "ConfigMap" and not another_writer.done:
            another_writer.done = True
            other = copy.deepcopy(fake.store[key])
            other["metadata"].setdefault("labels", {})["owner"] = "someone-else"
            fake.put(other)
    another_writer.done = False
    kube.after_write = another_writer
    clock = Clock(1001.0)
    with pytest.raises(step_run.StepFailed):
        step_run.StepRun(step_params(1), kube, clock=clock, sleep=clock.sleep).run()
    assert [r[0] for r in kube.requests if r[1] == "ConfigMap"] == [
        "get", "patch", "patch", "get", "patch"]
    configmap = kube.obj("ConfigMap", NS, "myapp-release")
    assert configmap["metadata"]["labels"]["owner"] == "someone-else"
    record = release_record.read_record(configmap)
    assert record["step"] == 1 and [g["passed"] for g in record["gates"]] == [False]


def test_a_resumed_pause_waits_only_what_is_left():
    kube = FakeKube()
    start_release(kube, 1000.0)
    first = Clock(1001.0)
    # the first job ran the pause's start and was killed 18 s into it
    step_run.StepRun(step_params(1, gate_interval="30s"), kube, clock=first,
                     sleep=lambda s: None).run()
    clock = Clock(1019.0)
    result = step_run.StepRun(step_params(1), kube, clock=clock, sleep=clock.sleep).run()
    assert result["remaining"] == 7 and clock.slept == [7]
    assert result["record"]["step_started"] == 1001.0


def test_a_failed_gate_is_recorded_then_fails_the_step():
    kube = FakeKube([pod("myapp-v2-a", ready=False)])
    start_release(kube, 1000.0, data={"canary_selector": {"app": "myapp"}})
    clock = Clock(1001.0)
    with pytest.raises(step_run.StepFailed) as err:
        step_run.StepRun(step_params(1), kube, clock=clock, sleep=clock.sleep).run()
    assert "gate(s) failed for myapp v2 step 2/3 pause 25s: canary-pods: 0/1 pods ready" \
        in str(err.value)
    failure = err.value.result
    assert failure["failed_gates"] == ["canary-pods"] and failure["step"]["index"] == 1
    # the first slice's gates failed: no more waiting, and the record has the results
    assert clock.slept == [10]
    record = release_record.read_record(kube.obj("ConfigMap", NS, "myapp-release"))
    assert [g["passed"] for g in record["gates"]] == [False]


def test_check_mode_writes_nothing_and_does_not_wait():
    kube = FakeKube()
    start_release(kube, 1000.0)
    before = len(kube.writes())
    clock = Clock(1001.0)
    result = step_run.StepRun(step_params(1), kube, check_mode=True, clock=clock,
                              sleep=clock.sleep).run()
    assert clock.slept == [] and len(kube.writes()) == before
    assert result["record"]["step"] == 1


def test_bad_input_reads_nothing():
    kube = FakeKube()
    with pytest.raises(ValidationError) as err:
        step_run.run_step(step_params(7, gates=[{"type": "nope"}]), lambda: kube)
    assert [e.path for e in err.value.errors] == ["step", "gates[0].type"]
    assert kube.requests == []


def test_a_step_of_another_version_is_refused_with_the_record_beside_it():
    kube = FakeKube()
    start_release(kube, 1000.0)
    with pytest.raises(step_run.StepFailed) as err:
        step_run.StepRun(step_params(0, version="v3"), kube).run()
    assert "the recorded release is of version v2, not v3" in str(err.value)


# ---------------------------------------------------------------------------
# the promotion
# ---------------------------------------------------------------------------
PROMOTE_SETTINGS = {
    "replicas": {"service": "myapp"},
    "nginx": {"ingress": "myapp", "canary_service": "myapp-v2"},
    "contour": {"name": "root", "path": "/blog", "stable_service": "g", "canary_service": "b"},
    "knative": {"service": "hello"},
    "gateway": {"route": "shop", "stable_service": "g", "canary_service": "b",
                "header": {"name": "x-canary", "value": "true"}, "mirror": 50},
    "rolling": {"images": {"app": "myapp:v2"}},
}
VALIDATORS = {
    "k8s_canary": canary_validation.validate,
    "contour_delegate": contour_validation.validate,
    "knative_traffic": lambda p: traffic_validation.validate(p, strict=False),
    "gateway_traffic": gateway_validation.spec_from_params,
    "k8s_rollout": rollout_validation.validate,
}


@pytest.mark.parametrize("backend", sorted(PROMOTE_SETTINGS))
def test_a_promotion_is_the_backend_modules_own_promotion(backend):
    call = step_traffic.traffic_call(backend, PROMOTE_SETTINGS[backend], None, "myapp", NS,
                                     "v2", RECORD, action="promote")
    VALIDATORS[call.module](call.params)
    params = call.params
    if call.module == "k8s_canary":
        assert params["state"] == "promoted" and params["weight"] is None
    elif backend == "contour":
        assert [(s["name"], s["weight"]) for s in params["services"]] == [("b", 100), ("g", 0)]
    elif backend == "knative":
        assert [(t["revision"], t["percent"], t["tag"]) for t in params["traffic"]] == [
            ("hello-00002", 100, None), ("hello-00001", 0, "previous")]
    elif backend == "gateway":
        assert params["weights"] == {"g": 0, "b": 100}
        assert params["header"]["state"] == "absent" and params["mirror"]["state"] == "absent"
    else:
        assert params["state"] == "resumed" and params["pause_after"] is None
        assert params["images"] == {"app": "myapp:v2"}


def test_step_and_action_are_checked_together():
    with pytest.raises(ValidationError) as err:
        step_run.validate(step_params(None))
    assert "is required with action=step" in str(err.value)
    with pytest.raises(ValidationError) as err:
        step_run.validate(step_params(0, action="promote"))
    assert "is not used with action=promote" in str(err.value)
    assert step_run.validate(step_params(None, action="promote"))[1] is None


def test_a_promotion_is_recorded_before_and_after_the_backend(monkeypatch):
    kube = FakeKube()
    start_release(kube, 1000.0)
    seen = []

    def backend(unused_kube, call, **options):
        seen.append((call.module, release_record.read_record(
            kube.obj("ConfigMap", NS, "myapp-release"))["phase"]))
        return {"changed": True}

    monkeypatch.setattr(step_traffic, "move_traffic", backend)
    params = step_params(None, action="promote",
                         settings=PROMOTE_SETTINGS["contour"])
    result = step_run.StepRun(params, kube, clock=lambda: 1100.0).run()
    assert seen == [("contour_delegate", "promoting")]
    assert result["record"]["phase"] == "promoted" and result["record"]["weight"] == 100
    assert result["record"]["message"] == "v2 promoted" and result["changed"]


# ---------------------------------------------------------------------------
# the preparation
# ---------------------------------------------------------------------------
def test_a_replicas_canary_that_cannot_be_adopted_or_created_is_refused():
    result = {"canary": {"exists": False, "deployment": "myapp-canary"},
              "stable": {"version": "v1"}, "total_replicas": 4, "canary_selector": {"a": "b"}}
    with pytest.raises(step_prepare.PrepareRefused) as err:
        step_prepare.prepared_replicas({}, result)
    assert "no canary Deployment myapp-canary to adopt" in str(err.value)
    prepared = step_prepare.prepared_replicas({"pod_template": {"spec": {}}}, result)
    assert prepared == ("v1", {"total_replicas": 4, "canary_selector": {"a": "b"}})


def test_rolling_and_knative_keep_what_abort_needs():
    rolling = step_prepare.prepared_rolling({"current_revision": 3, "history": [
        {"current": False, "images": {"app": "old"}}, {"current": True, "images": {"app": "v1"}}]})
    assert rolling == ("v1", {"stable_revision": "3", "canary_selector": {}})
    assert step_prepare.stable_revision_of([{"name": "a", "traffic_percent": 0},
                                            {"name": "b", "traffic_percent": 100}]) == "b"
    assert step_prepare.stable_revision_of([{"name": "a", "traffic_percent": 50}]) is None
    knative = step_prepare.prepared_knative({}, "hello-00001", {
        "traffic": [{"revision": "hello-00001", "tag": None},
                    {"revision": "hello-00002", "tag": "canary"}],
        "tag_urls": {"canary": "http://canary-hello.test.example.com"}})
    assert knative.data == {"stable_revision": "hello-00001", "canary_revision": "hello-00002",
                            "canary_selector": {},
                            "canary_tag_url": "http://canary-hello.test.example.com"}


class KnativeKube(FakeKube):
    def apply(self, resource, namespace, name, body, field_manager, dry_run=False):
        self.applied = (name, body, field_manager, dry_run)
        obj = self.obj(resource.kind, namespace, name)
        obj["spec"]["template"] = body["spec"]["template"]
        obj["metadata"]["generation"] += 1
        return self.put(obj)


def test_knative_prepare_pins_stable_writes_the_template_then_adds_the_canary(monkeypatch):
    kube = KnativeKube([{"apiVersion": "serving.knative.dev/v1", "kind": "Service",
                         "metadata": {"name": "hello", "namespace": NS, "generation": 1},
                         "spec": {"template": {}}}])
    calls = []

    def backend(unused_kube, call, **options):
        calls.append([(t["revision"], t["percent"], t["tag"]) for t in call.params["traffic"]])
        return {"changed": True, "traffic": [{"revision": "hello-00001", "tag": None},
                                             {"revision": "hello-00002", "tag": "canary"}],
                "tag_urls": {"canary": "http://canary"}}

    monkeypatch.setattr(step_traffic, "move_traffic", backend)
    template = {"spec": {"containers": [{"image": "hello:v2"}]}}
    params = step_params(None, action="prepare", backend="knative",
                         settings={"service": "hello", "stable_revision": "hello-00001",
                                   "template": template}, stable_version=None)
    result = step_run.StepRun(params, kube, clock=lambda: 1000.0).run()
    assert calls == [[("hello-00001", 100, None)],
                     [("hello-00001", 100, None), ("@latest_created", 0, "canary")]]
    assert kube.applied[0] == "hello" and kube.applied[2] == "progressive.delivery-canary"
    assert kube.applied[1]["spec"]["template"] == template
    record = result["record"]
    assert record["phase"] == "progressing" and record["step"] == 0 and record["weight"] == 0
    assert record["stable_version"] == "hello-00001" and record["backend"] == "knative"
    assert record["canary_revision"] == "hello-00002"
    assert record["canary_tag_url"] == "http://canary"
