"""The release roles on their worst day, run by ansible-playbook against the testbed: a bad
gate stops a release before anything is written (named as the user wrote it), a later
release in the same play never reports an earlier one's failed gate, and each release's
set_stats stand alone when one job releases several apps."""

import pytest

from canary_objects import create_stable, pod_template
from playbooks import role_play, run_playbook, write_playbook
from test_k8s_bluegreen import seed001_v1_live, template

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    CONFIGMAP,
    DEPLOYMENT,
    INGRESS,
    SERVICE,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import wait_for_rollout

pytestmark = pytest.mark.reliability


def resource_versions(kube, namespace):
    """kind/name -> resourceVersion of every object a release could write."""
    seen = {}
    for resource in (DEPLOYMENT, SERVICE, INGRESS, CONFIGMAP):
        for obj in kube.list(resource, namespace)["items"]:
            seen["%s/%s" % (resource.kind, obj["metadata"]["name"])] = \
                obj["metadata"]["resourceVersion"]
    return seen


def task_gate(tmp_path, name, that="true", fail_msg=None):
    """A task-file gate (type: tasks) whose one assert passes when ``that`` is true."""
    path = tmp_path / ("%s.yml" % name)
    text = "- name: %s\n  ansible.builtin.assert:\n    that: %s\n" % (name, that)
    if fail_msg:
        text += "    fail_msg: %s\n" % fail_msg
    path.write_text(text)
    return {"name": name, "type": "tasks", "file": str(path)}


def assert_stopped_at_once(result, *words):
    """Failed with one clear message holding ``words``, before any release task ran."""
    assert result.failed, result.summary()
    messages = result.failure_messages()
    assert len(messages) == 1, result.summary()
    assert "Traceback" not in result.stdout + result.stderr
    for word in words:
        assert word in messages[0], (word, messages[0])
    return messages[0]


def bluegreen_vars(namespace, **extra):
    base = dict(bluegreen_app="myapp", bluegreen_namespace=namespace, bluegreen_version="v2",
                bluegreen_service="myapp-lan", bluegreen_replicas=2,
                bluegreen_pod_template=template("janakiramm/myapp:v2"),
                bluegreen_wait_timeout=60)
    base.update(extra)
    return base


def canary_vars(namespace, **extra):
    base = dict(canary_app="myapp", canary_namespace=namespace, canary_version="v2",
                canary_service="myapp", canary_gate_interval="1s", canary_wait_timeout=60,
                canary_pod_template=pod_template("ikubernetes/myapp:v2"),
                canary_steps=[{"weight": 50}, {"weight": 100}])
    base.update(extra)
    return base


# ---------------------------------------------------------------------------
# a bad gate stops the release before anything is written
# ---------------------------------------------------------------------------
BLUEGREEN_BAD_GATES = {
    # list: (the user's gates, words the error must hold)
    "post": ("bluegreen_post_gates",
             [{"name": "errors", "type": "prometheus", "url": "http://127.0.0.1:9",
               "query": "up", "threshold": "abc"}],
             ["bluegreen_post_gates[0].threshold", "'abc'"]),
    "preview": ("bluegreen_preview_gates",
                [{"name": "ok", "type": "tasks", "file": "ok.yml"}, {"type": "smoke"}],
                ["bluegreen_preview_gates[1].type", "'smoke' is not one of"]),
}


@pytest.mark.parametrize("which", sorted(BLUEGREEN_BAD_GATES))
def test_bluegreen_bad_gate_fails_first_and_writes_nothing(kube, namespace, tmp_path, which):
    variable, gates, words = BLUEGREEN_BAD_GATES[which]
    seed001_v1_live(namespace)
    before = resource_versions(kube, namespace)
    path = write_playbook(tmp_path, role_play("progressive.delivery.bluegreen",
                                              bluegreen_vars(namespace, **{variable: gates})))
    result = run_playbook(path)
    assert_stopped_at_once(result, "nothing was written", *words)
    ran = result.ran()
    assert not [n for n in ran if "deploy the candidate" in n or "| prepare |" in n], ran
    assert resource_versions(kube, namespace) == before
    assert not kube.list(DEPLOYMENT, namespace, label_selector="version=v2")["items"]


