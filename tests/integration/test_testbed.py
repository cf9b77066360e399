"""The testbed behaves like the cluster the collection is written for.

Real API server, controller-manager and scheduler; kwok plays the kubelets.
Every wait is a watch (list, then watch from that resourceVersion), never a
sleep loop. Labels used here are documented in tests/testbed/README.md.
"""
import ipaddress
import os
import time

import pytest
from kubernetes import client, watch

NEVER_READY = {"testbed.progressive.delivery/readiness": "never"}
READY_AFTER = "testbed.progressive.delivery/ready-after-seconds"

pytestmark = [
    pytest.mark.usefixtures("kubeconfig"),
    # These check the kwok testbed itself (fake nodes, readiness label, made-up images).
    pytest.mark.skipif(os.environ.get("PD_TESTBED") == "kind", reason="checks the kwok testbed, not kind"),
]


# ---------------------------------------------------------------- helpers

def watch_until(list_func, predicate, timeout, *args, **kwargs):
    """Evaluate predicate(objects) on the listed objects, then after every watch
    event; return the objects once it holds, raise TimeoutError otherwise."""
    deadline = time.monotonic() + timeout
    listed = list_func(*args, **kwargs)
    objects = {o.metadata.name: o for o in listed.items}
    rv = listed.metadata.resource_version
    while not predicate(list(objects.values())):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"condition not met in {timeout}s; last state: {summarize(objects.values())}")
        w = watch.Watch()
        for event in w.stream(list_func, *args, resource_version=rv, timeout_seconds=max(1, int(remaining + 0.999)),
                              _request_timeout=remaining + 5, **kwargs):
            obj = event["object"]
            rv = obj.metadata.resource_version
            if event["type"] == "DELETED":
                objects.pop(obj.metadata.name, None)
            else:
                objects[obj.metadata.name] = obj
            if predicate(list(objects.values())) or time.monotonic() > deadline:
                w.stop()
    return list(objects.values())


def summarize(objects):
    return [(o.metadata.name, getattr(o, "status", None) and o.status.to_dict()) for o in objects]


def watch_one(list_func, namespace, name, predicate, timeout):
    """watch_until for one named object; returns it."""
    return watch_until(list_func, lambda objs: bool(objs) and predicate(objs[0]), timeout,
                       namespace, field_selector=f"metadata.name={name}")[0]


def deployment(name, image, replicas=1, labels=None, annotations=None, spread=False):
    labels = dict({"app": name}, **(labels or {}))
    spec = {"containers": [{"name": "app", "image": image}]}
    if spread:
        # One pod per node, or none: proves the scheduler sees three real nodes.
        spec["topologySpreadConstraints"] = [{
            "maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": name}}}]
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": labels, "annotations": annotations or {}}, "spec": spec}},
    }


def rollout_complete(dep):
    """What `kubectl rollout status` waits for (kubectl's DeploymentStatusViewer)."""
    s, want = dep.status, dep.spec.replicas
    if dep.metadata.generation > (s.observed_generation or 0):
        return False
    for c in s.conditions or []:
        if c.type == "Progressing" and c.reason == "ProgressDeadlineExceeded":
            raise AssertionError(f"deployment {dep.metadata.name} exceeded its progress deadline")
    return ((s.updated_replicas or 0) >= want
            and (s.replicas or 0) <= (s.updated_replicas or 0)
            and (s.available_replicas or 0) >= (s.updated_replicas or 0))


def condition(obj, ctype):
    return next((c.status for c in obj.status.conditions or [] if c.type == ctype), None)


def pod_ready(pod):
    return condition(pod, "Ready") == "True"


def pods_of(core, namespace, app, predicate, timeout=60):
    return watch_until(core.list_namespaced_pod, predicate, timeout, namespace, label_selector=f"app={app}")


# ---------------------------------------------------------------- tests

def test_deployment_becomes_ready_on_kwok_nodes(k8s, namespace):
    apps, core = client.AppsV1Api(k8s), client.CoreV1Api(k8s)
    apps.create_namespaced_deployment(namespace, deployment("web", "testbed.local/web:v1", replicas=3, spread=True))

    watch_one(apps.list_namespaced_deployment, namespace, "web", rollout_complete, 60)

    pods = core.list_namespaced_pod(namespace, label_selector="app=web").items
    assert len(pods) == 3
    assert all(p.status.phase == "Running" and pod_ready(p) for p in pods)
    assert all(cs.ready and cs.started for p in pods for cs in p.status.container_statuses)
    nodes = {p.spec.node_name for p in pods}
    assert len(nodes) == 3 and all(n.startswith("kwok-node-") for n in nodes)
    # Addresses are bookkeeping: node (host) IP loopback, pod IPs from the node's podCIDR.
    assert {p.status.host_ip for p in pods} == {"127.0.0.1"}
    assert all(ipaddress.ip_address(p.status.pod_ip) in ipaddress.ip_network("10.244.0.0/16") for p in pods)
    assert len({p.status.pod_ip for p in pods}) == 3


