"""Knative Services, Routes, Configurations and Revisions as the API server returns them,
and module parameters, for the unit tests."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    ValidationError,
)
from ansible_collections.progressive.delivery.plugins.module_utils.knative import (
    traffic_plan as ktp,
)

NS = "default"


# --- fixtures: objects as the API server returns them ---------------------------
def revision(name, config="hello", ready="True", service="hello", generation=1, reason=None,
             message=None):
    labels = {"serving.knative.dev/configuration": config,
              "serving.knative.dev/configurationGeneration": str(generation)}
    if service:
        labels["serving.knative.dev/service"] = service
    cond = {"type": "Ready", "status": ready}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return {"metadata": {"name": name, "namespace": NS, "labels": labels, "generation": 1},
            "status": {"observedGeneration": 1, "conditions": [cond]}}


def configuration(name="hello", created="hello-00002", ready="hello-00002", generation=2,
                  observed=2):
    return {"metadata": {"name": name, "namespace": NS, "generation": generation},
            "status": {"observedGeneration": observed,
                       "latestCreatedRevisionName": created,
                       "latestReadyRevisionName": ready,
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def kservice(traffic=None, name="hello", ready="True", status_traffic=None):
    return {"metadata": {"name": name, "namespace": NS, "generation": 3,
                         "resourceVersion": "42"},
            "spec": {"template": {}, "traffic": traffic if traffic is not None else [
                {"latestRevision": True, "percent": 100}]},
            "status": {"observedGeneration": 3, "url": "http://hello.default.example.com",
                       "conditions": [{"type": "Ready", "status": ready}],
                       "traffic": status_traffic or []}}


def route(traffic, name="blue-green-demo", labels=None):
    return {"metadata": {"name": name, "namespace": NS, "generation": 1, "resourceVersion": "7",
                         "labels": labels or {}},
            "spec": {"traffic": traffic},
            "status": {"observedGeneration": 1, "conditions": [{"type": "Ready",
                                                                "status": "True"}]}}


def observed(owner=None, configs=None, revisions=None):
    if owner is None:
        owner = kservice()
    configs = {"hello": configuration()} if configs is None else configs
    revisions = revisions if revisions is not None else [
        revision("hello-00001", generation=1), revision("hello-00002", generation=2),
        revision("hello-00004", generation=4), revision("other-00001", config="other",
                                                        service="other")]
    return ktp.Observed(owner, configs, dict((r["metadata"]["name"], r) for r in revisions))


def params(traffic=None, **overrides):
    base = dict(namespace=NS, service="hello", traffic=traffic)
    base.update(overrides)
    return base


def errors_of(call, *args, **kwargs):
    with pytest.raises(ValidationError) as err:
        call(*args, **kwargs)
    return [(e.path, e.message) for e in err.value.errors]


def split(*pairs):
    """split(("hello-00001", 50), ("hello-00002", 50, "v2")) -> traffic param"""
    out = []
    for pair in pairs:
        item = {"revision": pair[0], "percent": pair[1]}
        if len(pair) > 2:
            item["tag"] = pair[2]
        out.append(item)
    return out