def test_canary_bad_gate_fails_first_and_writes_nothing(kube, namespace, tmp_path):
    create_stable(kube, namespace, replicas=2)
    before = resource_versions(kube, namespace)
    gates = [task_gate(tmp_path, "fine"),
             {"name": "latency", "type": "http", "url": "http://127.0.0.1:9/",
              "interval_ms": "100ms"}]
    path = write_playbook(tmp_path, role_play("progressive.delivery.canary",
                                              canary_vars(namespace, canary_gates=gates)))
    result = run_playbook(path)
    assert_stopped_at_once(result, "nothing was written", "canary_gates[1].interval_ms",
                           "'100ms'")
    assert not [n for n in result.ran() if "prepare the canary at 0%" in n], result.ran()
    assert resource_versions(kube, namespace) == before


def test_release_gate_checks_every_gate_before_running_any(tmp_path):
    marker = tmp_path / "ran"
    ran_gate = tmp_path / "touch.yml"
    ran_gate.write_text("- name: a task-file gate that leaves a mark\n"
                        "  ansible.builtin.file:\n    path: %s\n    state: touch\n" % marker)
    gates = [{"name": "touch", "type": "tasks", "file": str(ran_gate)},
             {"name": "p", "type": "prometheus", "url": "http://127.0.0.1:9", "query": "up"}]
    path = write_playbook(tmp_path, role_play("progressive.delivery.release_gate",
                                              {"release_gate_gates": gates}))
    result = run_playbook(path)
    assert_stopped_at_once(result, "gates[1]")
    assert not marker.exists()


# ---------------------------------------------------------------------------
# two releases in one play: no stale gate result, stats per release
# ---------------------------------------------------------------------------
def two_releases(role, first, second):
    """One play: ``first`` then ``second`` release (each may fail; the play goes on)."""
    tasks = []
    for label, role_vars in (("first", first), ("second", second)):
        tasks.append({"name": "%s release" % label, "block": [{
            "name": "run the role (%s release)" % label,
            "ansible.builtin.include_role": {"name": role}, "vars": role_vars}],
            "rescue": [{"name": "%s release failed" % label,
                        "ansible.builtin.debug": {"msg": "{{ ansible_failed_result.msg }}"}}]})
    return {"name": "two releases", "hosts": "localhost", "gather_facts": False,
            "tasks": tasks}


def test_canary_second_release_never_blames_the_first_ones_gate_and_stats_stand_alone(
        kube, namespace, tmp_path):
    create_stable(kube, namespace, replicas=2)
    bad = task_gate(tmp_path, "always-bad", that="false", fail_msg="always bad")
    first = canary_vars(namespace, canary_gates=[bad])
    # the second app has no stable Deployment: its release fails before any gate runs
    second = canary_vars(namespace, canary_app="other", canary_service="other",
                         canary_version="v3")
    path = write_playbook(tmp_path, two_releases("progressive.delivery.canary", first, second))
    result = run_playbook(path)
    assert not result.failed, result.summary()  # both failures rescued by the play
    summaries = [r["msg"] for r in result.results_of("| fail with a summary |")]
    assert len(summaries) == 2, result.summary()
    assert "Gate always-bad (tasks) failed: always bad" in summaries[0]
    assert "Rolled back" in summaries[0]
    assert "always-bad" not in summaries[1], summaries[1]
    assert "Gate " not in summaries[1] and "(step " not in summaries[1], summaries[1]
    # it stopped in the preparation, which writes: it does not claim nothing was changed
    assert "No traffic was moved: all of it is still on the stable version. The release " \
        "stopped while preparing the canary" in summaries[1], summaries[1]
    stats = result.custom_stats
    # the flat keys are the last release's, never two concatenated
    assert stats["canary_outcome"] == "not_started", stats
    assert stats["canary_app"] == "other" and stats["canary_version"] == "v3", stats
    assert stats["canary_failed_gates"] == [], stats
    releases = stats["canary_releases"]
    assert sorted(releases) == ["myapp", "other"], stats
    assert releases["myapp"]["canary_outcome"] == "rolled_back"
    assert releases["myapp"]["canary_version"] == "v2"
    assert releases["myapp"]["canary_failed_gates"] == ["always-bad"]
    assert releases["other"]["canary_outcome"] == "not_started"
    assert releases["other"]["canary_failed_gates"] == []


