"""knative_traffic on the release engine, against the shared in-memory API server with a
Knative stand-in: one JSON patch conditional on the block read (not on the resourceVersion),
a change of another field does not matter, a change of the block means plan again (with a
warning), check mode writes nothing, rollback when the Service turns not Ready because of
the change."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.engine import ConflictError
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import KubeError
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    ValidationError,
)
from ansible_collections.progressive.delivery.plugins.module_utils.knative import (
    traffic_validation as ktv,
)
from ansible_collections.progressive.delivery.plugins.module_utils.knative.traffic_backend import (
    TrafficFailed,
    run_traffic,
)

from fake_kube import FakeKube
from knative_objects import NS, configuration, kservice, revision

SERVICE = ("Service", NS, "hello")


def knative(settle):
    """After each write to the Service, Knative's controllers as ``settle(obj)`` says."""
    def after_write(fake, key):
        if key == SERVICE:
            settle(fake.store[key])
    return after_write


def other_writer_once(kube, change=None):
    """Someone else writes the Service between our read and our write (once): an
    annotation by default, or ``change(obj)``."""
    def bump(fake, verb, key):
        fake.before_write = None
        obj = fake.store[key]
        obj["metadata"]["resourceVersion"] = str(int(obj["metadata"]["resourceVersion"]) + 1)
        if change is None:
            obj["metadata"].setdefault("annotations", {})["ci.example.com/build"] = "7"
        else:
            change(obj)
    kube.before_write = bump


def patches(kube):
    return [s.body for s in kube.sent if s.verb == "patch" and not s.dry_run]


def settle_as_requested(obj):
    status = obj["status"]
    status["observedGeneration"] = obj["metadata"]["generation"]
    status["conditions"] = [{"type": "Ready", "status": "True"}]
    status["traffic"] = []
    for entry in obj["spec"]["traffic"] or []:
        item = dict(entry, revisionName=entry.get("revisionName") or "hello-00002")
        if entry.get("tag"):
            item["url"] = "http://%s-hello.default.example.com" % entry["tag"]
        status["traffic"].append(item)


def cluster(controller=None, ready="True"):
    svc = kservice([{"latestRevision": True, "percent": 100}], ready=ready)
    settle_as_requested(svc)
    svc["status"]["conditions"] = [{"type": "Ready", "status": ready}]
    svc["metadata"]["generation"] = svc["status"]["observedGeneration"] = 3
    objects = [dict(svc, kind="Service"), dict(configuration(), kind="Configuration"),
               dict(revision("hello-00001"), kind="Revision"),
               dict(revision("hello-00002"), kind="Revision")]
    return FakeKube(objects, after_write=knative(controller or settle_as_requested))


def spec_for(traffic, **extra):
    params = dict(namespace=NS, service="hello", traffic=traffic)
    params.update(extra)
    return ktv.validate(params, strict=False)


FIFTY = [{"revision": "hello-00001", "percent": 50},
         {"revision": "hello-00002", "percent": 50, "tag": "v2"}]


def test_one_write_with_the_read_resource_version_then_the_split_in_force():
    kube = cluster()
    result = run_traffic(kube, spec_for(FIFTY), wait_timeout=5)
    assert len(patches(kube)) == 1
    assert patches(kube)[0] == [
        {"op": "test", "path": "/spec/traffic",
         "value": [{"latestRevision": True, "percent": 100}]},
        {"op": "add", "path": "/spec/traffic", "value": [
            {"revisionName": "hello-00001", "latestRevision": False, "percent": 50},
            {"tag": "v2", "revisionName": "hello-00002", "latestRevision": False,
             "percent": 50}]}]
    assert result["changed"] is True
    assert [(e["revision"], e["percent"], e["tag"]) for e in result["traffic"]] == [
        ("hello-00001", 50, None), ("hello-00002", 50, "v2")]
    assert result["tag_urls"] == {"v2": "http://v2-hello.default.example.com"}
    assert result["ready"] is True
    assert result["latest_created_revision"] == "hello-00002"


def test_second_identical_run_writes_nothing():
    kube = cluster()
    run_traffic(kube, spec_for(FIFTY), wait_timeout=5)
    again = run_traffic(kube, spec_for(FIFTY), wait_timeout=5)
    assert again["changed"] is False and again["actions"] == []
    assert len(patches(kube)) == 1


def test_check_mode_writes_nothing_and_predicts_the_split():
    kube = cluster()
    result = run_traffic(kube, spec_for(FIFTY), check_mode=True)
    assert patches(kube) == [] and kube.sent == []
    assert result["changed"] is True
    assert [(e["revision"], e["percent"]) for e in result["traffic"]] == [
        ("hello-00001", 50), ("hello-00002", 50)]
    assert result["diff"]["before"] == {"spec": {"traffic": [{"latestRevision": True,
                                                              "percent": 100}]}}


def test_another_writer_changing_another_field_does_not_conflict():
    kube = cluster()
    other_writer_once(kube)
    result = run_traffic(kube, spec_for(FIFTY), wait_timeout=5)
    assert len(patches(kube)) == 1 and "warnings" not in result
    assert kube.store[SERVICE]["metadata"]["annotations"] == {"ci.example.com/build": "7"}
    assert [e["percent"] for e in kube.store[SERVICE]["spec"]["traffic"]] == [50, 50]


