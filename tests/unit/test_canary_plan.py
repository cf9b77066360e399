"""k8s_canary planning (pure): the rounding rule, validation, and the writes each backend
plans for a given cluster state, in the order that keeps capacity."""

import copy

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import merge_patch
from ansible_collections.progressive.delivery.plugins.module_utils.canary import (
    nginx as nginx_plan,
    objects,
    replicas as replicas_plan,
    status,
    validation,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    ValidationError,
)

NGINX = objects.NGINX


# ---------------------------------------------------------------------------
# the rounding rule
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("total, weight, expected", [
    (10, 0, (10, 0)), (10, 1, (9, 1)), (10, 2, (9, 1)), (10, 10, (9, 1)), (10, 14, (9, 1)),
    (10, 15, (8, 2)), (10, 50, (5, 5)), (10, 94, (1, 9)), (10, 95, (1, 9)), (10, 99, (1, 9)),
    (10, 100, (0, 10)), (3, 1, (2, 1)), (3, 50, (1, 2)), (3, 34, (2, 1)), (3, 99, (1, 2)),
    (2, 1, (1, 1)), (2, 50, (1, 1)), (2, 99, (1, 1)), (1, 0, (1, 0)), (1, 1, (1, 1)),
    (1, 50, (1, 1)), (1, 99, (1, 1)), (1, 100, (0, 1)), (100, 2, (98, 2)), (100, 1, (99, 1)),
    (50, 1, (49, 1)), (50, 3, (48, 2)), (4, 25, (3, 1)), (4, 12, (3, 1)), (4, 13, (3, 1)),
])
def test_split_examples(total, weight, expected):
    assert replicas_plan.split_replicas(total, weight) == expected


def test_split_rules_hold_for_every_total_and_weight():
    for total in range(1, 101):
        previous_canary = 0
        for weight in range(0, 101):
            stable, canary = replicas_plan.split_replicas(total, weight)
            if weight == 0:
                assert (stable, canary) == (total, 0)
            elif weight == 100:
                assert (stable, canary) == (0, total)
            else:
                assert canary >= 1, (total, weight)  # a non-zero weight runs a canary pod
                assert stable >= 1, (total, weight)  # the stable keeps a pod until 100
                if total >= 2:
                    assert stable + canary == total, (total, weight)
                    exact = total * weight / 100.0
                    clamped = exact < 1 or exact > total - 1
                    assert clamped or abs(canary - exact) <= 0.5, (total, weight)
                    if exact % 1 == 0.5 and not clamped:
                        assert canary == exact + 0.5  # half rounds up
                else:
                    assert (stable, canary) == (1, 1)
            assert canary >= previous_canary, (total, weight)  # monotonic in the weight
            previous_canary = canary


@pytest.mark.parametrize("total, weight", [(0, 10), (-1, 10), (10, -1), (10, 101), (10, 1.5),
                                           ("10", 5), (10, True)])
def test_split_refuses_bad_numbers(total, weight):
    with pytest.raises(ValueError):
        replicas_plan.split_replicas(total, weight)


def test_effective_weight():
    assert replicas_plan.effective_weight(9, 1) == 10.0
    assert replicas_plan.effective_weight(2, 1) == 33.33
    assert replicas_plan.effective_weight(0, 0) == 0.0
    assert replicas_plan.effective_weight(0, 5) == 100.0


# ---------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------
def params(**kw):
    base = dict(name="myapp", namespace="test", backend="replicas", state="present", weight=10,
                service="myapp", track_label="track", version_label="version")
    base.update(kw)
    return base


def test_valid_params_make_a_spec():
    spec = validation.validate(params(pod_template={"spec": {"containers": [{"name": "c"}]}}))
    assert spec.stable_deployment == "myapp"
    assert spec.canary_deployment == "myapp-canary"
    assert spec.weight == 10


def test_every_bad_field_is_reported_with_its_path():
    with pytest.raises(ValidationError) as err:
        validation.validate(params(namespace="Bad_NS", weight=120, service=None, replicas=0,
                                   canary_deployment="myapp", version="v 2",
                                   pod_template={"metadata": {"labels": {"track": "stable"}},
                                                 "spec": {}}))
    paths = [e.path for e in err.value.errors]
    assert paths == ["namespace", "weight", "canary_deployment", "version",
                     "pod_template.spec.containers", "pod_template.metadata.labels.track",
                     "replicas", "service"]
    text = str(err.value)
    assert "weight: must be a percent from 0 to 100, got 120" in text
    assert "service: is required with backend=replicas" in text


