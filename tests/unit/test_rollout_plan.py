"""k8s_rollout's validation and its writes, on recorded objects (the FakeKube): one PUT with
the read resourceVersion per write, the hold's two writes, undo, check mode."""

import json

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils import engine as eng
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    ValidationError,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import WaitTimeout
from ansible_collections.progressive.delivery.plugins.module_utils.rollout import plan as pl
from ansible_collections.progressive.delivery.plugins.module_utils.rollout.backend import (
    RolloutBackend,
)
from ansible_collections.progressive.delivery.plugins.module_utils.rollout.validation import (
    validate,
)

from fake_kube import FakeKube

NS = "web"


def params(**extra):
    base = dict(kind="Deployment", name="web", namespace=NS, state="present")
    base.update(extra)
    return base


def errors_of(**extra):
    with pytest.raises(ValidationError) as err:
        validate(params(**extra))
    return [(e.path, e.message) for e in err.value.errors]


# ---------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------
def test_valid_input_is_parsed():
    spec = validate(params(max_surge="25%", max_unavailable="0", pause_after="10%",
                           images={"web": "web:v2"}))
    assert (str(spec.max_surge), str(spec.max_unavailable), str(spec.pause_after)) == \
        ("25%", "0", "10%")
    assert spec.updates_template


def test_every_problem_at_once_with_field_and_value():
    problems = errors_of(name="Web_1", max_surge="lots", max_unavailable=-1, pause_after="0%",
                         revision_history_limit=-2, images={"web": ""}, to_image="web:v1")
    fields = [f for f, m in problems]
    assert fields == ["name", "max_surge", "max_unavailable", "revision_history_limit",
                      "pause_after", "images.web", "to_image"]
    assert "'lots' is neither an integer >= 0 nor a percent string" in problems[1][1]
    assert "'Web_1' is not a valid DNS-1123 subdomain" == problems[0][1]


def test_both_zero_is_the_apis_error():
    assert errors_of(max_surge=0, max_unavailable="0%") == [(
        "max_unavailable", "may not be 0 when max_surge is 0 (maxSurge=0, maxUnavailable=0%): "
        "the rollout could never replace a pod")]


def test_kind_specific_options_and_states():
    assert [f for f, m in errors_of(kind="StatefulSet", max_surge=1, state="paused")] == [
        "max_surge", "state"]
    assert [f for f, m in errors_of(kind="DaemonSet", pause_after=1,
                                    progress_deadline_seconds=5)] == [
        "pause_after", "progress_deadline_seconds"]
    assert [f for f, m in errors_of(kind="DaemonSet", max_surge=1, max_unavailable=1)] == [
        "max_surge"]


def test_undo_options():
    assert [f for f, m in errors_of(state="undone", to_revision=2, to_image="x",
                                    images={"web": "web:v2"})] == ["images", "to_image"]
    assert [f for f, m in errors_of(to_revision=2)] == ["to_revision"]
    assert [f for f, m in errors_of(pause_after=1, state="paused")] == ["pause_after"]
    assert [f for f, m in errors_of(pause_after="101%")] == ["pause_after"]
    assert [f for f, m in errors_of(min_ready_seconds=10, progress_deadline_seconds=10)] == [
        "progress_deadline_seconds"]


# ---------------------------------------------------------------------------
# the template merge
# ---------------------------------------------------------------------------
def test_merge_by_name_and_key():
    base = {"metadata": {"labels": {"app": "web", "old": "x"}},
            "spec": {"containers": [{"name": "web", "image": "a", "env": [
                {"name": "A", "value": "1"}]}, {"name": "side", "image": "s"}],
                "tolerations": [{"key": "k"}]}}
    patch = {"metadata": {"labels": {"old": None, "new": "y"}},
             "spec": {"containers": [{"name": "web", "env": [{"name": "B", "value": "2"}]}],
                      "tolerations": [{"key": "z"}]}}
    merged = pl.merge(base, patch)
    assert merged["metadata"]["labels"] == {"app": "web", "new": "y"}
    assert merged["spec"]["containers"][0] == {"name": "web", "image": "a", "env": [
        {"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}
    assert merged["spec"]["containers"][1] == {"name": "side", "image": "s"}
    assert merged["spec"]["tolerations"] == [{"key": "z"}]


def test_images_and_env_on_the_template():
    spec = validate(params(images={"web": "web:v2"}, env={"MODE": "canary", "A": None, "N": 3}))
    template = {"spec": {"containers": [{"name": "web", "image": "web:v1", "env": [
        {"name": "A", "value": "1"}, {"name": "KEEP", "value": "k"}]}]}}
    out = pl.desired_template(spec, template)
    assert out["spec"]["containers"][0]["image"] == "web:v2"
    assert out["spec"]["containers"][0]["env"] == [
        {"name": "KEEP", "value": "k"}, {"name": "MODE", "value": "canary"},
        {"name": "N", "value": "3"}]
    assert template["spec"]["containers"][0]["image"] == "web:v1"  # not modified


def test_unknown_container_is_a_field_error():
    spec = validate(params(images={"nope": "x:1"}))
    with pytest.raises(ValidationError) as err:
        pl.desired_template(spec, {"spec": {"containers": [{"name": "web"}]}})
    assert str(err.value) == "images.nope: 'x:1': no container nope in Deployment web (containers: web)"


# ---------------------------------------------------------------------------
# writes on a FakeKube
# ---------------------------------------------------------------------------
def dep(replicas=10, image="web:v1", **spec):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": NS, "uid": "u1"},
            "spec": dict({"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                          "strategy": {"type": "RollingUpdate", "rollingUpdate": {
                              "maxSurge": "25%", "maxUnavailable": "25%"}},
                          "progressDeadlineSeconds": 600,
                          "template": {"metadata": {"labels": {"app": "web"}},
                                       "spec": {"containers": [{"name": "web", "image": image}]}}},
                         **spec),
            "status": {"replicas": replicas}}


