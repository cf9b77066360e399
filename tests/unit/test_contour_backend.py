"""contour_delegate on the release engine, against the shared in-memory API server with
a fake Contour: one write with the read resourceVersion, re-plan on 409, check mode writes
nothing, the previous state is put back when Contour rejects the change or never
confirms it."""

import copy

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.contour import (
    proxies as px,
    validation as cv,
)
from ansible_collections.progressive.delivery.plugins.module_utils.contour.backend import (
    ContourRejected,
    run_contour_delegate,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    ValidationError,
)

from contour_objects import MKT, ROOT_NS, child, params, root, svc
from fake_kube import FakeKube

ROOT = ("HTTPProxy", ROOT_NS, "root-blog")


def fake_contour(kube, unused_key=None):
    """Enough of Contour's DAG pass, after every write: includes of missing children make
    the root invalid, included children are valid, the rest orphaned."""
    proxies = dict(((ns, name), obj) for (kind, ns, name), obj in kube.store.items()
                   if kind == "HTTPProxy")
    included = set()
    for (ns, name), obj in proxies.items():
        if not px.is_root(obj):
            continue
        errors = []
        for _index, _path, ref in px.delegations("httpproxy", obj):
            if (ref.namespace, ref.name) in proxies:
                included.add((ref.namespace, ref.name))
            else:
                errors.append(("IncludeError", "IncludeNotFound",
                               "include %s/%s not found" % (ref.namespace, ref.name)))
        set_status(obj, errors)
    for key, obj in proxies.items():
        if px.is_root(obj):
            continue
        set_status(obj, [] if key in included else
                   [("Orphaned", "Orphaned", "this HTTPProxy is not part of a delegation "
                                             "chain from a root HTTPProxy")])


def set_status(obj, errors):
    cond = {"type": "Valid", "status": "False" if errors else "True",
            "observedGeneration": obj["metadata"].get("generation", 1),
            "errors": [dict(type=t, reason=r, message=m) for t, r, m in errors]}
    obj["status"] = {"currentStatus": "invalid" if errors else "valid",
                     "description": "At least one error present" if errors else "Valid",
                     "conditions": [cond]}


def namespace(name):
    return {"kind": "Namespace", "metadata": {"name": name}}


def service(name):
    return dict(svc(name), kind="Service")


def seed_cluster(contour=fake_contour):
    kube = FakeKube([namespace(ROOT_NS), namespace(MKT), root(),
                     child("blog", services=[{"name": "green", "port": 80}]), child("blog2"),
                     service("green"), service("blue")], after_write=contour)
    if contour is not None:
        contour(kube)
    return kube


def other_writer_once(kube):
    """Someone else writes the object between our read and our write (once)."""
    def bump(fake, verb, key):
        fake.before_write = None
        obj = fake.store[key]
        obj["metadata"]["resourceVersion"] = str(int(obj["metadata"]["resourceVersion"]) + 1)
    kube.before_write = bump


def run(kube, check_mode=False, wait_timeout=5, **overrides):
    spec = cv.validate(params(**overrides))
    return run_contour_delegate(kube, spec, check_mode=check_mode, wait=True,
                                wait_timeout=wait_timeout)


def includes(kube):
    return kube.store[ROOT]["spec"]["includes"]


def test_switch_writes_the_root_once_and_reports_contours_verdict():
    kube = seed_cluster()
    result = run(kube)
    assert result["changed"]
    assert [(w.verb, w.name, w.dry_run) for w in kube.sent] == [("patch", "root-blog", False)]
    assert kube.sent[0].body["metadata"]["resourceVersion"] == "100"  # as read
    assert includes(kube)[0]["name"] == "blog2"
    assert result["delegation"] == dict(name="blog2", namespace=MKT)
    assert result["previous_delegation"] == dict(name="blog", namespace=MKT)
    assert result["root"]["status"]["valid"] and result["child"]["status"]["valid"]
    assert result["services"] == [dict(name="blue", port=80, weight=None, share=100.0)]
    assert result["diff"]["before"]["root"]["delegations"][0]["name"] == "blog"
    assert result["diff"]["after"]["root"]["delegations"][0]["name"] == "blog2"
    again = run(kube)
    assert not again["changed"] and len(kube.writes()) == 1


