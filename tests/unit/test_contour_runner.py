"""contour_delegate's runner against an in-memory API server with a fake Contour: one
write with the read resourceVersion, re-plan on 409, check mode writes nothing, the
previous state is put back when Contour rejects the change or never confirms it."""

import copy

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.contour import plan as cp
from ansible_collections.progressive.delivery.plugins.module_utils.contour.backend import (
    ContourRejected,
    run_contour_delegate,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    ValidationError,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import KubeError

from test_contour_plan import MKT, ROOT_NS, child, params, root, svc


class FakeKube(object):
    """Objects by (plural, namespace, name); ``contour(store)`` plays Contour after each
    write unless it is None (then nobody ever reports)."""

    def __init__(self, objects, contour="default"):
        self.store = {}
        for plural, obj in objects:
            self.store[(plural, obj["metadata"].get("namespace"), obj["metadata"]["name"])] = \
                copy.deepcopy(obj)
        self.contour = fake_contour if contour == "default" else contour
        self.writes = []
        self.conflict_next = False
        self.rv = 1000
        if self.contour:
            self.contour(self.store)

    def _bump(self, obj):
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)

    def get_or_none(self, resource, namespace, name):
        obj = self.store.get((resource.plural, namespace, name))
        return copy.deepcopy(obj)

    def list(self, resource, namespace=None, label_selector=None, field_selector=None):
        only = field_selector.split("=", 1)[1] if field_selector else None
        return {"metadata": {"resourceVersion": str(self.rv)},
                "items": [copy.deepcopy(o) for (p, ns, name), o in sorted(self.store.items())
                          if p == resource.plural and ns == namespace
                          and only in (None, name)]}

    def create(self, resource, namespace, body, dry_run=False):
        self.writes.append(("create", body["metadata"]["name"], dry_run))
        obj = copy.deepcopy(body)
        obj["metadata"]["generation"] = 1
        self._bump(obj)
        answer = copy.deepcopy(obj)
        if not dry_run:
            self.store[(resource.plural, namespace, obj["metadata"]["name"])] = obj
            self._settle()
        return answer

    def patch(self, resource, namespace, name, patch, dry_run=False, **kwargs):
        self.writes.append(("patch", name, dry_run, copy.deepcopy(patch)))
        obj = self.store[(resource.plural, namespace, name)]
        if self.conflict_next:
            self.conflict_next = False
            self._bump(obj)  # someone else wrote first
        if patch["metadata"]["resourceVersion"] != obj["metadata"]["resourceVersion"]:
            raise KubeError(409, "Conflict", "the object has been modified")
        new = copy.deepcopy(obj)
        for key, value in patch["spec"].items():
            if value is None:
                new["spec"].pop(key, None)
            else:
                new["spec"][key] = copy.deepcopy(value)
        new["metadata"]["generation"] += 1
        self._bump(new)
        answer = copy.deepcopy(new)  # the object as this write left it
        if not dry_run:
            self.store[(resource.plural, namespace, name)] = new
            self._settle()
        return answer

    def delete(self, resource, namespace, name):
        self.writes.append(("delete", name))
        self.store.pop((resource.plural, namespace, name), None)

    def watch(self, *args, **kwargs):
        return iter(())

    def _settle(self):
        if self.contour:
            self.contour(self.store)


def fake_contour(store):
    """Enough of Contour's DAG pass: includes of missing children make the root invalid,
    included children are valid, the rest orphaned."""
    proxies = dict(((ns, name), obj) for (plural, ns, name), obj in store.items()
                   if plural == "httpproxies")
    included = set()
    for (ns, name), obj in proxies.items():
        if not cp.is_root(obj):
            continue
        errors = []
        for _index, _path, ref in cp.delegations("httpproxy", obj):
            if (ref.namespace, ref.name) in proxies:
                included.add((ref.namespace, ref.name))
            else:
                errors.append(("IncludeError", "IncludeNotFound",
                               "include %s/%s not found" % (ref.namespace, ref.name)))
        set_status(obj, errors)
    for key, obj in proxies.items():
        if cp.is_root(obj):
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
    return ("namespaces", {"metadata": {"name": name}})


def seed_cluster(contour="default"):
    return FakeKube([namespace(ROOT_NS), namespace(MKT),
                     ("httpproxies", root()),
                     ("httpproxies", child("blog", services=[{"name": "green", "port": 80}])),
                     ("httpproxies", child("blog2")),
                     ("services", svc("green")), ("services", svc("blue"))], contour)


def run(kube, check_mode=False, wait_timeout=5, **overrides):
    spec = cp.validate(params(**overrides))
    return run_contour_delegate(kube, spec, check_mode=check_mode, wait=True,
                                wait_timeout=wait_timeout)


def includes(kube):
    return kube.store[("httpproxies", ROOT_NS, "root-blog")]["spec"]["includes"]