def run(kube, check_mode=False, **extra):
    engine = eng.Engine(kube, check_mode=check_mode, wait=False)
    backend = RolloutBackend(validate(params(**extra)))
    first = backend.run(engine)
    return engine, engine.result(**backend.report(engine, first))


def test_update_is_one_put_with_the_read_resource_version():
    kube = FakeKube([dep()])
    read_rv = kube.obj("Deployment", NS, "web")["metadata"]["resourceVersion"]
    seen = []
    kube.before_write = lambda fake, verb, key: seen.append(verb)
    original_replace = kube.replace

    def replace(resource, namespace, name, body):
        seen.append(body["metadata"]["resourceVersion"])
        return original_replace(resource, namespace, name, body)

    kube.replace = replace
    engine, result = run(kube, images={"web": "web:v2"}, change_cause="v2", max_surge=1)
    assert seen == [read_rv, "replace"]
    assert result["actions"] == ["update Deployment web/web (image web=web:v2, settings)"]
    obj = kube.obj("Deployment", NS, "web")
    assert obj["metadata"]["annotations"]["kubernetes.io/change-cause"] == "v2"
    assert obj["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": "25%"}
    assert run(kube, images={"web": "web:v2"}, change_cause="v2", max_surge=1)[1]["changed"] \
        is False


def test_merged_strategy_both_zero_is_refused_before_writing():
    kube = FakeKube([dep(strategy={"type": "RollingUpdate", "rollingUpdate": {
        "maxSurge": 1, "maxUnavailable": 0}})])
    with pytest.raises(ValidationError) as err:
        run(kube, max_surge=0)
    assert "with the Deployment's current value of the other" in str(err.value)
    assert kube.writes() == []


def batch_controller(fake, key):
    """Stands in for the Deployment controller's first sync after the batch write: the
    surge pods exist (updatedReplicas = maxSurge), the generation is observed."""
    obj = fake.store[key]
    if key[0] == "Deployment" and not obj["spec"].get("paused"):
        surge = obj["spec"]["strategy"]["rollingUpdate"]["maxSurge"]
        obj["status"] = {"observedGeneration": obj["metadata"]["generation"],
                         "updatedReplicas": surge if isinstance(surge, int) else 0}


def test_hold_writes_the_batch_then_the_pause_and_keeps_the_strategy():
    kube = FakeKube([dep()], after_write=batch_controller)
    engine, result = run(kube, pause_after="10%", images={"web": "web:v2"})
    assert result["actions"] == [
        "roll out Deployment web/web to 1 new pod(s) (image web=web:v2, settings)",
        "pause Deployment web/web at 1 new pod(s)"]
    obj = kube.obj("Deployment", NS, "web")
    assert obj["spec"]["paused"] is True
    assert obj["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    assert obj["spec"]["progressDeadlineSeconds"] == 600 and "minReadySeconds" not in obj["spec"]
    saved = json.loads(obj["metadata"]["annotations"][pl.HOLD])
    assert saved == {"batch": 1, "maxSurge": "25%", "maxUnavailable": "25%",
                     "minReadySeconds": None, "progressDeadlineSeconds": 600}
    assert result["settings"]["max_surge"] == "25%" and result["held"]["batch"] == 1

    # resume: the saved strategy back, unpaused, the annotation gone, in one write
    engine, result = run(kube, state="resumed")
    assert result["actions"] == ["resume Deployment web/web (settings)"]
    obj = kube.obj("Deployment", NS, "web")
    assert not obj["spec"].get("paused") and pl.HOLD not in obj["metadata"]["annotations"]
    assert obj["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": "25%",
                                                        "maxUnavailable": "25%"}


def test_the_batch_write_guards_availability():
    obj = dep()
    kube = FakeKube([obj])
    spec = validate(params(pause_after=2, images={"web": "web:v2"}))
    (write,) = pl.plan_batch(spec, kube.obj("Deployment", NS, "web"), [], 2)
    assert write.verb == "replace"
    assert write.body["spec"]["minReadySeconds"] == pl.GUARD_MIN_READY
    assert write.body["spec"]["progressDeadlineSeconds"] == pl.GUARD_DEADLINE
    assert write.body["spec"]["paused"] is False
    # once the batch's pods exist the plan is the pause alone
    kube.replace(pl.RESOURCES["Deployment"], NS, "web", write.body)
    written = kube.obj("Deployment", NS, "web")
    assert pl.plan_batch(spec, written, [], 2) == []
    (pause,) = pl.plan_hold(spec, written)
    assert pause.body["spec"]["paused"] is True
    assert pause.body["spec"]["progressDeadlineSeconds"] == 600


def test_a_batch_of_every_pod_finishes_the_rollout():
    kube = FakeKube([dep(replicas=4)])
    engine, result = run(kube, pause_after="100%", images={"web": "web:v2"})
    assert result["actions"] == ["resume Deployment web/web (image web=web:v2)"]
    assert not kube.obj("Deployment", NS, "web")["spec"].get("paused")


def test_check_mode_simulates_both_hold_writes_and_sends_none():
    kube = FakeKube([dep()])
    engine, result = run(kube, check_mode=True, pause_after=1, images={"web": "web:v2"})
    assert len(result["actions"]) == 2 and kube.writes() == []
    assert result["paused"] is True and result["held"]["batch"] == 1


def replicaset(name, revision, image, replicas):
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": NS, "annotations": {
                "deployment.kubernetes.io/revision": str(revision),
                "kubernetes.io/change-cause": "to " + image},
                "ownerReferences": [{"uid": "u1", "controller": True}]},
            "spec": {"replicas": replicas, "template": {
                "metadata": {"labels": {"app": "web", "pod-template-hash": name[-3:]}},
                "spec": {"containers": [{"name": "web", "image": image}]}}},
            "status": {"replicas": replicas}}


