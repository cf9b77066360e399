"""knative_traffic planning: validation of every bad input, resolution against the cluster,
idempotence, tag edits, and the predicate that proves a split took effect."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.knative import traffic_plan as ktp
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    ValidationError,
)

NS = "default"


# --- fixtures: objects as the API server returns them ---------------------------
def revision(name, config="hello", ready="True", service="hello", generation=1, reason=None,
             message=None):
    labels = {"serving.knative.dev/configuration": config,
              "serving.knative.dev/configurationGeneration": str(generation)}
    if service:
        labels["serving.knative.dev/service"] = service
    cond = {"type": "Ready", "status": ready}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return {"metadata": {"name": name, "namespace": NS, "labels": labels, "generation": 1},
            "status": {"observedGeneration": 1, "conditions": [cond]}}


def configuration(name="hello", created="hello-00002", ready="hello-00002", generation=2,
                  observed=2):
    return {"metadata": {"name": name, "namespace": NS, "generation": generation},
            "status": {"observedGeneration": observed,
                       "latestCreatedRevisionName": created,
                       "latestReadyRevisionName": ready,
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def kservice(traffic=None, name="hello", ready="True", status_traffic=None):
    return {"metadata": {"name": name, "namespace": NS, "generation": 3,
                         "resourceVersion": "42"},
            "spec": {"template": {}, "traffic": traffic if traffic is not None else [
                {"latestRevision": True, "percent": 100}]},
            "status": {"observedGeneration": 3, "url": "http://hello.default.example.com",
                       "conditions": [{"type": "Ready", "status": ready}],
                       "traffic": status_traffic or []}}


def route(traffic, name="blue-green-demo", labels=None):
    return {"metadata": {"name": name, "namespace": NS, "generation": 1, "resourceVersion": "7",
                         "labels": labels or {}},
            "spec": {"traffic": traffic},
            "status": {"observedGeneration": 1, "conditions": [{"type": "Ready",
                                                                "status": "True"}]}}


def observed(owner=None, configs=None, revisions=None):
    if owner is None:
        owner = kservice()
    configs = {"hello": configuration()} if configs is None else configs
    revisions = revisions if revisions is not None else [
        revision("hello-00001", generation=1), revision("hello-00002", generation=2),
        revision("hello-00004", generation=4), revision("other-00001", config="other",
                                                        service="other")]
    return ktp.Observed(owner, configs, dict((r["metadata"]["name"], r) for r in revisions))


def params(traffic=None, **overrides):
    base = dict(namespace=NS, service="hello", traffic=traffic)
    base.update(overrides)
    return base


def errors_of(call, *args, **kwargs):
    with pytest.raises(ValidationError) as err:
        call(*args, **kwargs)
    return [(e.path, e.message) for e in err.value.errors]


def split(*pairs):
    """split(("hello-00001", 50), ("hello-00002", 50, "v2")) -> traffic param"""
    out = []
    for pair in pairs:
        item = {"revision": pair[0], "percent": pair[1]}
        if len(pair) > 2:
            item["tag"] = pair[2]
        out.append(item)
    return out


# --- percents --------------------------------------------------------------------
@pytest.mark.parametrize("percents,total", [((50, 60), 110), ((50, 40), 90)])
def test_sum_is_stated_in_knatives_own_words(percents, total):
    request = split(("hello-00004", percents[0]), ("hello-00002", percents[1]))
    errs = errors_of(ktp.validate, params(request))
    assert errs == [("traffic", "given traffic percents sum to %d, want 100" % total)]


def test_empty_traffic_sums_to_zero():
    assert errors_of(ktp.validate, params([])) == [
        ("traffic", "given traffic percents sum to 0, want 100")]


@pytest.mark.parametrize("value", [-5, 101, 250])
def test_out_of_range_percent(value):
    request = split(("hello-00001", value), ("hello-00002", 100 - value))
    errs = errors_of(ktp.validate, params(request))
    assert ("traffic[0].percent",
            "invalid value for traffic percent %d, expected 0 <= percent <= 100" % value) in errs


@pytest.mark.parametrize("value", [50.5, "50%", "half", True, [50], {"p": 50}])
def test_non_integer_percent(value):
    errs = errors_of(ktp.validate, params(split(("hello-00001", value), ("hello-00002", 50))))
    assert errs == [("traffic[0].percent",
                     "must be an integer from 0 to 100, got %r" % (value,))]


def test_a_bad_percent_does_not_also_produce_a_sum_error():
    errs = errors_of(ktp.validate, params(split(("hello-00001", "x"), ("hello-00002", 10))))
    assert [error[0] for error in errs] == ["traffic[0].percent"]


@pytest.mark.parametrize("value", ["50", " 50 ", 50.0, 50])
def test_integral_percents_from_templates_are_accepted(value):
    spec = ktp.validate(params(split(("hello-00001", value), ("hello-00002", 50))))
    assert spec.targets[0].percent == 50


def test_missing_percent_means_zero():
    spec = ktp.validate(params([{"revision": "hello-00001", "percent": 100},
                                {"revision": "hello-00002", "tag": "v2"}]))
    assert spec.targets[1].percent == 0


# --- tags and duplicates ---------------------------------------------------------
def test_duplicate_tag():
    request = split(("hello-00001", 50, "v2"), ("hello-00002", 50, "v2"))
    errs = errors_of(ktp.validate, params(request))
    assert errs == [("traffic[1].tag", "duplicate tag 'v2' (also on traffic[0]): every tag "
                     "names one target")]


@pytest.mark.parametrize("tag", ["V2", "2v", "v_2", "v2-", "-v2", "a" * 64, "v.2"])
def test_bad_tags(tag):
    errs = errors_of(ktp.validate, params(split(("hello-00001", 100), ("hello-00002", 0, tag))))
    assert errs[0][0] == "traffic[1].tag"
    assert "is not a valid tag: it must be a DNS-1035 label" in errs[0][1]


def test_tag_that_makes_the_host_label_too_long():
    errs = errors_of(ktp.validate, params(split(("hello-00001", 100), ("hello-00002", 0,
                                                                       "t" * 60))))
    assert errs == [("traffic[1].tag", "tag %r makes the host label %r longer than 63 "
                     "characters" % ("t" * 60, "t" * 60 + "-hello"))]


def test_same_revision_twice_needs_different_tags():
    errs = errors_of(ktp.validate, params(split(("hello-00001", 50), ("hello-00001", 50))))
    assert errs == [("traffic[1].revision", "revision hello-00001 already receives traffic "
                     "without a tag from traffic[0]: give one of the two targets a tag, or "
                     "add their percents up")]
    spec = ktp.validate(params(split(("hello-00001", 50), ("hello-00001", 0, "v1"),
                                     ("hello-00002", 50, "v2"))))
    assert len(spec.targets) == 3


def test_two_untagged_latest_targets_are_duplicates():
    errs = errors_of(ktp.validate, params(split(("@latest", 50), ("@latest", 50))))
    assert errs[0][0] == "traffic[1].revision"
    assert "@latest" in errs[0][1]


# --- shape of the request --------------------------------------------------------
def test_revision_reference_must_be_known():
    errs = errors_of(ktp.validate, params(split(("@newest", 100))))
    assert errs == [("traffic[0].revision", "'@newest' is not a revision name nor one of "
                     "@latest, @latest_created, @latest_ready")]


def test_revision_is_required():
    errs = errors_of(ktp.validate, params([{"percent": 100}]))
    assert errs == [("traffic[0].revision", "is required: a revision name or one of "
                     "@latest, @latest_created, @latest_ready")]


def test_exactly_one_of_service_and_route():
    assert errors_of(ktp.validate, params(split(("x", 100)), route="r"))[0][0] == "service"
    assert errors_of(ktp.validate, params(split(("x", 100)), service=None))[0][0] == "service"


def test_configuration_is_for_routes_only():
    errs = errors_of(ktp.validate, params([{"revision": "@latest", "percent": 100,
                                            "configuration": "x"}], configuration="x"))
    assert [error[0] for error in errs] == ["configuration", "traffic[0].configuration"]


def test_traffic_and_tag_changes_are_exclusive_and_one_is_needed():
    errs = errors_of(ktp.validate, params(split(("hello-00001", 100)), untag=["v1"]))
    assert errs[0][0] == "traffic"
    errs = errors_of(ktp.validate, params(None))
    assert errs == [("traffic", "nothing to do: give traffic (the whole block), or tags / "
                     "untag")]


def test_every_input_problem_is_reported_at_once():
    errs = errors_of(ktp.validate, dict(namespace="Bad_NS", service="hello", traffic=[
        {"revision": "hello-00001", "percent": -1, "tag": "V1"},
        {"revision": "@nope", "percent": "x"},
        {"revision": "hello-00002", "percent": 50, "tag": "ok"},
        {"revision": "hello-00003", "percent": 50, "tag": "ok"},
    ]))
    assert [error[0] for error in errs] == [
        "namespace", "traffic[0].percent", "traffic[0].tag", "traffic[1].revision",
        "traffic[1].percent", "traffic[3].tag"]


def test_tags_and_untag_are_validated():
    errs = errors_of(ktp.validate, params(None, tags=[{"revision": "hello-00001", "tag": "v1"},
                                                      {"revision": "hello-00002", "tag": "v1"},
                                                      {"revision": "hello-00002", "tag": "B"}],
                                          untag=["v1", ""]))
    assert [error[0] for error in errs] == ["tags[1].tag", "tags[2].tag", "untag[0]", "untag[1]"]


# --- against the cluster -----------------------------------------------------------
def test_fifty_fifty_is_one_write_of_the_whole_block():
    spec = ktp.validate(params(split(("hello-00004", 50), ("hello-00002", 50))))
    result = ktp.plan(spec, observed())
    assert result.changed
    assert result.traffic == [
        {"revisionName": "hello-00004", "latestRevision": False, "percent": 50},
        {"revisionName": "hello-00002", "latestRevision": False, "percent": 50}]
    assert result.before == [{"latestRevision": True, "percent": 100}]


def test_unknown_revision():
    spec = ktp.validate(params(split(("hello-00009", 100))))
    assert errors_of(ktp.plan, spec, observed()) == [
        ("traffic[0].revision", "revision 'hello-00009' not found in namespace default")]


def test_revision_of_another_service():
    spec = ktp.validate(params(split(("hello-00001", 50), ("other-00001", 50))))
    assert errors_of(ktp.plan, spec, observed()) == [
        ("traffic[1].revision", "revision 'other-00001' belongs to Service other "
         "(Configuration other), not to Service hello")]


def test_revision_of_another_configuration_on_a_route():
    revisions = [revision("blue-green-demo-00001", config="blue-green-demo", service=None),
                 revision("x-00001", config="x", service=None)]
    spec = ktp.validate(dict(namespace=NS, route="blue-green-demo",
                             traffic=split(("blue-green-demo-00001", 50), ("x-00001", 50))))
    errs = errors_of(ktp.plan, spec, observed(route([]), {}, revisions))
    assert errs == [("traffic[1].revision", "revision 'x-00001' belongs to Configuration x, "
                     "not to Configuration blue-green-demo")]
    # ... unless the target says it is from that configuration
    spec = ktp.validate(dict(namespace=NS, route="blue-green-demo", traffic=[
        {"revision": "blue-green-demo-00001", "percent": 50},
        {"revision": "x-00001", "percent": 50, "configuration": "x"}]))
    assert ktp.plan(spec, observed(route([]), {}, revisions)).changed


def test_not_ready_revision_gets_no_traffic_unless_forced():
    revisions = [revision("hello-00001"), revision("hello-00002", ready="Unknown",
                                                   reason="Deploying")]
    spec = ktp.validate(params(split(("hello-00001", 50), ("hello-00002", 50))))
    assert errors_of(ktp.plan, spec, observed(revisions=revisions)) == [
        ("traffic[1].revision", "revision 'hello-00002' is not Ready (Ready=Unknown "
         "(Deploying)) and cannot receive 50% (wait for it, or force: true)")]
    forced = ktp.validate(params(split(("hello-00001", 50), ("hello-00002", 50)), force=True))
    assert ktp.plan(forced, observed(revisions=revisions)).changed


def test_not_ready_revision_may_get_a_tag_at_zero_percent():
    revisions = [revision("hello-00001"), revision("hello-00002", ready="Unknown")]
    spec = ktp.validate(params(split(("hello-00001", 100), ("hello-00002", 0, "v2"))))
    assert ktp.plan(spec, observed(revisions=revisions)).changed


def test_failed_revision_is_not_referenced_even_at_zero():
    revisions = [revision("hello-00001"),
                 revision("hello-00002", ready="False", reason="ContainerMissing",
                          message="image not found")]
    spec = ktp.validate(params(split(("hello-00001", 100), ("hello-00002", 0, "v2"))))
    (path, message), = errors_of(ktp.plan, spec, observed(revisions=revisions))
    assert path == "traffic[1].revision"
    assert message.startswith("revision 'hello-00002' failed (Ready=False (ContainerMissing: "
                              "image not found))")


def test_latest_needs_a_ready_revision():
    configs = {"hello": configuration(created="hello-00001", ready=None)}
    spec = ktp.validate(params(split(("@latest", 100))))
    (path, message), = errors_of(ktp.plan, spec, observed(configs=configs))
    assert path == "traffic[0].revision"
    assert "@latest: Configuration hello has no Ready revision yet" in message


def test_input_and_cluster_problems_are_reported_together():
    spec = ktp.validate(params(split(("hello-00004", 60), ("hello-00009", 50))), strict=False)
    assert errors_of(ktp.plan, spec, observed()) == [
        ("traffic", "given traffic percents sum to 110, want 100"),
        ("traffic[1].revision", "revision 'hello-00009' not found in namespace default")]


def test_missing_service():
    spec = ktp.validate(params(split(("hello-00001", 100))))
    owner_missing = ktp.Observed(None, {}, {})
    assert errors_of(ktp.plan, spec, owner_missing) == [
        ("service", "Service hello not found in namespace default")]


def test_missing_route_is_created_from_a_whole_block():
    revisions = [revision("blue-green-demo-00001", config="blue-green-demo", service=None)]
    configs = {"blue-green-demo": configuration("blue-green-demo", "blue-green-demo-00001",
                                                "blue-green-demo-00001")}
    spec = ktp.validate(dict(namespace=NS, route="blue-green-demo",
                             traffic=split(("@latest_created", 100))))
    result = ktp.plan(spec, ktp.Observed(None, configs, dict(
        (r["metadata"]["name"], r) for r in revisions)))
    assert result.create and result.changed and result.before == []
    assert result.traffic == [{"revisionName": "blue-green-demo-00001",
                               "latestRevision": False, "percent": 100}]
    # tag edits need a Route to edit
    tags = ktp.validate(dict(namespace=NS, route="blue-green-demo",
                             tags=[{"revision": "@latest_created", "tag": "v2"}]))
    (path, message), = errors_of(ktp.plan, tags, ktp.Observed(None, configs, {}))
    assert path == "route" and message.startswith("Route blue-green-demo not found")


def test_route_owned_by_a_service_is_refused():
    spec = ktp.validate(dict(namespace=NS, route="hello", traffic=split(("hello-00001", 100))))
    owned = route([], name="hello", labels={"serving.knative.dev/service": "hello"})
    (path, message), = errors_of(ktp.plan, spec, observed(owned))
    assert path == "route" and "use service: hello" in message


# --- references resolved now ---------------------------------------------------------
def test_latest_created_is_pinned_to_the_configurations_latest_created_revision():
    revisions = [revision("blue-green-demo-00001", config="blue-green-demo", service=None)]
    configs = {"blue-green-demo": configuration("blue-green-demo", "blue-green-demo-00001",
                                                "blue-green-demo-00001")}
    spec = ktp.validate(dict(namespace=NS, route="blue-green-demo",
                             traffic=split(("@latest_created", 100))))
    result = ktp.plan(spec, observed(route([]), configs, revisions))
    assert result.traffic == [{"revisionName": "blue-green-demo-00001",
                               "latestRevision": False, "percent": 100}]
    assert result.resolved[0].revision_name == "blue-green-demo-00001"


def test_latest_on_a_route_names_the_configuration():
    revisions = [revision("blue-green-demo-00001", config="blue-green-demo", service=None)]
    configs = {"blue-green-demo": configuration("blue-green-demo", "blue-green-demo-00001",
                                                "blue-green-demo-00001")}
    spec = ktp.validate(dict(namespace=NS, route="blue-green-demo",
                             traffic=split(("@latest", 100))))
    result = ktp.plan(spec, observed(route([]), configs, revisions))
    assert result.traffic == [{"configurationName": "blue-green-demo", "latestRevision": True,
                               "percent": 100}]


def test_latest_created_without_revisions():
    configs = {"hello": configuration(created=None, ready=None)}
    spec = ktp.validate(params(split(("@latest_created", 100))))
    assert errors_of(ktp.plan, spec, observed(configs=configs)) == [
        ("traffic[0].revision", "@latest_created: Configuration hello has not created a "
         "revision yet")]


def test_pinned_reference_colliding_with_a_named_target():
    spec = ktp.validate(params(split(("hello-00002", 50), ("@latest_created", 50))))
    (path, message), = errors_of(ktp.plan, spec, observed())
    assert path == "traffic[1].revision"
    assert "revision hello-00002 (@latest_created) already receives traffic" in message


def test_configurations_to_settle_only_when_a_pinned_reference_reads_them():
    stale = {"hello": configuration(generation=3, observed=2)}
    pinned = ktp.validate(params(split(("@latest_created", 100))))
    named = ktp.validate(params(split(("hello-00002", 100))))
    assert ktp.configurations_to_settle(pinned, observed(configs=stale)) == ["hello"]
    assert ktp.configurations_to_settle(named, observed(configs=stale)) == []


def test_revisions_to_settle_are_the_starting_ones():
    revisions = [revision("hello-00001"), revision("hello-00002", ready="Unknown")]
    spec = ktp.validate(params(split(("hello-00001", 50), ("@latest_created", 50))))
    assert ktp.revisions_to_settle(spec, observed(revisions=revisions)) == ["hello-00002"]


# --- idempotence -----------------------------------------------------------------------
def test_same_block_again_is_unchanged_including_latest():
    current = [{"latestRevision": True, "percent": 100}]
    spec = ktp.validate(params(split(("@latest", 100))))
    assert not ktp.plan(spec, observed(kservice(current))).changed


def test_knative_defaults_do_not_count_as_changes():
    # as stored by Knative: latestRevision defaulted to false, percent written
    current = [{"revisionName": "hello-00004", "latestRevision": False, "percent": 50},
               {"revisionName": "hello-00002", "percent": 50, "tag": "v2"}]
    spec = ktp.validate(params(split(("hello-00004", 50), ("hello-00002", 50, "v2"))))
    assert not ktp.plan(spec, observed(kservice(current))).changed


def test_latest_created_is_unchanged_once_routed():
    current = [{"revisionName": "hello-00002", "latestRevision": False, "percent": 100}]
    spec = ktp.validate(params(split(("@latest_created", 100))))
    assert not ktp.plan(spec, observed(kservice(current))).changed


def test_order_is_part_of_the_block():
    current = [{"revisionName": "hello-00002", "percent": 50},
               {"revisionName": "hello-00004", "percent": 50}]
    spec = ktp.validate(params(split(("hello-00004", 50), ("hello-00002", 50))))
    assert ktp.plan(spec, observed(kservice(current))).changed


# --- tags / untag on the current block ----------------------------------------------------
def test_tag_an_untagged_target_keeps_the_split():
    current = [{"revisionName": "hello-00001", "percent": 100}]
    spec = ktp.validate(params(None, tags=[{"revision": "hello-00001", "tag": "v1"}]))
    result = ktp.plan(spec, observed(kservice(current)))
    assert result.traffic == [{"tag": "v1", "revisionName": "hello-00001",
                               "latestRevision": False, "percent": 100}]
    again = ktp.plan(spec, observed(kservice(result.traffic)))
    assert not again.changed


def test_tag_a_revision_without_target_adds_it_at_zero():
    current = [{"latestRevision": True, "percent": 100}]
    spec = ktp.validate(params(None, tags=[{"revision": "@latest_created", "tag": "candidate"}]))
    result = ktp.plan(spec, observed(kservice(current)))
    assert result.traffic == [
        {"latestRevision": True, "percent": 100},
        {"tag": "candidate", "revisionName": "hello-00002", "latestRevision": False,
         "percent": 0}]


def test_tag_moves_from_another_revision():
    current = [{"revisionName": "hello-00001", "percent": 100},
               {"revisionName": "hello-00002", "percent": 0, "tag": "candidate"}]
    spec = ktp.validate(params(None, tags=[{"revision": "hello-00004", "tag": "candidate"}]))
    result = ktp.plan(spec, observed(kservice(current)))
    assert [ktp.normal_entry(e) for e in result.traffic] == [
        ("hello-00001", False, None, 100, None), ("hello-00004", False, None, 0, "candidate")]


def test_untag_drops_zero_percent_targets_and_keeps_live_ones():
    current = [{"revisionName": "hello-00001", "percent": 0, "tag": "v1"},
               {"revisionName": "hello-00002", "percent": 100, "tag": "v2"}]
    spec = ktp.validate(params(None, untag=["v1", "v2", "absent"]))
    result = ktp.plan(spec, observed(kservice(current)))
    assert result.traffic == [{"revisionName": "hello-00002", "latestRevision": False,
                               "percent": 100}]


def test_tag_of_unknown_revision_is_an_error():
    spec = ktp.validate(params(None, tags=[{"revision": "hello-00009", "tag": "x"}]))
    assert errors_of(ktp.plan, spec, observed()) == [
        ("tags[0].revision", "revision 'hello-00009' not found in namespace default")]


# --- proving it took effect ---------------------------------------------------------------------
WANT = [{"revisionName": "hello-00001", "latestRevision": False, "percent": 50},
        {"revisionName": "hello-00002", "latestRevision": False, "percent": 50, "tag": "v2"}]
STATUS = [{"revisionName": "hello-00001", "latestRevision": False, "percent": 50},
          {"revisionName": "hello-00002", "latestRevision": False, "percent": 50, "tag": "v2",
           "url": "http://v2-hello.default.example.com"}]


def settled(obj):
    return ktp.traffic_settled("Service", "hello", WANT)(obj)


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
    assert ktp.status_matches(kservice(want, status_traffic=status), want)[0]


def test_describe_traffic():
    assert ktp.describe_traffic(STATUS) == "hello-00001 50%, hello-00002 50% (tag v2)"
    assert ktp.describe_traffic([{"latestRevision": True, "percent": 100,
                                  "revisionName": "x"}]) == "@latest=x 100%"
