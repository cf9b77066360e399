"""canary_release_state on the engine, with the in-memory fake client: a release starts
(the record's ConfigMap is created), is resumed at the recorded step, a pause reports what
is left of it; a 409 (another job wrote the record) re-plans on the fresh record; check
mode writes nothing; refusals write nothing."""

import json

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.canary import (
    record_backend,
    release_record,
)
from ansible_collections.progressive.delivery.plugins.module_utils.canary.release_call import (
    RecordError,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    ValidationError,
)

from fake_kube import FakeKube

NS = "test"
STEPS = [{"weight": 1}, {"pause": "10m"}, {"weight": 10}, {"pause": "2m"}, {"weight": 100}]
ANNOTATION = release_record.RECORD_ANNOTATION


def call(kube, now, check_mode=False, **params):
    """The module's parameters with its defaults, run at the clock ``now``."""
    base = dict(name="myapp", namespace=NS, record_name=None, state="query", version="v2",
                steps=STEPS, on_resume="continue", gates=None, stable_version=None,
                backend=None, step=None, phase=None, weight=None, gate_results=None,
                reason=None, data=None, gate_interval=None)
    base.update(params)
    return record_backend.run_release_state(base, lambda: kube, check_mode=check_mode,
                                            clock=lambda: now)


def stored_record(kube):
    configmap = kube.obj("ConfigMap", NS, "myapp-release")
    return json.loads(configmap["metadata"]["annotations"][ANNOTATION])


def test_start_creates_the_record_then_resume_continues_at_the_recorded_step():
    kube = FakeKube()
    first = call(kube, 1000.0)
    assert first["decision"] == "start" and first["start_step"] == 0
    assert first["changed"] is False and kube.writes() == []

    started = call(kube, 1000.0, state="started", stable_version="v1", backend="replicas",
                   data={"total_replicas": 10})
    assert started["changed"] is True
    assert kube.writes() == [("create", "ConfigMap", "myapp-release")]
    configmap = kube.obj("ConfigMap", NS, "myapp-release")
    assert configmap["metadata"]["labels"] == {
        "app.kubernetes.io/managed-by": "progressive.delivery",
        "progressive.delivery/release-of": "myapp"}
    assert stored_record(kube) == started["record"]
    assert started["record"]["phase"] == "progressing" and started["record"]["attempt"] == 1
    assert started["record"]["total_replicas"] == 10
    assert configmap["data"]["summary"] == started["message"]

    # step 2 (index 1, the 10m pause) begins at 1100; the job is killed; a new run at 1400
    at_pause = call(kube, 1100.0, state="present", step=1, weight=1, gate_interval="2m")
    assert at_pause["remaining"] == 600 and at_pause["pause_chunks"] == [120] * 5
    assert [w[0] for w in kube.writes()] == ["create", "patch"]
    resumed = call(kube, 1400.0)
    assert resumed["decision"] == "resume" and resumed["start_step"] == 1
    assert resumed["weight_before_start"] == 1
    assert resumed["message"].endswith("continuing at step 2 (pause 10m)")
    assert resumed["elapsed"] == 300
    # the same step recorded again keeps its start: only what is left of the pause remains
    again = call(kube, 1400.0, state="present", step=1, gate_interval="2m")
    assert again["remaining"] == 300 and again["pause_chunks"] == [120, 120, 60]


def test_an_event_the_record_holds_already_writes_nothing():
    kube = FakeKube()
    call(kube, 1000.0, state="started")
    gates = [{"name": "errors", "passed": True}]
    first = call(kube, 1100.0, state="present", step=1, weight=1, phase="progressing",
                 gate_results=gates)
    assert first["changed"] is True
    writes = list(kube.writes())
    # later, the same event again (a re-run task, a pause slice whose gates said the same)
    again = call(kube, 1200.0, state="present", step=1, weight=1, phase="progressing",
                 gate_results=gates)
    assert again["changed"] is False and kube.writes() == writes
    assert again["record"] == first["record"] == stored_record(kube)
    assert again["elapsed"] == 100  # the step still started at 1100
    # anything new is written: other gate results, a reason
    failed = [{"name": "errors", "passed": False}]
    moved = call(kube, 1300.0, state="present", step=1, gate_results=failed)
    assert moved["changed"] is True and stored_record(kube)["gates_checked"] == 1300.0
    assert call(kube, 1400.0, state="present", step=1, reason="held")["changed"] is True


def test_a_conflict_applies_the_event_to_the_fresh_record():
    kube = FakeKube()
    call(kube, 1000.0, state="started")
    raced = []

    def other_job(fake, verb, key):
        if verb == "patch" and not raced:  # another job records gate results first
            raced.append(key)
            obj = fake.obj(*key)
            record = json.loads(obj["metadata"]["annotations"][ANNOTATION])
            record["gates"] = [{"name": "errors", "passed": True}]
            obj["metadata"]["annotations"][ANNOTATION] = json.dumps(record)
            fake._store(key, obj, bump_generation=False)

    kube.before_write = other_job
    result = call(kube, 1010.0, state="present", step=2, weight=10)
    assert raced and [w[0] for w in kube.writes()] == ["create", "patch", "patch"]
    record = stored_record(kube)
    assert record["step"] == 2 and record["weight"] == 10
    assert record["gates"] == [{"name": "errors", "passed": True}]  # theirs, not overwritten
    assert result["record"] == record and result["changed"] is True


def test_check_mode_writes_nothing_and_reports_the_record_it_would_write():
    kube = FakeKube()
    call(kube, 1000.0, state="started")
    writes = list(kube.writes())
    result = call(kube, 1020.0, check_mode=True, state="present", step=2, weight=10)
    assert result["changed"] is True and result["record"]["step"] == 2
    assert result["diff"]["before"]["step"] == 0 and result["diff"]["after"]["step"] == 2
    assert "history" not in result["diff"]["after"]
    assert kube.writes() == writes and stored_record(kube)["step"] == 0


def test_absent_deletes_the_record_once():
    kube = FakeKube()
    call(kube, 1000.0, state="started")
    gone = call(kube, 1001.0, state="absent", version=None, steps=None)
    assert gone["changed"] is True and gone["message"] == "record myapp-release deleted"
    assert gone["record"] is None and kube.obj("ConfigMap", NS, "myapp-release") is None
    again = call(kube, 1002.0, state="absent", version=None, steps=None)
    assert again["changed"] is False and again["message"] == "no record"


def test_refusals_and_bad_input_write_nothing():
    kube = FakeKube()
    with pytest.raises(RecordError, match="no release is recorded in ConfigMap test/myapp-"
                                          "release; start one with state=started"):
        call(kube, 1000.0, state="present", step=1)
    call(kube, 1000.0, state="started")
    with pytest.raises(RecordError, match="rerun with version v2 to continue it"):
        call(kube, 1001.0, version="v3")
    with pytest.raises(RecordError, match="the recorded release is of version v2, not v3"):
        call(kube, 1001.0, version="v3", state="present", step=1)
    with pytest.raises(ValidationError) as err:
        call(kube, 1001.0, state="present", step=9, steps=STEPS + [{"pause": "soon"}])
    assert [e.path for e in err.value.errors] == ["steps[5].pause"]
    assert kube.writes() == [("create", "ConfigMap", "myapp-release")]
