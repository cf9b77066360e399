"""The benchmarks' pure helpers (tests/bench/benchlib.py): medians that skip failed runs,
ratios, the interleaving order, the markdown table, task counts from the recap, goals,
and the process-tree walk behind the RSS sampler. The benchmarks themselves run against
the testbed with `make bench`, outside `make test`."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "bench"))

import benchlib as bl  # noqa: E402


def test_median_skips_failed_runs_and_is_none_without_any():
    assert bl.median([3.0, 1.0, 2.0]) == 2.0
    assert bl.median([4.0, None, 1.0, 2.0]) == 2.0
    assert bl.median([1.0, 2.0]) == 1.5
    assert bl.median([None, None]) is None and bl.median([]) is None


def test_ratio_needs_both_numbers_and_a_positive_base():
    assert bl.ratio(6.0, 1.5) == 4.0
    assert bl.ratio(None, 1.0) is None and bl.ratio(1.0, None) is None
    assert bl.ratio(1.0, 0) is None


def test_field_reads_numbers_dicts_and_failed_runs():
    results = [1.5, {"seconds": 2.5, "tasks": 7}, None]
    assert bl.field(results) == [1.5, 2.5, None]
    assert bl.field(results, "tasks") == [None, 7, None]
    assert bl.median(bl.field(results)) == 2.0


def test_runs_interleave_with_a_rotating_first_case():
    assert list(bl.rotations(["a", "b", "c"], 4)) == [
        ["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"], ["a", "b", "c"]]


def test_interleaved_collects_per_case_and_a_failed_run_is_none(capsys):
    order = []

    def case(name, fail=False):
        def run():
            order.append(name)
            if fail and len(order) > 2:
                raise RuntimeError("boom")
            return {"seconds": 1.0}
        return run
    found = bl.interleaved({"a": case("a"), "b": case("b", fail=True)}, 2)
    assert order == ["a", "b", "b", "a"]
    assert found["a"] == [{"seconds": 1.0}, {"seconds": 1.0}]
    assert found["b"] == [{"seconds": 1.0}, None]
    assert "b run 2 failed: boom" in capsys.readouterr().err


def test_markdown_table():
    assert bl.markdown_table(["way", "wall"], [["ours", bl.seconds(1.234)],
                                               ["a|b", bl.seconds(None)]]) == (
        "| way | wall |\n|---|---|\n| ours | 1.23 s |\n| a\\|b | - |")
    with pytest.raises(ValueError):
        bl.markdown_table(["one"], [["a", "b"]])


def test_formats_and_goals():
    assert bl.seconds(12.345) == "12.3 s" and bl.seconds(0.5) == "0.50 s"
    assert bl.times(3.96) == "4.0x" and bl.times(None) == "-"
    assert bl.megabytes(5.0e9) == "5000 MB"
    assert bl.goal_met(4.0, 4.0) == "yes" and bl.goal_met(4.1, 4.0) == "NO"
    assert bl.goal_met(None, 4.0) == "-"


def test_task_count_from_the_recap():
    output = ("PLAY RECAP ****\n"
              "app-0 : ok=3    changed=1    unreachable=0    failed=0    skipped=2\n"
              "app-1 : ok=2    changed=2    unreachable=0    failed=1    skipped=0\n")
    assert bl.count_tasks(output) == 6


def test_machine_line_names_cores_and_load():
    line = bl.machine_line(dict(nproc=2, load=(1.5, 0.25, 0.0)))
    assert line == "machine: nproc 2, load average (1/5/15 min) at start 1.50 / 0.25 / 0.00"


def test_descendants_walk_the_tree():
    tree = {1: [2, 3], 2: [4], 4: [5], 9: [10]}
    assert sorted(bl.descendants(1, tree)) == [2, 3, 4, 5]
    assert bl.descendants(7, tree) == []


def test_the_memory_of_this_process_is_counted():
    assert 0 < bl.pss_bytes(os.getpid()) <= bl.rss_bytes(os.getpid())


def test_runs_default_can_be_set_for_every_benchmark(monkeypatch):
    monkeypatch.delenv("BENCH_RUNS", raising=False)
    assert bl.runs_default(3) == 3
    monkeypatch.setenv("BENCH_RUNS", "7")
    assert bl.runs_default(3) == 7


def test_a_scale_way_names_its_play_forks_and_settings():
    import bench_scale
    assert bench_scale.way_of("ours") == ("ours", None, {}, None)
    assert bench_scale.way_of("ping+pipelining") == ("ping", None, {"ANSIBLE_PIPELINING": "1"},
                                                     None)
    assert bench_scale.way_of("k8s+forks=10+pipelining") == (
        "k8s", 10, {"ANSIBLE_PIPELINING": "1"}, None)
    assert bench_scale.way_of("batch+parallel=50") == ("batch", None, {}, 50)
    with pytest.raises(ValueError, match="unknown way"):
        bench_scale.way_of("theirs")
    with pytest.raises(ValueError, match="unknown modifier"):
        bench_scale.way_of("ours+fast")
    with pytest.raises(ValueError, match="unknown modifier"):
        bench_scale.way_of("ours+parallel=5")  # only one call with apps has threads


def test_the_batch_way_is_one_host_with_every_apps_release():
    import bench_scale
    targets = {"app-0": "v2", "app-1": "v1"}
    hosts = bench_scale.way_hosts(bench_scale.way_of("batch"), ["app-0", "app-1"], targets)
    assert list(hosts) == ["all-apps"]
    assert hosts["all-apps"]["releases"] == [
        {"name": "app-0", "service": "app-0", "version": "v2"},
        {"name": "app-1", "service": "app-1", "version": "v1"}]
    assert "parallel" not in hosts["all-apps"]
    assert bench_scale.way_hosts(bench_scale.way_of("batch+parallel=5"), ["app-0"],
                                 targets)["all-apps"]["parallel"] == 5
    hosts = bench_scale.way_hosts(bench_scale.way_of("ours"), ["app-0", "app-1"], targets)
    assert sorted(hosts) == ["app-0", "app-1"]
    assert (hosts["app-1"]["app"], hosts["app-1"]["target"]) == ("app-1", "v1")
    assert hosts["app-0"]["ansible_connection"] == "local"


def test_the_batch_row_compares_fifty_apps_with_one_app_the_usual_way():
    import bench_scale
    seconds = {("batch", 1): 1.0, ("batch", 50): 3.0, ("ours", 1): 1.5}
    row = bench_scale.batch_row("batch", 50, 1, "ours",
                                lambda way, size, key="seconds": seconds.get((way, size))
                                if key == "seconds" else None)
    assert row[1:3] == ["3.00 s", "3.0x"]
    assert row[-1] == "<= 4x: yes (vs 1 app(s) ours: 2.0x)"
