"""knative_revision_info against the real Knative Serving controller on the testbed: what
`kn revision list` / `kn revision describe` show in seed 004."""

import pytest

from test_knative_traffic import (
    APP,
    IMAGE_GO,
    IMAGE_RUST,
    SVC,
    blue_live,
    ensure_knative,
    green_created,
    hello_with_three_revisions,
    ok,
    revision_info,
    target,
    traffic,
    wait_ready,
)

from ansible_collections.progressive.delivery.plugins.module_utils.knative import common as kn


@pytest.fixture(scope="session")
def knative(kubeconfig):
    return ensure_knative(kubeconfig)


def test_revision_list_and_describe_of_a_service(knative, namespace):
    kube = knative
    hello_with_three_revisions(kube, namespace)
    r1, r2, r3 = SVC + "-00001", SVC + "-00002", SVC + "-00003"
    ok(traffic(namespace, service=SVC, traffic=[target(r3, 50), target(r2, 50, "second")]))

    info = ok(revision_info(namespace, service=SVC))
    assert info["changed"] is False
    assert [r["name"] for r in info["revisions"]] == [r3, r2, r1]  # newest first
    assert [r["generation"] for r in info["revisions"]] == [3, 2, 1]
    assert info["latest_created_revision"] == r3 and info["latest_ready_revision"] == r3
    assert info["url"] == kn.status(kube.get(kn.KSERVICE, namespace, SVC))["url"]
    by_name = dict((r["name"], r) for r in info["revisions"])

    assert by_name[r3]["traffic_percent"] == 50 and by_name[r3]["tags"] == []
    assert by_name[r2]["traffic_percent"] == 50 and by_name[r2]["tags"] == ["second"]
    assert by_name[r2]["tag_urls"] == {"second": info["url"].replace("http://", "http://second-")}
    assert by_name[r1]["traffic_percent"] == 0

    assert by_name[r1]["env"] == {"TARGET": "First"}
    assert by_name[r2]["env_list"] == ["TARGET=Second"]
    assert by_name[r2]["image"] == IMAGE_GO and by_name[r3]["image"] == IMAGE_RUST
    assert by_name[r3]["latest_created"] and not by_name[r2]["latest_created"]
    assert by_name[r3]["service"] == SVC and by_name[r3]["configuration"] == SVC
    for rev in info["revisions"]:
        assert rev["ready"] is True
        assert rev["created"] and rev["age"]
        types = [c["type"] for c in rev["conditions"]]
        assert {"Ready", "ContainerHealthy", "ResourcesAvailable"} <= set(types), types
        assert rev["conditions_ok"].endswith("/ %d" % len(types))
        assert dict((c["type"], c["ok"]) for c in rev["conditions"])["Ready"] == "++"
        assert rev["replicas"]["source"] is not None, rev["replicas"]

    assert info["table"][0].split()[:3] == ["NAME", "SERVICE", "TRAFFIC"]
    assert info["table"][1].split()[:3] == [r3, SVC, "50%"]
    assert [(t["revision"], t["percent"], t["tag"]) for t in info["traffic"]] == [
        (r3, 50, None), (r2, 50, "second")]

    # kn revision describe: one revision, its Service found from its labels
    one = ok(revision_info(namespace, revision=r2, check=True))
    assert [r["name"] for r in one["revisions"]] == [r2]
    assert one["revisions"][0]["traffic_percent"] == 50
    assert one["kind"] == "Service" and one["name"] == SVC


def test_revisions_of_a_configuration_behind_a_route(knative, namespace):
    kube = knative
    blue_live(kube, namespace)
    green = green_created(kube, namespace)
    wait_ready(kube, kn.REVISION, namespace, green)
    ok(traffic(namespace, route=APP, traffic=[target(APP + "-00001", 100),
                                              target(green, 0, "v2")]))
    info = ok(revision_info(namespace, configuration=APP, route=APP))
    assert [(r["name"], r["traffic_percent"], r["tags"]) for r in info["revisions"]] == [
        (green, 0, ["v2"]), (APP + "-00001", 100, [])]
    assert info["revisions"][0]["env"] == {"T_VERSION": "green"}
    assert info["revisions"][0]["service"] is None
    assert info["url"] == kn.status(kube.get(kn.ROUTE, namespace, APP))["url"]


def test_unknown_service_is_an_error(knative, namespace):
    result = revision_info(namespace, service="nope")
    assert result.get("failed")
    assert result["msg"] == "Service nope not found in namespace %s" % namespace
