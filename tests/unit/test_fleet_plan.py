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


def test_a_failed_fleet_gate_rolls_back_the_wave_it_judged():
    verdict = plan.wave_verdict(1, {"a": "ok", "b": "ok"}, 0, fleet_gate_passed=False,
                                fleet_gate_summary="errors")
    assert verdict["halt"] is True and verdict["gate_failed"] is True and verdict["failed"] == []
    assert plan.wave_verdict(0, {"a": "ok"}, 0)["gate_failed"] is False
    # the wave that made the fleet gate fail goes back; the earlier ones only when asked
    assert plan.rollback_targets(PLAN3, 1, [], ["a", "b"], False, gate_failed=True) == ["b"]
    assert plan.rollback_targets(PLAN3, 1, [], ["a", "b"], True, gate_failed=True) == ["a", "b"]
    assert plan.rollback_targets(PLAN3, 1, [], ["a", "b"], False) == []


@pytest.mark.parametrize("halted, outcomes, outcome", [
    (True, {"a": "kept"}, "halted"),
    (False, {"a": "released", "b": "released"}, "released"),
    (False, {"a": "rolled_back", "b": "released"}, "partially_released"),
    (False, {"a": "rollback_failed", "b": "released"}, "partially_released"),
    (False, {}, "released"),
])
def test_fleet_outcome(halted, outcomes, outcome):
    assert plan.fleet_outcome(halted, outcomes) == outcome


def test_the_record_keeps_the_way_back_for_the_same_release_only():
    record = plan.new_record("myapp-v2", "v2", 0, "released", "t", rollback_to={"version": "v1"})
    assert record["rollback_to"] == {"version": "v1"}
    assert "rollback_to" not in plan.new_record("myapp-v2", "v2", 0, "baked", "t")
    assert plan.recorded_way_back(record, "myapp-v2", "v2") == {"version": "v1"}
    assert plan.recorded_way_back(record, "myapp-v3", "v3") is None
    assert plan.recorded_way_back({}, "myapp-v2", "v2") is None
    assert plan.recorded_way_back(dict(record, rollback_to="v1"), "myapp-v2", "v2") is None


@pytest.mark.parametrize("strategy, backend, facts, way", [
    ("bluegreen", "service", {"live_before": "v1"}, {"version": "v1"}),
    ("bluegreen", "contour", {"live_before": "ns/web-v1",
                              "contour_live": {"name": "web-v1", "namespace": "ns"}},
     {"child": {"name": "web-v1", "namespace": "ns"}}),
    ("bluegreen", "knative", {"live_before": "web-00001"}, {"revision": "web-00001"}),
    ("bluegreen", "gateway", {"gateway_live": {"web-v1": 100, "web-v2": 0}},
     {"weights": {"web-v1": 100, "web-v2": 0}}),
    ("bluegreen", "gateway", {"gateway_live": {}, "gateway_stable": "web-v1"},
     {"weights": {"web-v1": 100}}),                              # the route was new
    ("bluegreen", "gateway", {"gateway_live": {}}, None),
    ("bluegreen", "contour", {"contour_live": {}}, None),       # nothing was live
    ("canary", "service", {"canary_previous": "v1"}, {"version": "v1"}),
])
def test_the_way_back_after_a_release_that_switched(strategy, backend, facts, way):
    assert plan.way_back(strategy, backend, True, facts) == way


def test_a_rerun_that_switched_nothing_keeps_the_recorded_way_back():
    recorded = {"weights": {"web-v1": 100}}
    # the candidate was live already: what is live now says nothing about the way back
    assert plan.way_back("bluegreen", "gateway", False, {"gateway_live": {"web-v2": 100}},
                         recorded) == recorded
    assert plan.way_back("bluegreen", "service", False, {"live_before": "v2"}) is None
    assert plan.way_back("canary", "service", False, {}, {"version": "v1"}) == {"version": "v1"}


def test_bluegreen_rollback_facts_per_backend():
    assert plan.bluegreen_rollback_facts("gateway", {"weights": {"b": 0, "a": 100}}) == dict(
        live_before="a", contour_live={}, gateway_live={"b": 0, "a": 100})
    assert plan.bluegreen_rollback_facts("contour", {"child": {"name": "c", "namespace": "n"}}) \
        == dict(live_before="n/c", contour_live={"name": "c", "namespace": "n"}, gateway_live={})
    assert plan.bluegreen_rollback_facts("knative", {"revision": "r1"})["live_before"] == "r1"
    for backend, way in (("gateway", None), ("contour", {"version": "v1"}), ("knative", {})):
        with pytest.raises(ValueError) as err:
            plan.bluegreen_rollback_facts(backend, way, "eu-1")
        assert "no way back recorded for the %s backend on eu-1" % backend in str(err.value)


TEMPLATE_V1 = {"spec": {"containers": [{"name": "web", "image": "web:v1"}]}}


def test_canary_rollback_vars_release_the_previous_version_with_its_own_definition():
    out = plan.canary_rollback_vars({"canary_pod_template": TEMPLATE_V1},
                                    {"canary_pods_gate": True,
                                     "canary_gateway": {"route": "web", "stable_service": "s"}},
                                    "v1")
    assert out["canary_version"] == "v1" and out["canary_pod_template"] == TEMPLATE_V1
    assert out["canary_steps"] == [{"weight": 100}] and out["canary_gates"] == []
    assert out["canary_definition"] == {} and out["canary_manifests"] == []
    assert out["canary_gateway"] == {"route": "web", "stable_service": "s"}
    assert out["canary_pods_gate"] is True
    given = plan.canary_rollback_vars(
        {"canary_knative": {"canary_revision": "web-00001"}, "canary_version": "v0",
         "canary_steps": [{"weight": 50}, {"weight": 100}]},
        {"canary_knative": {"service": "web", "template": {"x": 1}}}, "v1")
    assert given["canary_version"] == "v0" and len(given["canary_steps"]) == 2
    assert given["canary_knative"] == {"service": "web", "template": {"x": 1},
                                       "canary_revision": "web-00001"}


@pytest.mark.parametrize("settings, words", [
    ({}, "fleet_canary_rollback: must give the previous version's definition"),
    ("v1", "fleet_canary_rollback: must be a dictionary"),
    ({"canary_pod_template": TEMPLATE_V1, "canary_replicas": 3},
     "fleet_canary_rollback.canary_replicas: is not a variable a rollback may set"),
])
def test_bad_canary_rollback_settings_name_the_field(settings, words):
    with pytest.raises(ValidationError) as err:
        plan.check_canary_rollback(settings)
    assert words in str(err.value)


def test_canary_rollback_needs_a_previous_version():
    with pytest.raises(ValueError) as err:
        plan.canary_rollback_vars({"canary_pod_template": TEMPLATE_V1}, {}, None)
    assert "fleet_canary_rollback.canary_version" in str(err.value)
