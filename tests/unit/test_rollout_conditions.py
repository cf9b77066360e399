"""Rollout status of StatefulSets and DaemonSets as kubectl rollout status defines it, and
the held-batch predicate."""

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import (
    ROLLOUT_STATUS,
    daemonset_rollout,
    deployment_batch,
    deployment_rollout,
    statefulset_rollout,
)


def sts(status, generation=2, replicas=3, strategy=None):
    return {"metadata": {"name": "db", "generation": generation},
            "spec": {"replicas": replicas, "updateStrategy": strategy or {"type": "RollingUpdate"}},
            "status": status}


def test_statefulset_waits_for_observation_readiness_and_the_revision():
    assert not statefulset_rollout(sts({"observedGeneration": 1})).done
    check = statefulset_rollout(sts({"observedGeneration": 2, "readyReplicas": 2}))
    assert not check.done and check.message == "waiting for 3 pods to be ready (2 ready)"
    check = statefulset_rollout(sts({"observedGeneration": 2, "readyReplicas": 3,
                                     "updatedReplicas": 1, "currentRevision": "db-1",
                                     "updateRevision": "db-2"}))
    assert not check.done and "complete 1 pods at revision db-2" in check.message
    check = statefulset_rollout(sts({"observedGeneration": 2, "readyReplicas": 3,
                                     "currentReplicas": 3, "currentRevision": "db-2",
                                     "updateRevision": "db-2"}))
    assert check.done and check.message == "statefulset rolling update complete 3 pods at revision db-2"


def test_statefulset_partition_and_on_delete():
    part = {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}
    base = {"observedGeneration": 2, "readyReplicas": 3, "currentRevision": "a",
            "updateRevision": "b"}
    assert not statefulset_rollout(sts(dict(base, updatedReplicas=0), strategy=part)).done
    assert statefulset_rollout(sts(dict(base, updatedReplicas=1), strategy=part)).done
    check = statefulset_rollout(sts(base, strategy={"type": "OnDelete"}))
    assert check.failed and "only available for the RollingUpdate strategy" in check.message
    assert not statefulset_rollout(None).done


def ds(status, generation=1):
    return {"metadata": {"name": "agent", "generation": generation}, "spec": {},
            "status": dict({"observedGeneration": 1}, **status)}


def test_daemonset_waits_for_updated_then_available():
    check = daemonset_rollout(ds({"desiredNumberScheduled": 3, "updatedNumberScheduled": 1}))
    assert not check.done and "1 out of 3 new pods have been updated" in check.message
    check = daemonset_rollout(ds({"desiredNumberScheduled": 3, "updatedNumberScheduled": 3,
                                  "numberAvailable": 2}))
    assert not check.done and "2 of 3 updated pods are available" in check.message
    check = daemonset_rollout(ds({"desiredNumberScheduled": 3, "updatedNumberScheduled": 3,
                                  "numberAvailable": 3}))
    assert check.done and check.message == 'daemon set "agent" successfully rolled out'
    assert not daemonset_rollout(ds({}, generation=2)).done


def test_the_table_covers_the_three_kinds():
    assert ROLLOUT_STATUS == {"Deployment": deployment_rollout,
                              "StatefulSet": statefulset_rollout,
                              "DaemonSet": daemonset_rollout}


def test_deployment_batch_created_then_ready():
    def dep(status, generation=3):
        return {"metadata": {"generation": generation}, "status": status}

    created = deployment_batch(2, 3)
    assert not created(dep({"observedGeneration": 2, "updatedReplicas": 2})).done
    assert not created(dep({"observedGeneration": 3, "updatedReplicas": 1})).done
    assert created(dep({"observedGeneration": 3, "updatedReplicas": 2})).done
    ready = deployment_batch(2, 3, ready=True)
    check = ready(dep({"observedGeneration": 3, "updatedReplicas": 2, "replicas": 12,
                       "readyReplicas": 11}))
    assert not check.done and check.message == "11 of 12 pods ready (2 of them new)"
    assert ready(dep({"observedGeneration": 3, "updatedReplicas": 2, "replicas": 12,
                      "readyReplicas": 12})).done
    assert created(None).failed