@pytest.mark.parametrize("weight", [-1, 101, None, True])
def test_weight_outside_0_100_is_refused(weight):
    with pytest.raises(ValidationError) as err:
        validation.validate(params(weight=weight))
    assert err.value.errors[0].path == "weight"


def test_weight_not_needed_to_promote_or_abort():
    assert validation.validate(params(state="promoted", weight=None)).state == "promoted"
    assert validation.validate(params(state="aborted", weight=None)).state == "aborted"


def test_definition_checks():
    with pytest.raises(ValidationError) as err:
        definition = {"kind": "StatefulSet", "metadata": {"namespace": "other", "name": "x"},
                      "spec": {"template": {"metadata": {"labels": {"version": "v1"}}}}}
        validation.validate(params(definition=definition, version="v2"))
    paths = [e.path for e in err.value.errors]
    assert paths == ["definition.kind", "definition.metadata.namespace",
                     "definition.metadata.name", "definition.spec.template.spec.containers",
                     "definition.spec.template.metadata.labels.version"]


def test_nginx_validation():
    with pytest.raises(ValidationError) as err:
        validation.validate(params(backend="nginx", service=None, replicas=3, nginx={
            "ingress": "web", "canary_ingress": "web", "header_value": "yes",
            "header_pattern": "x.*"}))
    paths = [e.path for e in err.value.errors]
    assert paths == ["nginx.canary_ingress", "nginx.canary_service", "nginx.header_value",
                     "nginx.header_pattern", "nginx.header_pattern", "replicas"]
    with pytest.raises(ValidationError) as err:
        validation.validate(params(backend="nginx", service=None))
    assert err.value.errors[0].path == "nginx"
    spec = validation.validate(params(backend="nginx", service=None,
                                      nginx={"ingress": "web", "canary_service": "web-v2"}))
    assert spec.nginx["canary_ingress"] == "web-canary"


# ---------------------------------------------------------------------------
# the replicas backend
# ---------------------------------------------------------------------------
def deployment(name, replicas, labels, selector, image="myapp:v1", rv="1", ready=None,
               annotations=None):
    ready = replicas if ready is None else ready
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "test", "resourceVersion": rv,
                     "generation": 1, "annotations": dict(annotations or {})},
        "spec": {"replicas": replicas, "selector": {"matchLabels": dict(selector)},
                 "template": {"metadata": {"labels": dict(labels)},
                              "spec": {"containers": [{"name": "myapp", "image": image}]}}},
        "status": {"observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas,
                   "readyReplicas": ready, "availableReplicas": ready},
    }


def stable(replicas=10, **kw):
    return deployment("myapp", replicas, {"app": "myapp", "track": "stable", "version": "v1"},
                      {"app": "myapp", "track": "stable"}, **kw)


def canary(replicas, total=10, image="myapp:v2", **kw):
    return deployment("myapp-canary", replicas,
                      {"app": "myapp", "track": "canary", "version": "v2"},
                      {"app": "myapp", "track": "canary"}, image=image,
                      annotations={objects.TOTAL_REPLICAS: str(total), objects.ROLE: "canary"}, **kw)


SERVICE = {"metadata": {"name": "myapp", "resourceVersion": "5"},
           "spec": {"selector": {"app": "myapp"}}}
TEMPLATE = {"spec": {"containers": [{"name": "myapp", "image": "myapp:v2"}]}}


def spec_for(**kw):
    return validation.validate(params(**kw))


def observed(stable_obj=None, canary_obj=None, service="default"):
    service = SERVICE if service == "default" else service
    return replicas_plan.ReplicasObserved(stable=stable_obj, canary=canary_obj, service=service)


def test_growing_canary_is_applied_first_then_stable_shrinks():
    spec = spec_for(pod_template=TEMPLATE, version="v2")
    writes = replicas_plan.plan_weight(spec, observed(stable()))
    assert [(w.verb, w.name) for w in writes] == [("apply", "myapp-canary"), ("patch", "myapp")]
    body = writes[0].body
    assert body["spec"]["replicas"] == 1
    assert body["spec"]["selector"] == {"matchLabels": {"app": "myapp", "track": "canary"}}
    assert body["spec"]["template"]["metadata"]["labels"] == {
        "app": "myapp", "track": "canary", "version": "v2"}
    assert body["metadata"]["annotations"][objects.TOTAL_REPLICAS] == "10"
    assert writes[1].body == {"spec": {"replicas": 9}, "metadata": {"resourceVersion": "1"}}