def test_conflict_means_read_and_plan_again():
    kube = seed_cluster()
    other_writer_once(kube)
    result = run(kube)
    assert result["changed"]
    patches = [w.body for w in kube.sent if w.verb == "patch"]
    assert len(patches) == 2
    assert patches[0]["metadata"]["resourceVersion"] != \
        patches[1]["metadata"]["resourceVersion"]


def test_check_mode_sends_nothing_and_predicts_child_then_root():
    kube = seed_cluster()
    before = copy.deepcopy(kube.store)
    result = run(kube, check_mode=True, services=[dict(name="blue", weight=1)])
    assert result["changed"]
    # The engine simulates the writes: not even a dry run reaches the server.
    assert kube.writes() == [] and kube.sent == []
    assert [a.split(" ")[1].rstrip(":") for a in result["actions"]] == [
        "marketing/blog2", "root-ingressroute/root-blog"]
    assert kube.store == before
    assert result["delegation"]["name"] == "blog2"
    assert result["services"][0]["weight"] == 1


def test_invalid_include_is_put_back_and_contours_message_reported():
    kube = seed_cluster()
    with pytest.raises(ContourRejected) as err:
        run(kube, child=dict(name="nope", namespace=MKT), force=True)
    message = str(err.value)
    assert "HTTPProxy root-ingressroute/root-blog is invalid: IncludeNotFound: include " \
           "marketing/nope not found" in message
    assert "put back HTTPProxy root-ingressroute/root-blog as it was (/blog -> " \
           "marketing/blog)" in message
    assert includes(kube)[0]["name"] == "blog"
    assert [w[0] for w in kube.writes()] == ["patch", "patch"]  # the switch, the restore


def test_missing_child_without_force_writes_nothing():
    kube = seed_cluster()
    with pytest.raises(ValidationError) as err:
        run(kube, child=dict(name="nope", namespace=MKT))
    assert "child.name: HTTPProxy marketing/nope does not exist" in str(err.value)
    assert kube.writes() == []


def test_created_root_is_deleted_when_contour_rejects_it():
    kube = seed_cluster()
    del kube.store[ROOT]
    with pytest.raises(ContourRejected) as err:
        run(kube, fqdn="yangcs.net", child=dict(name="nope", namespace=MKT), force=True)
    assert "deleted HTTPProxy root-ingressroute/root-blog, which this run had created" \
        in str(err.value)
    assert ROOT not in kube.store


def test_no_verdict_in_time_puts_the_previous_state_back():
    kube = seed_cluster(contour=None)
    fake_contour(kube)  # statuses for the initial objects only, then silence
    with pytest.raises(ContourRejected) as err:
        run(kube, wait_timeout=1)
    assert "Contour did not confirm the change in 1s" in str(err.value)
    assert "has not processed generation 4" in str(err.value)
    assert includes(kube)[0]["name"] == "blog"


def test_someone_elses_later_change_is_not_undone():
    kube = seed_cluster()

    def contour_then_other_writer(fake, key):
        fake_contour(fake)
        obj = fake.store[ROOT]
        if obj["spec"]["includes"][0]["name"] == "nope":
            obj["spec"]["includes"][0]["name"] = "other"  # another writer, after ours
    kube.after_write = contour_then_other_writer
    with pytest.raises(ContourRejected) as err:
        run(kube, child=dict(name="nope", namespace=MKT), force=True)
    assert "left HTTPProxy root-ingressroute/root-blog alone: someone else changed it" \
        in str(err.value)


