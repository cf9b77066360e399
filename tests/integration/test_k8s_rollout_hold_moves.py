"""k8s_rollout moving a held batch on (pause_after 1, then 50%, then 80%) against the real
Deployment controller, several times over, with the exact pod count per revision after every
move. Between two moves the held pods become *available* (the Deployment's own
minReadySeconds is back while it is paused), which is what let the controller remove one old
pod per available new pod when the next batch was written (docs/rollout.md, "Moving on")."""

import time
from concurrent.futures import ThreadPoolExecutor

from modules import run_module

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    DEPLOYMENT,
    POD,
    REPLICASET,
    STRATEGIC_PATCH,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import Check
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import (
    wait_for,
    wait_for_rollout,
)
from ansible_collections.progressive.delivery.plugins.module_utils.rollout import plan as pl

REPLICAS = 10
MOVES = ((1, 1), ("50%", 5), ("80%", 8))
# Deployments moved at the same time: the race needed a busy controller-manager (its
# Deployment and ReplicaSet workers), which they make on an otherwise idle testbed.
AT_ONCE = 4


def create_deployment(kube, namespace, name="web"):
    kube.create(DEPLOYMENT, namespace, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": REPLICAS, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "web", "image": "web:v1"}]}}}})
    wait_for_rollout(kube, namespace, name, 60)


def rollout(namespace, name="web", **params):
    return run_module("k8s_rollout", name=name, namespace=namespace, wait_timeout=120,
                      **params)


def ok(result):
    assert not result.get("failed"), result.get("msg", result)
    return result


def pods_by_image(kube, namespace, name="web"):
    counts = {}
    for pod in kube.list(POD, namespace, label_selector="app=" + name)["items"]:
        if not pod["metadata"].get("deletionTimestamp"):
            image = pod["spec"]["containers"][0]["image"]
            counts[image] = counts.get(image, 0) + 1
    return counts


def replicas_by_image(kube, namespace, name="web"):
    """spec.replicas of each ReplicaSet with any: what the controller decided."""
    counts = {}
    for rs in kube.list(REPLICASET, namespace, label_selector="app=" + name)["items"]:
        if rs["spec"].get("replicas"):
            counts[rs["spec"]["template"]["spec"]["containers"][0]["image"]] = rs["spec"]["replicas"]
    return counts


def every_pod_available(dep):
    status = (dep or {}).get("status") or {}
    return Check(status.get("observedGeneration", 0) >= dep["metadata"]["generation"] and
                 status.get("availableReplicas", 0) == status.get("replicas", -1),
                 "%s of %s pods available" % (status.get("availableReplicas"),
                                              status.get("replicas")))


def assert_held(kube, namespace, old, new, batch, name="web"):
    expected = {old: REPLICAS, new: batch}
    where = (name, new, batch)
    assert pods_by_image(kube, namespace, name) == expected, where
    # the held pods count as available now, as after any pause of a real hold: the state
    # in which the next move used to lose old pods
    wait_for(kube, DEPLOYMENT, namespace, name, every_pod_available, 60)
    assert replicas_by_image(kube, namespace, name) == expected, where
    assert pods_by_image(kube, namespace, name) == expected, where


def moves(kube, namespace, name, versions):
    """Each version: held at 1 pod, 50%, 80%, then resumed; the counts after each move."""
    old = "web:v1"
    for version in versions:
        new = "web:" + version
        for pause_after, batch in MOVES:
            held = ok(rollout(namespace, name, pause_after=pause_after, images={"web": new}))
            assert held["changed"] and held["paused"] and held["held"]["batch"] == batch, \
                (name, version, pause_after, held["actions"])
            assert_held(kube, namespace, old, new, batch, name)
        again = ok(rollout(namespace, name, pause_after=MOVES[-1][0], images={"web": new}))
        assert again["changed"] is False, (name, version, again["actions"])
        done = ok(rollout(namespace, name, state="resumed"))
        assert done["rollout"]["complete"], (name, version)
        assert pods_by_image(kube, namespace, name) == {new: REPLICAS}, (name, version)
        old = new


def test_moving_a_hold_on_keeps_every_old_pod_each_time(kube, namespace):
    names = ["web%d" % i for i in range(AT_ONCE)]
    for name in names:
        create_deployment(kube, namespace, name)
    with ThreadPoolExecutor(AT_ONCE) as pool:
        runs = [pool.submit(moves, kube, namespace, name, ("v2", "v3", "v4")) for name in names]
        for run in runs:
            run.result()


def test_a_move_stopped_after_its_first_write_resumes_on_the_next_call(kube, namespace):
    """A run stopped between the guard (long minReadySeconds, still paused) and the batch
    write: the Deployment stays paused at the old batch; the next call with the larger
    batch goes on from there, a repeat of the earlier call puts the pause's own
    minReadySeconds back."""
    create_deployment(kube, namespace)
    v2 = dict(images={"web": "web:v2"})
    ok(rollout(namespace, pause_after=1, min_ready_seconds=1, **v2))
    assert_held(kube, namespace, "web:v1", "web:v2", 1)
    guard = {"spec": {"minReadySeconds": pl.GUARD_MIN_READY,
                      "progressDeadlineSeconds": pl.GUARD_DEADLINE}}

    kube.patch(DEPLOYMENT, namespace, "web", guard)  # what the stopped run had written
    repeat = ok(rollout(namespace, pause_after=1, **v2))
    assert repeat["changed"] and repeat["paused"]
    spec = kube.get(DEPLOYMENT, namespace, "web")["spec"]
    assert (spec["minReadySeconds"], spec["progressDeadlineSeconds"]) == (1, 600)
    assert ok(rollout(namespace, pause_after=1, **v2))["changed"] is False
    assert_held(kube, namespace, "web:v1", "web:v2", 1)

    kube.patch(DEPLOYMENT, namespace, "web", guard)
    moved = ok(rollout(namespace, pause_after="50%", **v2))
    assert moved["actions"] == [
        "roll out Deployment %s/web to 5 new pod(s) (settings)" % namespace,
        "pause Deployment %s/web at 5 new pod(s)" % namespace]
    assert_held(kube, namespace, "web:v1", "web:v2", 5)
    spec = kube.get(DEPLOYMENT, namespace, "web")["spec"]
    assert (spec["paused"], spec["minReadySeconds"], spec["progressDeadlineSeconds"]) == \
        (True, 1, 600)


def test_check_mode_reports_the_three_writes_of_a_move_and_makes_none(kube, namespace):
    create_deployment(kube, namespace)
    ok(rollout(namespace, pause_after=1, images={"web": "web:v2"}))
    before = kube.get(DEPLOYMENT, namespace, "web")["metadata"]["resourceVersion"]
    planned = ok(run_module("k8s_rollout", check=True, name="web", namespace=namespace,
                            pause_after="50%", images={"web": "web:v2"}))
    assert planned["changed"] and planned["actions"] == [
        "stop Deployment %s/web's 1 new pod(s) counting as available (minReadySeconds %d) "
        "before moving on" % (namespace, pl.GUARD_MIN_READY),
        "roll out Deployment %s/web to 5 new pod(s) (settings)" % namespace,
        "pause Deployment %s/web at 5 new pod(s)" % namespace]
    assert kube.get(DEPLOYMENT, namespace, "web")["metadata"]["resourceVersion"] == before
    assert pods_by_image(kube, namespace) == {"web:v1": REPLICAS, "web:v2": 1}


def test_a_pod_held_for_hours_does_not_count_as_available_when_moving_on(kube, namespace):
    """The guard's minReadySeconds must outlast any hold: a pod Ready for two hours (its
    Ready condition's time set back, as a kubelet would have written it then) would still
    count as available under a guard of an hour, and the move would lose an old pod."""
    create_deployment(kube, namespace)
    ok(rollout(namespace, pause_after=1, images={"web": "web:v2"}))
    assert_held(kube, namespace, "web:v1", "web:v2", 1)
    then = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 7200))
    (pod,) = [p for p in kube.list(POD, namespace, label_selector="app=web")["items"]
              if p["spec"]["containers"][0]["image"] == "web:v2"]
    kube.patch(POD, namespace, pod["metadata"]["name"], {"status": {"conditions": [
        {"type": kind, "status": "True", "lastTransitionTime": then}
        for kind in ("Ready", "ContainersReady")]}}, STRATEGIC_PATCH, subresource="status")
    ok(rollout(namespace, pause_after="50%", images={"web": "web:v2"}))
    assert_held(kube, namespace, "web:v1", "web:v2", 5)