def test_after_the_canary_grew_only_the_stable_is_left():
    spec = spec_for(pod_template=TEMPLATE, version="v2")
    live_canary = canary(1)
    live_canary["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "Always"
    writes = replicas_plan.plan_weight(spec, observed(stable(10), live_canary))
    assert [w.description for w in writes] == ["scale stable Deployment myapp 10 -> 9"]
    assert replicas_plan.plan_weight(spec, observed(stable(9), live_canary)) == []  # idempotent


def test_a_service_reaching_a_third_deployment_is_refused_naming_it():
    spec = spec_for(pod_template=TEMPLATE, version="v2")
    worker = deployment("myapp-worker", 2, {"app": "myapp", "tier": "worker"},
                        {"app": "myapp", "tier": "worker"})
    other = deployment("billing", 2, {"app": "billing"}, {"app": "billing"})
    found = replicas_plan.ReplicasObserved(stable=stable(), canary=None, service=SERVICE,
                                           deployments=[stable(), worker, other])
    for planner in (replicas_plan.plan_weight, replicas_plan.plan_promote):
        with pytest.raises(objects.PlanError) as err:
            planner(spec, found)
        assert "also selects the pods of Deployment myapp-worker, which is neither the " \
            "stable Deployment myapp nor the canary myapp-canary" in str(err.value)
    # the stable and the canary alone are fine
    fine = found._replace(deployments=[stable(), canary(1), other])
    assert replicas_plan.plan_weight(spec, fine) is not None
    # an abort only hands traffic back to the stable version: it goes on
    writes = replicas_plan.plan_abort(spec_for(state="aborted"), found._replace(
        canary=canary(1)))
    assert [w.name for w in writes] == ["myapp-canary"]


def test_shrinking_canary_grows_the_stable_first():
    spec = spec_for(weight=10)
    writes = replicas_plan.plan_weight(spec, observed(stable(5), canary(5)))
    assert [(w.name, w.body["spec"]["replicas"]) for w in writes] == [
        ("myapp", 9), ("myapp-canary", 1)]


def test_total_comes_from_the_canary_record_while_it_runs():
    spec = spec_for(weight=50)
    # killed after the canary grew to 1 and before stable shrank: 10 + 1 pods, total 10
    writes = replicas_plan.plan_weight(spec, observed(stable(10), canary(1, total=10)))
    assert [(w.name, w.body["spec"]["replicas"]) for w in writes] == [
        ("myapp-canary", 5), ("myapp", 5)]
    # a canary at 0 means no release is under way: the stable's size is the total
    assert replicas_plan.total_replicas(spec, observed(stable(20), canary(0, total=10))) == 20
    assert replicas_plan.total_replicas(spec_for(weight=50, replicas=4),
                                        observed(stable(20), canary(3))) == 4


def test_adopted_canary_is_scaled_and_records_the_total():
    spec = spec_for(weight=50)
    adopted = canary(0)
    adopted["metadata"]["annotations"] = {}
    writes = replicas_plan.plan_weight(spec, observed(stable(4), adopted))
    assert writes[0].body == {"spec": {"replicas": 2}, "metadata": {
        "annotations": {objects.TOTAL_REPLICAS: "4"}, "resourceVersion": "1"}}


def test_missing_objects_are_refused_before_any_write():
    spec = spec_for(pod_template=TEMPLATE)
    with pytest.raises(objects.PlanError, match=r"stable Deployment test/myapp not found"):
        replicas_plan.plan_weight(spec, observed(None))
    with pytest.raises(objects.PlanError, match=r"Service test/myapp not found"):
        replicas_plan.plan_weight(spec, observed(stable(), service=None))
    with pytest.raises(objects.PlanError, match=r"canary Deployment test/myapp-canary not found: "
                       r"give definition or pod_template"):
        replicas_plan.plan_weight(spec_for(), observed(stable()))
    assert replicas_plan.plan_weight(spec_for(weight=0), observed(stable())) == []


def test_service_selector_must_spread_over_both_tracks():
    spec = spec_for(pod_template=TEMPLATE, version="v2")
    for selector, message in [
            ({"app": "myapp", "track": "stable"}, "only one track gets traffic"),
            ({"app": "myapp", "version": "v1"}, "the canary .version v2. would get no traffic"),
            ({"app": "other"}, "does not select the pods of the stable Deployment"),
            ({}, "has no selector")]:
        service = {"metadata": {"name": "myapp"}, "spec": {"selector": selector}}
        with pytest.raises(objects.PlanError, match=message):
            replicas_plan.plan_weight(spec, observed(stable(), service=service))


def test_canary_template_label_conflicting_with_the_service_is_refused():
    template = {"metadata": {"labels": {"app": "other"}}, "spec": TEMPLATE["spec"]}
    with pytest.raises(objects.PlanError, match="pod label app=other conflicts with Service myapp"):
        replicas_plan.plan_weight(spec_for(pod_template=template), observed(stable()))


def test_canary_with_another_selector_is_refused():
    live = canary(1)
    live["spec"]["selector"]["matchLabels"] = {"app": "myapp"}
    with pytest.raises(objects.PlanError, match="Deployment selectors cannot change"):
        replicas_plan.plan_weight(spec_for(pod_template=TEMPLATE), observed(stable(9), live))


def test_new_template_on_a_running_canary_is_applied():
    spec = spec_for(pod_template={"spec": {"containers": [{"name": "myapp",
                                                           "image": "myapp:v3"}]}})
    writes = replicas_plan.plan_weight(spec, observed(stable(9), canary(1)))
    assert [(w.verb, w.name) for w in writes] == [("apply", "myapp-canary")]
    assert writes[0].body["metadata"]["resourceVersion"] == "1"


def test_promote_then_scale_the_canary_to_zero():
    spec = spec_for(state="promoted", weight=None)
    obs = observed(stable(5), canary(5))
    writes = replicas_plan.plan_promote(spec, obs)
    assert [w.verb for w in writes] == ["replace"]
    body = writes[0].body
    assert body["spec"]["replicas"] == 10
    assert body["metadata"]["resourceVersion"] == "1"
    assert "status" not in body
    assert body["spec"]["template"]["metadata"]["labels"] == {
        "app": "myapp", "track": "stable", "version": "v2"}
    assert body["spec"]["template"]["spec"]["containers"][0]["image"] == "myapp:v2"
    promoted = copy.deepcopy(stable(10))
    promoted["spec"]["template"] = body["spec"]["template"]
    writes = replicas_plan.plan_promote(spec, observed(promoted, canary(5)))
    assert [w.description for w in writes] == ["scale canary Deployment myapp-canary 5 -> 0"]
    assert replicas_plan.plan_promote(spec, observed(promoted, canary(0))) == []  # idempotent


def test_promote_refuses_an_unready_or_absent_canary():
    spec = spec_for(state="promoted", weight=None)
    with pytest.raises(objects.PlanError, match="canary Deployment myapp-canary is not ready: "
                       "1 of 5 replicas ready"):
        replicas_plan.plan_promote(spec, observed(stable(5), canary(5, ready=1)))
    forced = spec_for(state="promoted", weight=None, force=True)
    assert replicas_plan.plan_promote(forced, observed(stable(5), canary(5, ready=1)))
    with pytest.raises(objects.PlanError, match="has no pods"):
        replicas_plan.plan_promote(spec, observed(stable(10), canary(0)))
    with pytest.raises(objects.PlanError, match="nothing to promote"):
        replicas_plan.plan_promote(spec, observed(stable(10), None))


def test_promote_refuses_a_stable_selector_pinning_the_version():
    pinned = deployment("myapp", 5, {"app": "myapp", "version": "v1"},
                        {"app": "myapp", "version": "v1"})
    spec = spec_for(state="promoted", weight=None)
    with pytest.raises(objects.PlanError, match="selects version=v1 .selectors cannot change."):
        replicas_plan.plan_promote(spec, observed(pinned, canary(5)))


def test_abort_grows_the_stable_first_then_drops_the_canary():
    spec = spec_for(state="aborted", weight=None)
    writes = replicas_plan.plan_abort(spec, observed(stable(5), canary(5)))
    assert [(w.name, w.body["spec"]["replicas"]) for w in writes] == [("myapp", 10)]
    writes = replicas_plan.plan_abort(spec, observed(stable(10), canary(5)))
    assert [(w.name, w.body["spec"]["replicas"]) for w in writes] == [("myapp-canary", 0)]
    assert replicas_plan.plan_abort(spec, observed(stable(10), canary(0))) == []
    assert replicas_plan.plan_abort(spec, observed(stable(10), None)) == []


def test_abort_at_100_percent():
    spec = spec_for(state="aborted", weight=None)
    writes = replicas_plan.plan_abort(spec, observed(stable(0), canary(10)))
    assert writes[0].description == "scale stable Deployment myapp 0 -> 10"


# ---------------------------------------------------------------------------
# the nginx backend
# ---------------------------------------------------------------------------
def ingress(name, service, annotations=None, class_name="nginx", rv="3", port=None):
    port = port or {"number": 80}
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": name, "namespace": "test", "resourceVersion": rv,
                     "annotations": dict(annotations or {})},
        "spec": {"ingressClassName": class_name, "rules": [
            {"host": "myapp.example.com", "http": {"paths": [
                {"path": "/", "pathType": "Prefix",
                 "backend": {"service": {"name": service, "port": dict(port)}}},
                {"path": "/static", "pathType": "Prefix",
                 "backend": {"service": {"name": "static", "port": {"number": 8080}}}}]}}]},
    }