def test_switch_writes_the_root_once_and_reports_contours_verdict():
    kube = seed_cluster()
    result = run(kube)
    assert result["changed"]
    assert [w[:3] for w in kube.writes] == [("patch", "root-blog", False)]
    assert kube.writes[0][3]["metadata"]["resourceVersion"] == "100"  # as read
    assert includes(kube)[0]["name"] == "blog2"
    assert result["delegation"] == dict(name="blog2", namespace=MKT)
    assert result["previous_delegation"] == dict(name="blog", namespace=MKT)
    assert result["root"]["status"]["valid"] and result["child"]["status"]["valid"]
    assert result["services"] == [dict(name="blue", port=80, weight=None, share=100.0)]
    assert result["diff"]["before"]["root"]["delegations"][0]["name"] == "blog"
    assert result["diff"]["after"]["root"]["delegations"][0]["name"] == "blog2"
    again = run(kube)
    assert not again["changed"] and len(kube.writes) == 1


def test_conflict_means_read_and_plan_again():
    kube = seed_cluster()
    kube.conflict_next = True
    result = run(kube)
    assert result["changed"]
    patches = [w for w in kube.writes if w[0] == "patch"]
    assert len(patches) == 2
    assert patches[0][3]["metadata"]["resourceVersion"] != \
        patches[1][3]["metadata"]["resourceVersion"]


def test_check_mode_sends_dry_runs_only():
    kube = seed_cluster()
    before = copy.deepcopy(kube.store)
    result = run(kube, check_mode=True, services=[dict(name="blue", weight=1)])
    assert result["changed"]
    assert [(w[0], w[1], w[2]) for w in kube.writes] == [("patch", "blog2", True),
                                                         ("patch", "root-blog", True)]
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
    assert [w[0] for w in kube.writes] == ["patch", "patch"]  # the switch, the restore


def test_missing_child_without_force_writes_nothing():
    kube = seed_cluster()
    with pytest.raises(ValidationError) as err:
        run(kube, child=dict(name="nope", namespace=MKT))
    assert "child.name: HTTPProxy marketing/nope does not exist" in str(err.value)
    assert kube.writes == []


def test_created_root_is_deleted_when_contour_rejects_it():
    kube = seed_cluster()
    del kube.store[("httpproxies", ROOT_NS, "root-blog")]
    with pytest.raises(ContourRejected) as err:
        run(kube, fqdn="yangcs.net", child=dict(name="nope", namespace=MKT), force=True)
    assert "deleted HTTPProxy root-ingressroute/root-blog, which this run had created" \
        in str(err.value)
    assert ("httpproxies", ROOT_NS, "root-blog") not in kube.store


def test_no_verdict_in_time_puts_the_previous_state_back():
    kube = seed_cluster(contour=None)
    fake_contour(kube.store)  # statuses for the initial objects only, then silence
    with pytest.raises(ContourRejected) as err:
        run(kube, wait_timeout=1)
    assert "Contour did not confirm the change in 1s" in str(err.value)
    assert "has not processed generation 4" in str(err.value)
    assert includes(kube)[0]["name"] == "blog"


def test_someone_elses_later_change_is_not_undone():
    kube = seed_cluster()

    def contour_then_other_writer(store):
        fake_contour(store)
        obj = store[("httpproxies", ROOT_NS, "root-blog")]
        if obj["spec"]["includes"][0]["name"] == "nope":
            obj["spec"]["includes"][0]["name"] = "other"  # another writer, after ours
    kube.contour = contour_then_other_writer
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
    assert [w[1] for w in kube.writes] == ["blog"]
    second = run(kube, child=None, services=[dict(name="green", weight=100),
                                             dict(name="blue", weight=0)])
    assert [(s["name"], s["weight"], s["share"]) for s in second["services"]] == [
        ("green", 100, 100.0), ("blue", 0, 0.0)]
    third = run(kube, child=None, services=[dict(name="green", weight=100),
                                            dict(name="blue", weight=0)])
    assert not third["changed"] and len(kube.writes) == 2


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
    kube = FakeKube([namespace(ROOT_NS), namespace(MKT), ("ingressroutes", legacy_root),
                     ("ingressroutes", blog2)], contour=None)
    result = run(kube, api="ingressroute")
    assert result["changed"] and result["root"]["status"] is None
    assert result["warnings"]
    stored = kube.store[("ingressroutes", ROOT_NS, "root-blog")]
    assert stored["spec"]["routes"][0]["delegate"] == {"name": "blog2", "namespace": MKT}


def test_unchanged_but_invalid_fails_without_writing():
    kube = seed_cluster()
    root_obj = kube.store[("httpproxies", ROOT_NS, "root-blog")]
    set_status(root_obj, [("TLSError", "SecretNotValid", "Secret not found")])
    with pytest.raises(ContourRejected) as err:
        run(kube, child=dict(name="blog", namespace=MKT))
    assert str(err.value).startswith("Contour does not confirm the state in force (nothing "
                                     "was changed): HTTPProxy root-ingressroute/root-blog is "
                                     "invalid: SecretNotValid: Secret not found")
    assert kube.writes == []
