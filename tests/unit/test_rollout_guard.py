"""k8s_rollout moving a paused hold on to a larger batch: the guard write (long
minReadySeconds, still paused) first, its two waits, then the batch and the pause; the
killed-between-writes cases; check mode. Recorded objects on the FakeKube; the controllers'
timing is the testbed's business (tests/integration/test_k8s_rollout_hold_moves.py)."""

import copy
import json

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils import engine as eng
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import WaitTimeout
from ansible_collections.progressive.delivery.plugins.module_utils.rollout import guard
from ansible_collections.progressive.delivery.plugins.module_utils.rollout import plan as pl
from ansible_collections.progressive.delivery.plugins.module_utils.rollout.backend import (
    RolloutBackend,
)
from ansible_collections.progressive.delivery.plugins.module_utils.rollout.validation import (
    validate,
)

from fake_kube import FakeKube

NS = "web"
SAVED = {"batch": 1, "maxSurge": "25%", "maxUnavailable": "25%", "minReadySeconds": 5,
         "progressDeadlineSeconds": 600}


def spec_of(**extra):
    base = dict(kind="Deployment", name="web", namespace=NS, state="present")
    base.update(extra)
    return validate(base)


def template(image):
    return {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": image}]}}


def held_deployment(batch=1, hold=True, **spec):
    """10 replicas of web:v1 held (paused) beside ``batch`` pods of web:v2."""
    obj = {"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "web", "namespace": NS, "uid": "u1", "generation": 4,
                        "resourceVersion": "7", "annotations": {}},
           "spec": dict({"replicas": 10, "paused": True, "minReadySeconds": 5,
                         "progressDeadlineSeconds": 600,
                         "selector": {"matchLabels": {"app": "web"}},
                         "strategy": {"type": "RollingUpdate", "rollingUpdate": {
                             "maxSurge": batch, "maxUnavailable": 0}},
                         "template": template("web:v2")}, **spec),
           "status": {"observedGeneration": 4, "replicas": 10 + batch, "updatedReplicas": batch,
                      "readyReplicas": 10 + batch, "availableReplicas": 10 + batch}}
    if hold:
        obj["metadata"]["annotations"][pl.HOLD] = json.dumps(dict(SAVED, batch=batch))
    return obj


def replicaset(name, image, replicas, min_ready=5):
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": NS, "generation": 2,
                         "annotations": {"deployment.kubernetes.io/revision": "1"},
                         "ownerReferences": [{"uid": "u1", "controller": True}]},
            "spec": {"replicas": replicas, "minReadySeconds": min_ready,
                     "template": dict(template(image), metadata={"labels": {
                         "app": "web", "pod-template-hash": name[-3:]}})},
            "status": {"observedGeneration": 2, "replicas": replicas,
                       "availableReplicas": replicas}}


def objects(batch=1, **kwargs):
    return [held_deployment(batch, **kwargs), replicaset("web-v1a", "web:v1", 10),
            replicaset("web-v2b", "web:v2", batch)]


# ---------------------------------------------------------------------------
# the plan
# ---------------------------------------------------------------------------
def test_the_guard_is_the_long_min_ready_seconds_written_while_paused():
    obj, old, new = objects()
    (write,) = pl.plan_guard(spec_of(pause_after="50%"), obj, [old, new], 5)
    body = write.body
    assert (body["spec"]["paused"], body["spec"]["minReadySeconds"],
            body["spec"]["progressDeadlineSeconds"]) == (True, pl.GUARD_MIN_READY,
                                                         pl.GUARD_DEADLINE)
    # nothing else: the strategy still adds up to the pods there (the paused controller
    # scales nothing), the Deployment's own values stay in the annotation
    assert body["spec"]["strategy"] == obj["spec"]["strategy"]
    assert body["metadata"]["annotations"] == obj["metadata"]["annotations"]
    assert body["metadata"]["resourceVersion"] == obj["metadata"].get("resourceVersion")
    assert write.description == ("stop Deployment web/web's 1 new pod(s) counting as "
                                 "available (minReadySeconds %d) before moving on"
                                 % pl.GUARD_MIN_READY)
    assert pl.moving_on(spec_of(), obj, [old, new], 5) == new


@pytest.mark.parametrize("case", ["same batch", "smaller batch", "unpaused", "new template",
                                  "no new pods", "guard on"])