def service(name, ports=((80, "http"),)):
    return {"metadata": {"name": name},
            "spec": {"ports": [{"port": p, "name": n} for p, n in ports]}}


def nginx_spec(**kw):
    nginx = {"ingress": "myapp", "canary_service": "myapp-v2", "stable_service": "myapp-v1"}
    nginx.update(kw.pop("nginx", {}))
    return validation.validate(params(backend="nginx", service=None, nginx=nginx, **kw))


def nginx_observed(canary_ingress=None, main=None, canary_service=None):
    return nginx_plan.NginxObserved(ingress=main or ingress("myapp", "myapp-v1"),
                                    canary_ingress=canary_ingress,
                                    canary_service=canary_service or service("myapp-v2"))


def test_nginx_creates_the_canary_ingress_with_the_stable_paths():
    spec = nginx_spec(weight=10, nginx={"header": "X-Canary", "header_value": "yes",
                                        "cookie": "canary"})
    writes = nginx_plan.plan_nginx(spec, nginx_observed())
    assert [(w.verb, w.name) for w in writes] == [("create", "myapp-canary")]
    body = writes[0].body
    ann = body["metadata"]["annotations"]
    assert ann[NGINX + "canary"] == "true"
    assert ann[NGINX + "canary-weight"] == "10"
    assert ann[NGINX + "canary-by-header"] == "X-Canary"
    assert ann[NGINX + "canary-by-header-value"] == "yes"
    assert ann[NGINX + "canary-by-cookie"] == "canary"
    assert body["spec"] == {"ingressClassName": "nginx", "rules": [
        {"host": "myapp.example.com", "http": {"paths": [
            {"path": "/", "pathType": "Prefix",
             "backend": {"service": {"name": "myapp-v2", "port": {"number": 80}}}}]}}]}


