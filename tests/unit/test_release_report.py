"""The release report's recorder (task results -> releases) and its HTML page."""
import json
import re

from ansible_collections.progressive.delivery.plugins.module_utils.report.collect import (
    Recorder,
    iso,
)
from ansible_collections.progressive.delivery.plugins.module_utils.report.render import render

BG = "progressive.delivery.k8s_bluegreen"
GATES = "progressive.delivery.gate_check"
STATE = "progressive.delivery.canary_release_state"


def bg(version, state):
    return dict(name="myapp", namespace="shop", version=version, state=state)


def gate(name, passed, **values):
    return dict(passed=passed, results=[dict(name=name, type="http", passed=passed,
                                             message="%s %s" % (name, "ok" if passed else "bad"),
                                             values=values)])


def bluegreen_run(rec, host="c1", post_gate_passes=True, t=100.0):
    rec.task(host, BG, "Blue/green | deploy and preview | myapp v2", bg("v2", "previewed"),
             dict(live_version="v1", changed=True), t, t + 3)
    rec.task(host, GATES, "Gates | evaluate | preview of myapp v2", {}, gate("pods", True, ready=2),
             t + 3, t + 4)
    rec.task(host, "ansible.builtin.pause", "Blue/green | hold before promotion | myapp v2", {},
             {}, t + 4, t + 9)
    rec.task(host, BG, "Blue/green | switch | myapp v2", bg("v2", "promoted"),
             dict(live_version="v2", previous_version="v1", changed=True), t + 9, t + 11)
    rec.task(host, GATES, "Gates | evaluate | live myapp v2", {},
             gate("smoke", post_gate_passes, succeeded=3 if post_gate_passes else 0),
             t + 11, t + 12)
    if post_gate_passes:
        rec.task(host, BG, "Blue/green | scale down | myapp v2", bg("v1", "scaled_down"),
                 dict(changed=True), t + 12, t + 14)
    else:
        rec.task(host, "ansible.builtin.fail", "Gates | stop on a failed gate | live myapp v2", {},
                 dict(msg="gate(s) failed for live myapp v2: smoke bad"), t + 12, t + 12.1,
                 failed=True)
        rec.task(host, BG, "Blue/green | switch back | myapp v2", bg("v2", "rolled_back"),
                 dict(live_version="v1", changed=True), t + 12.1, t + 14)


def times_ordered(report):
    for step in report["steps"]:
        assert step["start"] <= step["end"]
    starts = [s["start"] for s in report["steps"]]
    assert starts == sorted(starts)
    assert [g["time"] for g in report["gates"]] == sorted(g["time"] for g in report["gates"])
    assert report["started"] <= min(starts) and report["ended"] >= max(s["end"] for s in report["steps"])


def test_a_promoted_blue_green_release():
    rec = Recorder()
    bluegreen_run(rec)
    (report,) = rec.reports()
    assert report["kind"] == "bluegreen" and report["outcome"] == "promoted"
    assert (report["version"], report["previous"]) == ("v2", "v1")
    assert [s["name"] for s in report["steps"]] == [
        "deploy and preview", "gates: preview of myapp v2", "hold 5s", "promote",
        "gates: live myapp v2", "scale down v1"]
    assert report["steps"][0]["traffic"] == {"v1": 100, "v2": 0}
    assert report["steps"][3]["traffic"] == {"v1": 0, "v2": 100}
    assert [t["split"] for t in report["traffic"]] == [{"v1": 100, "v2": 0}, {"v1": 0, "v2": 100}]
    assert [(g["name"], g["passed"]) for g in report["gates"]] == [("pods", True), ("smoke", True)]
    assert report["pauses"][0]["seconds"] == 5
    assert report["decisions"][0]["decision"] == "promote"
    assert "pods (preview of myapp v2)" in report["decisions"][0]["why"]
    assert report["started_iso"] == iso(100.0)
    times_ordered(report)


def test_a_rolled_back_release_says_which_gate_and_its_values():
    rec = Recorder()
    bluegreen_run(rec, post_gate_passes=False)
    (report,) = rec.reports()
    assert report["outcome"] == "rolled_back"
    assert report["traffic"][-1]["split"] == {"v1": 100, "v2": 0}
    rollback = report["decisions"][-1]
    assert rollback["decision"] == "rollback" and "smoke: smoke bad" in rollback["why"]
    failed = [g for g in report["gates"] if not g["passed"]]
    assert failed[0]["values"] == {"succeeded": 0}
    assert report["failures"][0]["message"].startswith("gate(s) failed")
    page = render(report)
    assert "smoke failed" in page and "&quot;succeeded&quot;: 0" in page
    times_ordered(report)


