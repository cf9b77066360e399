"""k8s_bluegreen's backend on the release engine, on recorded objects in the in-memory fake
client: what it writes for each state, in which order, with which precondition, and what it
reports. Proofs (watches) cannot run on the fake, so these calls run with wait=False; the
integration tests prove the switches on the testbed."""

import copy

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.bluegreen.backend import (
    run_bluegreen,
)
from ansible_collections.progressive.delivery.plugins.module_utils.bluegreen import status
from ansible_collections.progressive.delivery.plugins.module_utils.bluegreen.validation import (
    validate,
)
from ansible_collections.progressive.delivery.plugins.module_utils.engine import as_rolled_out

from fake_kube import FakeKube

NS = "blue-green"


def deployment(version, replicas=3, annotations=None, name=None, labels=None):
    """A Deployment of myapp whose rollout is complete."""
    tpl = {"app": "myapp", "version": version}
    tpl.update(labels or {})
    return as_rolled_out({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name or "myapp-" + version, "namespace": NS, "generation": 1,
                     "annotations": dict(annotations or {})},
        "spec": {"replicas": replicas, "selector": {"matchLabels": tpl},
                 "template": {"metadata": {"labels": tpl},
                              "spec": {"containers": [{"name": "myapp",
                                                       "image": "janakiramm/myapp:" + version}]}}},
    })


def service(version, annotations=None, name="myapp-lan", selector=None):
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": NS, "annotations": dict(annotations or {})},
            "spec": {"type": "NodePort",
                     "selector": selector or {"app": "myapp", "version": version},
                     "ports": [{"name": "http", "port": 80, "targetPort": 80,
                                "nodePort": 30062}]}}


def spec(**overrides):
    params = dict(name="myapp", namespace=NS, version="v2", state="promoted",
                  service="myapp-lan")
    params.update(overrides)
    return validate(params)


def rolls_out(fake, key):
    """The Deployment controller, reduced to its outcome: every write rolls out at once."""
    if key[0] == "Deployment" and key in fake.store:
        fake.store[key]["status"] = as_rolled_out(fake.store[key])["status"]


def v2_live_after_v1(**annotations):
    return service("v2", dict({status.LIVE_VERSION: "v2", status.PREVIOUS_VERSION: "v1"},
                              **annotations))


def sent_patches(kube, kind):
    return [s.body for s in kube.sent if s.verb == "patch" and s.kind == kind]


# --- promoted ------------------------------------------------------------------------
def test_promote_switches_the_selector_in_one_write_with_the_read_resource_version():
    kube = FakeKube([deployment("v1"), deployment("v2"),
                     service("v1", {status.LIVE_VERSION: "v1"})])
    read_at = kube.obj("Service", NS, "myapp-lan")["metadata"]["resourceVersion"]
    result = run_bluegreen(kube, spec(), wait=False)

    assert kube.writes() == [("patch", "Service", "myapp-lan")]
    [patch] = sent_patches(kube, "Service")
    assert patch["metadata"]["resourceVersion"] == read_at
    assert patch["spec"]["selector"] == {"app": "myapp", "version": "v2"}
    live = kube.obj("Service", NS, "myapp-lan")
    assert live["spec"]["selector"] == {"app": "myapp", "version": "v2"}
    assert live["metadata"]["annotations"][status.PREVIOUS_VERSION] == "v1"

    assert result["changed"] is True
    assert result["actions"] == ["Service myapp-lan selector version=v1 -> v2"]
    assert (result["live_version_before"], result["live_version"]) == ("v1", "v2")
    assert result["previous_version"] == "v1" and result["rolled_back_from"] is None
    assert result["service"]["selector"] == {"app": "myapp", "version": "v2"}
    assert result["diff"]["before"]["Service/myapp-lan"]["selector"]["version"] == "v1"
    assert result["diff"]["after"]["Service/myapp-lan"]["selector"]["version"] == "v2"
    assert sorted(result["versions"]) == ["v1", "v2"]

    again = run_bluegreen(kube, spec(), wait=False)
    assert again["changed"] is False and again["actions"] == []
    assert kube.writes() == [("patch", "Service", "myapp-lan")]


def test_a_conflict_reads_and_plans_again_and_keeps_the_other_writers_change():
    def other_writer(fake, verb, key):
        if key == ("Service", NS, "myapp-lan") and not fake.sent[:-1]:
            obj = fake.obj(*key)
            obj["metadata"]["labels"] = {"team": "web"}
            fake._store(key, obj, bump_generation=False)

    kube = FakeKube([deployment("v1"), deployment("v2"), service("v1")],
                    before_write=other_writer)
    first_read = kube.obj("Service", NS, "myapp-lan")["metadata"]["resourceVersion"]
    result = run_bluegreen(kube, spec(), wait=False)

    first, second = sent_patches(kube, "Service")
    assert first["metadata"]["resourceVersion"] == first_read
    assert second["metadata"]["resourceVersion"] != first_read  # planned on a fresh read
    live = kube.obj("Service", NS, "myapp-lan")
    assert live["metadata"]["labels"] == {"team": "web"}
    assert live["spec"]["selector"]["version"] == "v2"
    assert result["actions"] == ["Service myapp-lan selector version=v1 -> v2"]