def test_no_guard_when_there_is_nothing_held_to_move_on_from(case):
    obj, old, new = objects(batch=5)
    batch, spec = 8, spec_of()
    if case == "same batch":
        batch = 5
    elif case == "smaller batch":
        batch = 3
    elif case == "unpaused":
        obj["spec"]["paused"] = False
    elif case == "new template":
        spec = spec_of(images={"web": "web:v3"})
    elif case == "no new pods":
        new["spec"]["replicas"] = 0
    else:
        obj["spec"].update(minReadySeconds=pl.GUARD_MIN_READY,
                           progressDeadlineSeconds=pl.GUARD_DEADLINE)
    assert pl.plan_guard(spec, obj, [old, new], batch) == []
    if case == "guard on":  # on already (a stopped run): no write, but still moving on
        assert pl.moving_on(spec, obj, [old, new], batch) == new
    else:
        assert pl.moving_on(spec, obj, [old, new], batch) is None


def test_a_deployment_paused_by_someone_else_keeps_its_values_in_the_hold_annotation():
    obj, old, new = objects(batch=2, hold=False)
    obj["spec"]["strategy"]["rollingUpdate"] = {"maxSurge": "25%", "maxUnavailable": "25%"}
    (write,) = pl.plan_guard(spec_of(), obj, [old, new], 5)
    assert json.loads(write.body["metadata"]["annotations"][pl.HOLD]) == dict(SAVED, batch=2)


def test_the_pause_puts_the_deployments_values_back_after_a_stopped_guard():
    obj = held_deployment()
    assert pl.plan_hold(spec_of(), obj) == []  # a held, paused Deployment: nothing to do
    obj["spec"].update(minReadySeconds=pl.GUARD_MIN_READY,
                       progressDeadlineSeconds=pl.GUARD_DEADLINE)
    (write,) = pl.plan_hold(spec_of(), obj)
    assert (write.body["spec"]["paused"], write.body["spec"]["minReadySeconds"],
            write.body["spec"]["progressDeadlineSeconds"]) == (True, 5, 600)
    assert write.description == ("put back Deployment web/web's own minReadySeconds and "
                                 "deadline, held at 1 new pod(s)")


# ---------------------------------------------------------------------------
# what the waits wait for
# ---------------------------------------------------------------------------
def test_the_replicaset_must_have_the_guard_observed_and_no_available_pod():
    check = guard.held_pods_unavailable(pl.GUARD_MIN_READY)
    rs = replicaset("web-v2b", "web:v2", 1)
    assert "copy minReadySeconds" in check(rs).message and not check(rs).done
    rs["spec"]["minReadySeconds"] = pl.GUARD_MIN_READY
    rs["metadata"]["generation"] = 3
    assert "observe generation 3 (it saw 2)" in check(rs).message and not check(rs).done
    rs["status"]["observedGeneration"] = 3
    assert check(rs).message == "1 held pod(s) still counted as available"
    rs["status"]["availableReplicas"] = 0
    assert check(rs).done
    assert check(None).failed


def test_the_deployment_status_must_count_no_held_pod_available():
    check = guard.deployment_counts_held_unavailable(5)
    dep = held_deployment(batch=2)
    dep["metadata"]["generation"] = 5
    assert not check(dep).done and "observe generation 5" in check(dep).message
    dep["status"]["observedGeneration"] = 5  # its first sync: the RS copy, status not redone
    assert not check(dep).done and "still counts 12 available" in check(dep).message
    dep["status"]["availableReplicas"] = 10
    assert check(dep).done
    assert check(None).failed


# ---------------------------------------------------------------------------
# the backend: order of writes and waits
# ---------------------------------------------------------------------------
def controllers(fake, key):
    """After each write to the Deployment (a PUT keeps the status, which the FakeKube's
    replace drops: carried over here): the generation observed, and the batch's pods
    exist once it is unpaused (as in test_rollout_plan.batch_controller). The guard is
    copied to the new ReplicaSet and the status recomputed only when a test plays the
    watch events (``recompute``)."""
    if key[0] != "Deployment":
        return
    obj = fake.store[key]
    status = dict(obj.get("status") or fake.last_status,
                  observedGeneration=obj["metadata"]["generation"])
    if not obj["spec"].get("paused"):
        surge = obj["spec"]["strategy"]["rollingUpdate"]["maxSurge"]
        status.update(updatedReplicas=surge, replicas=10 + surge, readyReplicas=10 + surge)
    obj["status"] = fake.last_status = status


def fake_kube(objs):
    kube = FakeKube(objs, after_write=controllers)
    kube.last_status = objs[0]["status"]
    return kube


