"""knative_traffic planning: resolution against the cluster, references pinned now,
idempotence, tag edits, and what is let settle before planning."""

from ansible_collections.progressive.delivery.plugins.module_utils.knative import (
    traffic_block as ktb,
    traffic_plan as ktp,
    traffic_validation as ktv,
)

from knative_objects import (
    NS,
    configuration,
    errors_of,
    kservice,
    observed,
    params,
    revision,
    route,
    split,
)


# --- against the cluster -----------------------------------------------------------
def test_fifty_fifty_is_one_write_of_the_whole_block():
    spec = ktv.validate(params(split(("hello-00004", 50), ("hello-00002", 50))))
    result = ktp.plan(spec, observed())
    assert result.changed
    assert result.traffic == [
        {"revisionName": "hello-00004", "latestRevision": False, "percent": 50},
        {"revisionName": "hello-00002", "latestRevision": False, "percent": 50}]
    assert result.before == [{"latestRevision": True, "percent": 100}]


def test_unknown_revision():
    spec = ktv.validate(params(split(("hello-00009", 100))))
    assert errors_of(ktp.plan, spec, observed()) == [
        ("traffic[0].revision", "revision 'hello-00009' not found in namespace default")]


def test_revision_of_another_service():
    spec = ktv.validate(params(split(("hello-00001", 50), ("other-00001", 50))))
    assert errors_of(ktp.plan, spec, observed()) == [
        ("traffic[1].revision", "revision 'other-00001' belongs to Service other "
         "(Configuration other), not to Service hello")]


def test_revision_of_another_configuration_on_a_route():
    revisions = [revision("blue-green-demo-00001", config="blue-green-demo", service=None),
                 revision("x-00001", config="x", service=None)]
    spec = ktv.validate(dict(namespace=NS, route="blue-green-demo",
                             traffic=split(("blue-green-demo-00001", 50), ("x-00001", 50))))
    errs = errors_of(ktp.plan, spec, observed(route([]), {}, revisions))
    assert errs == [("traffic[1].revision", "revision 'x-00001' belongs to Configuration x, "
                     "not to Configuration blue-green-demo")]
    # ... unless the target says it is from that configuration
    spec = ktv.validate(dict(namespace=NS, route="blue-green-demo", traffic=[
        {"revision": "blue-green-demo-00001", "percent": 50},
        {"revision": "x-00001", "percent": 50, "configuration": "x"}]))
    assert ktp.plan(spec, observed(route([]), {}, revisions)).changed


def test_not_ready_revision_gets_no_traffic_unless_forced():
    revisions = [revision("hello-00001"), revision("hello-00002", ready="Unknown",
                                                   reason="Deploying")]
    spec = ktv.validate(params(split(("hello-00001", 50), ("hello-00002", 50))))
    assert errors_of(ktp.plan, spec, observed(revisions=revisions)) == [
        ("traffic[1].revision", "revision 'hello-00002' is not Ready (Ready=Unknown "
         "(Deploying)) and cannot receive 50% (wait for it, or force: true)")]
    forced = ktv.validate(params(split(("hello-00001", 50), ("hello-00002", 50)), force=True))
    assert ktp.plan(forced, observed(revisions=revisions)).changed


def test_not_ready_revision_may_get_a_tag_at_zero_percent():
    revisions = [revision("hello-00001"), revision("hello-00002", ready="Unknown")]
    spec = ktv.validate(params(split(("hello-00001", 100), ("hello-00002", 0, "v2"))))
    assert ktp.plan(spec, observed(revisions=revisions)).changed


def test_failed_revision_is_not_referenced_even_at_zero():
    revisions = [revision("hello-00001"),
                 revision("hello-00002", ready="False", reason="ContainerMissing",
                          message="image not found")]
    spec = ktv.validate(params(split(("hello-00001", 100), ("hello-00002", 0, "v2"))))
    (path, message), = errors_of(ktp.plan, spec, observed(revisions=revisions))
    assert path == "traffic[1].revision"
    assert message.startswith("revision 'hello-00002' failed (Ready=False (ContainerMissing: "
                              "image not found))")


def test_latest_needs_a_ready_revision():
    configs = {"hello": configuration(created="hello-00001", ready=None)}
    spec = ktv.validate(params(split(("@latest", 100))))
    (path, message), = errors_of(ktp.plan, spec, observed(configs=configs))
    assert path == "traffic[0].revision"
    assert "@latest: Configuration hello has no Ready revision yet" in message


