"""Readiness predicates: pure functions over objects, as kubectl rollout status reads them."""

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import (
    condition_is,
    deployment_rollout,
    describe_unready_pod,
    label_selector_string,
    service_serves,
    serving_pod_names,
)


def dep(generation=2, observed=2, replicas=3, updated=3, total=3, ready=3, available=3,
        conditions=None):
    return {"metadata": {"name": "web", "generation": generation},
            "spec": {"replicas": replicas},
            "status": {"observedGeneration": observed, "updatedReplicas": updated,
                       "replicas": total, "readyReplicas": ready,
                       "availableReplicas": available, "conditions": conditions or []}}


def test_rollout_complete():
    check = deployment_rollout(dep())
    assert check.done and check.message == 'deployment "web" successfully rolled out'


def test_rollout_waits_for_generation_to_be_observed():
    assert deployment_rollout(dep(observed=1)).message.startswith("waiting for the Deployment spec")


def test_rollout_waits_for_updated_old_ready_available():
    assert deployment_rollout(dep(updated=1)).message == "1 out of 3 new replicas have been updated"
    assert deployment_rollout(dep(total=4)).message == "1 old replicas are pending termination"
    assert deployment_rollout(dep(ready=2)).message == "2 of 3 updated replicas are ready"
    assert deployment_rollout(dep(available=2)).message == "2 of 3 updated replicas are available"


def test_rollout_past_progress_deadline_fails_fast():
    check = deployment_rollout(dep(ready=0, conditions=[
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]))
    assert check.failed and not check.done
    assert "exceeded its progress deadline" in check.message


def test_missing_object_is_not_done():
    assert not deployment_rollout(None).done


def test_condition_for_current_generation_only():
    pred = condition_is("Ready")
    obj = {"metadata": {"generation": 3},
           "status": {"observedGeneration": 3,
                      "conditions": [{"type": "Ready", "status": "True", "reason": "Ok"}]}}
    assert pred(obj).done
    obj["status"]["observedGeneration"] = 2
    assert not pred(obj).done and "generation 3 not observed" in pred(obj).message


def test_condition_status_and_reason():
    obj = {"metadata": {}, "status": {"conditions": [
        {"type": "Active", "status": "False", "reason": "NoTraffic", "message": "idle"}]}}
    assert condition_is("Active", "False", "NoTraffic")(obj).done
    check = condition_is("Active", "True")(obj)
    assert not check.done and check.message == "condition Active=False reason=NoTraffic: idle"
    assert condition_is("Ready")(obj).message == "condition Ready not reported yet"


def test_unready_pod_description_names_reason_and_containers():
    pod = {"metadata": {"name": "web-1"}, "spec": {"nodeName": "kwok-node-0"},
           "status": {"phase": "Running",
                      "conditions": [{"type": "Ready", "status": "False",
                                      "reason": "ContainersNotReady",
                                      "message": "containers with unready status: [app]"}],
                      "containerStatuses": [{"name": "app", "ready": False, "restartCount": 2,
                                             "state": {"running": {}}}]}}
    assert describe_unready_pod(pod) == (
        "pod web-1 on kwok-node-0: phase=Running; Ready=False: ContainersNotReady "
        "(containers with unready status: [app]); container app not ready; restarts=2")


def test_label_selector_string():
    assert label_selector_string({"matchLabels": {"b": "2", "a": "1"}, "matchExpressions": [
        {"key": "c", "operator": "In", "values": ["x", "y"]},
        {"key": "d", "operator": "DoesNotExist"}]}) == "a=1,b=2,c in (x,y),!d"


def endpoint_slice(*names, **conditions):
    """An EndpointSlice whose endpoints are the named pods; ``not_ready`` names unready ones."""
    not_ready = conditions.get("not_ready", ())
    return {"metadata": {"name": "s"}, "endpoints": [
        {"addresses": ["10.0.0.%d" % i], "targetRef": {"kind": "Pod", "name": n},
         "conditions": {"ready": n not in not_ready}}
        for i, n in enumerate(names + tuple(not_ready))]}


def test_serving_pods_are_the_ready_endpoints_across_slices():
    slices = [endpoint_slice("a", not_ready=("b",)), endpoint_slice("c")]
    assert serving_pod_names(slices) == {"a", "c"}
    unset = {"endpoints": [{"addresses": ["10.0.0.9"], "targetRef": {"kind": "Pod", "name": "d"}}]}
    assert serving_pod_names([unset]) == {"d"}, "an unset ready condition means ready"
    bare = {"endpoints": [{"addresses": ["192.0.2.1"]}]}
    assert serving_pod_names([bare]) == {"192.0.2.1"}, "an endpoint without a pod is a stray"


def test_service_serves_only_the_wanted_pods():
    serve = service_serves("web", {"a", "b"})
    assert serve([endpoint_slice("a")]).done
    assert serve([]).message == "no EndpointSlices for Service web yet"
    assert serve([endpoint_slice(not_ready=("a",))]).message == "Service web has no ready endpoints"
    assert serve([endpoint_slice("a", "old")]).message == "Service web still sends traffic to old"
    exact = service_serves("web", {"a", "b"}, exact=True)
    assert exact([endpoint_slice("a")]).message == "Service web does not send traffic to b yet"
    assert exact([endpoint_slice("a"), endpoint_slice("b")]).done


def test_long_pod_lists_in_messages_are_cut():
    serve = service_serves("web", set(), exact=True)
    message = serve([endpoint_slice(*["p%d" % i for i in range(8)])]).message
    assert message == "Service web still sends traffic to p0, p1, p2, p3, p4 and 3 more"