def test_check_mode_writes_nothing_and_predicts_the_result():
    kube = FakeKube([deployment("v1"), service("v1")])
    stored = copy.deepcopy(kube.store)
    pod_template = {"spec": {"containers": [{"name": "myapp", "image": "janakiramm/myapp:v2"}]}}
    result = run_bluegreen(kube, spec(pod_template=pod_template, replicas=3), check_mode=True)

    assert kube.writes() == []
    assert [(s.verb, s.name, s.dry_run) for s in kube.sent] == [("apply", "myapp-v2", True)]
    assert kube.store == stored
    assert result["changed"] is True
    assert result["actions"] == ["create Deployment myapp-v2 (version v2)",
                                 "Service myapp-lan selector version=v1 -> v2"]
    assert (result["live_version_before"], result["live_version"]) == ("v1", "v2")
    assert result["versions"]["v2"]["ready_replicas"] == 3  # predicted as rolled out
    assert result["diff"]["before"]["Deployment/myapp-v2"] == {}
    assert result["diff"]["after"]["Deployment/myapp-v2"]["images"] == {
        "myapp": "janakiramm/myapp:v2"}


def test_applying_an_unchanged_deployment_is_not_a_change():
    pod_template = {"spec": {"containers": [{"name": "myapp", "image": "janakiramm/myapp:v2"}]}}
    kube = FakeKube([deployment("v1"), service("v1")], after_write=rolls_out)
    first = run_bluegreen(kube, spec(state="deployed", pod_template=pod_template, replicas=3),
                          wait=False)
    assert first["actions"] == ["create Deployment myapp-v2 (version v2)"]
    again = run_bluegreen(kube, spec(state="deployed", pod_template=pod_template, replicas=3),
                          wait=False)
    assert again["changed"] is False and again["diff"] == dict(before={}, after={})
    changed = run_bluegreen(kube, spec(state="deployed", pod_template=pod_template, replicas=4),
                            wait=False)
    assert changed["actions"] == ["update Deployment myapp-v2 (version v2)"]
    assert changed["diff"]["after"]["Deployment/myapp-v2"]["replicas"] == 4


# --- previewed -------------------------------------------------------------------------
def test_previewed_points_a_preview_service_at_the_candidate_and_leaves_live_alone():
    kube = FakeKube([deployment("v1"), deployment("v2"), service("v1")])
    live_before = kube.obj("Service", NS, "myapp-lan")
    result = run_bluegreen(kube, spec(state="previewed"), wait=False)

    assert kube.writes() == [("create", "Service", "myapp-lan-preview")]
    preview = kube.obj("Service", NS, "myapp-lan-preview")
    assert preview["spec"]["selector"] == {"app": "myapp", "version": "v2"}
    assert preview["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": 80}]
    assert kube.obj("Service", NS, "myapp-lan") == live_before
    assert result["actions"] == ["create preview Service myapp-lan-preview -> v2"]
    assert (result["live_version"], result["preview_version"]) == ("v1", "v2")

    again = run_bluegreen(kube, spec(state="previewed"), wait=False)
    assert again["changed"] is False and len(kube.writes()) == 1


# --- rolled_back -----------------------------------------------------------------------
def test_rolled_back_scales_the_previous_version_up_first_then_switches():
    scaled_down = deployment("v1", replicas=0, annotations={status.SCALED_DOWN_FROM: "3"})
    kube = FakeKube([scaled_down, deployment("v2"), v2_live_after_v1()], after_write=rolls_out)
    result = run_bluegreen(kube, spec(state="rolled_back", version=None), wait=False)

    assert kube.writes() == [("patch", "Deployment", "myapp-v1"),
                             ("patch", "Service", "myapp-lan")]
    assert result["actions"] == ["scale Deployment myapp-v1 0 -> 3",
                                 "Service myapp-lan selector version=v2 -> v1"]
    v1 = kube.obj("Deployment", NS, "myapp-v1")
    assert v1["spec"]["replicas"] == 3
    assert status.SCALED_DOWN_FROM not in v1["metadata"]["annotations"]
    annotations = kube.obj("Service", NS, "myapp-lan")["metadata"]["annotations"]
    assert annotations[status.PREVIOUS_VERSION] == "v2"
    assert annotations[status.ROLLED_BACK_FROM] == "v2"
    assert (result["live_version_before"], result["live_version"]) == ("v2", "v1")
    assert result["rolled_back_from"] == "v2"
    assert result["versions"]["v1"]["ready_replicas"] == 3

    again = run_bluegreen(kube, spec(state="rolled_back", version=None), wait=False)
    assert again["changed"] is False and len(kube.writes()) == 2