def test_another_writer_changing_the_block_means_read_and_plan_again():
    kube = cluster()
    theirs = [{"revisionName": "hello-00001", "latestRevision": False, "percent": 100}]
    other_writer_once(kube, lambda obj: obj["spec"].update(traffic=theirs))
    result = run_traffic(kube, spec_for(FIFTY), wait_timeout=5)
    assert [p[0]["value"] for p in patches(kube)] == [
        [{"latestRevision": True, "percent": 100}], theirs]
    assert result["previous_traffic"] == theirs
    assert result["warnings"] == [
        "Service default/hello spec.traffic was changed by another writer while this call "
        "was writing it ([@latest 100%] -> [hello-00001 100%]); the request was checked and "
        "planned again on their block"]
    assert [e["percent"] for e in kube.store[SERVICE]["spec"]["traffic"]] == [50, 50]


def test_a_block_that_keeps_changing_is_never_overwritten():
    kube = cluster()
    count = [0]

    def change_block(fake, verb, key):
        count[0] += 1
        fake.store[key]["spec"]["traffic"] = [
            {"latestRevision": True, "percent": 100, "tag": "t%d" % count[0]}]
    kube.before_write = change_block
    with pytest.raises(ConflictError) as err:
        run_traffic(kube, spec_for(FIFTY), wait_timeout=5)
    assert "changed by another writer 4 times" in str(err.value)
    assert kube.store[SERVICE]["spec"]["traffic"][0]["tag"] == "t4"


def test_a_refused_value_is_not_taken_for_a_race():
    """A 422 for another reason (a webhook refusing the block) is the answer, not a race."""
    kube = cluster()

    def refuse(fake, verb, key):
        raise KubeError(422, "Invalid", "admission webhook denied the request")
    kube.before_write = refuse
    with pytest.raises(KubeError) as err:
        run_traffic(kube, spec_for(FIFTY), wait_timeout=5)
    assert "denied" in str(err.value) and not isinstance(err.value, ConflictError)
    assert len(patches(kube)) == 1


def test_invalid_input_writes_nothing():
    kube = cluster()
    with pytest.raises(ValidationError) as err:
        run_traffic(kube, spec_for([{"revision": "hello-00001", "percent": 60},
                                    {"revision": "hello-00002", "percent": 50}]))
    assert "traffic: given traffic percents sum to 110, want 100" in str(err.value)
    assert patches(kube) == []


def fail_new_split(obj):
    """Knative stand-in: the 50/50 split fails, the old block works again."""
    settle_as_requested(obj)
    if len(obj["spec"]["traffic"]) == 2:
        obj["status"]["conditions"] = [
            {"type": "Ready", "status": "False", "reason": "RevisionMissing",
             "message": 'Revision "hello-00002" failed to become ready.'}]


def test_failure_after_the_write_puts_the_previous_block_back():
    kube = cluster(fail_new_split)
    with pytest.raises(TrafficFailed) as err:
        run_traffic(kube, spec_for(FIFTY), wait_timeout=5)
    message = str(err.value)
    assert 'Revision "hello-00002" failed to become ready.' in message
    assert "the previous traffic block [@latest 100%] was put back" in message
    assert err.value.result["rolled_back"] is True
    assert len(patches(kube)) == 2
    assert patches(kube)[1][1]["value"] == [{"latestRevision": True, "percent": 100}]
    assert kube.store[SERVICE]["spec"]["traffic"] == [
        {"latestRevision": True, "percent": 100}]


def test_no_rollback_when_it_was_not_ready_before():
    kube = cluster(fail_new_split, ready="False")
    with pytest.raises(TrafficFailed) as err:
        run_traffic(kube, spec_for(FIFTY), wait_timeout=5)
    assert "it was not Ready before the change either" in str(err.value)
    assert err.value.result["rolled_back"] is False
    assert len(patches(kube)) == 1


def test_no_rollback_when_disabled():
    kube = cluster(fail_new_split)
    with pytest.raises(TrafficFailed) as err:
        run_traffic(kube, spec_for(FIFTY), wait_timeout=5, rollback=False)
    assert "left in place (rollback_on_failure=false)" in str(err.value)
    assert len(patches(kube)) == 1


def set_ready(state, reason=None):
    def change(obj):
        obj["status"]["conditions"] = [{"type": "Ready", "status": state, "reason": reason}]
    return change


def test_a_starting_revision_is_waited_for_before_deciding():
    kube = cluster()
    set_ready("Unknown", "Deploying")(kube.store[("Revision", NS, "hello-00002")])
    kube.events[("Revision", "hello-00002")] = [set_ready("True")]
    result = run_traffic(kube, spec_for(FIFTY), wait_timeout=5)
    assert result["changed"] and len(patches(kube)) == 1


def test_a_revision_that_fails_while_starting_is_refused_before_any_write():
    kube = cluster()
    set_ready("Unknown", "Deploying")(kube.store[("Revision", NS, "hello-00002")])
    kube.events[("Revision", "hello-00002")] = [set_ready("False", "ProgressDeadlineExceeded")]
    with pytest.raises(ValidationError) as err:
        run_traffic(kube, spec_for(FIFTY), wait_timeout=5)
    assert "revision 'hello-00002' failed (Ready=False (ProgressDeadlineExceeded))" in str(
        err.value)
    assert patches(kube) == []


def test_check_mode_does_not_wait_for_starting_revisions():
    kube = cluster()
    set_ready("Unknown", "Deploying")(kube.store[("Revision", NS, "hello-00002")])
    kube.events[("Revision", "hello-00002")] = [set_ready("True")]
    with pytest.raises(ValidationError, match="is not Ready"):
        run_traffic(kube, spec_for(FIFTY), check_mode=True)
    assert kube.events  # never watched