def test_nginx_weight_change_is_one_patch_and_idempotent():
    spec = nginx_spec(weight=10, nginx={"header": "X-Canary"})
    created = nginx_plan.plan_nginx(spec, nginx_observed())[0].body
    created["metadata"]["resourceVersion"] = "7"
    assert nginx_plan.plan_nginx(spec, nginx_observed(created)) == []
    spec50 = nginx_spec(weight=50)
    writes = nginx_plan.plan_nginx(spec50, nginx_observed(created))
    assert len(writes) == 1 and writes[0].verb == "patch"
    assert writes[0].description == "canary Ingress myapp-canary: weight 10 -> 50"
    assert writes[0].body == {"metadata": {"resourceVersion": "7", "annotations": {
        NGINX + "canary-weight": "50", NGINX + "canary-by-header": None}}}


def test_nginx_stable_service_is_inferred_or_asked_for():
    spec = validation.validate(params(backend="nginx", service=None, weight=5, nginx={
        "ingress": "myapp", "canary_service": "myapp-v2"}))
    with pytest.raises(objects.PlanError, match="routes to myapp-v1, static; set nginx.stable_service"):
        nginx_plan.plan_nginx(spec, nginx_observed())
    single = ingress("myapp", "myapp-v1")
    single["spec"]["rules"][0]["http"]["paths"].pop()
    writes = nginx_plan.plan_nginx(spec, nginx_observed(main=single))
    assert writes[0].body["metadata"]["annotations"][objects.PREVIOUS_SERVICE] == "myapp-v1"


