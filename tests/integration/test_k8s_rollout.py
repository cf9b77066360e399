"""k8s_rollout against the testbed: real Deployment, StatefulSet and DaemonSet controllers,
kwok nodes. A slow version (ready-after-seconds) makes a rollout visible, a never-ready one
stalls it (tests/testbed/README.md)."""

import time

from canary_objects import NEVER_READY
from modules import run_module

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    DEPLOYMENT,
    POD,
    REPLICASET,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import (
    Check,
    daemonset_rollout,
    statefulset_rollout,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import (
    wait_for,
    wait_for_all,
    wait_for_rollout,
)
from ansible_collections.progressive.delivery.plugins.module_utils.rollout.plan import (
    DAEMONSET,
    STATEFULSET,
)

SLOW = {"testbed.progressive.delivery/ready-after-seconds": "1"}
CAUSE = "kubernetes.io/change-cause"


def template(image, annotations=None, labels=None):
    return {"metadata": {"labels": dict({"app": "web"}, **(labels or {})),
                         "annotations": dict(annotations or {})},
            "spec": {"containers": [{"name": "web", "image": image}]}}


def create_deployment(kube, namespace, replicas=2, image="web:v1", name="web", **spec):
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": dict({"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                          "template": template(image)}, **spec)}
    kube.create(DEPLOYMENT, namespace, body)
    wait_for_rollout(kube, namespace, name, 60)


def rollout(namespace, **params):
    base = dict(name="web", namespace=namespace, wait_timeout=60)
    base.update(params)
    return run_module("k8s_rollout", **base)


def ok(result):
    assert not result.get("failed"), result.get("msg", result)
    return result


def pods_by_image(kube, namespace, selector="app=web"):
    """Live pods (not terminating) counted per image: the measured split."""
    counts = {}
    for pod in kube.list(POD, namespace, label_selector=selector)["items"]:
        if pod["metadata"].get("deletionTimestamp"):
            continue
        img = pod["spec"]["containers"][0]["image"]
        counts[img] = counts.get(img, 0) + 1
    return counts


def written_part(kube, namespace, name="web"):
    """What a write by the module changes: generation, annotations, spec."""
    obj = kube.get(DEPLOYMENT, namespace, name)
    return (obj["metadata"]["generation"], obj["metadata"].get("annotations"), obj["spec"])


def rv(kube, resource, namespace, name="web"):
    return kube.get(resource, namespace, name)["metadata"]["resourceVersion"]


# ---------------------------------------------------------------------------
# strategy, update
# ---------------------------------------------------------------------------
def test_strategy_change_reports_the_rounded_pod_counts(kube, namespace):
    create_deployment(kube, namespace, replicas=10)
    params = dict(max_surge="25%", max_unavailable="25%", revision_history_limit=5,
                  min_ready_seconds=1, progress_deadline_seconds=120)
    result = ok(rollout(namespace, **params))
    assert result["changed"] and result["actions"] == [
        "update Deployment %s/web (settings)" % namespace]
    # seed 001's rounding: 25% of 10 is 2.5 -> 3 extra pods (up), 2 unavailable (down)
    assert result["pod_counts"] == dict(replicas=10, max_surge=3, max_unavailable=2,
                                        max_pods=13, min_available=8, adjusted=False)
    spec = kube.get(DEPLOYMENT, namespace, "web")["spec"]
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": "25%", "maxUnavailable": "25%"}
    assert (spec["revisionHistoryLimit"], spec["minReadySeconds"],
            spec["progressDeadlineSeconds"]) == (5, 1, 120)
    assert result["current_revision"] == 1 and len(result["history"]) == 1
    again = ok(rollout(namespace, **params))
    assert again["changed"] is False and again["actions"] == []


def test_update_records_the_change_cause_and_waits_for_the_rollout(kube, namespace):
    create_deployment(kube, namespace, replicas=3)
    result = ok(rollout(namespace, images={"web": "web:v2"}, change_cause="release v2",
                        pod_template={"metadata": {"annotations": SLOW}}))
    assert result["changed"] and result["rollout"]["complete"] is True
    # it returned only when kubectl rollout status would: every pod new and ready
    dep = kube.get(DEPLOYMENT, namespace, "web")
    assert dep["status"]["updatedReplicas"] == dep["status"]["readyReplicas"] == 3
    assert dep["status"].get("replicas") == 3
    assert pods_by_image(kube, namespace) == {"web:v2": 3}
    assert dep["metadata"]["annotations"][CAUSE] == "release v2"
    current = [r for r in result["history"] if r["current"]]
    assert [(r["revision"], r["change_cause"], r["images"]) for r in current] == [
        (2, "release v2", {"web": "web:v2"})]
    again = ok(rollout(namespace, images={"web": "web:v2"}, change_cause="release v2",
                       pod_template={"metadata": {"annotations": SLOW}}))
    assert again["changed"] is False

    # the same update made by someone else just before: nothing to write, but the call
    # still returns only once that rollout is done (as kubectl rollout status would)
    kube.patch(DEPLOYMENT, namespace, "web", {"spec": {"template": template("web:v3", SLOW)}})
    rerun = ok(rollout(namespace, images={"web": "web:v3"}))
    assert rerun["changed"] is False and rerun["rollout"]["complete"] is True
    assert pods_by_image(kube, namespace) == {"web:v3": 3}


