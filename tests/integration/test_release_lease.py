"""One release of an app at a time, on the testbed: two jobs releasing the same app at once
(real ansible-playbook processes) -> the second fails at once naming the first, whose
release goes on and whose outcome is the live one; the lease is given back after success
and after a rollback; a killed job's lease is taken at once by a rerun on the same machine
(its process is gone), refused when the killed job ran where its process cannot be seen
(its own process namespace, as in another container) until it expires or the rerun takes it
over with the documented option, then the canary release resumes from its record."""

import subprocess
import time

import pytest

from canary_objects import (
    NEVER_READY,
    create_stable,
    pod_template,
    record,
    replicas,
    wait_record,
)
from playbooks import (
    PlaybookResult,
    _command,
    _env,
    kill_playbook,
    role_play,
    run_playbook,
    write_playbook,
)
from modules import run_module
from test_k8s_bluegreen import seed001_v1_live, template

from ansible_collections.progressive.delivery.plugins.module_utils.k8s import trace
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    DEPLOYMENT,
    SERVICE,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import Check
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import wait_for
from ansible_collections.progressive.delivery.plugins.module_utils.lease import holding as hd

pytestmark = pytest.mark.reliability

LEASE_NAME = "myapp-release"
# The refused job must fail before it writes anything: its checks, then the lease. On this
# loaded 2-core machine that is a few module start-ups, far below any release's length.
AT_ONCE_SECONDS = 40


def lease(kube, namespace):
    return kube.get_or_none(hd.LEASE, namespace, LEASE_NAME)


def holder(kube, namespace):
    return (lease(kube, namespace) or {}).get("spec", {}).get("holderIdentity")


def wait_held(kube, namespace, timeout=120):
    """Watch the Lease until someone holds it; return the holder."""
    obj = wait_for(kube, hd.LEASE, namespace, LEASE_NAME,
                   lambda o: Check(bool(hd.holding_of(o)), "not held yet"), timeout)
    return obj["spec"]["holderIdentity"]


def assert_released(kube, namespace, by=None):
    obj = lease(kube, namespace)
    assert obj is not None and hd.holding_of(obj) is None, obj
    if by is not None:
        assert obj["metadata"]["annotations"][hd.LAST_HOLDER] == by


def start(tmp_path, plays, name, extra_vars=None, own_process_namespace=False):
    """Start ansible-playbook in the background with the JSON callback (its own process
    group, so it can be SIGKILLed as a killed AWX job); with ``own_process_namespace`` in a
    new pid namespace, as a job in another container: this machine cannot see its processes."""
    path = write_playbook(tmp_path, plays, name=name + ".yml")
    argv = _command(path, extra_vars)
    if own_process_namespace:
        argv = ["unshare", "--pid", "--fork", "--mount", "--mount-proc"] + argv
    out = open(str(tmp_path / (name + ".out")), "w")
    err = open(str(tmp_path / (name + ".err")), "w")
    proc = subprocess.Popen(argv, stdout=out, stderr=err, env=_env(True),
                            start_new_session=True)
    proc.files = (tmp_path / (name + ".out"), tmp_path / (name + ".err"))
    return proc


def finish(proc, timeout=600):
    proc.wait(timeout=timeout)
    return PlaybookResult(proc.returncode, proc.files[0].read_text(), proc.files[1].read_text())


def play_seconds(result):
    """How long the playbook's play ran, from the JSON callback's own times."""
    duration = result.data["plays"][0]["play"]["duration"]
    start, end = (time.mktime(time.strptime(duration[k][:19], "%Y-%m-%dT%H:%M:%S"))
                  for k in ("start", "end"))
    return end - start