def create_second_app(kube, namespace, name="web"):
    """A second app beside myapp: Deployment and Service ``name`` (app=<name>), v1 ready."""
    labels = {"app": name, "track": "stable"}
    kube.create(DEPLOYMENT, namespace, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                 "template": pod_template("ikubernetes/myapp:v1", dict(labels, version="v1"))}})
    kube.create(SERVICE, namespace, {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
        "spec": {"selector": {"app": name},
                 "ports": [{"name": "http", "port": 80, "targetPort": 80}]}})
    wait_for_rollout(kube, namespace, name, 60)


def test_canary_two_promoted_releases_report_each_alone(kube, namespace, tmp_path):
    create_stable(kube, namespace, replicas=2)
    create_second_app(kube, namespace)
    first = canary_vars(namespace)
    second = canary_vars(namespace, canary_app="web", canary_service="web", canary_version="v3",
                         canary_pod_template=pod_template("ikubernetes/myapp:v3"))
    path = write_playbook(tmp_path, two_releases("progressive.delivery.canary", first, second))
    result = run_playbook(path)
    assert not result.failed, result.summary()
    assert not result.results_of("| fail with a summary |"), result.summary()
    stats = result.custom_stats
    # AWX used to see "promotedpromoted" and "v2v3"
    assert stats["canary_outcome"] == "promoted", stats
    assert stats["canary_app"] == "web" and stats["canary_version"] == "v3", stats
    assert stats["canary_live_version"] == "v3", stats
    releases = stats["canary_releases"]
    assert sorted(releases) == ["myapp", "web"], stats
    assert releases["myapp"]["canary_outcome"] == "promoted"
    assert releases["myapp"]["canary_version"] == "v2"
    assert releases["myapp"]["canary_live_version"] == "v2"
    assert releases["web"]["canary_version"] == "v3"
    assert releases["web"]["canary_stable_version"] == "v1"


def test_bluegreen_second_release_never_blames_the_first_ones_gate_and_stats_stand_alone(
        kube, namespace, tmp_path):
    seed001_v1_live(namespace)
    bad = task_gate(tmp_path, "always-bad", that="false", fail_msg="always bad")
    refused = {"name": "refused", "type": "http", "url": "http://127.0.0.1:9/healthz"}
    first = bluegreen_vars(namespace, bluegreen_preview_gates=[bad, refused])
    # the second app has no Deployment and no pod template: it fails while deploying,
    # before any gate runs
    second = bluegreen_vars(namespace, bluegreen_app="other", bluegreen_service="other-lan",
                            bluegreen_version="v3", bluegreen_pod_template={})
    path = write_playbook(tmp_path, two_releases("progressive.delivery.bluegreen", first, second))
    result = run_playbook(path)
    assert not result.failed, result.summary()
    summaries = [r["msg"] for r in result.results_of("| fail with a summary |")]
    assert len(summaries) == 2, result.summary()
    # the first: each failed gate with its cause, and what is live (v1, never switched)
    assert "Gate always-bad (tasks) failed: always bad" in summaries[0], summaries[0]
    assert "Gate refused (http) failed" in summaries[0], summaries[0]
    assert "Connection refused" in summaries[0], summaries[0]
    assert "Live traffic was not touched (v1)." in summaries[0], summaries[0]
    # the second stopped while deploying: no gate of the first, and no claim that nothing
    # was live
    assert "always-bad" not in summaries[1] and "Gate " not in summaries[1], summaries[1]
    assert "(none)" not in summaries[1], summaries[1]
    assert "Live traffic was not touched: the release stopped while deploying the candidate v3" \
        in summaries[1], summaries[1]
    stats = result.custom_stats
    assert stats["bluegreen_outcome"] == "aborted", stats
    assert stats["bluegreen_candidate_version"] == "v3", stats
    assert stats["bluegreen_failed_gates"] == [], stats
    releases = stats["bluegreen_releases"]
    assert sorted(releases) == ["myapp", "other"], stats
    assert releases["myapp"]["bluegreen_outcome"] == "aborted"
    assert releases["myapp"]["bluegreen_live_version"] == "v1"
    assert sorted(releases["myapp"]["bluegreen_failed_gates"]) == ["always-bad", "refused"]
    assert releases["other"]["bluegreen_failed_gates"] == []
