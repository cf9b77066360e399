"""The canary release state machine (pure): steps and durations, the record, and what a
run does next given the record (start, resume at a step, done, roll back)."""

import json

import pytest

from ansible_collections.progressive.delivery.plugins.filter.duration import (
    parse_duration as filter_parse_duration,
)
from ansible_collections.progressive.delivery.plugins.module_utils.canary import release_record as cs
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    ValidationError,
)

SEED_STEPS = [{"weight": 1}, {"pause": "10m"}, {"weight": 10}, {"pause": "2m"},
              {"weight": 50}, {"pause": "2m"}, {"weight": 100}]


# ---------------------------------------------------------------------------
# durations and steps
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("value, seconds", [
    (30, 30), ("30", 30), ("90s", 90), ("10m", 600), ("1h", 3600), ("1h30m", 5400),
    ("2m 30s", 150), ("500ms", 0.5), ("1.5m", 90), (0, 0), ("0s", 0), (2.5, 2.5), (" 10M ", 600),
])
def test_durations(value, seconds):
    assert cs.parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["", "10x", "m", "-5s", -1, "10 minutes", True, "5m!", None,
                                   "soon", [1]])
def test_bad_durations_name_the_value(value):
    with pytest.raises(ValueError) as err:
        cs.parse_duration(value)
    assert repr(value) in str(err.value) or "negative" in str(err.value)


@pytest.mark.parametrize("value", [30, "30", "90s", "10m", "1h30m", "2m 30s", "500ms", "1.5m",
                                   "", "10x", "-5s", -1, True, "5m!"])
def test_same_grammar_as_the_duration_filter(value):
    def outcome(parse):
        try:
            return parse(value)
        except ValueError:
            return "error"
    assert outcome(cs.parse_duration) == outcome(filter_parse_duration)


@pytest.mark.parametrize("seconds, text", [(600, "10m"), (5400, "1h30m"), (90, "1m30s"),
                                           (30, "30s"), (0.5, "0.5s"), (3600, "1h"),
                                           (3661, "1h1m1s")])
def test_format_duration(seconds, text):
    assert cs.format_duration(seconds) == text


def test_seed_steps_parse():
    steps = cs.parse_steps(SEED_STEPS)
    assert [s.text for s in steps] == ["weight 1%", "pause 10m", "weight 10%", "pause 2m",
                                       "weight 50%", "pause 2m", "weight 100%"]
    assert [s.seconds for s in steps if s.kind == "pause"] == [600, 120, 120]
    assert [s.index for s in steps] == list(range(7))
    assert cs.parse_steps([{"pause": {"duration": "1h"}}, {"weight": "5"}])[0].seconds == 3600


def test_every_bad_step_is_reported_with_its_path():
    with pytest.raises(ValidationError) as err:
        cs.parse_steps([
            {"weight": 10}, {"setWeight": 20}, {"weight": -5}, {"pause": None},
            {"pause": "soon"}, {"weight": 5}, {"pause": {}},
            {"pause": {"duration": "1m", "until": "x"}},
            {"weight": 50, "pause": "1m"}, {}, "weight 60", {"pause": 0}, {"weight": 101},
            {"weight": 2.5},
        ])
    found = [(e.path, e.message) for e in err.value.errors]
    paths = [path for path, unused in found]
    assert paths == [
        "steps[1].setWeight", "steps[2].weight", "steps[3].pause", "steps[4].pause",
        "steps[5].weight", "steps[6].pause.duration", "steps[7].pause.until", "steps[8]",
        "steps[9]", "steps[10]", "steps[11].pause", "steps[12].weight", "steps[13].weight"]
    messages = dict(found)
    assert "did you mean 'weight'?" in messages["steps[1].setWeight"]
    assert messages["steps[2].weight"] == "must be an integer percent from 0 to 100, got -5"
    assert "never waits for a person" in messages["steps[3].pause"]
    assert messages["steps[4].pause"].startswith("'soon' is not a duration")
    assert messages["steps[5].weight"] == ("5 does not increase on the previous weight 10; "
                                           "weights must increase from step to step")
    assert messages["steps[8]"] == "has both weight and pause; make them two steps"
    assert messages["steps[11].pause"] == "must be longer than 0, got 0"