def test_input_and_cluster_problems_are_reported_together():
    spec = ktv.validate(params(split(("hello-00004", 60), ("hello-00009", 50))), strict=False)
    assert errors_of(ktp.plan, spec, observed()) == [
        ("traffic", "given traffic percents sum to 110, want 100"),
        ("traffic[1].revision", "revision 'hello-00009' not found in namespace default")]


def test_missing_service():
    spec = ktv.validate(params(split(("hello-00001", 100))))
    owner_missing = ktp.Observed(None, {}, {})
    assert errors_of(ktp.plan, spec, owner_missing) == [
        ("service", "Service hello not found in namespace default")]


def test_missing_route_is_created_from_a_whole_block():
    revisions = [revision("blue-green-demo-00001", config="blue-green-demo", service=None)]
    configs = {"blue-green-demo": configuration("blue-green-demo", "blue-green-demo-00001",
                                                "blue-green-demo-00001")}
    spec = ktv.validate(dict(namespace=NS, route="blue-green-demo",
                             traffic=split(("@latest_created", 100))))
    result = ktp.plan(spec, ktp.Observed(None, configs, dict(
        (r["metadata"]["name"], r) for r in revisions)))
    assert result.create and result.changed and result.before == []
    assert result.traffic == [{"revisionName": "blue-green-demo-00001",
                               "latestRevision": False, "percent": 100}]
    # tag edits need a Route to edit
    tags = ktv.validate(dict(namespace=NS, route="blue-green-demo",
                             tags=[{"revision": "@latest_created", "tag": "v2"}]))
    (path, message), = errors_of(ktp.plan, tags, ktp.Observed(None, configs, {}))
    assert path == "route" and message.startswith("Route blue-green-demo not found")


def test_route_owned_by_a_service_is_refused():
    spec = ktv.validate(dict(namespace=NS, route="hello", traffic=split(("hello-00001", 100))))
    owned = route([], name="hello", labels={"serving.knative.dev/service": "hello"})
    (path, message), = errors_of(ktp.plan, spec, observed(owned))
    assert path == "route" and "use service: hello" in message


# --- references resolved now ---------------------------------------------------------
def test_latest_created_is_pinned_to_the_configurations_latest_created_revision():
    revisions = [revision("blue-green-demo-00001", config="blue-green-demo", service=None)]
    configs = {"blue-green-demo": configuration("blue-green-demo", "blue-green-demo-00001",
                                                "blue-green-demo-00001")}
    spec = ktv.validate(dict(namespace=NS, route="blue-green-demo",
                             traffic=split(("@latest_created", 100))))
    result = ktp.plan(spec, observed(route([]), configs, revisions))
    assert result.traffic == [{"revisionName": "blue-green-demo-00001",
                               "latestRevision": False, "percent": 100}]
    assert result.resolved[0].revision_name == "blue-green-demo-00001"


def test_latest_on_a_route_names_the_configuration():
    revisions = [revision("blue-green-demo-00001", config="blue-green-demo", service=None)]
    configs = {"blue-green-demo": configuration("blue-green-demo", "blue-green-demo-00001",
                                                "blue-green-demo-00001")}
    spec = ktv.validate(dict(namespace=NS, route="blue-green-demo",
                             traffic=split(("@latest", 100))))
    result = ktp.plan(spec, observed(route([]), configs, revisions))
    assert result.traffic == [{"configurationName": "blue-green-demo", "latestRevision": True,
                               "percent": 100}]


def test_latest_created_without_revisions():
    configs = {"hello": configuration(created=None, ready=None)}
    spec = ktv.validate(params(split(("@latest_created", 100))))
    assert errors_of(ktp.plan, spec, observed(configs=configs)) == [
        ("traffic[0].revision", "@latest_created: Configuration hello has not created a "
         "revision yet")]


def test_pinned_reference_colliding_with_a_named_target():
    spec = ktv.validate(params(split(("hello-00002", 50), ("@latest_created", 50))))
    (path, message), = errors_of(ktp.plan, spec, observed())
    assert path == "traffic[1].revision"
    assert "revision hello-00002 (@latest_created) already receives traffic" in message


def test_configurations_to_settle_only_when_a_pinned_reference_reads_them():
    stale = {"hello": configuration(generation=3, observed=2)}
    pinned = ktv.validate(params(split(("@latest_created", 100))))
    named = ktv.validate(params(split(("hello-00002", 100))))
    assert ktp.configurations_to_settle(pinned, observed(configs=stale)) == ["hello"]
    assert ktp.configurations_to_settle(named, observed(configs=stale)) == []


def test_revisions_to_settle_are_the_starting_ones():
    revisions = [revision("hello-00001"), revision("hello-00002", ready="Unknown")]
    spec = ktv.validate(params(split(("hello-00001", 50), ("@latest_created", 50))))
    assert ktp.revisions_to_settle(spec, observed(revisions=revisions)) == ["hello-00002"]