def test_nginx_ports():
    spec = nginx_spec(weight=5)
    other = service("myapp-v2", ports=((8080, "web"),))
    writes = nginx_plan.plan_nginx(spec, nginx_observed(canary_service=other))
    path = writes[0].body["spec"]["rules"][0]["http"]["paths"][0]
    assert path["backend"]["service"]["port"] == {"number": 8080}
    two = service("myapp-v2", ports=((8080, "web"), (9090, "admin")))
    with pytest.raises(objects.PlanError, match="set nginx.canary_service_port"):
        nginx_plan.plan_nginx(spec, nginx_observed(canary_service=two))
    named = nginx_spec(weight=5, nginx={"canary_service_port": "admin"})
    writes = nginx_plan.plan_nginx(named, nginx_observed(canary_service=two))
    assert writes[0].body["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"][
        "port"] == {"name": "admin"}
    with pytest.raises(objects.PlanError, match="has no port 'nope'"):
        nginx_plan.plan_nginx(nginx_spec(weight=5, nginx={"canary_service_port": "nope"}),
                              nginx_observed(canary_service=two))


def test_nginx_missing_objects_are_refused():
    spec = nginx_spec(weight=5)
    obs = nginx_plan.NginxObserved(ingress=None, canary_ingress=None, canary_service=service("x"))
    with pytest.raises(objects.PlanError, match="Ingress test/myapp not found"):
        nginx_plan.plan_nginx(spec, obs)
    obs = nginx_plan.NginxObserved(ingress=ingress("myapp", "myapp-v1"), canary_ingress=None,
                                   canary_service=None)
    with pytest.raises(objects.PlanError, match="Service test/myapp-v2 not found"):
        nginx_plan.plan_nginx(spec, obs)
    foreign = ingress("myapp-canary", "x")
    with pytest.raises(objects.PlanError, match="is not a canary Ingress"):
        nginx_plan.plan_nginx(spec, nginx_observed(canary_ingress=foreign))
    wrong = nginx_spec(weight=5, nginx={"stable_service": "gone"})
    with pytest.raises(objects.PlanError, match="no path that routes to Service gone"):
        nginx_plan.plan_nginx(wrong, nginx_observed())


def test_nginx_promote_switches_the_main_ingress_then_drops_the_canary():
    spec = nginx_spec(state="promoted", weight=None)
    canary_ing = nginx_plan.plan_nginx(nginx_spec(weight=50), nginx_observed())[0].body
    writes = nginx_plan.plan_nginx(spec, nginx_observed(canary_ing))
    assert [(w.verb, w.name) for w in writes] == [("patch", "myapp")]
    rules = writes[0].body["spec"]["rules"]
    assert [p["backend"]["service"]["name"] for p in rules[0]["http"]["paths"]] == [
        "myapp-v2", "static"]
    assert writes[0].body["metadata"]["annotations"] == {objects.PREVIOUS_SERVICE: "myapp-v1"}
    switched = ingress("myapp", "myapp-v2")
    writes = nginx_plan.plan_nginx(spec, nginx_observed(canary_ing, main=switched))
    assert [(w.verb, w.name) for w in writes] == [("delete", "myapp-canary")]
    assert nginx_plan.plan_nginx(spec, nginx_observed(None, main=switched)) == []  # idempotent
    with pytest.raises(objects.PlanError, match="nothing to promote"):
        nginx_plan.plan_nginx(spec, nginx_observed(None))


def test_nginx_abort_deletes_the_canary_ingress():
    spec = nginx_spec(state="aborted", weight=None)
    canary_ing = nginx_plan.plan_nginx(nginx_spec(weight=50), nginx_observed())[0].body
    writes = nginx_plan.plan_nginx(spec, nginx_observed(canary_ing))
    assert [(w.verb, w.name) for w in writes] == [("delete", "myapp-canary")]
    assert nginx_plan.plan_nginx(spec, nginx_observed(None)) == []


def test_nginx_weight_reading():
    assert nginx_plan.nginx_weight(None) == 0
    assert nginx_plan.nginx_weight({"metadata": {"annotations": {NGINX + "canary-weight": "25"}}}) == 25
    assert nginx_plan.nginx_weight({"metadata": {"annotations": {NGINX + "canary-weight": "x"}}}) == 0


def test_merge_patch_and_diff_view():
    assert merge_patch({"a": {"b": 1, "c": 2}}, {"a": {"b": None, "d": 3}}) == {
        "a": {"c": 2, "d": 3}}
    view = status.diff_view(canary(3))
    assert view["replicas"] == 3 and view["images"] == {"myapp": "myapp:v2"}
    assert status.diff_view(None) == {}