@pytest.mark.parametrize("steps, message", [
    ([], "must be a non-empty list"), (None, "must be a non-empty list"),
    ("weight: 10", "must be a non-empty list"), ([{"pause": "1m"}], "has no weight step"),
])
def test_bad_step_lists(steps, message):
    with pytest.raises(ValidationError) as err:
        cs.parse_steps(steps)
    assert message in str(err.value)


def test_non_increasing_weights_can_be_allowed():
    steps = cs.parse_steps([{"weight": 10}, {"weight": 10}], require_increasing=False)
    assert len(steps) == 2


def test_fingerprint_follows_the_meaning_of_the_steps():
    a = cs.steps_fingerprint(cs.parse_steps([{"weight": 10}, {"pause": "2m"}]))
    b = cs.steps_fingerprint(cs.parse_steps([{"weight": "10"}, {"pause": 120}]))
    c = cs.steps_fingerprint(cs.parse_steps([{"weight": 10}, {"pause": "3m"}]))
    assert a == b != c


@pytest.mark.parametrize("remaining, interval, chunks", [
    (25, 10, [10, 10, 5]), (30, 10, [10, 10, 10]), (5, 10, [5]), (0, 10, [0]), (-3, 10, [0]),
    (600, 30, [30] * 20), (2.2, 1, [1, 1, 1]), (7, 0, [7]), (7, None, [7]),
])
def test_pause_chunks(remaining, interval, chunks):
    assert cs.pause_chunks(remaining, interval) == chunks


def test_last_weight_before():
    steps = cs.parse_steps(SEED_STEPS)
    assert [cs.last_weight_before(steps, i) for i in range(8)] == [0, 1, 1, 10, 10, 50, 50, 100]


# ---------------------------------------------------------------------------
# the record and the decisions
# ---------------------------------------------------------------------------
STEPS = cs.parse_steps(SEED_STEPS)


def record(phase="progressing", version="v2", step=3, steps=None, **kw):
    rec = cs.new_record("myapp", version, "v1", "replicas", steps or STEPS, now=1000.0)
    rec.update(phase=phase, step=step, **kw)
    return rec


def test_no_record_starts_at_the_first_step():
    decision = cs.decide(None, "v2", STEPS)
    assert decision.action == "start" and decision.start_step == 0


def test_interrupted_release_resumes_at_its_step():
    decision = cs.decide(record(step=3), "v2", STEPS)
    assert decision.action == "resume" and decision.start_step == 3
    assert decision.message == ("release of myapp v2 is progressing (step 4 of 7, weight 0%): "
                                "continuing at step 4 (pause 2m)")


def test_interrupted_release_rolls_back_on_request():
    assert cs.decide(record(), "v2", STEPS, "rollback").action == "rollback"


def test_finished_releases():
    assert cs.decide(record("promoted"), "v2", STEPS).action == "done"
    assert cs.decide(record("promoted"), "v2", STEPS, "rollback").action == "done"
    assert cs.decide(record("promoted", version="v1"), "v2", STEPS).action == "start"
    assert cs.decide(record("aborted"), "v2", STEPS).action == "start"
    assert cs.decide(record("aborted", version="v1"), "v2", STEPS).action == "start"


def test_promotion_and_rollback_under_way_are_finished():
    assert cs.decide(record("promoting"), "v2", STEPS).action == "promote"
    assert cs.decide(record("promoting"), "v2", STEPS, "rollback").action == "promote"
    assert cs.decide(record("aborting"), "v2", STEPS).action == "rollback"
    assert cs.decide(record("aborting", version="v1"), "v2", STEPS).action == "rollback"
    with pytest.raises(cs.ReleaseConflict, match="rerun with version v1 to finish"):
        cs.decide(record("promoting", version="v1"), "v2", STEPS)


