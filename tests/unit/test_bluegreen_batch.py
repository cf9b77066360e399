"""k8s_bluegreen with ``apps`` (bluegreen/batch.py): an element's options over the
top-level ones, every element validated before anything runs (errors name the element),
apps that would share objects refused, each app's release independent (one failing does
not stop the others), and the per-app outcomes folded into one module result. The
releases run on the in-memory fake client (wait=False: watches are the testbed's)."""

import threading

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.bluegreen import batch
from ansible_collections.progressive.delivery.plugins.module_utils.bluegreen.status import (
    PlanError,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import KubeError
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    ValidationError,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import WaitTimeout

from fake_kube import FakeKube
from test_bluegreen_backend import NS, deployment, service

TOP = dict(namespace=NS, state="promoted", version_label="version", service_type="ClusterIP",
           deployment_name_format="{name}-{version}",
           version_service_name_format="{name}-{version}", force=False,
           scale_down_replicas=0, apps_parallel=10)


def errors_of(params, elements):
    with pytest.raises(ValidationError) as caught:
        batch.validate_all(params, elements)
    return [(e.path, e.message) for e in caught.value.errors]


# --- merging -----------------------------------------------------------------------
def test_an_element_sets_its_own_options_and_inherits_the_others():
    params = dict(TOP, replicas=3, service_ports=[{"port": 80}])
    merged = batch.app_params(params, dict(name="a", version="v2", namespace="other",
                                           replicas=None, force=True))
    assert merged["name"] == "a" and merged["version"] == "v2"
    assert merged["namespace"] == "other" and merged["force"] is True
    assert merged["replicas"] == 3  # None in the element: not set there
    assert merged["state"] == "promoted" and merged["service_ports"] == [{"port": 80}]
    assert set(merged) == set(batch.PER_APP)  # no connection, wait or apps options


def test_an_element_false_or_zero_is_set_not_inherited():
    merged = batch.app_params(dict(TOP, force=True, replicas=3),
                              dict(name="a", force=False, replicas=0))
    assert merged["force"] is False and merged["replicas"] == 0


def test_an_elements_deployment_source_replaces_both_top_level_ones():
    params = dict(TOP, pod_template={"spec": {"containers": [{"name": "c", "image": "x"}]}})
    own = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "y"}]}}}}
    merged = batch.app_params(params, dict(name="a", definition=own))
    assert merged["definition"] == own and merged["pod_template"] is None
    assert batch.app_params(params, dict(name="b"))["pod_template"] == params["pod_template"]


def test_an_elements_ingress_is_taken_whole():
    params = dict(TOP, ingress={"name": "shared", "class_name": "nginx"})
    merged = batch.app_params(params, dict(name="a", ingress={"name": "a"}))
    assert merged["ingress"] == {"name": "a"}


# --- validation ----------------------------------------------------------------------
def test_every_element_is_validated_and_errors_name_the_element():
    errors = errors_of(dict(TOP, service="web"), [
        dict(name="a", version="v2", service="a"),
        dict(name="b", service="b"),
        dict(name="c", version="v!", service="c"),
        dict(name="Bad", version="v2", service="d"),
    ])
    assert errors == [
        ("apps[1].version", "is required when state=promoted"),
        ("apps[2].version", "'v!' is not a valid label value (at most 63 characters: letters, "
                            "digits, '-', '_', '.', starting and ending with a letter or digit)"),
        ("apps[3].name", "'Bad' is not a valid DNS-1123 label (lower-case letters, digits and "
                         "'-', starting and ending with a letter or digit, at most 63 "
                         "characters)"),
    ]


def test_nested_fields_keep_their_path_under_the_element():
    errors = errors_of(TOP, [dict(name="a", version="v2",
                                  ingress={"name": "a", "preview_path": "/green("})])
    assert [path for path, _m in errors] == ["apps[0].ingress.preview_path"]
    assert "'/green(' is not a valid regular expression" in errors[0][1]


def test_a_namespace_is_needed_in_the_element_or_at_the_top():
    errors = errors_of(dict(TOP, namespace=None), [dict(name="a", version="v2", service="a"),
                                                   dict(name="b", version="v2", service="b",
                                                        namespace="x")])
    assert errors == [("apps[0].namespace", "is required, in the element or at the top level")]