# ---------------------------------------------------------------------------
# hold at N, pause, resume
# ---------------------------------------------------------------------------
def test_hold_at_one_pod_then_ten_percent_then_resume(kube, namespace):
    create_deployment(kube, namespace, replicas=20)
    v2 = dict(images={"web": "web:v2"}, pod_template={"metadata": {"annotations": SLOW}})

    held = ok(rollout(namespace, pause_after=1, change_cause="canary", **v2))
    assert held["changed"] and held["paused"] and held["held"]["batch"] == 1
    assert pods_by_image(kube, namespace) == {"web:v1": 20, "web:v2": 1}
    # the batch was waited for (ready), and stays at 1 while held
    dep = kube.get(DEPLOYMENT, namespace, "web")
    assert dep["status"]["updatedReplicas"] == 1 and dep["status"]["readyReplicas"] == 21
    time.sleep(2)
    assert pods_by_image(kube, namespace) == {"web:v1": 20, "web:v2": 1}
    assert held["pods_by_revision"] == {"1": 20, "2": 1}
    # the Deployment's own strategy is kept for the resume
    assert held["settings"]["max_surge"] == "25%" and held["pod_counts"]["max_pods"] == 25
    assert ok(rollout(namespace, pause_after=1, change_cause="canary", **v2))["changed"] is False

    ten = ok(rollout(namespace, pause_after="10%", change_cause="canary", **v2))
    assert ten["changed"] and ten["held"]["batch"] == 2
    assert pods_by_image(kube, namespace) == {"web:v1": 20, "web:v2": 2}
    time.sleep(2)
    assert pods_by_image(kube, namespace) == {"web:v1": 20, "web:v2": 2}
    assert ok(rollout(namespace, pause_after="10%", **v2))["changed"] is False
    assert ok(rollout(namespace, state="paused"))["changed"] is False

    done = ok(rollout(namespace, state="resumed"))
    assert done["changed"] and done["rollout"]["complete"] and not done["paused"]
    assert done["held"] is None
    assert pods_by_image(kube, namespace) == {"web:v2": 20}
    dep = kube.get(DEPLOYMENT, namespace, "web")
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": "25%",
                                                        "maxUnavailable": "25%"}
    assert "minReadySeconds" not in dep["spec"] or dep["spec"]["minReadySeconds"] == 0
    assert dep["spec"]["progressDeadlineSeconds"] == 600
    assert ok(rollout(namespace, state="resumed"))["changed"] is False
    assert [r["revision"] for r in done["history"] if r["current"]] == [2]


def test_pause_and_resume_are_states(kube, namespace):
    create_deployment(kube, namespace, replicas=2)
    paused = ok(rollout(namespace, state="paused", images={"web": "web:v2"}))
    assert paused["changed"] and paused["paused"]
    assert kube.get(DEPLOYMENT, namespace, "web")["spec"]["paused"] is True
    # a paused Deployment does not roll out its new template
    assert pods_by_image(kube, namespace) == {"web:v1": 2}
    assert ok(rollout(namespace, state="paused", images={"web": "web:v2"}))["changed"] is False
    resumed = ok(rollout(namespace, state="resumed"))
    assert resumed["changed"] and resumed["rollout"]["complete"]
    assert pods_by_image(kube, namespace) == {"web:v2": 2}
    assert ok(rollout(namespace, state="resumed"))["changed"] is False