def test_another_version_in_flight_is_refused_or_rolled_back():
    with pytest.raises(cs.ReleaseConflict) as err:
        cs.decide(record(version="v1"), "v2", STEPS)
    assert str(err.value) == (
        "release of myapp v1 is progressing (step 4 of 7, weight 0%); rerun with version v1 "
        "to continue it, or with on_resume=rollback to roll it back first")
    assert cs.decide(record(version="v1"), "v2", STEPS, "rollback").action == "rollback"


def test_changed_steps_are_refused():
    other = cs.parse_steps([{"weight": 5}, {"weight": 100}])
    with pytest.raises(cs.ReleaseConflict, match="its steps were changed"):
        cs.decide(record(), "v2", other)
    assert cs.decide(record(), "v2", other, "rollback").action == "rollback"


def test_garbage_records_do_not_block():
    assert cs.decide({"phase": "dancing"}, "v2", STEPS).action == "start"
    assert cs.decide(record(step=99), "v2", STEPS).start_step == 0
    with pytest.raises(ValueError):
        cs.decide(None, "v2", STEPS, "maybe")


def test_read_record():
    rec = record()
    cm = {"metadata": {"annotations": {cs.RECORD_ANNOTATION: json.dumps(rec)}}}
    assert cs.read_record(cm) == rec
    assert cs.read_record(None) is None
    assert cs.read_record({"metadata": {}}) is None
    assert cs.read_record({"metadata": {"annotations": {cs.RECORD_ANNOTATION: "{"}}}) is None
    assert cs.read_record({"metadata": {"annotations": {cs.RECORD_ANNOTATION: "[]"}}}) is None


def test_step_start_is_kept_while_on_the_step():
    rec = record(step=0)
    rec = cs.update_record(rec, 1100.0, step=1)
    assert rec["step_started"] == 1100.0
    rec = cs.update_record(rec, 1200.0, step=1, gates=[{"name": "g", "passed": True}])
    assert rec["step_started"] == 1100.0  # same step: a resumed pause keeps its start
    assert rec["gates_checked"] == 1200.0 and rec["updated"] == 1200.0
    rec = cs.update_record(rec, 1300.0, step=2, weight=10)
    assert rec["step_started"] == 1300.0 and rec["weight"] == 10
    rec = cs.update_record(rec, 1400.0, phase="aborting", message="gate failed")
    assert rec["step_started"] == 1400.0 and rec["message"] == "gate failed"
    assert [(h["step"], h["phase"]) for h in rec["history"]] == [
        (1, "progressing"), (2, "progressing"), (2, "aborting")]


def test_history_is_bounded():
    rec = record(step=0)
    for i in range(100):
        rec = cs.update_record(rec, 1000.0 + i, step=i % 7)
    assert len(rec["history"]) == cs.HISTORY_LIMIT


def test_pause_remaining_after_a_restart():
    pause = STEPS[1]  # 10m
    rec = record(step=1)
    rec["step_started"] = 1000.0
    assert cs.pause_remaining(rec, pause, 1000.0) == 600
    assert cs.pause_remaining(rec, pause, 1250.0) == 350
    assert cs.pause_remaining(rec, pause, 5000.0) == 0
    assert cs.pause_remaining(rec, pause, 900.0) == 600  # clock went back: full pause
    rec["step"] = 0
    assert cs.pause_remaining(rec, pause, 1250.0) == 600  # not on that step yet


def test_describe():
    assert cs.describe(None) == "no release recorded"
    assert cs.describe(record(step=0, weight=1)) == (
        "release of myapp v2 is progressing (step 1 of 7, weight 1%)")