def test_the_same_app_twice_is_refused_even_in_another_spelling():
    errors = errors_of(TOP, [dict(name="a", version="v2", service="a"),
                             dict(name="b", version="v2", service="b"),
                             dict(name="a", version="v3", service="a2", namespace=NS)])
    assert errors == [("apps[2]", "app %s/a is already apps[0]" % NS)]
    # the same name in another namespace is another app
    assert len(batch.validate_all(TOP, [dict(name="a", version="v2", service="a"),
                                        dict(name="a", version="v2", service="a",
                                             namespace="other")])) == 2


def test_two_apps_may_not_share_a_traffic_object_or_their_labels():
    errors = errors_of(TOP, [dict(name="a", version="v2", service="web"),
                             dict(name="b", version="v2", service="web")])
    assert errors == [("apps[1]", "Service %s/web is already apps[0]'s (a); each app needs "
                                  "its own" % NS)]
    errors = errors_of(TOP, [dict(name="a", version="v2", service="a", preview_service="p"),
                             dict(name="b", version="v2", service="b", preview_service="p")])
    assert errors[0][1].startswith("Service %s/p is already apps[0]'s" % NS)
    errors = errors_of(dict(TOP, app_labels={"tier": "web"}),
                       [dict(name="a", version="v2", service="a"),
                        dict(name="b", version="v2", service="b")])
    assert errors == [("apps[1]", "app_labels {'tier': 'web'} in namespace %s is already "
                                  "apps[0]'s (a); each app needs its own" % NS)]
    errors = errors_of(TOP, [dict(name="a", version="v2", ingress={"name": "shop"}),
                             dict(name="b", version="v2", ingress={"name": "shop"})])
    assert errors[0][1].startswith("Ingress %s/shop is already apps[0]'s" % NS)


def test_an_empty_list_and_a_bad_parallelism_are_refused():
    assert errors_of(dict(TOP, apps_parallel=0), []) == [
        ("apps", "needs at least one app"), ("apps_parallel", "must be 1 or more, got 0")]


def test_valid_elements_give_specs_in_order():
    specs = batch.validate_all(TOP, [dict(name="b", version="v2", service="b"),
                                     dict(name="a", version="v7", service="a",
                                          namespace="other")])
    assert [(s.namespace, s.name, s.version, s.state) for s in specs] == [
        (NS, "b", "v2", "promoted"), ("other", "a", "v7", "promoted")]
    assert specs[0].app_labels == {"app": "b"} and specs[0].preview_service == "b-preview"


# --- outcomes and the result ------------------------------------------------------------
def raising(exc):
    def run():
        raise exc
    return run


def test_a_failure_becomes_that_apps_result():
    refused = batch.outcome(raising(PlanError("refusing to promote")))
    assert refused == dict(failed=True, msg="refusing to promote")
    timeout = WaitTimeout("rollout timed out")
    timeout.actions, timeout.live = ["create Deployment a-v2 (version v2)"], "live traffic is still on v1"
    found = batch.outcome(raising(timeout))
    assert found["failed"] and found["changed"] and found["live"] == "live traffic is still on v1"
    assert found["msg"].startswith("rollout timed out; written by this call before it stopped")
    found = batch.outcome(raising(KubeError(403, "Forbidden", "no")))
    assert found["failed"] and found["status"] == 403 and "Kubernetes API error: no" in found["msg"]
    found = batch.outcome(lambda: {}["missing"])
    assert found["failed"] and found["msg"] == "unexpected error: KeyError: 'missing'"
    assert "Traceback" in found["exception"]


def test_aggregate_keeps_order_prefixes_actions_and_names_each_failed_app():
    specs = batch.validate_all(TOP, [dict(name=n, version="v2", service=n) for n in "abc"])
    result = batch.aggregate(specs, [
        dict(changed=True, actions=["Service a selector version=v1 -> v2"],
             diff=dict(before={"Service/a": 1}, after={"Service/a": 2}), warnings=["w"]),
        dict(failed=True, msg="refusing to promote version v2"),
        dict(changed=False, actions=[], diff=dict(before={}, after={})),
    ])
    assert [a["name"] for a in result["apps"]] == ["a", "b", "c"]
    assert [(a["changed"], a["failed"]) for a in result["apps"]] == [
        (True, False), (False, True), (False, False)]
    assert result["changed"] and result["failed"]
    assert result["actions"] == ["%s/a: Service a selector version=v1 -> v2" % NS]
    assert result["warnings"] == ["%s/a: w" % NS]
    assert result["diff"] == [dict(before_header="%s/a" % NS, after_header="%s/a" % NS,
                                   before={"Service/a": 1}, after={"Service/a": 2})]
    assert "diff" not in result["apps"][0] and "warnings" not in result["apps"][0]
    assert result["msg"] == ("1 of 3 apps failed (each app is its own release: the others "
                             "finished, nothing was rolled back): %s/b: refusing to promote "
                             "version v2" % NS)


