"""Revision history from ReplicaSets and ControllerRevisions, and undo targets."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.rollout import (
    history as hist,
)

UID = "uid-web"


def tpl(image, hash_value=None, key="pod-template-hash"):
    labels = {"app": "web"}
    if hash_value:
        labels[key] = hash_value
    return {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "web", "image": image}]}}


def owner(uid=UID):
    return [{"uid": uid, "controller": True, "kind": "Deployment", "name": "web"}]


def rs(name, revision, image, replicas=0, ready=0, cause=None, uid=UID):
    annotations = {}
    if revision is not None:
        annotations[hist.REVISION] = str(revision)
    if cause:
        annotations[hist.CHANGE_CAUSE] = cause
    return {"kind": "ReplicaSet", "metadata": {
        "name": name, "annotations": annotations, "ownerReferences": owner(uid),
        "creationTimestamp": "2026-11-30T0%d:00:00Z" % (revision or 0)},
        "spec": {"replicas": replicas, "template": tpl(image, name[-4:])},
        "status": {"replicas": replicas, "readyReplicas": ready, "availableReplicas": ready}}


def deployment(image):
    return {"kind": "Deployment", "metadata": {"name": "web", "uid": UID},
            "spec": {"template": tpl(image)}}


def four():
    return [rs("web-aaaa", 1, "web:v1"), rs("web-bbbb", 2, "web:v2", cause="to v2"),
            rs("web-cccc", 3, "web:v3"), rs("web-dddd", 4, "web:v4", 3, 2, "to v4"),
            rs("other-eeee", 9, "web:v9", uid="someone-else"), rs("web-ffff", None, "web:v0")]


def test_deployment_history_sorted_with_the_current_one_and_counts():
    revisions = hist.deployment_history(deployment("web:v4"), four())
    assert [(r["revision"], r["images"], r["change_cause"], r["current"], r["replicas"],
             r["ready_replicas"]) for r in revisions] == [
        (1, {"web": "web:v1"}, None, False, 0, 0), (2, {"web": "web:v2"}, "to v2", False, 0, 0),
        (3, {"web": "web:v3"}, None, False, 0, 0), (4, {"web": "web:v4"}, "to v4", True, 3, 2)]
    # the template is kept without the hash label, ready for an undo
    assert revisions[0]["template"]["metadata"]["labels"] == {"app": "web"}
    assert revisions[3]["pod_labels"] == {"pod-template-hash": "dddd"}
    assert "template" not in hist.public(revisions)[0]
    assert hist.public(revisions)[0]["created"] == "2026-11-30T01:00:00Z"


def test_paused_deployment_with_a_new_template_has_no_current_revision():
    revisions = hist.deployment_history(deployment("web:v5"), four())
    assert hist.current_of(revisions) is None
    assert hist.undo_target(revisions)["revision"] == 4  # back to what runs


def test_controller_history_for_a_statefulset_uses_update_revision_and_pod_labels():
    sts = {"kind": "StatefulSet", "metadata": {"name": "db", "uid": UID},
           "spec": {"template": tpl("db:v2")},
           "status": {"updateRevision": "db-222"}}

    def cr(name, number, image):
        return {"metadata": {"name": name, "ownerReferences": owner(),
                             "labels": {hist.CR_HASH: name[-3:]}},
                "revision": number,
                "data": {"spec": {"template": dict(tpl(image), **{"$patch": "replace"})}}}

    def pod(rev, ready=True, deleting=False):
        meta = {"labels": {hist.POD_REVISION: rev}}
        if deleting:
            meta["deletionTimestamp"] = "now"
        return {"metadata": meta, "status": {"conditions": [
            {"type": "Ready", "status": "True" if ready else "False"}]}}

    revisions = hist.controller_history(
        sts, [cr("db-222", 2, "db:v2"), cr("db-111", 1, "db:v1")],
        [pod("db-222"), pod("db-222", ready=False), pod("db-111"), pod("db-111", deleting=True)])
    assert [(r["revision"], r["current"], r["replicas"], r["ready_replicas"]) for r in revisions] \
        == [(1, False, 1, 1), (2, True, 2, 1)]
    assert "$patch" not in revisions[0]["template"]


def test_controller_history_for_a_daemonset_matches_the_template_and_hash_label():
    ds = {"kind": "DaemonSet", "metadata": {"name": "agent", "uid": UID},
          "spec": {"template": tpl("agent:v1")}}
    crs = [{"metadata": {"name": "agent-5f6", "ownerReferences": owner(),
                         "labels": {hist.CR_HASH: "5f6"}},
            "revision": 3, "data": {"spec": {"template": tpl("agent:v1")}}},
           {"metadata": {"name": "agent-7a8", "ownerReferences": owner(),
                         "labels": {hist.CR_HASH: "7a8"}},
            "revision": 2, "data": {"spec": {"template": tpl("agent:v2")}}}]
    pods = [{"metadata": {"labels": {hist.POD_REVISION: "5f6"}}, "status": {}}]
    revisions = hist.controller_history(ds, crs, pods)
    assert [(r["revision"], r["current"], r["replicas"]) for r in revisions] == [
        (2, False, 0), (3, True, 1)]


@pytest.fixture
def revisions():
    return hist.deployment_history(deployment("web:v4"), four())


def test_undo_to_previous_is_the_revision_below_the_current(revisions):
    assert hist.undo_target(revisions)["revision"] == 3
    assert hist.undo_target(revisions, 0)["revision"] == 3


def test_undo_to_a_number(revisions):
    assert hist.undo_target(revisions, 2)["images"] == {"web": "web:v2"}
    assert hist.undo_target(revisions, 4)["current"] is True  # current: nothing to do


def test_undo_to_a_revision_that_is_gone_lists_the_retained(revisions):
    with pytest.raises(hist.UndoRefused) as err:
        hist.undo_target(revisions, 7)
    assert str(err.value) == ("revision 7 not found (pruned by revisionHistoryLimit, or never "
                              "made); retained revisions: 1, 2, 3, 4")


def test_undo_to_an_image_takes_the_newest_running_it_or_the_current(revisions):
    revisions[0]["images"] = {"web": "web:v2"}
    assert hist.undo_target(revisions, to_image="web:v2")["revision"] == 2
    assert hist.undo_target(revisions, to_image="web:v4")["current"] is True
    with pytest.raises(hist.UndoRefused) as err:
        hist.undo_target(revisions, to_image="web:v8")
    assert "no retained revision runs image web:v8; retained: 1: web:v2; 2: web:v2" in str(err.value)


def test_nothing_before_the_first_revision():
    only = hist.deployment_history(deployment("web:v1"), [rs("web-aaaa", 1, "web:v1")])
    with pytest.raises(hist.UndoRefused) as err:
        hist.undo_target(only)
    assert "no revision before the current one" in str(err.value)


def test_detail_returns_the_template_or_refuses(revisions):
    assert hist.detail(revisions, 3)["template"]["spec"]["containers"][0]["image"] == "web:v3"
    with pytest.raises(hist.UndoRefused):
        hist.detail(revisions, 5)