def recompute(fake):
    """The watch events the waits see after the guard: the ReplicaSet gets the guard and
    its status is recomputed (0 available), then the Deployment status follows."""
    def rs_copied(rs):
        rs["spec"]["minReadySeconds"] = pl.GUARD_MIN_READY
        rs["metadata"]["generation"] += 1

    def rs_status(rs):
        rs["status"].update(observedGeneration=rs["metadata"]["generation"],
                            availableReplicas=0)

    def dep_status(dep):
        dep["status"].update(observedGeneration=dep["metadata"]["generation"],
                             availableReplicas=10)

    fake.events[("ReplicaSet", "web-v2b")] = [rs_copied, rs_status]
    fake.events[("Deployment", "web")] = [dep_status]


def run(kube, check_mode=False, wait=True, **extra):
    engine = eng.Engine(kube, check_mode=check_mode, wait=wait, wait_timeout=1)
    backend = RolloutBackend(spec_of(**extra))
    first = backend.run(engine)
    return engine, engine.result(**backend.report(engine, first))


def test_a_move_writes_the_guard_waits_then_writes_the_batch_and_the_pause():
    kube = fake_kube(objects())
    recompute(kube)
    order = []
    kube.before_write = lambda fake, verb, key: order.append(
        (verb, copy.deepcopy(fake.store[("ReplicaSet", NS, "web-v2b")]["status"])))
    engine, result = run(kube, wait=False, pause_after="50%")
    assert result["actions"] == [
        "stop Deployment web/web's 1 new pod(s) counting as available (minReadySeconds %d) "
        "before moving on" % pl.GUARD_MIN_READY,
        "roll out Deployment web/web to 5 new pod(s) (settings)",
        "pause Deployment web/web at 5 new pod(s)"]
    # the batch was written only once the held pod counted as unavailable (wait=false too)
    assert [(verb, status["availableReplicas"]) for verb, status in order] == [
        ("replace", 1), ("replace", 0), ("replace", 0)]
    watched = [r for r in kube.requests if r[0] == "watch"]
    assert watched == [("watch", "ReplicaSet", "web-v2b"), ("watch", "Deployment", "web")]
    obj = kube.obj("Deployment", NS, "web")
    assert (obj["spec"]["paused"], obj["spec"]["minReadySeconds"],
            obj["spec"]["strategy"]["rollingUpdate"]["maxSurge"]) == (True, 5, 5)
    assert json.loads(obj["metadata"]["annotations"][pl.HOLD]) == dict(SAVED, batch=5)


def test_no_batch_is_written_while_a_held_pod_still_counts_as_available():
    kube = fake_kube(objects())  # no recompute: the watch ends
    with pytest.raises(WaitTimeout) as err:
        run(kube, pause_after="50%")
    assert "before moving on to the next batch, ReplicaSet web-v2b timed out" in str(err.value)
    assert [w[0] for w in kube.writes()] == ["replace"]  # the guard alone
    obj = kube.obj("Deployment", NS, "web")
    assert obj["spec"]["paused"] and obj["spec"]["minReadySeconds"] == pl.GUARD_MIN_READY


def test_a_run_stopped_after_the_guard_is_moved_on_by_the_next_without_writing_it_again():
    obj, old, new = objects()
    obj["spec"].update(minReadySeconds=pl.GUARD_MIN_READY,
                       progressDeadlineSeconds=pl.GUARD_DEADLINE)
    new["spec"]["minReadySeconds"] = pl.GUARD_MIN_READY
    new["status"]["availableReplicas"] = 0
    obj["status"]["availableReplicas"] = 10
    kube = fake_kube([obj, old, new])
    engine, result = run(kube, pause_after="50%")
    assert result["actions"] == ["roll out Deployment web/web to 5 new pod(s) (settings)",
                                 "pause Deployment web/web at 5 new pod(s)"]
    assert kube.obj("Deployment", NS, "web")["spec"]["minReadySeconds"] == 5


def test_check_mode_reports_the_three_writes_and_sends_none():
    kube = fake_kube(objects())
    engine, result = run(kube, check_mode=True, pause_after="50%")
    assert len(result["actions"]) == 3 and kube.writes() == []
    assert not [r for r in kube.requests if r[0] == "watch"]


def test_a_repeat_of_the_held_batch_changes_nothing_and_waits_for_nothing():
    kube = fake_kube(objects())
    engine, result = run(kube, pause_after=1)
    assert result["changed"] is False and kube.writes() == []
    assert not [r for r in kube.requests if r[0] == "watch"]