# ---------------------------------------------------------------------------
# history, undo
# ---------------------------------------------------------------------------
def test_history_of_four_revisions_undo_to_previous_and_to_revision_2(kube, namespace):
    create_deployment(kube, namespace, replicas=2)
    for version in ("v2", "v3", "v4"):  # as kubectl set image + annotate would (fewer calls)
        kube.patch(DEPLOYMENT, namespace, "web", {
            "metadata": {"annotations": {CAUSE: "to " + version}},
            "spec": {"template": template("web:" + version)}})
        wait_for_rollout(kube, namespace, "web", 60)
    result = ok(rollout(namespace, revision=2))
    assert result["changed"] is False
    assert [(r["revision"], r["images"]["web"], r["change_cause"], r["current"])
            for r in result["history"]] == [
        (1, "web:v1", None, False), (2, "web:v2", "to v2", False),
        (3, "web:v3", "to v3", False), (4, "web:v4", "to v4", True)]
    assert all(r["created"] and r["name"].startswith("web-") for r in result["history"])
    assert result["pods_by_revision"] == {"4": 2}
    assert result["revision_detail"]["template"]["spec"]["containers"][0]["image"] == "web:v2"

    back = ok(rollout(namespace, state="undone"))
    assert back["changed"] and back["undone_to"] == 5 and back["rollout"]["complete"]
    assert pods_by_image(kube, namespace) == {"web:v3": 2}
    assert kube.get(DEPLOYMENT, namespace, "web")["metadata"]["annotations"][CAUSE] == "to v3"
    assert [r["revision"] for r in back["history"]] == [1, 2, 4, 5]

    two = ok(rollout(namespace, state="undone", to_revision=2))
    assert two["changed"] and two["undone_to"] == 6
    assert pods_by_image(kube, namespace) == {"web:v2": 2}
    again = ok(rollout(namespace, state="undone", to_image="web:v2"))
    assert again["changed"] is False and again["undone_to"] == 6
    assert ok(rollout(namespace, state="undone", to_revision=6))["changed"] is False


def test_undo_to_a_pruned_revision_is_refused(kube, namespace):
    create_deployment(kube, namespace, replicas=1, revisionHistoryLimit=1)
    for version in ("v2", "v3"):
        kube.patch(DEPLOYMENT, namespace, "web", {"spec": {"template": template("web:" + version)}})
        wait_for_rollout(kube, namespace, "web", 60)
    # the controller prunes old ReplicaSets in the sync after the rollout completes
    wait_for_all(kube, REPLICASET, namespace, "app=web",
                 lambda items: Check(len(items) == 2, "%d ReplicaSets" % len(items)), 30)
    before = written_part(kube, namespace)
    result = rollout(namespace, state="undone", to_revision=1)
    assert result["failed"]
    assert result["msg"] == ("revision 1 not found (pruned by revisionHistoryLimit, or never "
                             "made); retained revisions: 2, 3")
    # (the controller may still write the status just after the pruning: compare what a
    # write of ours would change, not the resourceVersion)
    assert written_part(kube, namespace) == before


def test_a_stalled_rollout_is_reported_with_progress_deadline_exceeded(kube, namespace):
    create_deployment(kube, namespace, replicas=2, progressDeadlineSeconds=2)
    started = time.monotonic()
    result = rollout(namespace, images={"web": "web:bad"},
                     pod_template={"metadata": {"labels": NEVER_READY}})
    assert result["failed"]
    assert "exceeded its progress deadline" in result["msg"]
    assert "ProgressDeadlineExceeded" in result["msg"]
    assert "unready pods: pod web-" in result["msg"]
    assert time.monotonic() - started < 30  # failed on the condition, not the timeout


# ---------------------------------------------------------------------------
# StatefulSet, DaemonSet
# ---------------------------------------------------------------------------
def test_statefulset_history_and_undo(kube, namespace):
    kube.create(STATEFULSET, namespace, {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web"},
        "spec": {"replicas": 2, "serviceName": "web", "selector": {"matchLabels": {"app": "web"}},
                 "template": template("web:v1")}})
    wait_for(kube, STATEFULSET, namespace, "web", statefulset_rollout, 60)
    up = ok(rollout(namespace, kind="StatefulSet", images={"web": "web:v2"},
                    change_cause="to v2"))
    assert up["changed"] and up["rollout"]["complete"]
    assert pods_by_image(kube, namespace) == {"web:v2": 2}
    assert [(r["revision"], r["images"]["web"], r["current"]) for r in up["history"]] == [
        (1, "web:v1", False), (2, "web:v2", True)]
    assert up["pods_by_revision"] == {"2": 2}
    back = ok(rollout(namespace, kind="StatefulSet", state="undone"))
    assert back["changed"] and back["undone_to"] == 3
    assert pods_by_image(kube, namespace) == {"web:v1": 2}
    assert ok(rollout(namespace, kind="StatefulSet", state="undone",
                      to_image="web:v1"))["changed"] is False
    refused = rollout(namespace, kind="StatefulSet", state="paused")
    assert refused["failed"] and "only a Deployment can be paused" in refused["msg"]