def test_another_version_of_the_same_app_is_another_release():
    rec = Recorder()
    rec.task("c1", BG, "setup | v1 live", bg("v1", "promoted"),
             dict(live_version="v1", previous_version=None, changed=True), 10, 11)
    bluegreen_run(rec)
    reports = rec.reports()
    assert [(r["version"], r["outcome"]) for r in reports] == [("v1", "promoted"), ("v2", "promoted")]


def canary_record(step, weight, phase="progressing"):
    return dict(record=dict(version="v2", stable_version="v1", weight=weight, phase=phase,
                            step=step, steps=["weight 10%", "pause 1m", "weight 100%"]))


def test_a_canary_release_steps_traffic_and_decisions():
    rec = Recorder()
    base = dict(name="web", namespace="shop", version="v2")
    rec.task("c1", STATE, "Canary | read the record", dict(base, state="query"),
             dict(decision="start", message="no release in flight: start at step 1", record={}), 0, 1)
    rec.task("c1", STATE, "Canary | start", dict(base, state="started", stable_version="v1"),
             canary_record(0, 0), 2, 3)
    rec.task("c1", STATE, "Canary | record the step", dict(base, state="present", step=0, phase="progressing"),
             canary_record(0, 0), 3, 4)
    rec.task("c1", GATES, "Gates | evaluate | web v2 step 1/3", {}, gate("errors", True, value=0), 5, 6)
    rec.task("c1", STATE, "Canary | record the weight", dict(base, state="present", step=0, weight=10),
             canary_record(0, 10), 6, 7)
    rec.task("c1", STATE, "Canary | record the step", dict(base, state="present", step=1, phase="progressing"),
             canary_record(1, 10), 7, 8)
    rec.task("c1", "ansible.builtin.pause", "Canary | wait | web v2", {}, {}, 8, 18)
    rec.task("c1", GATES, "Gates | evaluate | web v2 step 2/3", {}, gate("errors", False, value=7), 18, 19)
    rec.task("c1", STATE, "Canary | abort", dict(base, state="present", phase="aborting", reason="errors: 7 > 1"),
             canary_record(1, 10, "aborting"), 20, 21)
    rec.task("c1", STATE, "Canary | aborted", dict(base, state="present", phase="aborted", weight=0),
             canary_record(1, 0, "aborted"), 22, 23)
    (report,) = rec.reports()
    assert report["kind"] == "canary" and report["outcome"] == "rolled_back"
    names = [s["name"] for s in report["steps"]]
    assert names[0] == "step 1/3: weight 10%" and "step 2/3: pause 1m" in names and "rollback" in names
    step1 = [s for s in report["steps"] if s["name"] == "step 1/3: weight 10%"][0]
    assert step1["traffic"] == {"v1": 90, "v2": 10} and step1["end"] == 8
    assert report["traffic"][-1]["split"] == {"v1": 100, "v2": 0}
    assert [d["decision"] for d in report["decisions"]] == ["start", "rollback"]
    assert report["decisions"][-1]["why"] == "errors: 7 > 1"
    times_ordered(report)


STEP = "progressive.delivery.canary_step"


def step_result(index, kind, text, weight, evaluations, **extra):
    result = canary_record(index, weight)
    result.update(step=dict(index=index, kind=kind, text=text), evaluations=evaluations)
    result.update(extra)
    return result


def evaluation(at, name, passed, **values):
    return dict(time=at, results=gate(name, passed, **values)["results"])


