"""k8s_canary's engine backend deciding on recorded objects (the in-memory fake client): a
weight step writes the canary, reads again, then the stable; a 409 re-plans on the fresh
object; check mode writes nothing and predicts; promote and abort in their order. The
rollout waits and the EndpointSlice proof need a real cluster (wait=False here; the
testbed tests in tests/integration/test_k8s_canary.py cover them)."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.canary import backend
from ansible_collections.progressive.delivery.plugins.module_utils.canary.objects import (
    NGINX,
    ROLE,
    TOTAL_REPLICAS,
    PlanError,
)
from ansible_collections.progressive.delivery.plugins.module_utils.canary.validation import (
    validate,
)
from ansible_collections.progressive.delivery.plugins.module_utils.engine import as_rolled_out

from fake_kube import FakeKube, complete_rollouts

NS = "test"
V2 = {"spec": {"containers": [{"name": "myapp", "image": "myapp:v2"}]}}


def deployment(name, replicas, track, version, image, annotations=None):
    return as_rolled_out({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "annotations": dict(annotations or {})},
        "spec": {"replicas": replicas,
                 "selector": {"matchLabels": {"app": "myapp", "track": track}},
                 "template": {"metadata": {"labels": {"app": "myapp", "track": track,
                                                      "version": version}},
                              "spec": {"containers": [{"name": "myapp", "image": image}]}}}})


def stable(replicas):
    return deployment("myapp", replicas, "stable", "v1", "myapp:v1")


def canary(replicas, total=10):
    return deployment("myapp-canary", replicas, "canary", "v2", "myapp:v2",
                      {TOTAL_REPLICAS: str(total), ROLE: "canary"})


SERVICE = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "myapp", "namespace": NS},
           "spec": {"selector": {"app": "myapp"}, "ports": [{"port": 80}]}}


def spec(**params):
    base = dict(name="myapp", namespace=NS, service="myapp", backend="replicas",
                state="present", track_label="track", version_label="version")
    base.update(params)
    return validate(base)


def run(kube, check_mode=False, **params):
    return backend.run_canary(kube, spec(**params), check_mode=check_mode, wait=False)


def between(requests, first, second):
    """The requests made after ``first`` and before ``second`` (both (verb, kind, name))."""
    return requests[requests.index(first) + 1:requests.index(second)]


def test_weight_step_writes_the_canary_then_reads_again_then_scales_the_stable():
    kube = FakeKube([stable(10), SERVICE], after_write=complete_rollouts)
    result = run(kube, weight=10, version="v2", pod_template=V2)
    assert result["actions"] == [
        "create canary Deployment myapp-canary (myapp:v2) with 1 replica(s)",
        "scale stable Deployment myapp 10 -> 9"]
    assert kube.writes() == [("apply", "Deployment", "myapp-canary"),
                             ("patch", "Deployment", "myapp")]
    # one write at a time: the stable's write is planned again after the canary's write,
    # on a fresh read of what that write changed; the Service, unchanged, is not read again.
    # The Deployments are read as one list (no other workload behind the Service), which
    # holds the object just written: the write forgot it, one list read finds it again.
    reread = between(kube.requests, ("apply", "Deployment", "myapp-canary"),
                     ("patch", "Deployment", "myapp"))
    assert reread == [("list", "Deployment", NS)]
    assert (kube.obj("Deployment", NS, "myapp")["spec"]["replicas"],
            kube.obj("Deployment", NS, "myapp-canary")["spec"]["replicas"]) == (9, 1)
    assert result["weight"] == 10.0 and result["weight_before"] == 0.0
    assert result["total_replicas"] == 10 and result["weight_requested"] == 10
    assert result["canary_selector"] == {"app": "myapp", "track": "canary"}
    assert result["diff"]["before"]["Deployment/myapp"]["replicas"] == 10
    assert result["diff"]["after"]["Deployment/myapp"]["replicas"] == 9

    again = run(kube, weight=10, version="v2", pod_template=V2)
    assert again["changed"] is False and again["actions"] == []
    assert len(kube.writes()) == 2


def test_a_shrinking_canary_grows_the_stable_first():
    kube = FakeKube([stable(5), canary(5), SERVICE], after_write=complete_rollouts)
    result = run(kube, weight=10)
    assert result["actions"] == ["scale stable Deployment myapp 5 -> 9",
                                 "scale canary Deployment myapp-canary 5 -> 1"]
    assert result["weight_before"] == 50.0 and result["weight"] == 10.0


def test_a_conflict_re_plans_on_the_fresh_object_and_keeps_the_other_change():
    raced = []

    def other_writer(fake, verb, key):
        if key == ("Deployment", NS, "myapp") and not raced:
            raced.append(verb)  # another writer labels the stable between our read and write
            obj = fake.obj(*key)
            obj["metadata"]["labels"] = {"team": "web"}
            fake._store(key, obj, bump_generation=False)

    kube = FakeKube([stable(10), SERVICE], before_write=other_writer,
                    after_write=complete_rollouts)
    result = run(kube, weight=50, version="v2", pod_template=V2)
    assert raced == ["patch"]
    assert kube.writes() == [("apply", "Deployment", "myapp-canary"),
                             ("patch", "Deployment", "myapp"),  # 409: stale resourceVersion
                             ("patch", "Deployment", "myapp")]  # planned again, fresh
    assert result["actions"] == [
        "create canary Deployment myapp-canary (myapp:v2) with 5 replica(s)",
        "scale stable Deployment myapp 10 -> 5"]
    live = kube.obj("Deployment", NS, "myapp")
    assert live["spec"]["replicas"] == 5 and live["metadata"]["labels"] == {"team": "web"}


def test_check_mode_writes_nothing_and_predicts_the_result():
    kube = FakeKube([stable(4), SERVICE])
    result = run(kube, check_mode=True, weight=50, version="v2", pod_template=V2)
    assert result["changed"] is True
    assert result["actions"] == [
        "create canary Deployment myapp-canary (myapp:v2) with 2 replica(s)",
        "scale stable Deployment myapp 4 -> 2"]
    assert kube.writes() == []
    assert kube.dry_runs() == [("apply", "Deployment", "myapp-canary")]
    assert kube.obj("Deployment", NS, "myapp-canary") is None
    assert kube.obj("Deployment", NS, "myapp")["spec"]["replicas"] == 4
    # the report is the prediction: the simulated objects, rolled out
    assert result["weight"] == 50.0 and result["weight_before"] == 0.0
    assert result["canary"]["replicas"] == 2 and result["canary"]["ready_replicas"] == 2
    assert result["diff"]["before"]["Deployment/myapp-canary"] == {}
    assert result["diff"]["after"]["Deployment/myapp"]["replicas"] == 2


def test_promote_replaces_the_stable_template_then_drops_the_canary():
    kube = FakeKube([stable(5), canary(5), SERVICE], after_write=complete_rollouts)
    result = run(kube, state="promoted")
    assert result["actions"] == [
        "promote: stable Deployment myapp runs the canary's template (myapp:v2) with 10 "
        "replica(s)",
        "scale canary Deployment myapp-canary 5 -> 0"]
    assert kube.writes() == [("replace", "Deployment", "myapp"),
                             ("patch", "Deployment", "myapp-canary")]
    live = kube.obj("Deployment", NS, "myapp")
    assert live["spec"]["replicas"] == 10
    assert live["spec"]["template"]["metadata"]["labels"] == {
        "app": "myapp", "track": "stable", "version": "v2"}
    assert result["stable"]["version"] == "v2" and result["weight"] == 0.0
    assert run(kube, state="promoted")["changed"] is False


def test_promote_refuses_an_unready_canary_and_writes_nothing():
    unready = canary(5)
    unready["status"]["readyReplicas"] = 2
    kube = FakeKube([stable(5), unready, SERVICE])
    with pytest.raises(PlanError, match="canary Deployment myapp-canary is not ready: "
                                        "2 of 5 replicas ready"):
        run(kube, state="promoted")
    assert kube.writes() == []


def test_abort_restores_the_stable_capacity_before_dropping_the_canary():
    kube = FakeKube([stable(5), canary(5), SERVICE], after_write=complete_rollouts)
    result = run(kube, state="aborted")
    assert result["actions"] == ["scale stable Deployment myapp 5 -> 10",
                                 "scale canary Deployment myapp-canary 5 -> 0"]
    assert result["weight_before"] == 50.0 and result["weight"] == 0.0
    assert run(kube, state="aborted")["changed"] is False


def test_nginx_check_mode_sends_the_canary_ingress_creation_as_a_dry_run():
    main = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "myapp", "namespace": NS},
            "spec": {"ingressClassName": "nginx", "rules": [{"http": {"paths": [
                {"path": "/", "pathType": "Prefix",
                 "backend": {"service": {"name": "myapp-v1", "port": {"number": 80}}}}]}}]}}
    v2 = dict(SERVICE, metadata={"name": "myapp-v2", "namespace": NS})
    kube = FakeKube([main, v2])
    result = run(kube, check_mode=True, backend="nginx", service=None, weight=5,
                 nginx={"ingress": "myapp", "canary_service": "myapp-v2"})
    assert result["actions"] == ["create canary Ingress myapp-canary: 5% -> Service myapp-v2"]
    assert kube.dry_runs() == [("create", "Ingress", "myapp-canary")]
    assert kube.writes() == []
    assert result["weight"] == 5 and result["weight_before"] == 0
    assert result["diff"]["after"]["Ingress/myapp-canary"]["annotations"][
        NGINX + "canary-weight"] == "5"


def unready(deployment_obj):
    deployment_obj["status"].update(readyReplicas=0, availableReplicas=0)
    return deployment_obj


def test_abort_without_waiting_leaves_a_ready_canary_while_the_stable_is_unready():
    """wait=false cannot wait for the stable version: the canary's ready pods stay."""
    kube = FakeKube([unready(stable(10)), canary(5), SERVICE])
    result = run(kube, state="aborted")
    assert kube.writes() == [] and result["changed"] is False
    assert result["warnings"] == [
        "the canary was left serving: the stable Deployment myapp is not ready: 0 of 10 "
        "replicas ready (0 of 10 updated replicas are ready); abort again (with wait=true to "
        "wait for it) to take it down"]


def test_abort_drops_a_canary_with_no_ready_pods_even_while_the_stable_is_unready():
    kube = FakeKube([unready(stable(10)), unready(canary(5)), SERVICE])
    result = run(kube, state="aborted")
    assert result["actions"] == ["scale canary Deployment myapp-canary 5 -> 0"]