def test_undo_sets_the_template_and_change_cause_and_resumes_a_held_deployment():
    held = dep(image="web:v3", paused=True)
    held["metadata"]["annotations"] = {pl.HOLD: json.dumps({
        "batch": 1, "maxSurge": "25%", "maxUnavailable": "25%", "minReadySeconds": None,
        "progressDeadlineSeconds": 600})}
    held["spec"]["strategy"]["rollingUpdate"] = {"maxSurge": 1, "maxUnavailable": 0}
    kube = FakeKube([held, replicaset("web-v1a", 1, "web:v1", 0),
                     replicaset("web-v2b", 2, "web:v2", 10), replicaset("web-v3c", 3, "web:v3", 1)])
    engine, result = run(kube, state="undone", to_revision=2)
    assert result["actions"] == ["undo Deployment web/web to revision 2 (web=web:v2)"]
    obj = kube.obj("Deployment", NS, "web")
    assert obj["spec"]["template"] == {"metadata": {"labels": {"app": "web"}},
                                       "spec": {"containers": [{"name": "web", "image": "web:v2"}]}}
    assert obj["metadata"]["annotations"] == {"kubernetes.io/change-cause": "to web:v2"}
    assert obj["spec"].get("paused") is False
    assert obj["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": "25%",
                                                        "maxUnavailable": "25%"}


def test_undo_to_a_missing_revision_writes_nothing():
    kube = FakeKube([dep(image="web:v2"), replicaset("web-v2b", 2, "web:v2", 10)])
    with pytest.raises(Exception) as err:
        run(kube, state="undone", to_revision=1)
    assert "retained revisions: 2" in str(err.value)
    assert kube.writes() == []


def test_a_conflict_is_read_and_planned_again():
    calls = []

    def other_writer(fake, verb, key):
        if not calls:
            calls.append(verb)
            obj = fake.obj(*key)
            obj["metadata"]["labels"] = {"touched": "yes"}
            fake._store(key, obj, bump_generation=False)

    kube = FakeKube([dep()], before_write=other_writer)
    engine, result = run(kube, images={"web": "web:v2"})
    obj = kube.obj("Deployment", NS, "web")
    assert obj["metadata"]["labels"] == {"touched": "yes"}
    assert obj["spec"]["template"]["spec"]["containers"][0]["image"] == "web:v2"
    assert engine.conflicts == 1


def test_without_wait_the_pause_still_waits_for_the_batch_to_exist():
    """wait=false skips the readiness wait, not the batch: a pause written before the
    controller made the new ReplicaSet would hold no new pod at all."""
    kube = FakeKube([dep()])
    kube.watch = lambda *args, **kwargs: iter(())  # a controller that never acts
    engine = eng.Engine(kube, wait=False, wait_timeout=1)
    backend = RolloutBackend(validate(params(pause_after=1, images={"web": "web:v2"})))
    with pytest.raises(WaitTimeout) as err:
        backend.run(engine)
    assert "holding at 1 new pod(s) timed out: waiting for the Deployment spec update" \
        in str(err.value)
    assert [w[0] for w in kube.writes()] == ["replace"]  # the batch, no pause
    assert not kube.obj("Deployment", NS, "web")["spec"]["paused"]
