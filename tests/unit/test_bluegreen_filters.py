"""The bluegreen role's decisions (plugins/filter/bluegreen.py): the built-in pods gate, the
check-mode plan sentence, and the outcome published with set_stats."""

import pytest

from ansible_collections.progressive.delivery.plugins.filter.bluegreen import (
    FilterModule,
    bluegreen_plan,
    bluegreen_pods_gate,
    bluegreen_result,
)


def test_the_filters_are_registered_under_their_names():
    assert sorted(FilterModule().filters()) == [
        "bluegreen_plan", "bluegreen_pods_gate", "bluegreen_result"]


# ---------------------------------------------------------------------------
# bluegreen_pods_gate
# ---------------------------------------------------------------------------
def test_pods_gate_selects_the_app_label_and_the_candidate_version():
    assert bluegreen_pods_gate("v2", namespace="shop", app="myapp") == [{
        "name": "candidate-pods", "type": "pods_ready", "namespace": "shop",
        "max_restarts": 0, "selector": {"app": "myapp", "version": "v2"}}]


def test_pods_gate_uses_the_app_labels_and_version_label_given():
    [gate] = bluegreen_pods_gate("blue", namespace="ns", app="ignored",
                                 app_labels={"app": "blog", "tier": "web"},
                                 version_label="colour", max_restarts=2)
    assert gate["selector"] == {"app": "blog", "tier": "web", "colour": "blue"}
    assert gate["max_restarts"] == 2


def test_pods_gate_does_not_change_the_app_labels_it_was_given():
    labels = {"app": "blog"}
    bluegreen_pods_gate("v2", namespace="ns", app="blog", app_labels=labels)
    assert labels == {"app": "blog"}


@pytest.mark.parametrize("app_labels", [None, {}])
def test_pods_gate_with_no_app_labels_falls_back_to_app(app_labels):
    [gate] = bluegreen_pods_gate("v2", namespace="ns", app="api", app_labels=app_labels)
    assert gate["selector"] == {"app": "api", "version": "v2"}


def test_pods_gate_disabled_is_no_gate():
    assert bluegreen_pods_gate("v2", namespace="ns", app="api", enabled=False) == []


# ---------------------------------------------------------------------------
# bluegreen_plan
# ---------------------------------------------------------------------------
def test_plan_counts_gates_and_names_where_traffic_switches_from():
    gate = {"name": "g"}
    assert bluegreen_plan("v1", preview_gates=[gate, gate], post_gates=[gate],
                          pause_seconds=30, scale_down=True) == (
        "a run would deploy and preview it (the diff above), run 2 preview gate(s), hold 30 s, "
        "switch live traffic from v1 to the candidate, run 1 gate(s) on live traffic "
        "(rolling back if one fails), then scale the old version down")


@pytest.mark.parametrize("live_before", [None, ""])
def test_plan_with_nothing_live_switches_from_nothing(live_before):
    plan = bluegreen_plan(live_before)
    assert "switch live traffic from nothing to the candidate" in plan
    assert plan.endswith("(rolling back if one fails)")  # no scale-down unless asked


@pytest.mark.parametrize("pause, shown", [(0, "hold 0 s"), (1.9, "hold 1 s"), ("90.0", "hold 90 s"),
                                          (None, "hold 0 s")])
def test_plan_shows_the_hold_in_whole_seconds(pause, shown):
    assert shown in bluegreen_plan("v1", pause_seconds=pause)


def test_plan_when_already_live_is_a_no_op():
    assert bluegreen_plan("v2", already_live=True, preview_gates=[{}], scale_down=True) == (
        "already live: a run changes nothing")


# ---------------------------------------------------------------------------
# bluegreen_result
# ---------------------------------------------------------------------------
STATS_KEYS = ["candidate_version", "failed_gates", "live_version", "outcome",
              "previous_version", "summary"]


def test_promoted_release_reports_the_candidate_live_and_what_it_replaced():
    result = bluegreen_result("v2", promoted=True, live_before="v1", previous="v1")
    assert sorted(result) == STATS_KEYS
    assert result == {"outcome": "promoted", "live_version": "v2", "previous_version": "v1",
                      "candidate_version": "v2", "failed_gates": [],
                      "summary": "Live traffic is on v2."}


def test_promoted_release_reports_what_the_backend_says_is_live():
    result = bluegreen_result("blue", promoted=True, live_before="ns/blog",
                              live_now="ns/blog2", previous="ns/blog")
    assert (result["live_version"], result["previous_version"]) == ("ns/blog2", "ns/blog")


def test_rerun_of_a_live_candidate_is_promoted_with_no_previous_version():
    result = bluegreen_result("v2", promoted=False, live_before="v2", previous=None)
    assert (result["outcome"], result["live_version"], result["previous_version"]) == (
        "promoted", "v2", None)


def test_check_mode_leaves_live_traffic_where_it_is():
    result = bluegreen_result("v2", check_mode=True, live_before="v1", live_now="x")
    assert (result["outcome"], result["live_version"], result["previous_version"]) == (
        "check_mode", "v1", None)
    assert result["summary"] == "Check mode: live traffic stays on v1."


def test_failure_after_the_switch_is_rolled_back_to_the_previous_version():
    failed = [{"name": "smoke", "message": "0/3 requests succeeded"}]
    result = bluegreen_result("v2", failed=True, promoted=True, live_before="v1",
                              rolled_back_to="v1", failed_gates=failed)
    assert result == {"outcome": "rolled_back", "live_version": "v1", "previous_version": "v1",
                      "candidate_version": "v2", "failed_gates": failed,
                      "summary": "Rolled back: live traffic is on v1 again."}


def test_failure_before_the_switch_is_aborted_and_live_traffic_untouched():
    result = bluegreen_result("v2", failed=True, promoted=False, live_before="v1",
                              rolled_back_to="stale-from-an-earlier-release")
    assert (result["outcome"], result["live_version"], result["previous_version"]) == (
        "aborted", "v1", "v1")
    assert result["summary"] == "Live traffic was not touched (v1)."


@pytest.mark.parametrize("live_before", [None, ""])
def test_failure_of_a_first_release_says_nothing_was_live(live_before):
    result = bluegreen_result("v1", failed=True, live_before=live_before)
    assert result["summary"] == "Live traffic was not touched (none)."
    assert result["failed_gates"] == []


@pytest.mark.parametrize("live_before", [None, ""])
def test_failure_before_live_was_read_does_not_claim_nothing_was_live(live_before):
    result = bluegreen_result("v2", failed=True, live_before=live_before, live_known=False)
    assert result["outcome"] == "aborted"
    assert "(none)" not in result["summary"]
    assert result["summary"].startswith("Live traffic was not touched: the release stopped "
                                        "while deploying the candidate v2")


def test_a_failure_wins_over_check_mode():
    result = bluegreen_result("v2", check_mode=True, failed=True, live_before="v1")
    assert result["outcome"] == "aborted"


def test_failed_gates_are_only_reported_for_a_failed_release():
    result = bluegreen_result("v2", promoted=True, failed_gates=[{"name": "stale"}])
    assert result["failed_gates"] == []