def test_daemonset_history_and_undo_on_the_three_kwok_nodes(kube, namespace):
    kube.create(DAEMONSET, namespace, {
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template("web:v1")}})
    wait_for(kube, DAEMONSET, namespace, "web", daemonset_rollout, 60)
    nodes = set(p["spec"]["nodeName"] for p in kube.list(POD, namespace)["items"])
    assert nodes == {"kwok-node-0", "kwok-node-1", "kwok-node-2"}  # no tolerations needed
    up = ok(rollout(namespace, kind="DaemonSet", images={"web": "web:v2"}, max_surge=1,
                    max_unavailable=0))
    assert up["changed"] and up["rollout"]["complete"]
    assert up["pod_counts"]["max_surge"] == 1 and up["pod_counts"]["replicas"] == 3
    assert pods_by_image(kube, namespace) == {"web:v2": 3}
    assert [(r["revision"], r["current"]) for r in up["history"]] == [(1, False), (2, True)]
    back = ok(rollout(namespace, kind="DaemonSet", state="undone", to_revision=1))
    assert back["changed"] and back["undone_to"] == 3
    assert pods_by_image(kube, namespace) == {"web:v1": 3}
    assert ok(rollout(namespace, kind="DaemonSet", state="undone",
                      to_revision=3))["changed"] is False


# ---------------------------------------------------------------------------
# check mode, bad input
# ---------------------------------------------------------------------------
def test_check_mode_writes_nothing(kube, namespace):
    create_deployment(kube, namespace, replicas=2)
    ok(rollout(namespace, images={"web": "web:v2"}))
    before = rv(kube, DEPLOYMENT, namespace)
    replicasets = sorted(r["metadata"]["resourceVersion"]
                         for r in kube.list(REPLICASET, namespace)["items"])
    for params in (dict(images={"web": "web:v3"}, change_cause="v3"),
                   dict(pause_after=1, images={"web": "web:v3"}),
                   dict(state="paused"), dict(state="undone"), dict(max_surge=0)):
        result = run_module("k8s_rollout", check=True, diff=True, name="web",
                            namespace=namespace, **params)
        assert result["changed"] and not result.get("failed"), (params, result)
        assert result["diff"]["before"] != result["diff"]["after"]
        assert rv(kube, DEPLOYMENT, namespace) == before, params
    assert sorted(r["metadata"]["resourceVersion"]
                  for r in kube.list(REPLICASET, namespace)["items"]) == replicasets
    held = run_module("k8s_rollout", check=True, name="web", namespace=namespace,
                      pause_after=1, images={"web": "web:v3"})
    assert held["actions"] == [
        "roll out Deployment %s/web to 1 new pod(s) (image web=web:v3, settings)" % namespace,
        "pause Deployment %s/web at 1 new pod(s)" % namespace]


def test_bad_input_names_the_field_and_value_and_writes_nothing(kube, namespace):
    create_deployment(kube, namespace, replicas=2)
    before = written_part(kube, namespace)
    both_zero = rollout(namespace, max_surge=0, max_unavailable="0%")
    assert both_zero["failed"] and both_zero["errors"][0]["field"] == "max_unavailable"
    assert "may not be 0 when max_surge is 0" in both_zero["msg"]
    bad = rollout(namespace, max_surge="25", max_unavailable="ten", pause_after="150%",
                  to_revision=2)
    assert bad["failed"]
    fields = [e["field"] for e in bad["errors"]]
    assert fields == ["max_unavailable", "pause_after", "to_revision"], bad["errors"]
    assert "'ten' is neither an integer >= 0 nor a percent string" in bad["msg"]
    # the merged strategy: max_surge 0 with the Deployment's maxUnavailable of 0
    ok(rollout(namespace, max_surge=1, max_unavailable=0))
    before = written_part(kube, namespace)
    merged = rollout(namespace, max_surge=0)
    assert merged["failed"] and "with the Deployment's current value" in merged["msg"]
    nope = rollout(namespace, images={"nope": "web:v2"})
    assert nope["failed"] and nope["errors"] == [{
        "field": "images.nope",
        "message": "'web:v2': no container nope in Deployment web (containers: web)"}]
    missing = rollout(namespace, name="absent", images={"web": "web:v2"})
    assert missing["failed"] and missing["msg"] == "Deployment %s/absent not found" % namespace
    assert written_part(kube, namespace) == before