def test_a_canary_release_of_one_call_per_step_shows_every_step_weight_and_gate():
    rec = Recorder()
    base = dict(name="web", namespace="shop", version="v2")
    rec.task("c1", STATE, "Canary | read the record", dict(base, state="query"),
             dict(decision="start", message="no release in flight: start at step 1", record={}), 0, 1)
    rec.task("c1", STATE, "Canary | start", dict(base, state="started", stable_version="v1"),
             canary_record(0, 0), 2, 3)
    rec.task("c1", STEP, "Canary | step 1/3 send 10% to the canary (contour) | web v2",
             dict(base, step=0), step_result(0, "weight", "weight 10%", 10,
                                             [evaluation(5, "errors", True, value=0)]), 3, 6)
    rec.task("c1", STEP, "Canary | step 2/3 pause 1m, gates every 30s | web v2",
             dict(base, step=1),
             step_result(1, "pause", "pause 1m", 10, [evaluation(36, "errors", True, value=0),
                                                      evaluation(66, "errors", False, value=7)],
                         msg="gate(s) failed for web v2 step 2/3 pause 1m: errors: errors bad"),
             6, 66, failed=True)
    rec.task("c1", STATE, "Canary | abort", dict(base, state="present", phase="aborting", reason="errors: 7 > 1"),
             canary_record(1, 10, "aborting"), 67, 68)
    rec.task("c1", STATE, "Canary | aborted", dict(base, state="present", phase="aborted", weight=0),
             canary_record(1, 0, "aborted"), 69, 70)
    (report,) = rec.reports()
    assert report["outcome"] == "rolled_back"
    steps = [(s["name"], s["status"], s["traffic"], s["start"], s["end"]) for s in report["steps"]]
    assert steps[:2] == [("step 1/3: weight 10%", "ok", {"v1": 90, "v2": 10}, 3, 6),
                         ("step 2/3: pause 1m", "failed", {"v1": 90, "v2": 10}, 6, 66)]
    assert steps[2][0] == "rollback"
    assert [(g["time"], g["name"], g["passed"], g["values"]) for g in report["gates"]] == [
        (5, "errors", True, {"value": 0}), (36, "errors", True, {"value": 0}),
        (66, "errors", False, {"value": 7})]
    assert report["gates"][0]["label"] == "web v2"
    assert [(p["start"], p["end"]) for p in report["pauses"]] == [(6, 66)]
    assert [t["split"] for t in report["traffic"]] == [
        {"v1": 100, "v2": 0}, {"v1": 90, "v2": 10}, {"v1": 100, "v2": 0}]
    assert "gate(s) failed" in report["failures"][0]["message"]
    times_ordered(report)


def test_a_promotion_in_one_call_closes_the_release():
    rec = Recorder()
    base = dict(name="web", namespace="shop", version="v2")
    rec.task("c1", STEP, "Canary | prepare the canary at 0% and record the start (contour) | web v2",
             dict(base, action="prepare", step=None), canary_record(0, 0), 2, 3)
    rec.task("c1", STEP, "Canary | step 1/1 send 100% to the canary (contour) | web v2",
             dict(base, step=0), step_result(0, "weight", "weight 100%", 100, []), 3, 6)
    rec.task("c1", STEP, "Canary | promote: v2 becomes the stable version (contour) | web v2",
             dict(base, action="promote", step=None), canary_record(0, 100, "promoted"), 6, 8)
    (report,) = rec.reports()
    assert report["outcome"] == "promoted"
    assert [(s["name"], s["start"], s["end"]) for s in report["steps"]] == [
        ("step 1/3: weight 100%", 3, 6), ("promote", 6, 8)]
    assert report["decisions"][-1]["decision"] == "promote"
    assert [t["split"] for t in report["traffic"]] == [
        {"v1": 100, "v2": 0}, {"v1": 0, "v2": 100}]
    times_ordered(report)


def test_a_fleet_release_has_a_row_per_cluster():
    rec = Recorder()
    for host in ("c1", "c2", "c3"):
        rec.task(host, "ansible.builtin.set_fact", "Fleet | the waves", {}, dict(ansible_facts=dict(
            fleet_report_release="myapp-v2", fleet_report_strategy="bluegreen",
            fleet_report_version="v2", fleet_plan=[["c1"], ["c2"], ["c3"]])), 90, 91)
        rec.task(host, "ansible.builtin.set_fact", "Fleet | what this run does", {},
                 dict(ansible_facts=dict(fleet_action="release")), 91, 92)
    bluegreen_run(rec, "c1", t=100)
    rec.task("c1", "ansible.builtin.pause", "Fleet | bake | wave 1/3 (c1), seconds: 5", {}, {}, 115, 120)
    for host in ("c1", "c2", "c3"):
        rec.task(host, "ansible.builtin.set_fact", "Fleet | go on or halt", {}, dict(ansible_facts=dict(
            fleet_verdict=dict(halt=False, failed=[], reason="wave 1: next wave"))), 121, 122)
    bluegreen_run(rec, "c2", post_gate_passes=False, t=130)
    for host in ("c1", "c2", "c3"):
        rec.task(host, "ansible.builtin.set_fact", "Fleet | go on or halt", {}, dict(ansible_facts=dict(
            fleet_verdict=dict(halt=True, failed=["c2"], reason="wave 2: c2 failed"))), 145, 146)
    rec.task("c1", BG, "Fleet | live traffic back to the previous version", bg("v2", "rolled_back"),
             dict(live_version="v1", changed=True), 146, 148)
    rec.task("c1", "ansible.builtin.set_stats", "Fleet | report the fleet", {}, dict(ansible_stats=dict(
        data=dict(fleet_myapp_v2=dict(release="myapp-v2", outcome="halted", clusters=dict(
            c1=dict(wave=1, outcome="kept"), c2=dict(wave=2, outcome="rolled_back"),
            c3=dict(wave=3, outcome="untouched"))), fleet_outcome="halted"))), 150, 151)
    (report,) = rec.reports()
    assert report["kind"] == "fleet" and report["outcome"] == "halted"
    assert [r["cluster"] for r in report["releases"]] == ["c1", "c2"]
    assert report["clusters"]["c3"]["outcome"] == "untouched"
    assert report["bakes"][0]["seconds"] == 5
    assert report["verdicts"][0] == dict(time=121 + 1, halt=False, failed=[],
                                         reason="wave 1: next wave", time_iso=iso(122))
    c1 = report["releases"][0]
    assert c1["outcome"] == "rolled_back" and c1["traffic"][-1]["split"] == {"v1": 100, "v2": 0}
    assert c1["decisions"][-1]["why"] == "the fleet halted: wave 2: c2 failed"
    page = render(report)
    # one chart per cluster, untouched ones included, on one time axis
    assert len(re.findall(r'<svg[^>]*role="img"', page)) == 3
    assert "c3 (untouched)" in page and "smoke failed" in page
    json.dumps(report)                                    # JSON-ready