def test_only_the_revisions_the_targets_name_are_read():
    """Not the namespace's list: a Configuration may keep hundreds of revisions."""
    spec = ktv.validate(params(split(("hello-00001", 50), ("@latest_created", 50))))
    assert ktp.revisions_to_read(spec, observed(revisions=[])) == ["hello-00001", "hello-00002"]
    # @latest resolves to the latest Ready one; a tag request adds its revision
    current = [{"latestRevision": True, "percent": 100}]
    tags = ktv.validate(params(None, tags=[{"revision": "hello-00001", "tag": "old"}]))
    assert ktp.revisions_to_read(tags, observed(kservice(current), revisions=[])) == [
        "hello-00001", "hello-00002"]


# --- idempotence -----------------------------------------------------------------------
def test_same_block_again_is_unchanged_including_latest():
    current = [{"latestRevision": True, "percent": 100}]
    spec = ktv.validate(params(split(("@latest", 100))))
    assert not ktp.plan(spec, observed(kservice(current))).changed


def test_knative_defaults_do_not_count_as_changes():
    # as stored by Knative: latestRevision defaulted to false, percent written
    current = [{"revisionName": "hello-00004", "latestRevision": False, "percent": 50},
               {"revisionName": "hello-00002", "percent": 50, "tag": "v2"}]
    spec = ktv.validate(params(split(("hello-00004", 50), ("hello-00002", 50, "v2"))))
    assert not ktp.plan(spec, observed(kservice(current))).changed


def test_latest_created_is_unchanged_once_routed():
    current = [{"revisionName": "hello-00002", "latestRevision": False, "percent": 100}]
    spec = ktv.validate(params(split(("@latest_created", 100))))
    assert not ktp.plan(spec, observed(kservice(current))).changed


def test_order_is_part_of_the_block():
    current = [{"revisionName": "hello-00002", "percent": 50},
               {"revisionName": "hello-00004", "percent": 50}]
    spec = ktv.validate(params(split(("hello-00004", 50), ("hello-00002", 50))))
    assert ktp.plan(spec, observed(kservice(current))).changed


# --- tags / untag on the current block ----------------------------------------------------
def test_tag_an_untagged_target_keeps_the_split():
    current = [{"revisionName": "hello-00001", "percent": 100}]
    spec = ktv.validate(params(None, tags=[{"revision": "hello-00001", "tag": "v1"}]))
    result = ktp.plan(spec, observed(kservice(current)))
    assert result.traffic == [{"tag": "v1", "revisionName": "hello-00001",
                               "latestRevision": False, "percent": 100}]
    again = ktp.plan(spec, observed(kservice(result.traffic)))
    assert not again.changed


def test_tag_a_revision_without_target_adds_it_at_zero():
    current = [{"latestRevision": True, "percent": 100}]
    spec = ktv.validate(params(None, tags=[{"revision": "@latest_created", "tag": "candidate"}]))
    result = ktp.plan(spec, observed(kservice(current)))
    assert result.traffic == [
        {"latestRevision": True, "percent": 100},
        {"tag": "candidate", "revisionName": "hello-00002", "latestRevision": False,
         "percent": 0}]


def test_tag_moves_from_another_revision():
    current = [{"revisionName": "hello-00001", "percent": 100},
               {"revisionName": "hello-00002", "percent": 0, "tag": "candidate"}]
    spec = ktv.validate(params(None, tags=[{"revision": "hello-00004", "tag": "candidate"}]))
    result = ktp.plan(spec, observed(kservice(current)))
    assert [ktb.normal_entry(e) for e in result.traffic] == [
        ("hello-00001", False, None, 100, None), ("hello-00004", False, None, 0, "candidate")]


def test_untag_drops_zero_percent_targets_and_keeps_live_ones():
    current = [{"revisionName": "hello-00001", "percent": 0, "tag": "v1"},
               {"revisionName": "hello-00002", "percent": 100, "tag": "v2"}]
    spec = ktv.validate(params(None, untag=["v1", "v2", "absent"]))
    result = ktp.plan(spec, observed(kservice(current)))
    assert result.traffic == [{"revisionName": "hello-00002", "latestRevision": False,
                               "percent": 100}]


def test_tag_of_unknown_revision_is_an_error():
    spec = ktv.validate(params(None, tags=[{"revision": "hello-00009", "tag": "x"}]))
    assert errors_of(ktp.plan, spec, observed()) == [
        ("tags[0].revision", "revision 'hello-00009' not found in namespace default")]