def test_aggregate_of_successes_is_not_failed():
    specs = batch.validate_all(TOP, [dict(name="a", version="v2", service="a")])
    result = batch.aggregate(specs, [dict(changed=False, actions=[])])
    assert not result["changed"] and "failed" not in result and "msg" not in result


# --- running on the fake client -------------------------------------------------------
def app_objects(name, live="v1"):
    objects = []
    for version in ("v1", "v2"):
        dep = deployment(version, name="%s-%s" % (name, version), labels={"app": name})
        objects.append(dep)
    objects.append(service(live, name=name, selector={"app": name, "version": live}))
    return objects


def test_each_app_is_released_and_one_refused_leaves_the_others_promoted():
    objects = app_objects("a") + app_objects("b") + [
        d for d in app_objects("c") if d["metadata"]["name"] != "c-v2"]
    fake = FakeKube(objects)
    specs = batch.validate_all(TOP, [dict(name=n, version="v2", service=n) for n in "abc"])
    result = batch.run_apps(fake, specs, wait=False, parallel=1)  # the fake is not thread-safe
    assert [a["failed"] for a in result["apps"]] == [False, False, True]
    for name in "ab":
        assert fake.store[("Service", NS, name)]["spec"]["selector"]["version"] == "v2"
    assert fake.store[("Service", NS, "c")]["spec"]["selector"]["version"] == "v1"
    assert "%s/c: no Deployment runs version v2" % NS in result["msg"]
    again = batch.run_apps(fake, specs[:2], wait=False, parallel=1)
    assert not again["changed"] and "failed" not in again


def test_the_pool_is_bounded_and_every_app_runs():
    running, most, lock = [0], [0], threading.Lock()
    gate = threading.Barrier(3, timeout=5)

    def release(kube, spec, **unused):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            gate.wait()  # the first three meet: they ran at once
        except threading.BrokenBarrierError:
            pass
        with lock:
            running[0] -= 1
        return dict(changed=True, actions=["x"])

    specs = batch.validate_all(TOP, [dict(name="a%d" % i, version="v2", service="a%d" % i)
                                     for i in range(6)])
    result = batch.run_apps(None, specs, parallel=3, release=release)
    assert most[0] == 3 and len(result["apps"]) == 6 and result["changed"]


def test_the_same_fake_answers_check_mode_without_a_write():
    fake = FakeKube(app_objects("a") + app_objects("b"))
    specs = batch.validate_all(TOP, [dict(name=n, version="v2", service=n) for n in "ab"])
    result = batch.run_apps(fake, specs, check_mode=True, wait=False, parallel=1)
    assert result["changed"] and not fake.writes()
    assert [a["live_version"] for a in result["apps"]] == ["v2", "v2"]
    assert fake.store[("Service", NS, "a")]["spec"]["selector"]["version"] == "v1"


def test_the_apps_of_a_namespace_share_one_list_of_its_deployments():
    fake = FakeKube(app_objects("a") + app_objects("b") + app_objects("c"))
    specs = batch.validate_all(TOP, [dict(name=n, version="v2", service=n) for n in "abc"])
    result = batch.run_apps(fake, specs, wait=False, parallel=1)
    assert [a["live_version"] for a in result["apps"]] == ["v2", "v2", "v2"]
    assert [r for r in fake.requests if r[0] == "list"] == [("list", "Deployment", NS)]


def test_a_shared_list_is_read_again_once_older_than_its_age_and_not_kept_on_failure():
    now = [0.0]

    class Kube(object):
        calls = []

        def list(self, resource, namespace):
            self.calls.append(namespace)
            if namespace == "denied":
                raise KubeError(403, "Forbidden", "deployments is forbidden")
            return {"items": [{"metadata": {"name": "x-%d" % len(self.calls)}}]}

    kube = Kube()
    listed = batch.NamespaceDeployments(kube, max_age=1.0, clock=lambda: now[0])
    first = listed("web")
    now[0] = 0.9
    assert listed("web") is first and kube.calls == ["web"]
    now[0] = 1.5
    assert listed("web") != first and kube.calls == ["web", "web"]
    assert listed("denied") is None and listed("denied") is None  # each app lists for itself
    assert kube.calls == ["web", "web", "denied", "denied"]
