"""The blue/green planner: which objects change, and how, for every state."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import merge_patch
from ansible_collections.progressive.delivery.plugins.module_utils.bluegreen import (
    plan as bg,
    status,
    traffic,
)
from ansible_collections.progressive.delivery.plugins.module_utils.bluegreen.validation import (
    validate,
)

NS = "blue-green"


def params(**overrides):
    base = dict(name="myapp", namespace=NS, version="v2", state="promoted", service="myapp-lan")
    base.update(overrides)
    return base


def deployment(version, replicas=3, ready=None, name=None, labels=None, generation=1):
    ready = replicas if ready is None else ready
    tpl = {"app": "myapp", "version": version}
    tpl.update(labels or {})
    return {
        "kind": "Deployment",
        "metadata": {"name": name or "myapp-" + version, "namespace": NS, "generation": generation,
                     "resourceVersion": "10", "annotations": {}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": tpl},
                 "template": {"metadata": {"labels": tpl},
                              "spec": {"containers": [{"name": "myapp",
                                                       "image": "myapp:" + version}]}}},
        "status": {"observedGeneration": generation, "replicas": replicas,
                   "updatedReplicas": replicas, "readyReplicas": ready,
                   "availableReplicas": ready},
    }


def service(version, annotations=None, name="myapp-lan"):
    return {"kind": "Service",
            "metadata": {"name": name, "namespace": NS, "resourceVersion": "7",
                         "annotations": dict(annotations or {})},
            "spec": {"type": "NodePort", "selector": {"app": "myapp", "version": version},
                     "ports": [{"name": "http", "port": 80, "nodePort": 30062}]}}


def observed(deployments, svc=None, preview=None, ingress=None, preview_ingress=None,
             version_services=None):
    return status.Observed(deployments, svc, preview, ingress, preview_ingress,
                           version_services or {})


# --- the Deployment -----------------------------------------------------------
def test_desired_deployment_injects_version_labels_everywhere():
    spec = validate(params(state="deployed", replicas=3, pod_template={
        "spec": {"containers": [{"name": "myapp", "image": "myapp:v2"}]}}))
    body = bg.desired_deployment(spec)
    labels = {"app": "myapp", "version": "v2"}
    assert body["metadata"]["name"] == "myapp-v2"
    assert body["metadata"]["labels"] == labels
    assert body["spec"]["selector"]["matchLabels"] == labels
    assert body["spec"]["template"]["metadata"]["labels"] == labels
    assert body["spec"]["replicas"] == 3


def test_two_deployments_of_one_version_are_ambiguous():
    spec = validate(params())
    with pytest.raises(status.PlanError, match="both run version=v2"):
        status.versions_by_label(spec, [deployment("v2"), deployment("v2", name="other")])


# --- promote (Service mode) ------------------------------------------------------
def test_promote_switches_selector_in_one_patch_and_records_previous():
    spec = validate(params())
    writes = bg.plan_promote(spec, observed([deployment("v1"), deployment("v2")], service("v1")))
    assert len(writes) == 1
    write = writes[0]
    assert (write.verb, write.resource.kind, write.name) == ("patch", "Service", "myapp-lan")
    assert write.body["spec"]["selector"] == {"app": "myapp", "version": "v2"}
    assert write.body["metadata"]["resourceVersion"] == "7"
    assert write.body["metadata"]["annotations"][status.PREVIOUS_VERSION] == "v1"
    assert write.body["metadata"]["annotations"][status.LIVE_VERSION] == "v2"
    assert write.description == "Service myapp-lan selector version=v1 -> v2"


def test_promote_is_idempotent():
    spec = validate(params())
    svc = service("v2", {status.LIVE_VERSION: "v2", status.PREVIOUS_VERSION: "v1"})
    assert bg.plan_promote(spec, observed([deployment("v1"), deployment("v2")], svc)) == []


def test_promote_refuses_a_not_ready_version_naming_the_ready_count():
    spec = validate(params())
    with pytest.raises(status.PlanError) as err:
        bg.plan_promote(spec, observed([deployment("v1"), deployment("v2", ready=1)],
                                       service("v1")))
    assert "refusing to promote version v2: Deployment myapp-v2 is not ready: 1 of 3" in str(
        err.value)


def test_force_promotes_a_not_ready_version():
    spec = validate(params(force=True))
    writes = bg.plan_promote(spec, observed([deployment("v1"), deployment("v2", ready=0)],
                                            service("v1")))
    assert writes[0].body["spec"]["selector"]["version"] == "v2"


def test_promote_refuses_a_missing_version():
    spec = validate(params(version="v3"))
    with pytest.raises(status.PlanError, match="cannot promote version v3: no Deployment"):
        bg.plan_promote(spec, observed([deployment("v1")], service("v1")))


def test_promote_refuses_a_missing_service():
    spec = validate(params())
    with pytest.raises(status.PlanError, match="Service blue-green/myapp-lan not found"):
        bg.plan_promote(spec, observed([deployment("v2")], None))


def test_missing_service_is_created_when_ports_are_given():
    spec = validate(params(service_ports=[{"port": 80}]))
    writes = bg.plan_promote(spec, observed([deployment("v2")], None))
    assert [(w.verb, w.resource.kind) for w in writes] == [("create", "Service")]
    assert writes[0].body["spec"]["selector"] == {"app": "myapp", "version": "v2"}


def test_selector_matching_two_versions_is_refused():
    spec = validate(params())
    with pytest.raises(status.PlanError):
        traffic.check_selector_targets_one(spec, {"app": "myapp"}, "v2",
                                           [deployment("v1"), deployment("v2")],
                                           "Service myapp-lan")
    other = {"metadata": {"name": "other"}, "spec": {"template": {"metadata": {
        "labels": {"app": "myapp", "version": "v2", "x": "1"}}}}}
    with pytest.raises(status.PlanError, match="several Deployments"):
        traffic.check_selector_targets_one(spec, {"app": "myapp", "version": "v2"}, "v2",
                                           [deployment("v2"), other], "Service myapp-lan")


def test_extra_selector_keys_are_kept_and_dropped_keys_sent_as_null():
    spec = validate(params())
    svc = service("v1")
    svc["spec"]["selector"]["tier"] = "web"
    deps = [deployment("v1", labels={"tier": "web"}), deployment("v2", labels={"tier": "web"})]
    write = traffic.service_switch(spec, svc, "v2", deps, previous="v1")
    assert write.body["spec"]["selector"] == {"app": "myapp", "version": "v2", "tier": "web"}


def test_promote_deletes_the_preview_service():
    spec = validate(params())
    writes = bg.plan_promote(spec, observed([deployment("v1"), deployment("v2")], service("v1"),
                                            preview=service("v2", name="myapp-lan-preview")))
    assert [(w.verb, w.name) for w in writes] == [
        ("patch", "myapp-lan"), ("delete", "myapp-lan-preview")]


# --- preview ----------------------------------------------------------------
def test_preview_creates_a_preview_service_without_node_ports():
    spec = validate(params(state="previewed"))
    writes = bg.plan_preview(spec, observed([deployment("v1"), deployment("v2")], service("v1")))
    assert len(writes) == 1
    body = writes[0].body
    assert body["metadata"]["name"] == "myapp-lan-preview"
    assert body["spec"]["selector"] == {"app": "myapp", "version": "v2"}
    assert body["spec"]["ports"] == [{"name": "http", "port": 80}]
    assert body["spec"]["type"] == "ClusterIP"


def test_preview_of_the_live_version_changes_nothing():
    """A re-run of a finished release previews nothing and must not fail."""
    spec = validate(params(state="previewed", version="v1"))
    assert bg.plan_preview(spec, observed([deployment("v1")], service("v1"))) == []


def test_preview_leaves_live_untouched_and_repoints_existing_preview():
    spec = validate(params(state="previewed", version="v3"))
    preview = service("v2", name="myapp-lan-preview")
    writes = bg.plan_preview(spec, observed([deployment("v1"), deployment("v2"),
                                             deployment("v3")], service("v1"), preview))
    assert [(w.verb, w.name) for w in writes] == [("patch", "myapp-lan-preview")]
    assert writes[0].body["spec"]["selector"]["version"] == "v3"


# --- rollback ---------------------------------------------------------------
def test_rollback_goes_to_recorded_previous_and_is_idempotent():
    spec = validate(params(state="rolled_back", version=None))
    svc = service("v2", {status.LIVE_VERSION: "v2", status.PREVIOUS_VERSION: "v1"})
    obs = observed([deployment("v1"), deployment("v2")], svc)
    target, leaving = bg.rollback_target(spec, obs)
    assert (target, leaving) == ("v1", "v2")
    write = bg.plan_rollback(spec, obs, target, leaving)[0]
    assert write.body["spec"]["selector"]["version"] == "v1"
    annotations = write.body["metadata"]["annotations"]
    assert annotations[status.PREVIOUS_VERSION] == "v2"
    assert annotations[status.ROLLED_BACK_FROM] == "v2"
    after = merge_patch(svc, write.body)
    assert bg.rollback_target(spec, observed(obs.deployments, after)) == (None, "v1")


def test_rollback_of_a_version_that_is_not_live_changes_nothing():
    spec = validate(params(state="rolled_back", version="v2"))
    svc = service("v1", {status.PREVIOUS_VERSION: "v2"})
    assert bg.rollback_target(spec, observed([deployment("v1")], svc)) == (None, "v1")


def test_rollback_without_record_is_an_error():
    spec = validate(params(state="rolled_back", version=None))
    with pytest.raises(status.PlanError, match="no previous version is recorded"):
        bg.rollback_target(spec, observed([deployment("v1")], service("v1")))


def test_rollback_to_a_scaled_down_version_scales_it_up_first():
    spec = validate(params(state="rolled_back", version=None))
    old = deployment("v1", replicas=0)
    old["metadata"]["annotations"][status.SCALED_DOWN_FROM] = "3"
    obs = observed([old, deployment("v2")], service("v2", {status.PREVIOUS_VERSION: "v1"}))
    write = bg.scale_up_for_rollback(spec, obs, "v1")
    assert write.body["spec"]["replicas"] == 3
    assert write.body["metadata"]["annotations"][status.SCALED_DOWN_FROM] is None
    with pytest.raises(status.PlanError, match="scaled to zero"):
        bg.plan_rollback(spec, obs, "v1", "v2")


# --- scale down -----------------------------------------------------------
def test_scale_down_never_touches_the_live_version():
    spec = validate(params(state="scaled_down", version="v2"))
    with pytest.raises(status.PlanError, match="refusing to scale down version v2: it is live"):
        bg.plan_scale_down(spec, observed([deployment("v1"), deployment("v2")], service("v2")))


def test_scale_down_defaults_to_previous_and_records_size():
    spec = validate(params(state="scaled_down", version=None))
    obs = observed([deployment("v1"), deployment("v2")],
                   service("v2", {status.PREVIOUS_VERSION: "v1"}))
    write = bg.plan_scale_down(spec, obs)[0]
    assert write.name == "myapp-v1"
    assert write.body["spec"]["replicas"] == 0
    assert write.body["metadata"]["annotations"][status.SCALED_DOWN_FROM] == "3"
    scaled = merge_patch(obs.deployments[0], write.body)
    assert bg.plan_scale_down(spec, observed([scaled, deployment("v2")], obs.service)) == []


# --- Ingress mode (nginx, /green preview path) ------------------------------------------------
def seed003_spec(state="previewed", version="v1.24.0"):
    return validate(dict(
        name="nginx", namespace="default", version=version, state=state, version_label="revision",
        ingress={"name": "nginx", "host": "example.com", "class_name": "nginx", "path": "/*",
                 "path_type": "ImplementationSpecific", "port": 80,
                 "preview_path": "/green(/|$)(.*)"}))


def nginx_deployment(version):
    dep = deployment(version, name="nginx-" + version)
    labels = {"app": "nginx", "revision": version}
    dep["spec"]["template"]["metadata"]["labels"] = labels
    return dep


def nginx_ingress(live_service):
    return {"kind": "Ingress", "metadata": {"name": "nginx", "resourceVersion": "3",
                                            "annotations": {}},
            "spec": {"rules": [{"host": "example.com", "http": {"paths": [
                {"path": "/*", "pathType": "ImplementationSpecific",
                 "backend": {"service": {"name": live_service, "port": {"number": 80}}}},
                {"path": "/green(/|$)(.*)", "pathType": "ImplementationSpecific",
                 "backend": {"service": {"name": "nginx-v1-24-0", "port": {"number": 80}}}}]}}]}}


def test_ingress_preview_builds_a_separate_rewrite_ingress():
    """The live Ingress holds both paths (written by hand, with the rewrite annotations):
    the preview path and those annotations move to their own Ingress, never duplicated
    (a duplicate host+path is refused by ingress-nginx, or silently shadowed)."""
    spec = seed003_spec()
    live = nginx_ingress("nginx-v1-22-0")
    live["metadata"]["annotations"] = {status.NGINX + "rewrite-target": "/$2",
                                       status.NGINX + "use-regex": "true", "team": "web"}
    obs = observed([nginx_deployment("v1.22.0"), nginx_deployment("v1.24.0")],
                   ingress=live,
                   version_services={"v1.22.0": {"metadata": {}}, "v1.24.0": None})
    writes = bg.plan_preview(spec, obs)
    assert [(w.verb, w.resource.kind, w.name) for w in writes] == [
        ("create", "Service", "nginx-v1-24-0"), ("patch", "Ingress", "nginx"),
        ("create", "Ingress", "nginx-preview")]
    adopted = merge_patch(live, writes[1].body)
    assert [p["path"] for p in adopted["spec"]["rules"][0]["http"]["paths"]] == ["/*"]
    assert adopted["metadata"]["annotations"] == {"team": "web"}
    assert writes[1].body["metadata"]["resourceVersion"] == "3"
    again = bg.plan_preview(spec, obs._replace(ingress=adopted, version_services={
        "v1.22.0": {"metadata": {}}, "v1.24.0": {"metadata": {}}}))
    assert [(w.verb, w.name) for w in again] == [("create", "nginx-preview")]
    preview = writes[2].body
    assert preview["metadata"]["annotations"][status.NGINX + "rewrite-target"] == "/$2"
    assert preview["metadata"]["annotations"][status.NGINX + "use-regex"] == "true"
    path = preview["spec"]["rules"][0]["http"]["paths"][0]
    assert path["path"] == "/green(/|$)(.*)"
    assert path["backend"]["service"]["name"] == "nginx-v1-24-0"
    assert writes[0].body["spec"]["selector"] == {"app": "nginx", "revision": "v1.24.0"}


def test_ingress_promote_repoints_live_path_and_drops_preview_path():
    spec = seed003_spec(state="promoted")
    obs = observed([nginx_deployment("v1.22.0"), nginx_deployment("v1.24.0")],
                   ingress=nginx_ingress("nginx-v1-22-0"),
                   version_services={"v1.22.0": {}, "v1.24.0": {}})
    assert status.current_live(spec, obs) == "v1.22.0"
    writes = bg.plan_promote(spec, obs)
    assert [(w.verb, w.resource.kind, w.name) for w in writes] == [("patch", "Ingress", "nginx")]
    paths = writes[0].body["spec"]["rules"][0]["http"]["paths"]
    assert paths == [{"path": "/*", "pathType": "ImplementationSpecific",
                      "backend": {"service": {"name": "nginx-v1-24-0", "port": {"number": 80}}}}]
    assert writes[0].body["metadata"]["annotations"][status.PREVIOUS_VERSION] == "v1.22.0"
    after = merge_patch(obs.ingress, writes[0].body)
    assert bg.plan_promote(spec, obs._replace(ingress=after)) == []


def test_merge_patch_semantics():
    assert merge_patch({"a": {"b": 1, "c": 2}}, {"a": {"b": None, "d": 3}}) == {
        "a": {"c": 2, "d": 3}}