def test_canary_weights_then_full_and_idempotent():
    kube = seed_cluster()
    first = run(kube, child=None, services=[dict(name="green", port=80, weight=5),
                                            dict(name="blue", port=80, weight=95)])
    assert [(s["name"], s["weight"], s["share"]) for s in first["services"]] == [
        ("green", 5, 5.0), ("blue", 95, 95.0)]
    assert [w[2] for w in kube.writes()] == ["blog"]
    second = run(kube, child=None, services=[dict(name="green", weight=100),
                                             dict(name="blue", weight=0)])
    assert [(s["name"], s["weight"], s["share"]) for s in second["services"]] == [
        ("green", 100, 100.0), ("blue", 0, 0.0)]
    third = run(kube, child=None, services=[dict(name="green", weight=100),
                                            dict(name="blue", weight=0)])
    assert not third["changed"] and len(kube.writes()) == 2


def test_legacy_ingressroute_is_written_without_waiting():
    legacy_root = {"apiVersion": "contour.heptio.com/v1beta1", "kind": "IngressRoute",
                   "metadata": {"name": "root-blog", "namespace": ROOT_NS,
                                "resourceVersion": "1", "generation": 1},
                   "spec": {"virtualhost": {"fqdn": "yangcs.net"},
                            "routes": [{"match": "/blog",
                                        "delegate": {"name": "blog", "namespace": MKT}}]}}
    blog2 = {"apiVersion": "contour.heptio.com/v1beta1", "kind": "IngressRoute",
             "metadata": {"name": "blog2", "namespace": MKT, "resourceVersion": "1",
                          "generation": 1},
             "spec": {"routes": [{"match": "/blog", "services": [{"name": "blue", "port": 80}]}]}}
    kube = FakeKube([namespace(ROOT_NS), namespace(MKT), legacy_root, blog2])
    result = run(kube, api="ingressroute")
    assert result["changed"] and result["root"]["status"] is None
    assert result["warnings"]
    stored = kube.store[("IngressRoute", ROOT_NS, "root-blog")]
    assert stored["spec"]["routes"][0]["delegate"] == {"name": "blog2", "namespace": MKT}


def test_unchanged_but_invalid_fails_without_writing():
    kube = seed_cluster()
    root_obj = kube.store[ROOT]
    set_status(root_obj, [("TLSError", "SecretNotValid", "Secret not found")])
    with pytest.raises(ContourRejected) as err:
        run(kube, child=dict(name="blog", namespace=MKT))
    assert str(err.value).startswith("Contour does not confirm the state in force (nothing "
                                     "was changed): HTTPProxy root-ingressroute/root-blog is "
                                     "invalid: SecretNotValid: Secret not found")
    assert kube.writes() == []


def lagging_contour(missing):
    """Contour whose Service cache has not caught up: an included child routing to a
    Service in ``missing`` is invalid (ServiceUnresolvedReference) on its first pass."""
    def contour(kube, unused_key=None):
        fake_contour(kube)
        obj = kube.store[("HTTPProxy", MKT, "blog2")]
        if obj["status"]["currentStatus"] == "valid":
            set_status(obj, [("ServiceError", "ServiceUnresolvedReference",
                              'Spec.Routes unresolved service reference: service "%s/%s" not '
                              'found' % (MKT, name)) for name in missing])
    return contour


def test_a_service_contour_has_not_seen_yet_is_waited_for_not_taken_as_a_rejection():
    kube = seed_cluster(contour=None)
    kube.after_write = lagging_contour(["blue"])
    kube.events[("HTTPProxy", "blog2")] = [lambda obj: set_status(obj, [])]  # Contour caught up
    result = run(kube)
    assert result["changed"] and includes(kube)[0]["name"] == "blog2"
    assert result["child"]["status"]["valid"]
    assert [w[0] for w in kube.writes()] == ["patch"]  # no restore
    assert ("get", "Service", "blue") in kube.requests


def test_a_service_that_does_not_exist_is_a_rejection_at_once():
    kube = seed_cluster(contour=None)
    kube.after_write = lagging_contour(["gone"])
    with pytest.raises(ContourRejected) as err:
        run(kube)
    assert 'service "marketing/gone" not found' in str(err.value)
    assert includes(kube)[0]["name"] == "blog"  # put back
    assert ("watch", "HTTPProxy", "blog2") not in kube.requests