def test_the_page_is_self_contained():
    rec = Recorder()
    bluegreen_run(rec)
    page = render(rec.reports()[0])
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r'(src|href)=|@import|url\(|<script', page)


def test_text_is_escaped():
    rec = Recorder()
    rec.task("c1", BG, "x", dict(name="<b>app</b>", namespace="ns", version="v2", state="promoted"),
             dict(live_version="v2", previous_version="v1"), 1, 2)
    assert "<b>app</b>" not in render(rec.reports()[0])


def test_a_fleet_rolling_a_canary_back_shows_on_the_new_versions_release():
    rec = Recorder()
    rec.task("c1", "ansible.builtin.set_fact", "Fleet | the waves", {}, dict(ansible_facts=dict(
        fleet_report_release="web-v2", fleet_report_strategy="canary",
        fleet_report_version="v2", fleet_plan=[["c1"]])), 0, 0.5)
    base = dict(name="web", namespace="shop", version="v2")
    rec.task("c1", STATE, "Canary | read", dict(base, state="query"),
             dict(decision="start", message="start", record={}), 1, 2)
    rec.task("c1", STATE, "Canary | start", dict(base, state="started", stable_version="v1"),
             canary_record(0, 0), 2, 3)
    rec.task("c1", STATE, "Canary | promote", dict(base, state="present", phase="promoted", weight=100),
             canary_record(2, 100, "promoted"), 4, 5)
    rec.task("c1", "ansible.builtin.set_fact", "Fleet | go on or halt", {}, dict(ansible_facts=dict(
        fleet_verdict=dict(halt=True, failed=[], reason="wave 1: the fleet gate failed"))), 6, 7)
    rec.task("c1", "ansible.builtin.set_fact", "Fleet | the previous version's release", {},
             dict(ansible_facts=dict(fleet_report_rollback={"version": "v1", "of": "v2"})), 7, 8)
    back = dict(name="web", namespace="shop", version="v1")
    v1_record = dict(version="v1", stable_version="v2", steps=["weight 100%"])
    # the query still returns the new version's record
    rec.task("c1", STATE, "Canary | read", dict(back, state="query"),
             dict(decision="start", message="the previous release (v2) was promoted",
                  record=dict(version="v2", phase="promoted")), 8, 9)
    rec.task("c1", STATE, "Canary | start", dict(back, state="started", stable_version="v2"),
             dict(record=dict(v1_record, weight=0, phase="progressing", step=0)), 9, 10)
    rec.task("c1", STATE, "Canary | step", dict(back, state="present", step=0, phase="progressing"),
             dict(record=dict(v1_record, weight=100, phase="progressing", step=0)), 10, 12)
    rec.task("c1", STATE, "Canary | promoted", dict(back, state="present", phase="promoted", weight=100),
             dict(record=dict(v1_record, weight=100, phase="promoted", step=0)), 13, 14)
    (report,) = rec.reports()
    (release,) = report["releases"]
    assert release["version"] == "v2" and release["outcome"] == "rolled_back"
    assert release["traffic"][-1]["split"] == {"v1": 100, "v2": 0}
    assert [d["decision"] for d in release["decisions"]] == ["start", "rollback"]
    assert release["decisions"][-1]["why"] == "the fleet halted: wave 1: the fleet gate failed"
    step = release["steps"][-1]
    assert step["name"] == "roll back: release v1 again" and step["end"] == 14
    assert step["traffic"] == {"v1": 100, "v2": 0}
    times_ordered(release)
