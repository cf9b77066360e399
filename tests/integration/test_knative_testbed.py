"""Knative Serving on the testbed behaves like the Knative the seeds walk through.

The real controller and webhook run; tests/testbed/knative/standin.py plays the
autoscaler and the networking layer (tests/testbed/README.md, "Knative"). Scenarios
follow seeds 004 (a Service updated into hello-00002, hello-00003; traffic split 50/50
with a tag, then 50/25/25; idle revisions scale to zero; percents must sum to 100) and
000 (a Configuration plus a Route switched blue -> green by revision name and tags).
Every wait is a watch (list, then watch from that resourceVersion), never a sleep loop.
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kubernetes import client, watch

TESTBED = Path(__file__).resolve().parents[1] / "testbed" / "testbed.py"
SERVING = ("serving.knative.dev", "v1")
AUTOSCALING = ("autoscaling.internal.knative.dev", "v1alpha1")
DOMAIN = "example.com"
IMAGE = "dev.local/helloworld-go:v1"
NEVER_READY = {"testbed.progressive.delivery/readiness": "never"}


@pytest.fixture(scope="module")
def knative(kubeconfig):
    """The testbed with the knative component (started once, left running)."""
    if os.environ.get("PD_TESTBED") == "kind":
        pytest.skip("the knative component belongs to the local testbed")
    res = subprocess.run([sys.executable, str(TESTBED), "up", "--with", "knative"], capture_output=True, text=True, check=False)
    if res.returncode:
        pytest.fail(f"`testbed.py up --with knative` failed:\n{res.stdout}\n{res.stderr}", pytrace=False)


@pytest.fixture
def kn(k8s, knative):
    return client.CustomObjectsApi(k8s)


# ---------------------------------------------------------------- helpers

def condition(obj, ctype):
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c["type"] == ctype:
            return c
    return None


def is_ready(obj):
    c = condition(obj, "Ready")
    return (bool(obj) and (obj.get("status") or {}).get("observedGeneration") == obj["metadata"]["generation"]
            and c is not None and c["status"] == "True")


def summary(obj):
    if not obj:
        return "absent"
    status = dict(obj.get("status") or {})
    return {"generation": obj["metadata"].get("generation"), "status": status}


def wait_custom(kn, gv, plural, ns, name, predicate, timeout=60):
    """The named object once predicate(obj) holds: list, then watch from there."""
    deadline = time.monotonic() + timeout
    selector = f"metadata.name={name}"
    listed = kn.list_namespaced_custom_object(*gv, ns, plural, field_selector=selector)
    obj = listed["items"][0] if listed["items"] else None
    rv = listed["metadata"]["resourceVersion"]
    while not (obj and predicate(obj)):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"{plural} {ns}/{name}: not there after {timeout}s; last seen: {summary(obj)}")
        w = watch.Watch()
        for event in w.stream(kn.list_namespaced_custom_object, *gv, ns, plural, field_selector=selector,
                              resource_version=rv, timeout_seconds=max(1, int(remaining + 0.999)),
                              _request_timeout=remaining + 5):
            rv = event["object"]["metadata"]["resourceVersion"]
            obj = None if event["type"] == "DELETED" else event["object"]
            if (obj and predicate(obj)) or time.monotonic() > deadline:
                w.stop()
    return obj


def wait_deployment(k8s, ns, name, predicate, timeout=60):
    apps = client.AppsV1Api(k8s)
    deadline = time.monotonic() + timeout
    selector = f"metadata.name={name}"
    listed = apps.list_namespaced_deployment(ns, field_selector=selector)
    obj = listed.items[0] if listed.items else None
    rv = listed.metadata.resource_version
    while not (obj and predicate(obj)):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"deployment {ns}/{name}: not there after {timeout}s; "
                                 f"last seen: {obj and (obj.spec.replicas, obj.status.to_dict())}")
        w = watch.Watch()
        for event in w.stream(apps.list_namespaced_deployment, ns, field_selector=selector, resource_version=rv,
                              timeout_seconds=max(1, int(remaining + 0.999)), _request_timeout=remaining + 5):
            rv = event["object"].metadata.resource_version
            obj = None if event["type"] == "DELETED" else event["object"]
            if (obj and predicate(obj)) or time.monotonic() > deadline:
                w.stop()
    return obj


def ready_replicas(n):
    return lambda d: d.spec.replicas == n and (d.status.ready_replicas or 0) == n and \
        (d.status.replicas or 0) == n


def generation_ready(generation):
    return lambda o: o["metadata"]["generation"] >= generation and is_ready(o)


def ksvc(name, env, image=IMAGE, traffic=None, template_labels=None, template_annotations=None):
    template = {"spec": {"containers": [{"image": image, "env": [{"name": k, "value": v} for k, v in env.items()]}]}}
    if template_labels or template_annotations:
        template["metadata"] = {"labels": template_labels or {}, "annotations": template_annotations or {}}
    spec = {"template": template}
    if traffic is not None:
        spec["traffic"] = traffic
    return {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "metadata": {"name": name}, "spec": spec}


def traffic_view(obj):
    """status.traffic as comparable tuples (revision, percent, tag, url)."""
    return sorted((t.get("revisionName"), t.get("percent", 0), t.get("tag"), t.get("url"))
                  for t in obj["status"].get("traffic") or [])


def scaled_to_zero(kn, k8s, ns, revision):
    """The unrouted revision's PA reports NoTraffic, its Deployment has no pods, and the
    Revision stays Ready with Active=False/NoTraffic (what `kn revision describe` shows)."""
    pa = wait_custom(kn, AUTOSCALING, "podautoscalers", ns, revision,
                     lambda o: (condition(o, "Active") or {}).get("reason") == "NoTraffic"
                     and o["status"].get("actualScale") == 0)
    assert condition(pa, "Active")["status"] == "False"
    assert condition(pa, "Active")["message"] == "The target is not receiving traffic."
    assert pa["status"]["desiredScale"] == 0
    wait_deployment(k8s, ns, f"{revision}-deployment", ready_replicas(0))
    rev = wait_custom(kn, SERVING, "revisions", ns, revision,
                      lambda o: (condition(o, "Active") or {}).get("reason") == "NoTraffic"
                      and o["status"].get("actualReplicas") == 0)
    assert condition(rev, "Active")["status"] == "False"
    assert condition(rev, "Ready")["status"] == "True"
    assert condition(rev, "ResourcesAvailable")["status"] == "True"
    assert condition(rev, "ContainerHealthy")["status"] == "True"


def scaled_up(kn, k8s, ns, revision):
    wait_deployment(k8s, ns, f"{revision}-deployment", ready_replicas(1))
    pa = wait_custom(kn, AUTOSCALING, "podautoscalers", ns, revision,
                     lambda o: is_ready(o) and o["status"].get("actualScale") == 1)
    assert condition(pa, "Active")["status"] == "True"
    assert condition(pa, "SKSReady")["status"] == "True"
    assert pa["status"]["serviceName"] == revision
    wait_custom(kn, SERVING, "revisions", ns, revision,
                lambda o: is_ready(o) and (condition(o, "Active") or {}).get("status") == "True")


# ---------------------------------------------------------------- seed 004: a Service

def test_service_revisions_traffic_split_and_scale_to_zero(kn, k8s, namespace):
    ns = namespace
    kn.create_namespaced_custom_object(*SERVING, ns, "services", ksvc("hello", {"TARGET": "First"}))

    svc = wait_custom(kn, SERVING, "services", ns, "hello", generation_ready(1))
    assert svc["status"]["latestCreatedRevisionName"] == "hello-00001"
    assert svc["status"]["latestReadyRevisionName"] == "hello-00001"
    assert svc["status"]["url"] == f"http://hello.{ns}.{DOMAIN}"
    assert svc["status"]["traffic"] == [{"revisionName": "hello-00001", "percent": 100, "latestRevision": True}]
    # The defaulting webhook ran: the stored template carries Knative's defaults.
    template = svc["spec"]["template"]["spec"]
    assert template["containers"][0]["name"] == "user-container"
    assert template["timeoutSeconds"] == 300 and template["containerConcurrency"] == 0

    route = wait_custom(kn, SERVING, "routes", ns, "hello", is_ready)
    assert route["status"]["url"] == f"http://hello.{ns}.{DOMAIN}"
    rev = wait_custom(kn, SERVING, "revisions", ns, "hello-00001", is_ready)
    assert {c["type"] for c in rev["status"]["conditions"]} == {"Ready", "ContainerHealthy", "ResourcesAvailable",
                                                                "Active"}
    assert rev["metadata"]["labels"]["serving.knative.dev/configurationGeneration"] == "1"
    assert rev["spec"]["containers"][0]["image"] == IMAGE  # dev.local: no digest lookup
    scaled_up(kn, k8s, ns, "hello-00001")
    pods = client.CoreV1Api(k8s).list_namespaced_pod(ns, label_selector="serving.knative.dev/revision=hello-00001")
    assert len(pods.items) == 1
    pod = pods.items[0]
    assert pod.status.phase == "Running"
    assert sorted(c.name for c in pod.spec.containers) == ["queue-proxy", "user-container"]
    assert all(s.ready for s in pod.status.container_statuses)
    user = next(c for c in pod.spec.containers if c.name == "user-container")
    assert any(e.name == "TARGET" and e.value == "First" for e in user.env)

    # kn service update hello --env TARGET=Second -> hello-00002 takes all traffic
    kn.patch_namespaced_custom_object(*SERVING, ns, "services", "hello",
                                      ksvc("hello", {"TARGET": "Second"}))
    svc = wait_custom(kn, SERVING, "services", ns, "hello",
                      lambda o: generation_ready(2)(o) and o["status"]["latestReadyRevisionName"] == "hello-00002")
    assert svc["status"]["latestCreatedRevisionName"] == "hello-00002"
    assert svc["status"]["traffic"] == [{"revisionName": "hello-00002", "percent": 100, "latestRevision": True}]
    scaled_up(kn, k8s, ns, "hello-00002")
    scaled_to_zero(kn, k8s, ns, "hello-00001")

    # kn service update hello --traffic hello-00001=50 --traffic hello-00002=50 --tag hello-00002=v2
    split = [{"revisionName": "hello-00001", "percent": 50},
             {"revisionName": "hello-00002", "percent": 50, "tag": "v2"}]
    kn.patch_namespaced_custom_object(*SERVING, ns, "services", "hello",
                                      ksvc("hello", {"TARGET": "Second"}, traffic=split))
    svc = wait_custom(kn, SERVING, "services", ns, "hello", generation_ready(3))
    tag_url = f"http://v2-hello.{ns}.{DOMAIN}"
    expected = [("hello-00001", 50, None, None), ("hello-00002", 50, "v2", tag_url)]
    assert traffic_view(svc) == expected
    route = wait_custom(kn, SERVING, "routes", ns, "hello", generation_ready(2))
    assert traffic_view(route) == expected
    assert route["status"]["url"] == f"http://hello.{ns}.{DOMAIN}"
    # hello-00001 has a share again: it comes back from zero
    scaled_up(kn, k8s, ns, "hello-00001")
    assert svc["status"]["latestReadyRevisionName"] == "hello-00002"  # routing never makes a revision

    # kn service update hello --image ...rust -> hello-00003, then 50/25/25
    three = [{"revisionName": "hello-00003", "percent": 50},
             {"revisionName": "hello-00002", "percent": 25},
             {"revisionName": "hello-00001", "percent": 25}]
    kn.patch_namespaced_custom_object(*SERVING, ns, "services", "hello",
                                      ksvc("hello", {"TARGET": "Second"}, image="dev.local/helloworld-rust:v1",
                                           traffic=three))
    svc = wait_custom(kn, SERVING, "services", ns, "hello",
                      lambda o: generation_ready(4)(o) and o["status"]["latestReadyRevisionName"] == "hello-00003")
    assert traffic_view(svc) == [("hello-00001", 25, None, None), ("hello-00002", 25, None, None),
                                 ("hello-00003", 50, None, None)]
    for revision in ("hello-00001", "hello-00002", "hello-00003"):
        scaled_up(kn, k8s, ns, revision)


def test_webhook_rejects_traffic_that_does_not_sum_to_100(kn, namespace):
    ns = namespace
    bad = [{"latestRevision": True, "percent": 50}, {"revisionName": "hello-00001", "percent": 60}]
    with pytest.raises(client.ApiException) as err:
        kn.create_namespaced_custom_object(*SERVING, ns, "services", ksvc("hello", {"TARGET": "x"}, traffic=bad))
    assert err.value.status == 400
    assert json.loads(err.value.body)["message"] == (
        'admission webhook "validation.webhook.serving.knative.dev" denied the request: '
        "validation failed: Traffic targets sum to 110, want 100: spec.traffic")

    route = {"apiVersion": "serving.knative.dev/v1", "kind": "Route", "metadata": {"name": "r"},
             "spec": {"traffic": [{"revisionName": "a", "percent": 50}, {"revisionName": "b", "percent": 40}]}}
    with pytest.raises(client.ApiException) as err:
        kn.create_namespaced_custom_object(*SERVING, ns, "routes", route)
    assert json.loads(err.value.body)["message"].endswith("Traffic targets sum to 90, want 100: spec.traffic")
    # Nothing was stored.
    assert kn.list_namespaced_custom_object(*SERVING, ns, "services")["items"] == []
    assert kn.list_namespaced_custom_object(*SERVING, ns, "routes")["items"] == []


# ---------------------------------------------------------------- seed 000: Configuration + Route

def test_configuration_and_route_blue_green(kn, k8s, namespace):
    ns = namespace
    name = "blue-green-demo"

    def configuration(colour):
        return {"apiVersion": "serving.knative.dev/v1", "kind": "Configuration", "metadata": {"name": name},
                "spec": {"template": {"spec": {"containers": [{
                    "image": f"gcr.io/knative-samples/knative-route-demo:{colour}",
                    "env": [{"name": "T_VERSION", "value": colour}]}]}}}}

    def route(traffic):
        return {"apiVersion": "serving.knative.dev/v1", "kind": "Route", "metadata": {"name": name},
                "spec": {"traffic": traffic}}

    kn.create_namespaced_custom_object(*SERVING, ns, "configurations", configuration("blue"))
    cfg = wait_custom(kn, SERVING, "configurations", ns, name, generation_ready(1))
    blue = cfg["status"]["latestCreatedRevisionName"]
    assert blue == f"{name}-00001" == cfg["status"]["latestReadyRevisionName"]

    kn.create_namespaced_custom_object(*SERVING, ns, "routes", route([{"revisionName": blue, "percent": 100}]))
    rt = wait_custom(kn, SERVING, "routes", ns, name, generation_ready(1))
    assert rt["status"]["url"] == f"http://{name}.{ns}.{DOMAIN}"
    assert traffic_view(rt) == [(blue, 100, None, None)]
    scaled_up(kn, k8s, ns, blue)

    kn.patch_namespaced_custom_object(*SERVING, ns, "configurations", name, configuration("green"))
    cfg = wait_custom(kn, SERVING, "configurations", ns, name,
                      lambda o: generation_ready(2)(o) and o["status"]["latestReadyRevisionName"] == f"{name}-00002")
    green = cfg["status"]["latestCreatedRevisionName"]
    assert green == f"{name}-00002"
    # Not routed yet: after coming up once, green goes to zero; blue keeps serving.
    scaled_to_zero(kn, k8s, ns, green)

    kn.patch_namespaced_custom_object(*SERVING, ns, "routes", name, route(
        [{"revisionName": blue, "percent": 100}, {"revisionName": green, "percent": 0, "tag": "v2"}]))
    rt = wait_custom(kn, SERVING, "routes", ns, name, generation_ready(2))
    v2_url = f"http://v2-{name}.{ns}.{DOMAIN}"
    assert traffic_view(rt) == [(blue, 100, None, None), (green, 0, "v2", v2_url)]
    assert [t["url"] for t in rt["status"]["traffic"] if "url" in t] == [v2_url]

    kn.patch_namespaced_custom_object(*SERVING, ns, "routes", name, route(
        [{"revisionName": blue, "percent": 50}, {"revisionName": green, "percent": 50, "tag": "v2"}]))
    rt = wait_custom(kn, SERVING, "routes", ns, name, generation_ready(3))
    assert traffic_view(rt) == [(blue, 50, None, None), (green, 50, "v2", v2_url)]
    scaled_up(kn, k8s, ns, green)

    kn.patch_namespaced_custom_object(*SERVING, ns, "routes", name, route(
        [{"revisionName": blue, "percent": 0, "tag": "v1"}, {"revisionName": green, "percent": 100}]))
    rt = wait_custom(kn, SERVING, "routes", ns, name, generation_ready(4))
    v1_url = f"http://v1-{name}.{ns}.{DOMAIN}"
    assert traffic_view(rt) == [(blue, 0, "v1", v1_url), (green, 100, None, None)]
    # Blue keeps its tag URL for a rollback but gets no requests: it scales to zero.
    scaled_to_zero(kn, k8s, ns, blue)
    scaled_up(kn, k8s, ns, green)


# ---------------------------------------------------------------- a revision that never gets ready

def test_revision_whose_pods_never_get_ready_fails_its_progress_deadline(kn, k8s, namespace):
    ns = namespace
    kn.create_namespaced_custom_object(*SERVING, ns, "services", ksvc("good", {"V": "1"}))
    wait_custom(kn, SERVING, "services", ns, "good", generation_ready(1))

    kn.patch_namespaced_custom_object(*SERVING, ns, "services", "good", ksvc(
        "good", {"V": "2"}, template_labels=NEVER_READY,
        template_annotations={"serving.knative.dev/progress-deadline": "5s"}))
    rev = wait_custom(kn, SERVING, "revisions", ns, "good-00002",
                      lambda o: (condition(o, "Ready") or {}).get("status") == "False", timeout=90)
    assert condition(rev, "Ready")["reason"] == "ProgressDeadlineExceeded"
    svc = wait_custom(kn, SERVING, "services", ns, "good",
                      lambda o: (o.get("status") or {}).get("observedGeneration") == 2
                      and (condition(o, "ConfigurationsReady") or {}).get("status") == "False")
    assert condition(svc, "Ready")["status"] == "False"
    # Traffic stays on the last ready revision.
    assert svc["status"]["latestReadyRevisionName"] == "good-00001"
    assert svc["status"]["traffic"] == [{"revisionName": "good-00001", "percent": 100, "latestRevision": True}]
    # Like the KPA: activating longer than the progress deadline + 10s -> scaled to zero.
    pa = wait_custom(kn, AUTOSCALING, "podautoscalers", ns, "good-00002",
                     lambda o: (condition(o, "Active") or {}).get("reason") == "TimedOut", timeout=60)
    assert condition(pa, "Active")["message"] == "The target could not be activated."
    assert pa["status"]["desiredScale"] == 0
    wait_deployment(k8s, ns, "good-00002-deployment", lambda d: d.spec.replicas == 0 and not d.status.replicas)
    # The revision reconciler may see TimedOut or already the NoTraffic that follows it.
    rev = wait_custom(kn, SERVING, "revisions", ns, "good-00002",
                      lambda o: (condition(o, "Active") or {}).get("status") == "False"
                      and o["status"].get("desiredReplicas") == 0)
    assert condition(rev, "Active")["reason"] in ("TimedOut", "NoTraffic")
    assert condition(rev, "Ready")["reason"] == "ProgressDeadlineExceeded"
    # ...and it stays given up on: no second attempt without traffic. (The next PA
    # reconcile turns TimedOut into NoTraffic, as the KPA's computeActiveCondition does.)
    pa = kn.get_namespaced_custom_object(*AUTOSCALING, ns, "podautoscalers", "good-00002")
    assert condition(pa, "Active")["status"] == "False" and pa["status"]["desiredScale"] == 0
    assert client.AppsV1Api(k8s).read_namespaced_deployment("good-00002-deployment", ns).spec.replicas == 0


# ---------------------------------------------------------------- the stand-in's scale model (no cluster)

def load_standin():
    import importlib.util
    spec = importlib.util.spec_from_file_location("standin", TESTBED.parent / "knative" / "standin.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("reachability, annotations, initialized, traffic, given_up, want", [
    ("Reachable", {}, False, False, False, 1),            # comes up once at the initial scale
    ("Unreachable", {}, False, False, False, 1),          # even when not routed yet (seed 000, revision 2)
    ("Reachable", {}, True, True, False, 1),              # a share of the traffic: one pod
    ("Reachable", {}, True, False, False, 0),             # tagged at 0%: scales to zero
    ("Unreachable", {}, True, False, False, 0),           # not routed: scales to zero
    ("Reachable", {"autoscaling.knative.dev/min-scale": "2"}, True, False, False, 2),
    ("Unreachable", {"autoscaling.knative.dev/min-scale": "2"}, True, False, False, 0),  # no floor once unrouted
    ("Reachable", {"autoscaling.knative.dev/max-scale": "1", "autoscaling.knative.dev/min-scale": "3"},
     True, True, False, 1),
    ("Reachable", {"autoscaling.knative.dev/initial-scale": "3"}, False, False, False, 3),
    ("Reachable", {}, False, False, True, 0),             # never came up within its deadline
    ("Reachable", {}, False, True, True, 1),              # ...but it has traffic: keep trying
])
def test_standin_desired_scale(reachability, annotations, initialized, traffic, given_up, want):
    standin = load_standin()
    cfg = standin.autoscaler_config({})
    pa = {"metadata": {"annotations": annotations}, "spec": {"reachability": reachability}}
    assert standin.desired_scale(pa, cfg, initialized, traffic, given_up) == want


def test_standin_conditions_follow_knatives_rules():
    standin = load_standin()
    pa = {"metadata": {"generation": 1}, "status": {}}
    status, conds = standin.begin_reconcile(pa, standin.PA_DEPENDENTS)
    conds.mark_true("SKSReady")
    conds.mark_true("ScaleTargetInitialized")
    conds.mark_true("Active")
    status = standin.end_reconcile(pa, status, conds)
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "Active": "True", "Ready": "True", "SKSReady": "True", "ScaleTargetInitialized": "True"}
    assert status["observedGeneration"] == 1

    # A False dependent beats an Unknown one; Ready carries its reason and message.
    status, conds = standin.begin_reconcile(dict(pa, status=status), standin.PA_DEPENDENTS)
    conds.mark_unknown("SKSReady", "NotReady", "K8s Service is not ready")
    conds.mark_false("Active", "NoTraffic", "The target is not receiving traffic.")
    status = standin.end_reconcile(pa, status, conds)
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "False", "NoTraffic", "The target is not receiving traffic.")
