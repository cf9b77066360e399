"""Objects and reads shared by the canary tests (module and role) on the testbed."""

import json
import time

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    CONFIGMAP,
    DEPLOYMENT,
    ENDPOINTSLICE,
    INGRESS,
    POD,
    SERVICE,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import (
    service_slice_selector,
    serving_pod_names,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import wait_for_rollout

NEVER_READY = {"testbed.progressive.delivery/readiness": "never"}
RECORD = "progressive.delivery/canary-release"


def pod_template(image, labels=None):
    return {"metadata": {"labels": dict(labels or {})},
            "spec": {"containers": [{"name": "myapp", "image": image,
                                     "ports": [{"containerPort": 80}]}]}}


def create_stable(kube, namespace, replicas=10, image="ikubernetes/myapp:v1", name="myapp",
                  service=True, service_selector=None):
    """Seed 001's start: myapp v1 (track=stable) behind Service myapp selecting app=myapp."""
    kube.create(DEPLOYMENT, namespace, {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {"replicas": replicas,
                 "selector": {"matchLabels": {"app": "myapp", "track": "stable"}},
                 "template": pod_template(image, {"app": "myapp", "track": "stable",
                                                  "version": "v1"})},
    })
    if service:
        kube.create(SERVICE, namespace, {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "myapp"},
            "spec": {"selector": service_selector or {"app": "myapp"},
                     "ports": [{"name": "http", "port": 80, "targetPort": 80}]},
        })
    wait_for_rollout(kube, namespace, name, 60)


def replicas(kube, namespace, name):
    obj = kube.get_or_none(DEPLOYMENT, namespace, name)
    return None if obj is None else obj["spec"].get("replicas", 1)


def ready(kube, namespace, name):
    obj = kube.get_or_none(DEPLOYMENT, namespace, name)
    return 0 if obj is None else (obj.get("status") or {}).get("readyReplicas", 0)


def image(kube, namespace, name):
    obj = kube.get(DEPLOYMENT, namespace, name)
    return obj["spec"]["template"]["spec"]["containers"][0]["image"]


def endpoint_tracks(kube, namespace, service="myapp"):
    """{track: number of ready endpoint pods} behind the Service (its EndpointSlices)."""
    slices = kube.list(ENDPOINTSLICE, namespace, label_selector=service_slice_selector(service))
    names = serving_pod_names(slices["items"])
    pods = kube.list(POD, namespace, label_selector="app=myapp")["items"]
    counts = {}
    for pod in pods:
        if pod["metadata"]["name"] in names:
            track = pod["metadata"]["labels"].get("track")
            counts[track] = counts.get(track, 0) + 1
    return counts


def record(kube, namespace, name="myapp-release"):
    cm = kube.get_or_none(CONFIGMAP, namespace, name)
    if cm is None:
        return None
    text = (cm["metadata"].get("annotations") or {}).get(RECORD)
    return json.loads(text) if text else None


def wait_record(kube, namespace, predicate, timeout=120, name="myapp-release"):
    """Poll the release record until ``predicate(record)``; return it."""
    deadline = time.monotonic() + timeout
    rec = None
    while time.monotonic() < deadline:
        rec = record(kube, namespace, name)
        if rec is not None and predicate(rec):
            return rec
        time.sleep(0.3)
    raise AssertionError("release record never matched; last: %s" % rec)


def resource_versions(kube, namespace):
    seen = {}
    for resource in (DEPLOYMENT, SERVICE, INGRESS, CONFIGMAP):
        for obj in kube.list(resource, namespace)["items"]:
            seen["%s/%s" % (resource.kind, obj["metadata"]["name"])] = \
                obj["metadata"]["resourceVersion"]
    return seen


def create_ingress(kube, namespace, name="myapp", service="myapp-v1", host="myapp.example.com"):
    kube.create(INGRESS, namespace, {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": name},
        "spec": {"ingressClassName": "nginx", "rules": [{"host": host, "http": {"paths": [
            {"path": "/", "pathType": "Prefix",
             "backend": {"service": {"name": service, "port": {"number": 80}}}}]}}]},
    })


def create_service(kube, namespace, name, selector, port=80):
    kube.create(SERVICE, namespace, {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
        "spec": {"selector": selector, "ports": [{"name": "http", "port": port,
                                                  "targetPort": 80}]},
    })