def assert_refused_at_once(result, seconds, holder_identity, *words):
    assert result.failed, result.summary()
    assert seconds < AT_ONCE_SECONDS, seconds
    messages = result.failure_messages()
    assert len(messages) == 1, result.summary()
    message = messages[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert "is held by %s" % holder_identity in message, message
    for word in ("since 20", "expires at 20", "takeover: true", "canary_lease_takeover") + words:
        assert word in message, (word, message)
    return message


# ---------------------------------------------------------------------------
# blue/green
# ---------------------------------------------------------------------------
def bluegreen_play(namespace, version, **extra):
    role_vars = dict(bluegreen_app="myapp", bluegreen_namespace=namespace,
                     bluegreen_version=version, bluegreen_service="myapp-lan",
                     bluegreen_pod_template=template("janakiramm/myapp:" + version),
                     bluegreen_replicas=3, bluegreen_pause="8s", bluegreen_wait_timeout=90)
    role_vars.update(extra)
    return role_play("progressive.delivery.bluegreen", role_vars)


def live_version(kube, namespace):
    return kube.get(SERVICE, namespace, "myapp-lan")["spec"]["selector"].get("version")


def test_two_bluegreen_jobs_started_together_one_releases_the_other_is_refused(
        kube, namespace, tmp_path):
    seed001_v1_live(namespace)
    started = time.monotonic()
    jobs = {"v2": start(tmp_path, bluegreen_play(namespace, "v2"), "job-v2"),
            "v3": start(tmp_path, bluegreen_play(namespace, "v3"), "job-v3")}
    winner_holder = wait_held(kube, namespace)
    results = dict((version, finish(proc)) for version, proc in jobs.items())
    ok = [v for v, r in results.items() if not r.failed]
    assert len(ok) == 1, "\n\n".join(r.summary() for r in results.values())
    winner, loser = ok[0], ("v3" if ok[0] == "v2" else "v2")
    refused = results[loser]
    message = assert_refused_at_once(refused, play_seconds(refused), winner_holder,
                                     "blue/green release of myapp %s" % winner)
    assert "Blue/green | take the release lease" in refused.tasks()[-1][0]
    # the loser wrote nothing: no Deployment of its version, and it ran no release task
    images = [d["spec"]["template"]["spec"]["containers"][0]["image"]
              for d in kube.list(DEPLOYMENT, namespace)["items"]]
    assert "janakiramm/myapp:%s" % loser not in images, images
    assert not [n for n in refused.ran() if "deploy the candidate" in n]
    # the winner's outcome is what is live, and it gave the lease back
    assert live_version(kube, namespace) == winner
    assert results[winner].custom_stats["bluegreen_live_version"] == winner
    assert_released(kube, namespace, by=winner_holder)
    assert message  # for the log
    print("two jobs at once: %.1fs, winner %s" % (time.monotonic() - started, winner))


def test_the_lease_is_given_back_after_a_bluegreen_rollback(kube, namespace, tmp_path):
    seed001_v1_live(namespace)
    gate = tmp_path / "always-bad.yml"
    gate.write_text("- name: always bad\n  ansible.builtin.assert:\n    that: false\n")
    result = run_playbook(write_playbook(tmp_path, bluegreen_play(
        namespace, "v2", bluegreen_pause=0,
        bluegreen_post_gates=[{"name": "always-bad", "type": "tasks", "file": str(gate)}])))
    assert result.failed, result.summary()
    assert "Gate always-bad (tasks) failed" in result.failure_messages()[-1]
    assert live_version(kube, namespace) == "v1"
    taken = result.results_of("take the release lease")[0]
    assert taken["decision"] == "create"
    assert_released(kube, namespace, by=taken["holder"])
    # and the next release of the app goes ahead
    again = run_playbook(write_playbook(tmp_path, bluegreen_play(namespace, "v2",
                                                                 bluegreen_pause=0),
                                        name="again.yml"))
    assert not again.failed, again.summary()
    assert again.results_of("take the release lease")[0]["decision"] == "take"
    assert live_version(kube, namespace) == "v2"
    assert_released(kube, namespace)


# ---------------------------------------------------------------------------
# canary
# ---------------------------------------------------------------------------
def canary_play(namespace, version, steps, **extra):
    role_vars = dict(canary_app="myapp", canary_namespace=namespace, canary_version=version,
                     canary_service="myapp",
                     canary_pod_template=pod_template("ikubernetes/myapp:" + version),
                     canary_gate_interval="5s", canary_wait_timeout=60, canary_steps=steps)
    role_vars.update(extra)
    return role_play("progressive.delivery.canary", role_vars)


def canary_take(result):
    """The canary role takes the lease in the call that reads the release record."""
    return result.results_of("check the steps and gates, read the release record")[0]["lease"]


PAUSED_STEPS = [{"weight": 10}, {"pause": "20s"}, {"weight": 50}, {"pause": "1s"},
                {"weight": 100}]


def test_two_canary_jobs_of_two_versions_at_once_one_releases_and_its_record_stays(
        kube, namespace, tmp_path):
    create_stable(kube, namespace, replicas=10)
    steps = [{"weight": 10}, {"pause": "5s"}, {"weight": 100}]
    jobs = {"v2": start(tmp_path, canary_play(namespace, "v2", steps), "job-v2"),
            "v3": start(tmp_path, canary_play(namespace, "v3", steps), "job-v3")}
    try:
        winner_holder = wait_held(kube, namespace)
        results = dict((version, finish(proc)) for version, proc in jobs.items())
    finally:
        for proc in jobs.values():
            kill_playbook(proc)
    ok = [v for v, r in results.items() if not r.failed]
    assert len(ok) == 1, "\n\n".join(r.summary() for r in results.values())
    winner, loser = ok[0], ("v3" if ok[0] == "v2" else "v2")
    refused = results[loser]
    # the call that reads the record also takes the lease: it fails either way
    decided = refused.results_of("check the steps and gates, read the release record")[0]
    assert decided.get("failed") and "decision" not in decided, decided
    if "is held by" in decided["msg"]:
        # the loser read no record (or one the winner had not written yet) and would have
        # started: the lease keeps it out
        assert_refused_at_once(refused, play_seconds(refused), winner_holder,
                               "canary release of myapp %s" % winner)
    else:
        # the loser came late enough to read the winner's record: refused by it
        assert "release of myapp %s is progressing" % winner in refused.failure_messages()[0]
    print("the %s job was refused by: %s" % (loser, decided["msg"]))
    assert not [n for n in refused.ran() if "prepare the canary at 0%" in n]
    # the winner's record is its own from start to end, never replaced by the loser's start
    rec = record(kube, namespace)
    assert rec["version"] == winner and rec["phase"] == "promoted" and rec["attempt"] == 1, rec
    assert [h["step"] for h in rec["history"]][:2] == [1, 2], rec["history"]
    assert results[winner].custom_stats["canary_outcome"] == "promoted"
    deployment = kube.get(DEPLOYMENT, namespace, "myapp")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == \
        "ikubernetes/myapp:" + winner
    assert_released(kube, namespace, by=winner_holder)


def test_the_lease_is_given_back_after_a_canary_rollback(kube, namespace, tmp_path):
    create_stable(kube, namespace, replicas=4)
    bad = pod_template("ikubernetes/myapp:v2", NEVER_READY)
    result = run_playbook(write_playbook(tmp_path, canary_play(
        namespace, "v2", [{"weight": 50}, {"weight": 100}], canary_pod_template=bad,
        canary_wait_timeout=5)))
    assert result.failed, result.summary()
    assert "Rolled back" in result.failure_messages()[-1]
    assert record(kube, namespace)["phase"] == "aborted"
    assert_released(kube, namespace, by=canary_take(result)["holder"])


def kill_in_the_pause(kube, namespace, tmp_path, own_process_namespace=False):
    proc = start(tmp_path, canary_play(namespace, "v2", PAUSED_STEPS), "killed",
                 own_process_namespace=own_process_namespace)
    try:
        killed_holder = wait_held(kube, namespace)
        wait_record(kube, namespace, lambda rec: rec.get("step") == 1, timeout=120)
    finally:
        kill_playbook(proc)
    assert holder(kube, namespace) == killed_holder  # a killed job gives nothing back
    assert record(kube, namespace)["phase"] == "progressing"
    return killed_holder


def assert_resumed(result, kube, namespace):
    assert not result.failed, result.summary()
    assert any("continuing at step 2 (pause 20s)" in n for n in result.ran()), result.ran()
    assert not [n for n in result.ran() if "step 1/5" in n]
    assert result.custom_stats["canary_outcome"] == "promoted"
    assert record(kube, namespace)["phase"] == "promoted"
    assert replicas(kube, namespace, "myapp-canary") == 0
    assert_released(kube, namespace)


def test_a_killed_job_on_this_machine_is_taken_over_at_once_and_the_release_resumes(
        kube, namespace, tmp_path):
    create_stable(kube, namespace, replicas=10)
    killed_holder = kill_in_the_pause(kube, namespace, tmp_path)
    result = run_playbook(write_playbook(tmp_path, canary_play(namespace, "v2", PAUSED_STEPS),
                                         name="rerun.yml"))
    taken = canary_take(result)
    assert taken["decision"] == "take_abandoned", taken
    assert killed_holder in taken["message"] and "no longer runs on this machine" in taken["message"]
    assert_resumed(result, kube, namespace)


def test_a_killed_job_elsewhere_is_refused_until_taken_over_then_the_release_resumes(
        kube, namespace, tmp_path):
    create_stable(kube, namespace, replicas=10)
    # in its own process namespace, as a job in another container: its end cannot be seen
    killed_holder = kill_in_the_pause(kube, namespace, tmp_path, own_process_namespace=True)
    path = write_playbook(tmp_path, canary_play(namespace, "v2", PAUSED_STEPS),
                          name="rerun.yml")
    began = time.monotonic()
    refused = run_playbook(path)
    assert_refused_at_once(refused, time.monotonic() - began, killed_holder)
    assert record(kube, namespace)["phase"] == "progressing"

    result = run_playbook(path, extra_vars={"canary_lease_takeover": True})
    taken = canary_take(result)
    assert taken["decision"] == "take_over" and taken["previous"]["holder"] == killed_holder
    assert_resumed(result, kube, namespace)


# ---------------------------------------------------------------------------
# renewal by each canary step
# ---------------------------------------------------------------------------
RENEW_STEPS = [{"weight": 25}, {"pause": "20s"}, {"weight": 100}]


def test_each_canary_step_renews_the_lease_a_long_pause_included(
        kube, namespace, tmp_path, monkeypatch):
    create_stable(kube, namespace, replicas=4)
    requests = tmp_path / "requests"
    monkeypatch.setenv(trace.ENV, str(requests))  # the job's modules trace their requests
    proc = start(tmp_path, canary_play(namespace, "v2", RENEW_STEPS), "renewing")
    try:
        job = wait_held(kube, namespace)
        acquired = hd.holding_of(lease(kube, namespace)).acquired
        # in the pause: the lease was renewed after it was taken
        rec = wait_record(kube, namespace, lambda r: r.get("step") == 1, timeout=180)
        renewed = hd.holding_of(lease(kube, namespace)).renewed
        assert acquired < renewed <= rec["step_started"] + 0.001, (acquired, renewed, rec)
        assert holder(kube, namespace) == job
        result = finish(proc)
    finally:
        kill_playbook(proc)
    assert not result.failed, result.summary()
    assert result.custom_stats["canary_outcome"] == "promoted"
    assert_released(kube, namespace, by=job)
    # one renewal per canary_step call (prepare, the three steps, promote), each the
    # call's first request: one patch, no read
    entries = trace.parse(requests.read_text())
    lease_path = "/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s" % (namespace, LEASE_NAME)
    renewals = [e for e in entries if e["method"] == "PATCH" and e["path"] == lease_path]
    assert [e["status"] for e in renewals] == ["200"] * 5, renewals
    for renewal in renewals:
        first = [e for e in entries if e["pid"] == renewal["pid"]][0]
        assert first is renewal, (first, renewal)
    # the lease is read only by the promotion, to give it back (its last two requests)
    promote = renewals[-1]["pid"]
    reads = [e for e in entries if e["method"] == "GET" and e["path"] == lease_path
             and e["pid"] in set(r["pid"] for r in renewals)]
    own = [e for e in entries if e["pid"] == promote]
    assert [(e["method"], e["path"]) for e in own[-2:]] == [("GET", lease_path), ("PUT", lease_path)], own
    assert reads == own[-2:-1], reads


def test_a_step_after_a_take_over_fails_naming_the_new_holder_and_rolls_nothing_back(
        kube, namespace, tmp_path):
    create_stable(kube, namespace, replicas=4)
    proc = start(tmp_path, canary_play(namespace, "v2", RENEW_STEPS), "taken")
    other = "AWX job 99 on https://awx.example.com"
    try:
        job = wait_held(kube, namespace)
        wait_record(kube, namespace, lambda r: r.get("step") == 1, timeout=180)
        # during the pause, an operator's job takes the lease over
        taken = run_module("release_lease", name="myapp", namespace=namespace, holder=other,
                           takeover=True, duration="10m", purpose="canary release of myapp v3")
        assert taken["decision"] == "take_over", taken
        result = finish(proc)
    finally:
        kill_playbook(proc)
    assert result.failed, result.summary()
    step = [m for m in result.failure_messages() if "was taken over" in m]
    assert step, result.summary()
    assert "held by %s (canary release of myapp v3)" % other in step[0], step[0]
    assert "not by this job (%s)" % job in step[0], step[0]
    assert "Traceback" not in result.stdout + result.stderr
    summary = result.failure_messages()[-1]
    assert "Not rolled back" in summary and other in summary, summary
    assert result.custom_stats["canary_outcome"] == "lease_lost"
    # the step wrote nothing (the record is still at the pause, the canary still has its
    # 25%: no rollback), and the lease is the other job's, left alone
    rec = record(kube, namespace)
    assert rec["step"] == 1 and rec["phase"] == "progressing" and rec["weight"] == 25, rec
    assert replicas(kube, namespace, "myapp-canary") == 1
    assert holder(kube, namespace) == other
    given_back = result.results_of("give the release lease back")[0]
    assert given_back["decision"] == "other", given_back


def test_an_expired_lease_is_taken_without_being_asked(kube, namespace, tmp_path):
    create_stable(kube, namespace, replicas=4)
    gone = "AWX job 7 on https://awx.example.com"
    renewed = time.time() - 120
    kube.create(hd.LEASE, namespace, {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": LEASE_NAME},
        "spec": {"holderIdentity": gone, "leaseDurationSeconds": 60,
                 "acquireTime": hd.format_time(renewed), "renewTime": hd.format_time(renewed)}})
    result = run_playbook(write_playbook(tmp_path, canary_play(
        namespace, "v2", [{"weight": 50}, {"weight": 100}])))
    assert not result.failed, result.summary()
    taken = canary_take(result)
    assert taken["decision"] == "take_expired" and taken["previous"]["holder"] == gone
    assert "it expired at" in taken["message"]
    assert result.custom_stats["canary_outcome"] == "promoted"
    assert_released(kube, namespace, by=taken["holder"])
    assert lease(kube, namespace)["spec"]["leaseTransitions"] == 1


def test_the_example_playbook_releases_under_the_lease_and_gives_it_back(kube):
    from test_example_playbooks import PLAYBOOKS, fresh
    fresh(kube, "release-lease")
    result = run_playbook(PLAYBOOKS + "/release_lease.yml")
    assert not result.failed, result.summary()
    assert kube.get(SERVICE, "release-lease", "myapp")["spec"]["selector"]["version"] == "v2"
    taken = result.results_of("take the release lease of myapp")[0]
    assert taken["decision"] == "create"
    obj = kube.get(hd.LEASE, "release-lease", LEASE_NAME)
    assert hd.holding_of(obj) is None
    assert obj["metadata"]["annotations"][hd.LAST_HOLDER] == taken["holder"]
