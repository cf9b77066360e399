"""knative_traffic runner against an in-memory API server: one write with the read
resourceVersion, re-plan on 409, check mode writes nothing, rollback when the Service
turns not Ready because of the change."""

import copy

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.knative import traffic_plan as ktp
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    ValidationError,
)
from ansible_collections.progressive.delivery.plugins.module_utils.knative.traffic_backend import (
    TrafficFailed,
    run_traffic,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import KubeError

from test_knative_traffic_plan import configuration, kservice, revision

NS = "default"


class FakeKube(object):
    """Objects by (plural, name); ``controller(obj)`` plays Knative after each write."""

    def __init__(self, objects, controller=None):
        self.objects = dict(((o_plural, o["metadata"]["name"]), o) for o_plural, o in objects)
        self.controller = controller or settle_as_requested
        self.patches = []
        self.conflict_next = False
        self.events = {}

    def get_or_none(self, resource, namespace, name):
        obj = self.objects.get((resource.plural, name))
        return copy.deepcopy(obj) if obj else None

    def list(self, resource, namespace=None, label_selector=None, field_selector=None):
        only = field_selector.split("=", 1)[1] if field_selector else None
        return {"metadata": {"resourceVersion": "1"},
                "items": [copy.deepcopy(o) for (plural, name), o in sorted(self.objects.items())
                          if plural == resource.plural and only in (None, name)]}

    def patch(self, resource, namespace, name, patch, **kwargs):
        self.patches.append(copy.deepcopy(patch))
        obj = self.objects[(resource.plural, name)]
        if self.conflict_next:
            self.conflict_next = False
            obj["metadata"]["resourceVersion"] = str(int(obj["metadata"]["resourceVersion"]) + 1)
        want_rv = patch["metadata"]["resourceVersion"]
        if want_rv != obj["metadata"]["resourceVersion"]:
            raise KubeError(409, "Conflict", "the object has been modified")
        obj["spec"]["traffic"] = patch["spec"]["traffic"]
        obj["metadata"]["generation"] += 1
        obj["metadata"]["resourceVersion"] = str(int(obj["metadata"]["resourceVersion"]) + 1)
        self.controller(obj)
        return copy.deepcopy(obj)

    def watch(self, resource, namespace, resource_version, timeout, name=None, **kwargs):
        """Events come from ``self.events[(plural, name)]``: callables that change the
        stored object (a controller at work) and whose result is yielded."""
        for change in self.events.pop((resource.plural, name), []):
            change(self.objects[(resource.plural, name)])
            yield "MODIFIED", copy.deepcopy(self.objects[(resource.plural, name)])


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
    objects = [("services", svc), ("configurations", configuration()),
               ("revisions", revision("hello-00001")), ("revisions", revision("hello-00002"))]
    return FakeKube(objects, controller)


def spec_for(traffic, **extra):
    params = dict(namespace=NS, service="hello", traffic=traffic)
    params.update(extra)
    return ktp.validate(params, strict=False)


FIFTY = [{"revision": "hello-00001", "percent": 50},
         {"revision": "hello-00002", "percent": 50, "tag": "v2"}]


def test_one_write_with_the_read_resource_version_then_the_split_in_force():
    kube = cluster()
    result = run_traffic(kube, spec_for(FIFTY), wait_timeout=5)
    assert len(kube.patches) == 1
    assert kube.patches[0]["metadata"] == {"resourceVersion": "42"}
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
    assert len(kube.patches) == 1


def test_check_mode_writes_nothing_and_predicts_the_split():
    kube = cluster()
    result = run_traffic(kube, spec_for(FIFTY), check_mode=True)
    assert kube.patches == []
    assert result["changed"] is True
    assert [(e["revision"], e["percent"]) for e in result["traffic"]] == [
        ("hello-00001", 50), ("hello-00002", 50)]
    assert result["diff"]["before"] == {"spec": {"traffic": [{"latestRevision": True,
                                                              "percent": 100}]}}


def test_conflict_means_read_and_plan_again():
    kube = cluster()
    kube.conflict_next = True
    result = run_traffic(kube, spec_for(FIFTY), wait_timeout=5)
    assert [p["metadata"]["resourceVersion"] for p in kube.patches] == ["42", "43"]
    assert result["changed"]


def test_invalid_input_writes_nothing():
    kube = cluster()
    with pytest.raises(ValidationError) as err:
        run_traffic(kube, spec_for([{"revision": "hello-00001", "percent": 60},
                                    {"revision": "hello-00002", "percent": 50}]))
    assert "traffic: given traffic percents sum to 110, want 100" in str(err.value)
    assert kube.patches == []


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
    assert len(kube.patches) == 2
    assert kube.patches[1]["spec"]["traffic"] == [{"latestRevision": True, "percent": 100}]
    assert kube.objects[("services", "hello")]["spec"]["traffic"] == [
        {"latestRevision": True, "percent": 100}]


def test_no_rollback_when_it_was_not_ready_before():
    kube = cluster(fail_new_split, ready="False")
    with pytest.raises(TrafficFailed) as err:
        run_traffic(kube, spec_for(FIFTY), wait_timeout=5)
    assert "it was not Ready before the change either" in str(err.value)
    assert err.value.result["rolled_back"] is False
    assert len(kube.patches) == 1


def test_no_rollback_when_disabled():
    kube = cluster(fail_new_split)
    with pytest.raises(TrafficFailed) as err:
        run_traffic(kube, spec_for(FIFTY), wait_timeout=5, rollback=False)
    assert "left in place (rollback_on_failure=false)" in str(err.value)
    assert len(kube.patches) == 1


def set_ready(state, reason=None):
    def change(obj):
        obj["status"]["conditions"] = [{"type": "Ready", "status": state, "reason": reason}]
    return change


def test_a_starting_revision_is_waited_for_before_deciding():
    kube = cluster()
    set_ready("Unknown", "Deploying")(kube.objects[("revisions", "hello-00002")])
    kube.events[("revisions", "hello-00002")] = [set_ready("True")]
    result = run_traffic(kube, spec_for(FIFTY), wait_timeout=5)
    assert result["changed"] and len(kube.patches) == 1


def test_a_revision_that_fails_while_starting_is_refused_before_any_write():
    kube = cluster()
    set_ready("Unknown", "Deploying")(kube.objects[("revisions", "hello-00002")])
    kube.events[("revisions", "hello-00002")] = [set_ready("False", "ProgressDeadlineExceeded")]
    with pytest.raises(ValidationError) as err:
        run_traffic(kube, spec_for(FIFTY), wait_timeout=5)
    assert "revision 'hello-00002' failed (Ready=False (ProgressDeadlineExceeded))" in str(
        err.value)
    assert kube.patches == []


def test_check_mode_does_not_wait_for_starting_revisions():
    kube = cluster()
    set_ready("Unknown", "Deploying")(kube.objects[("revisions", "hello-00002")])
    kube.events[("revisions", "hello-00002")] = [set_ready("True")]
    with pytest.raises(ValidationError, match="is not Ready"):
        run_traffic(kube, spec_for(FIFTY), check_mode=True)
    assert kube.events  # never watched
