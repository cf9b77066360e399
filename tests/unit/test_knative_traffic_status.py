"""The predicate that proves a split took effect, and the traffic block in messages."""

from ansible_collections.progressive.delivery.plugins.module_utils.knative import (
    traffic_block as ktb,
    traffic_status as kts,
)

from knative_objects import (
    kservice,
)


# --- proving it took effect ---------------------------------------------------------------------
WANT = [{"revisionName": "hello-00001", "latestRevision": False, "percent": 50},
        {"revisionName": "hello-00002", "latestRevision": False, "percent": 50, "tag": "v2"}]
STATUS = [{"revisionName": "hello-00001", "latestRevision": False, "percent": 50},
          {"revisionName": "hello-00002", "latestRevision": False, "percent": 50, "tag": "v2",
           "url": "http://v2-hello.default.example.com"}]


def settled(obj):
    return kts.traffic_settled("Service", "hello", WANT)(obj)


def test_settled_when_ready_for_this_generation_with_the_split():
    assert settled(kservice(WANT, status_traffic=STATUS)).done


def test_not_settled_before_the_generation_is_observed():
    svc = kservice(WANT, status_traffic=STATUS)
    svc["metadata"]["generation"] = 4
    check = settled(svc)
    assert not check.done and not check.failed
    assert "generation 4 not observed yet (at 3)" in check.message


def test_not_settled_while_status_shows_the_old_split():
    check = settled(kservice(WANT, status_traffic=STATUS[:1]))
    assert not check.done and "status.traffic is [hello-00001 50%]" in check.message


def test_ready_false_is_a_failure_with_knatives_words():
    svc = kservice(WANT, ready="False")
    svc["status"]["conditions"] = [
        {"type": "Ready", "status": "False", "reason": "RevisionMissing",
         "message": 'Revision "hello-00002" failed to become ready.'},
        {"type": "RoutesReady", "status": "False", "reason": "RevisionMissing"}]
    check = settled(svc)
    assert check.failed
    assert 'Revision "hello-00002" failed to become ready.' in check.message
    assert "RoutesReady=False" in check.message


def test_latest_targets_match_whatever_revision_is_latest():
    want = [{"latestRevision": True, "percent": 100}]
    status = [{"revisionName": "hello-00007", "latestRevision": True, "percent": 100}]
    assert kts.status_matches(kservice(want, status_traffic=status), want)[0]


def test_describe_traffic():
    assert ktb.describe_traffic(STATUS) == "hello-00001 50%, hello-00002 50% (tag v2)"
    assert ktb.describe_traffic([{"latestRevision": True, "percent": 100,
                                  "revisionName": "x"}]) == "@latest=x 100%"