def test_check_mode_predicts_a_rollback_that_scales_up_first():
    """The simulated scale-up counts as rolled out, so the switch that follows is planned."""
    scaled_down = deployment("v1", replicas=0, annotations={status.SCALED_DOWN_FROM: "3"})
    kube = FakeKube([scaled_down, deployment("v2"), v2_live_after_v1()])
    stored = copy.deepcopy(kube.store)
    result = run_bluegreen(kube, spec(state="rolled_back", version=None), check_mode=True)
    assert kube.sent == [] and kube.store == stored
    assert result["actions"] == ["scale Deployment myapp-v1 0 -> 3",
                                 "Service myapp-lan selector version=v2 -> v1"]
    assert result["live_version"] == "v1" and result["rolled_back_from"] == "v2"


def test_rolled_back_to_a_version_that_is_not_ready_is_refused_after_nothing_is_written():
    not_ready = deployment("v1")
    not_ready["status"]["readyReplicas"] = 1
    kube = FakeKube([not_ready, deployment("v2"), v2_live_after_v1()])
    with pytest.raises(status.PlanError, match="refusing to roll back to version v1"):
        run_bluegreen(kube, spec(state="rolled_back", version=None), wait=False)
    assert kube.writes() == []


# --- scaled_down -----------------------------------------------------------------------
def test_scaled_down_records_the_size_and_is_idempotent():
    kube = FakeKube([deployment("v1"), deployment("v2"), v2_live_after_v1()])
    result = run_bluegreen(kube, spec(state="scaled_down", version=None), wait=False)

    assert kube.writes() == [("patch", "Deployment", "myapp-v1")]
    v1 = kube.obj("Deployment", NS, "myapp-v1")
    assert v1["spec"]["replicas"] == 0
    assert v1["metadata"]["annotations"][status.SCALED_DOWN_FROM] == "3"
    assert result["actions"] == ["scale Deployment myapp-v1 3 -> 0"]
    assert result["versions"]["v1"]["replicas"] == 0

    again = run_bluegreen(kube, spec(state="scaled_down", version=None), wait=False)
    assert again["changed"] is False and len(kube.writes()) == 1


def test_scaled_down_never_touches_the_live_version():
    kube = FakeKube([deployment("v1"), deployment("v2"), v2_live_after_v1()])
    with pytest.raises(status.PlanError, match="refusing to scale down version v2: it is live"):
        run_bluegreen(kube, spec(state="scaled_down", version="v2"), wait=False)
    assert kube.writes() == []


# --- refusals ----------------------------------------------------------------------------
@pytest.mark.parametrize("objects, message", [
    # a second workload runs pods the switched selector would also send traffic to
    ([deployment("v1"), deployment("v2"),
      deployment("v2", name="myapp-v2-debug", labels={"debug": "1"}), service("v1")],
     "Deployments myapp-v2 and myapp-v2-debug both run version=v2"),
    # the Service selects on a label the candidate's pods do not carry
    ([deployment("v1", labels={"tier": "web"}), deployment("v2"),
      service("v1", selector={"app": "myapp", "version": "v1", "tier": "web"})],
     "Service myapp-lan selector {'app': 'myapp', 'version': 'v2', 'tier': 'web'} would not "
     "match the pods of version v2"),
])
def test_a_service_whose_selector_would_not_select_exactly_the_candidate_is_refused(
        objects, message):
    kube = FakeKube(objects)
    stored = copy.deepcopy(kube.store)
    for check_mode in (True, False):
        with pytest.raises(status.PlanError) as err:
            run_bluegreen(kube, spec(), check_mode=check_mode, wait=False)
        assert message in str(err.value)
    assert kube.writes() == [] and kube.store == stored


# --- reads and waits -------------------------------------------------------------------
def test_a_deployment_already_rolled_out_is_not_waited_for_and_read_once():
    kube = FakeKube([deployment("v1"), deployment("v2"), service("v1")])
    result = run_bluegreen(kube, spec(state="deployed"), wait=True, wait_timeout=5)
    assert result["changed"] is False and result["versions"]["v2"]["ready_replicas"] == 3
    assert [r for r in kube.requests if r[0] == "watch"] == []
    assert [r for r in kube.requests if r[1] == "Deployment"] == [("list", "Deployment", NS)]


def test_a_rollout_under_way_is_watched_and_the_report_shows_its_end():
    slow = deployment("v2")
    slow["status"].update(readyReplicas=1, availableReplicas=1)
    kube = FakeKube([deployment("v1"), slow, service("v1")])
    kube.events[("Deployment", "myapp-v2")] = [
        lambda obj: obj.update(status=as_rolled_out(obj)["status"])]
    result = run_bluegreen(kube, spec(state="deployed"), wait=True, wait_timeout=5)
    assert ("watch", "Deployment", "myapp-v2") in kube.requests
    assert result["versions"]["v2"]["ready_replicas"] == 3  # read again after the watch
