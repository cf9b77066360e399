"""knative_revision_info: the kn revision list / describe view built from objects."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.knative import revision_info as kr
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    ValidationError,
)

NS = "default"
NOW = kr.parse_time("2022-09-05T10:00:00Z")


def rev(name, generation, created, image="gcr.io/knative-samples/helloworld-go",
        env=None, active="True", replicas=None):
    conditions = [
        {"type": "Ready", "status": "True", "lastTransitionTime": created},
        {"type": "ContainerHealthy", "status": "True", "lastTransitionTime": created},
        {"type": "ResourcesAvailable", "status": "True", "lastTransitionTime": created},
        {"type": "Active", "status": active, "severity": "Info",
         "reason": None if active == "True" else "NoTraffic",
         "lastTransitionTime": "2022-09-05T09:56:00Z"},
    ]
    status = {"conditions": conditions,
              "containerStatuses": [{"name": "user-container", "imageDigest":
                                     image + "@sha256:" + "5ea96b" + "0" * 58}]}
    if replicas is not None:
        status["actualReplicas"], status["desiredReplicas"] = replicas
    return {"metadata": {"name": name, "namespace": NS, "creationTimestamp": created,
                         "labels": {"serving.knative.dev/service": "hello",
                                    "serving.knative.dev/configuration": "hello",
                                    "serving.knative.dev/configurationGeneration":
                                        str(generation),
                                    "serving.knative.dev/routingState": "active"}},
            "spec": {"containers": [{"image": image, "env": [
                {"name": k, "value": v} for k, v in sorted((env or {}).items())]}]},
            "status": status}


SERVICE = {"metadata": {"name": "hello", "namespace": NS},
           "status": {"url": "http://hello.default.example.com",
                      "latestCreatedRevisionName": "hello-00004",
                      "latestReadyRevisionName": "hello-00004",
                      "traffic": [
                          {"revisionName": "hello-00004", "percent": 50,
                           "latestRevision": True},
                          {"revisionName": "hello-00002", "percent": 25,
                           "latestRevision": False},
                          {"revisionName": "hello-00001", "percent": 25,
                           "latestRevision": False},
                          {"revisionName": "hello-00001", "percent": 0, "tag": "first",
                           "latestRevision": False,
                           "url": "http://first-hello.default.example.com"}]}}

REVISIONS = [
    rev("hello-00001", 1, "2022-08-26T10:00:00Z", env={"TARGET": "First"}, active="False",
        replicas=(0, 0)),
    rev("hello-00002", 2, "2022-08-26T09:00:00Z", env={"TARGET": "Second"}, replicas=(1, 1)),
    rev("hello-00004", 4, "2022-08-27T08:00:00Z", image="gcr.io/knative-samples/helloworld-rust",
        env={"TARGET": "Second"}, active="False"),
]


def report(revisions=None, autoscalers=None, deployments=None):
    snapshot = kr.Snapshot("Service", SERVICE, revisions or REVISIONS, [SERVICE],
                           autoscalers or {}, deployments or {})
    spec = kr.validate(dict(namespace=NS, service="hello"))
    return kr.build_report(spec, snapshot, now=NOW)


def by_name(result):
    return dict((r["name"], r) for r in result["revisions"])


def test_newest_first_with_generation_and_age():
    result = report()
    assert [(r["name"], r["generation"], r["age"]) for r in result["revisions"]] == [
        ("hello-00004", 4, "9d"), ("hello-00002", 2, "10d"), ("hello-00001", 1, "10d")]


def test_traffic_and_tags_come_from_the_route_status():
    revs = by_name(report())
    assert revs["hello-00004"]["traffic_percent"] == 50
    assert revs["hello-00004"]["routed_as_latest"] is True
    assert revs["hello-00001"]["traffic_percent"] == 25
    assert revs["hello-00001"]["tags"] == ["first"]
    assert revs["hello-00001"]["tag_urls"] == {"first": "http://first-hello.default.example.com"}


def test_image_env_and_latest_flags():
    revs = by_name(report())
    assert revs["hello-00004"]["image"] == "gcr.io/knative-samples/helloworld-rust"
    assert revs["hello-00002"]["env"] == {"TARGET": "Second"}
    assert revs["hello-00002"]["env_list"] == ["TARGET=Second"]
    assert revs["hello-00004"]["latest_created"] and revs["hello-00004"]["latest_ready"]
    assert not revs["hello-00002"]["latest_created"]


def test_conditions_as_kn_shows_them():
    revs = by_name(report())
    first = revs["hello-00001"]
    assert [(c["ok"], c["type"], c["reason"]) for c in first["conditions"]] == [
        ("++", "Ready", None), ("++", "ContainerHealthy", None),
        ("++", "ResourcesAvailable", None), ("I", "Active", "NoTraffic")]
    assert first["conditions_ok"] == "3 OK / 4"
    assert first["conditions"][3]["age"] == "4m"
    assert first["ready"] is True


def test_replicas_from_revision_status_then_autoscaler_then_deployment():
    revs = by_name(report(autoscalers={"hello-00004": {"status": {"desiredScale": 2,
                                                                  "actualScale": 1}}}))
    assert revs["hello-00002"]["replicas"] == {"desired": 1, "actual": 1, "source": "Revision"}
    assert revs["hello-00004"]["replicas"] == {"desired": 2, "actual": 1,
                                               "source": "PodAutoscaler"}
    revs = by_name(report(deployments={"hello-00004": {"spec": {"replicas": 3},
                                                       "status": {"readyReplicas": 2}}}))
    assert revs["hello-00004"]["replicas"] == {"desired": 3, "actual": 2, "source": "Deployment"}


def test_table_has_kns_columns():
    lines = report()["table"]
    assert lines[0].split() == ["NAME", "SERVICE", "TRAFFIC", "TAGS", "GENERATION", "AGE",
                                "CONDITIONS", "READY", "REASON"]
    assert lines[1].split() == ["hello-00004", "hello", "50%", "4", "9d", "3", "OK", "/", "4",
                                "True"]
    assert lines[3].split()[:4] == ["hello-00001", "hello", "25%", "first"]


def test_service_level_fields():
    result = report()
    assert result["latest_created_revision"] == "hello-00004"
    assert result["url"] == "http://hello.default.example.com"
    assert [(t["revision"], t["percent"], t["tag"]) for t in result["traffic"]] == [
        ("hello-00004", 50, None), ("hello-00002", 25, None), ("hello-00001", 25, None),
        ("hello-00001", 0, "first")]


@pytest.mark.parametrize("seconds,text", [
    (45, "45s"), (330, "5m30s"), (600, "10m"), (7080, "118m"), (7200, "120m"), (4 * 3600, "4h"),
    (3 * 3600 + 60, "3h1m"), (30 * 3600, "30h"), (9 * 86400, "9d"), (3 * 86400, "3d"),
    (800 * 86400, "2y70d")])
def test_human_age(seconds, text):
    assert kr.human_age(seconds) == text


def test_validation():
    with pytest.raises(ValidationError) as err:
        kr.validate(dict(namespace="default"))
    assert "service: give service, configuration or revision" in str(err.value)
    with pytest.raises(ValidationError):
        kr.validate(dict(namespace="default", service="a", configuration="b"))
    assert kr.validate(dict(namespace="default", revision="hello-00002")).name is None