def test_image_change_rolls_out_completely(k8s, namespace):
    apps, core = client.AppsV1Api(k8s), client.CoreV1Api(k8s)
    apps.create_namespaced_deployment(namespace, deployment("web", "testbed.local/web:v1", replicas=3))
    watch_one(apps.list_namespaced_deployment, namespace, "web", rollout_complete, 60)

    apps.patch_namespaced_deployment("web", namespace, {"spec": {"template": {"spec": {
        "containers": [{"name": "app", "image": "testbed.local/web:v2"}]}}}})
    dep = watch_one(apps.list_namespaced_deployment, namespace, "web",
                    lambda d: d.metadata.generation == 2 and rollout_complete(d), 60)

    assert dep.status.updated_replicas == dep.status.ready_replicas == 3
    # Old pods are gone (kwok's delete stage), the old ReplicaSet is scaled to zero.
    pods = pods_of(core, namespace, "web", lambda ps: len(ps) == 3)
    assert {p.spec.containers[0].image for p in pods} == {"testbed.local/web:v2"}
    assert all(pod_ready(p) for p in pods)
    sets = apps.list_namespaced_replica_set(namespace, label_selector="app=web").items
    assert sorted((rs.spec.template.spec.containers[0].image, rs.spec.replicas) for rs in sets) == [
        ("testbed.local/web:v1", 0), ("testbed.local/web:v2", 3)]


def test_pod_labelled_never_ready_stays_unready(k8s, namespace):
    apps, core = client.AppsV1Api(k8s), client.CoreV1Api(k8s)
    apps.create_namespaced_deployment(namespace, deployment("bad", "testbed.local/web:bad", labels=NEVER_READY))

    # The pod runs (containers started) ...
    pod = pods_of(core, namespace, "bad", lambda ps: len(ps) == 1 and ps[0].status.phase == "Running")[0]
    assert condition(pod, "Ready") == "False"
    assert condition(pod, "ContainersReady") == "False"
    assert [(cs.ready, cs.started) for cs in pod.status.container_statuses] == [(False, True)]
    assert pod.status.pod_ip
    # ... but the Deployment never becomes available while we watch.
    with pytest.raises(TimeoutError):
        watch_one(apps.list_namespaced_deployment, namespace, "bad",
                  lambda d: (d.status.ready_replicas or 0) > 0 or rollout_complete(d), 5)
    pod = core.read_namespaced_pod(pod.metadata.name, namespace)
    assert condition(pod, "Ready") == "False"


def test_slow_pod_becomes_ready_after_its_delay(k8s, namespace):
    apps, core = client.AppsV1Api(k8s), client.CoreV1Api(k8s)
    delay = 3
    started = time.monotonic()
    apps.create_namespaced_deployment(namespace, deployment(
        "slow", "testbed.local/web:slow", annotations={READY_AFTER: str(delay)}))

    running = pods_of(core, namespace, "slow", lambda ps: len(ps) == 1 and ps[0].status.phase == "Running")[0]
    assert not pod_ready(running)
    pods_of(core, namespace, "slow", lambda ps: len(ps) == 1 and pod_ready(ps[0]), timeout=delay + 10)
    took = time.monotonic() - started

    assert delay - 0.5 <= took <= delay + 3, f"ready after {took:.2f}s, configured {delay}s"
    dep = watch_one(apps.list_namespaced_deployment, namespace, "slow", rollout_complete, 10)
    assert dep.status.ready_replicas == 1


def test_user_without_rights_gets_403(k8s, k8s_nobody, namespace):
    client.CoreV1Api(k8s).list_namespaced_pod(namespace)  # the admin may
    with pytest.raises(client.ApiException) as err:
        client.CoreV1Api(k8s_nobody).list_namespaced_pod(namespace)
    assert err.value.status == 403
    with pytest.raises(client.ApiException) as err:
        client.AppsV1Api(k8s_nobody).create_namespaced_deployment(namespace, deployment("x", "testbed.local/x:1"))
    assert err.value.status == 403


def test_service_endpoints_list_only_ready_pods(k8s, namespace):
    apps, core = client.AppsV1Api(k8s), client.CoreV1Api(k8s)
    discovery = client.DiscoveryV1Api(k8s)
    # Two ready pods and one never-ready pod behind one selector (tier=web).
    apps.create_namespaced_deployment(namespace, deployment("good", "testbed.local/web:v1", replicas=2,
                                                            labels={"tier": "web"}))
    apps.create_namespaced_deployment(namespace, deployment("bad", "testbed.local/web:v2", replicas=1,
                                                            labels={"tier": "web", **NEVER_READY}))
    core.create_namespaced_service(namespace, {
        "metadata": {"name": "web"},
        "spec": {"selector": {"tier": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}})

    good = pods_of(core, namespace, "good", lambda ps: len(ps) == 2 and all(map(pod_ready, ps)))
    bad = pods_of(core, namespace, "bad", lambda ps: len(ps) == 1 and ps[0].status.pod_ip)
    good_ips, bad_ips = {p.status.pod_ip for p in good}, {p.status.pod_ip for p in bad}

    def slices_settled(slices):
        eps = [e for s in slices for e in s.endpoints or []]
        return len(eps) == 3 and all(e.conditions.ready is not None for e in eps)

    slices = watch_until(discovery.list_namespaced_endpoint_slice, slices_settled, 30, namespace,
                         label_selector="kubernetes.io/service-name=web")
    eps = [e for s in slices for e in s.endpoints]
    assert {a for e in eps if e.conditions.ready for a in e.addresses} == good_ips
    assert {a for e in eps if not e.conditions.ready for a in e.addresses} == bad_ips

    def endpoints_settled(objs):
        subsets = objs[0].subsets if objs else None
        if not subsets:
            return False
        ready = {a.ip for s in subsets for a in s.addresses or []}
        unready = {a.ip for s in subsets for a in s.not_ready_addresses or []}
        return len(ready | unready) == 3

    endpoints = watch_one(core.list_namespaced_endpoints, namespace, "web",
                          lambda e: endpoints_settled([e]), 30)
    assert {a.ip for s in endpoints.subsets for a in s.addresses or []} == good_ips
    assert {a.ip for s in endpoints.subsets for a in s.not_ready_addresses or []} == bad_ips
