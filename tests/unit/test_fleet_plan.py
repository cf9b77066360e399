"""The fleet's pure logic: waves split as Ansible's serial splits hosts, what a cluster
does in a run, when the fleet halts and what rolls back then."""
import json

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.fleet import plan
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    ValidationError,
)

HOSTS10 = ["c%d" % i for i in range(10)]


@pytest.mark.parametrize("hosts, waves, sizes", [
    (HOSTS10, [1, "25%", "100%"], [1, 2, 7]),
    (["a", "b", "c"], [1, "25%", "100%"], [1, 1, 1]),
    (["a", "b", "c"], [1, 1, 1], [1, 1, 1]),
    (["a", "b", "c"], [1], [1, 1, 1]),                 # the last entry repeats
    (["a", "b", "c"], ["100%"], [3]),
    (HOSTS10, ["10%", "30%"], [1, 3, 3, 3]),
    (HOSTS10, [2, "5"], [2, 5, 3]),                    # numbers as strings too
    (["a"], [5, "50%"], [1]),
    ([], [1, "25%"], []),
    (HOSTS10, ["1%"], [1] * 10),                       # a percent is at least one cluster
])
def test_waves_split_like_serial(hosts, waves, sizes):
    split = plan.split_waves(hosts, waves)
    assert [len(w) for w in split] == sizes
    assert [h for w in split for h in w] == hosts      # inventory order, each cluster once


@pytest.mark.parametrize("waves, field, words", [
    ([0, 1], "fleet_waves[0]", "at least 1"),
    ([1, "0%"], "fleet_waves[1]", "above 0"),
    ([1, "150%"], "fleet_waves[1]", "at most 100"),
    (["a quarter"], "fleet_waves[0]", "'a quarter'"),
    ([True], "fleet_waves[0]", "True"),
    ([], "fleet_waves", "non-empty"),
    ("1,25%", "fleet_waves", "non-empty list"),
])
def test_bad_waves_name_the_entry_and_value(waves, field, words):
    with pytest.raises(ValidationError) as err:
        plan.split_waves(["a", "b"], waves)
    assert field in str(err.value) and words in str(err.value)


def test_every_bad_entry_at_once():
    with pytest.raises(ValidationError) as err:
        plan.split_waves(["a"], [0, "x", 2])
    assert [e.path for e in err.value.errors] == ["fleet_waves[0]", "fleet_waves[1]"]


def test_wave_of():
    split = plan.split_waves(HOSTS10, [1, "25%", "100%"])
    assert plan.wave_of(split, "c0") == 0
    assert plan.wave_of(split, "c2") == 1
    assert plan.wave_of(split, "c9") == 2
    assert plan.wave_of(split, "other") is None


def record_cm(record):
    return {"metadata": {"annotations": {plan.RECORD_ANNOTATION: json.dumps(record)}}}


def test_record_round_trip_and_garbage():
    rec = plan.new_record("shop-v2", "v2", 0, "baked", 100.5)
    assert plan.read_record(record_cm(rec)) == rec
    assert plan.read_record(None) == {}
    assert plan.read_record({"metadata": {"annotations": {plan.RECORD_ANNOTATION: "{oops"}}}) == {}
    assert plan.read_record({"metadata": {}}) == {}
    with pytest.raises(ValueError):
        plan.new_record("shop-v2", "v2", 0, "half-done", 1)


@pytest.mark.parametrize("record, action", [
    ({}, "release"),
    (plan.new_record("shop-v2", "v2", 0, "baked", 1), "recheck"),
    (plan.new_record("shop-v2", "v2", 0, "released", 1), "release"),      # bake unfinished
    (plan.new_record("shop-v2", "v2", 0, "rolled_back", 1), "release"),   # a retry
    (plan.new_record("shop-v1", "v1", 0, "baked", 1), "release"),         # an older release
    (plan.new_record("shop-v2", "v3", 0, "baked", 1), "release"),
])
def test_cluster_action(record, action):
    assert plan.cluster_action(record, "shop-v2", "v2") == action


@pytest.mark.parametrize("value, size, allowed", [
    (0, 5, 0), (2, 5, 2), ("1", 5, 1), ("50%", 5, 2), ("10%", 5, 0), ("100%", 3, 3),
])
def test_max_failed(value, size, allowed):
    assert plan.max_failed(value, size) == allowed


@pytest.mark.parametrize("value", [-1, "lots", None, True, "120%"])
def test_bad_max_failed(value):
    with pytest.raises(ValidationError) as err:
        plan.max_failed(value, 4)
    assert "fleet_max_failed" in str(err.value)


def test_verdict_goes_on_when_all_ok():
    verdict = plan.wave_verdict(0, {"a": "ok"}, 0)
    assert verdict["halt"] is False and verdict["failed"] == []
    assert "next wave" in verdict["reason"]


def test_verdict_halts_on_a_failed_cluster_of_any_released_wave():
    verdict = plan.wave_verdict(1, {"a": "failed", "b": "ok"}, 0)
    assert verdict["halt"] is True and verdict["failed"] == ["a"]
    assert "wave 2" in verdict["reason"] and "a" in verdict["reason"]


def test_verdict_tolerates_allowed_failures_but_not_a_failed_fleet_gate():
    assert plan.wave_verdict(0, {"a": "failed", "b": "ok"}, 1)["halt"] is False
    verdict = plan.wave_verdict(0, {"a": "ok"}, 1, fleet_gate_passed=False,
                                fleet_gate_summary="errors: 3 > 1")
    assert verdict["halt"] is True and "errors: 3 > 1" in verdict["reason"]


PLAN3 = [["a"], ["b"], ["c"]]


def test_rollback_targets_keep_earlier_waves_by_default():
    # b failed its own release (its role rolled it back): nothing more to roll back
    assert plan.rollback_targets(PLAN3, 1, ["b"], ["a"], False) == []
    # asked: the first wave rolls back too; c (a later wave) is never touched
    assert plan.rollback_targets(PLAN3, 1, ["b"], ["a"], True) == ["a"]


def test_rollback_targets_include_a_released_cluster_that_failed_the_bake():
    assert plan.rollback_targets(PLAN3, 1, ["a"], ["a", "b"], False) == ["a"]
    assert plan.rollback_targets(PLAN3, 1, ["a"], ["a", "b"], True) == ["a", "b"]


def test_summary_marks_later_waves_untouched():
    summary = plan.fleet_summary(PLAN3, {"a": "kept", "b": "rolled_back"}, halted_wave=1)
    assert summary == {"a": {"wave": 1, "outcome": "kept"},
                       "b": {"wave": 2, "outcome": "rolled_back"},
                       "c": {"wave": 3, "outcome": "untouched"}}


def test_plan_lines():
    assert plan.plan_lines(PLAN3, {"a": "recheck", "b": "release"}, "v2") == [
        "wave 1: a - already released by this release: re-check its gates only",
        "wave 2: b - release v2",
        "wave 3: c - unreachable: no plan"]
