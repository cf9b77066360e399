"""The release engine with a fake backend: one write per object with the read
resourceVersion, re-plan on 409 (bounded, one message), check mode simulates, the proof
runs only when something was written, a rejection is handed to the backend, and the
report skeleton."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils import engine as eng
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    CONFIGMAP,
    DEPLOYMENT,
    ENDPOINTSLICE,
    REPLICASET,
    SERVICE,
    KubeError,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import (
    WaitFailed,
    WaitTimeout,
)

from fake_kube import FakeKube

NS = "web"


def configmap(name, **data):
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": NS}, "data": data}


def replicaset(name, replicas):
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": NS}, "spec": {"replicas": replicas}}


class ColourBackend(object):
    """Makes ConfigMap 'live' say colour=<wanted>; proof and rejection are scripted."""

    def __init__(self, wanted, proof=None, one_at_a_time=False):
        self.wanted = wanted
        self.proof = proof
        self.one_at_a_time = one_at_a_time
        self.plans = 0
        self.restored = None

    def observe(self, engine):
        return engine.get(CONFIGMAP, NS, "live")

    def plan(self, live):
        self.plans += 1
        if live is None:
            return [eng.Write("create", CONFIGMAP, NS, "live", configmap("live", colour=self.wanted),
                              "create live")]
        if live["data"].get("colour") == self.wanted:
            return []
        return [eng.Write("patch", CONFIGMAP, NS, "live", {
            "metadata": {"resourceVersion": live["metadata"]["resourceVersion"]},
            "data": {"colour": self.wanted}}, "switch live to %s" % self.wanted)]

    def prove(self, engine, observed, writes):
        if self.proof is not None:
            self.proof()

    def rejected(self, engine, observed, writes, error):
        self.restored = observed["data"]["colour"]
        engine.kube.patch(CONFIGMAP, NS, "live", {"data": {"colour": self.restored}})
        raise WaitFailed("rejected (%s); put back %s" % (error, self.restored))

    def report(self, engine, first, observed, writes):
        live = engine.get(CONFIGMAP, NS, "live")
        return dict(colour=live["data"]["colour"] if live else None,
                    colour_before=first["data"]["colour"] if first else None)


def test_one_write_with_the_read_resource_version():
    kube = FakeKube([configmap("live", colour="blue")])
    result = eng.Engine(kube).run(ColourBackend("green"))
    assert result["changed"] is True
    assert result["actions"] == ["switch live to green"]
    assert result["colour"] == "green" and result["colour_before"] == "blue"
    assert result["diff"]["before"]["ConfigMap/live"]["data"] == {"colour": "blue"}
    assert result["diff"]["after"]["ConfigMap/live"]["data"] == {"colour": "green"}
    assert [w[0] for w in kube.writes()] == ["patch"]


def test_second_identical_run_is_not_changed_and_writes_nothing():
    kube = FakeKube([configmap("live", colour="green")])
    result = eng.Engine(kube).run(ColourBackend("green"))
    assert result["changed"] is False and result["actions"] == []
    assert kube.writes() == []


def test_create_when_missing():
    kube = FakeKube()
    result = eng.Engine(kube).run(ColourBackend("green"))
    assert result["actions"] == ["create live"]
    assert kube.obj("ConfigMap", NS, "live")["data"] == {"colour": "green"}


def test_conflict_means_read_and_plan_again_and_the_other_write_survives():
    seen = []

    def other_writer(fake, verb, key):
        if not seen:  # once: someone else writes between our read and our write
            seen.append(verb)
            obj = fake.obj(*key)
            obj["metadata"]["labels"] = {"touched-by": "other"}
            fake._store(key, obj, bump_generation=False)

    kube = FakeKube([configmap("live", colour="blue")], before_write=other_writer)
    backend = ColourBackend("green")
    result = eng.Engine(kube).run(backend)
    assert result["colour"] == "green"
    assert backend.plans == 2
    live = kube.obj("ConfigMap", NS, "live")
    assert live["metadata"]["labels"] == {"touched-by": "other"}


def test_conflicts_are_bounded_with_one_clear_message():
    def always_other(fake, verb, key):
        obj = fake.obj(*key)
        fake._store(key, obj, bump_generation=False)

    kube = FakeKube([configmap("live", colour="blue")], before_write=always_other)
    with pytest.raises(eng.ConflictError) as err:
        eng.Engine(kube).run(ColourBackend("green"))
    assert err.value.status == 409
    assert "ConfigMap web/live was changed by another writer 4 times" in str(err.value)
    assert "nothing of theirs was overwritten" in str(err.value)
    assert kube.obj("ConfigMap", NS, "live")["data"] == {"colour": "blue"}


def test_other_api_errors_are_not_retried():
    def forbidden(fake, verb, key):
        raise KubeError(403, "Forbidden", "configmaps \"live\" is forbidden")

    kube = FakeKube([configmap("live", colour="blue")], before_write=forbidden)
    backend = ColourBackend("green")
    with pytest.raises(KubeError) as err:
        eng.Engine(kube).run(backend)
    assert err.value.status == 403 and backend.plans == 1


def test_check_mode_simulates_writes_nothing_and_reports_the_prediction():
    kube = FakeKube([configmap("live", colour="blue")])
    proofs = []
    result = eng.Engine(kube, check_mode=True).run(ColourBackend("green", proofs.append))
    assert result["changed"] is True
    assert result["colour"] == "green"  # the report reads the simulated object
    assert kube.writes() == []
    assert proofs == []  # no waiting in check mode
    assert kube.obj("ConfigMap", NS, "live")["data"] == {"colour": "blue"}


def test_proof_runs_only_after_a_write():
    calls = []
    kube = FakeKube([configmap("live", colour="green")])
    eng.Engine(kube).run(ColourBackend("green", proof=lambda: calls.append(1)))
    assert calls == []
    kube = FakeKube([configmap("live", colour="blue")])
    eng.Engine(kube).run(ColourBackend("green", proof=lambda: calls.append(1)))
    assert calls == [1]


def test_rejection_is_handed_to_the_backend_which_restores():
    def never(*unused):
        raise WaitTimeout("Ready=False: the controller refused green")

    kube = FakeKube([configmap("live", colour="blue")])
    backend = ColourBackend("green", proof=never)
    with pytest.raises(WaitFailed) as err:
        eng.Engine(kube).run(backend)
    assert "refused green" in str(err.value) and "put back blue" in str(err.value)
    assert kube.obj("ConfigMap", NS, "live")["data"] == {"colour": "blue"}


def test_originals_keep_each_object_as_read_before_the_first_write():
    kube = FakeKube([configmap("live", colour="blue")])
    engine = eng.Engine(kube)
    key = ("ConfigMap", NS, "live")
    for colour in ("green", "red"):
        live = engine.get(CONFIGMAP, NS, "live")
        engine.write(eng.Write("patch", CONFIGMAP, NS, "live", {
            "metadata": {"resourceVersion": live["metadata"]["resourceVersion"]},
            "data": {"colour": colour}}))
    engine.write(eng.Write("create", CONFIGMAP, NS, "new", configmap("new", colour="x")))
    assert engine.originals[key]["data"] == {"colour": "blue"}  # not the green in between
    assert engine.written[key]["data"] == {"colour": "red"}
    assert engine.originals[("ConfigMap", NS, "new")] is None  # did not exist


def test_proof_without_a_rejection_handler_raises_the_wait_error():
    engine = eng.Engine(FakeKube())

    def fails():
        raise WaitTimeout("still waiting")

    with pytest.raises(WaitTimeout):
        engine.prove(fails)
    assert eng.Engine(FakeKube(), wait=False).prove(fails) is None


class Counter(object):
    """Scales two Deployments one at a time: the engine writes the first, settles it,
    and plans again on fresh reads."""

    one_at_a_time = True

    def __init__(self, targets):
        self.targets = targets
        self.settled = []

    def observe(self, engine):
        return dict((name, engine.get(DEPLOYMENT, NS, name)) for name in self.targets)

    def plan(self, observed):
        return [eng.Write("patch", DEPLOYMENT, NS, name, {"spec": {"replicas": want}},
                          "scale %s to %d" % (name, want))
                for name, want in sorted(self.targets.items())
                if observed[name]["spec"]["replicas"] != want]

    def settle(self, write):
        self.settled.append(write.name)

    def report(self, engine, first, observed, writes):
        return dict(writes=len(writes))


def deployment(name, replicas):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": NS}, "spec": {"replicas": replicas}}


def test_one_at_a_time_settles_each_write_then_plans_again():
    kube = FakeKube([deployment("a", 1), deployment("b", 3)])
    backend = Counter({"a": 3, "b": 1})
    result = eng.Engine(kube).run(backend)
    assert result["actions"] == ["scale a to 3", "scale b to 1"]
    assert backend.settled == ["a", "b"]


def test_check_mode_one_at_a_time_sees_its_own_writes_as_rolled_out():
    kube = FakeKube([deployment("a", 1), deployment("b", 3)])
    backend = Counter({"a": 3, "b": 1})
    engine = eng.Engine(kube, check_mode=True)
    result = engine.run(backend)
    assert result["actions"] == ["scale a to 3", "scale b to 1"]
    assert kube.writes() == [] and backend.settled == []
    simulated = engine.get(DEPLOYMENT, NS, "a")
    assert simulated["status"]["readyReplicas"] == 3


def test_a_plan_that_never_settles_is_an_error_not_a_loop():
    class Restless(Counter):
        def plan(self, observed):
            return [eng.Write("patch", DEPLOYMENT, NS, "a", {"spec": {"replicas": 9}})]

    kube = FakeKube([deployment("a", 1)])
    with pytest.raises(KubeError) as err:
        eng.Engine(kube).run(Restless({"a": 9}))
    assert "did not settle after 8 writes" in str(err.value)


def test_list_in_check_mode_folds_in_simulated_objects():
    kube = FakeKube([deployment("a", 1)])
    engine = eng.Engine(kube, check_mode=True)
    engine.write(eng.Write("create", DEPLOYMENT, NS, "b", deployment("b", 2)))
    engine.write(eng.Write("patch", DEPLOYMENT, NS, "a", {"spec": {"replicas": 5}}))
    names = sorted((d["metadata"]["name"], d["spec"]["replicas"])
                   for d in engine.list(DEPLOYMENT, NS))
    assert names == [("a", 5), ("b", 2)]
    engine.write(eng.Write("delete", DEPLOYMENT, NS, "a"))
    assert [d["metadata"]["name"] for d in engine.list(DEPLOYMENT, NS)] == ["b"]


def test_write_rejects_an_unknown_verb():
    with pytest.raises(ValueError):
        eng.Write("upsert", CONFIGMAP, NS, "x")


def test_result_skeleton_and_remaining_budget():
    now = [100.0]
    engine = eng.Engine(FakeKube(), wait_timeout=30, clock=lambda: now[0])
    now[0] = 110.0
    assert engine.remaining() == 20
    now[0] = 200.0
    assert engine.remaining() == 1
    engine.warnings.append("careful")
    result = engine.result(extra=1)
    assert result == dict(changed=False, actions=[], diff=dict(before={}, after={}),
                          warnings=["careful"], extra=1)


def test_a_write_the_server_found_unchanged_is_not_an_action():
    """Server-side apply answers with the object whether or not it changed anything: the
    caller's ``changed`` predicate decides whether the write is reported (and simulated)."""
    def spec_changed(before, after):
        return before["spec"] != after["spec"]

    for check_mode in (False, True):
        kube = FakeKube([deployment("a", 2)])
        engine = eng.Engine(kube, check_mode=check_mode)
        engine.write(eng.Write("apply", DEPLOYMENT, NS, "a", deployment("a", 2)),
                     changed=spec_changed)
        assert engine.actions == [] and engine.result()["diff"] == dict(before={}, after={})
        assert engine.simulated == {}
        engine.write(eng.Write("apply", DEPLOYMENT, NS, "a", deployment("a", 3)),
                     changed=spec_changed)
        assert engine.actions == ["apply Deployment web/a"]
        assert engine.get(DEPLOYMENT, NS, "a")["spec"]["replicas"] == 3
        assert kube.obj("Deployment", NS, "a")["spec"]["replicas"] == (2 if check_mode else 3)


def test_still_written_passes_when_the_field_holds_and_names_the_other_writer_when_not():
    kube = FakeKube([configmap("live", colour="blue")])
    engine = eng.Engine(kube)
    engine.run(ColourBackend("green"))
    engine.still_written(CONFIGMAP, NS, "live", ("data", "colour"))  # holds: no error
    obj = kube.obj("ConfigMap", NS, "live")
    obj["data"]["colour"] = "blue"
    obj["metadata"]["managedFields"] = [
        {"manager": "progressive.delivery", "operation": "Update", "time": "2026-01-01T00:00:01Z",
         "fieldsV1": {"f:data": {"f:colour": {}}}},
        {"manager": "rogue-deployer", "operation": "Update", "time": "2026-01-01T00:00:02Z",
         "fieldsV1": {"f:data": {"f:colour": {}}}},
        {"manager": "labeller", "operation": "Update", "time": "2026-01-01T00:00:03Z",
         "fieldsV1": {"f:metadata": {"f:labels": {}}}}]
    kube._store(("ConfigMap", NS, "live"), obj)
    with pytest.raises(WaitFailed) as err:
        engine.still_written(CONFIGMAP, NS, "live", ("data", "colour"))
    text = str(err.value)
    assert "ConfigMap web/live data.colour was changed by rogue-deployer (Update at " in text
    assert "labeller" not in text and "now 'blue', written 'green'" in text


def test_still_written_is_quiet_for_objects_not_written_and_in_check_mode():
    kube = FakeKube([configmap("live", colour="green")])
    engine = eng.Engine(kube)
    engine.run(ColourBackend("green"))  # nothing to write
    engine.still_written(CONFIGMAP, NS, "live", ("data", "colour"))
    checking = eng.Engine(FakeKube([configmap("live", colour="blue")]), check_mode=True)
    checking.run(ColourBackend("green"))
    checking.still_written(CONFIGMAP, NS, "live", ("data", "colour"))


def test_check_mode_can_send_creates_as_server_dry_runs():
    kube = FakeKube()
    engine = eng.Engine(kube, check_mode=True, dry_run_create=True)
    result = engine.run(ColourBackend("green"))
    assert result["actions"] == ["create live"] and result["colour"] == "green"
    assert kube.dry_runs() == [("create", "ConfigMap", "live")]
    assert kube.writes() == [] and kube.obj("ConfigMap", NS, "live") is None
    plain = FakeKube()
    eng.Engine(plain, check_mode=True).run(ColourBackend("green"))
    assert plain.dry_runs() == []  # by default a create is simulated locally


class GuardedColourBackend(ColourBackend):
    """The same, written as a JSON patch conditional on data.colour alone."""

    def plan(self, live):
        self.plans += 1
        if live["data"].get("colour") == self.wanted:
            return []
        return [eng.Write("json_patch", CONFIGMAP, NS, "live", [
            {"op": "test", "path": "/data/colour", "value": live["data"].get("colour")},
            {"op": "add", "path": "/data/colour", "value": self.wanted}],
            "switch live to %s" % self.wanted)]


def test_a_json_patch_is_conditional_on_the_tested_field_only():
    kube = FakeKube([configmap("live", colour="blue", owner="a")])

    def other_field(fake, verb, key):
        fake.before_write = None
        fake.store[key]["data"]["owner"] = "b"
    kube.before_write = other_field
    engine = eng.Engine(kube)
    engine.run(GuardedColourBackend("green"))
    assert kube.obj("ConfigMap", NS, "live")["data"] == {"colour": "green", "owner": "b"}
    assert engine.conflicts == 0


def test_a_failed_json_patch_test_is_a_lost_race_and_plans_again():
    kube = FakeKube([configmap("live", colour="blue")])

    def same_field(fake, verb, key):
        fake.before_write = None
        fake.store[key]["data"]["colour"] = "red"
    kube.before_write = same_field
    engine = eng.Engine(kube)
    backend = GuardedColourBackend("green")
    engine.run(backend)
    assert engine.conflicts == 1 and backend.plans == 2
    sent = [s.body[0]["value"] for s in kube.sent]
    assert sent == ["blue", "red"]


def test_a_json_patch_in_check_mode_is_simulated():
    kube = FakeKube([configmap("live", colour="blue")])
    result = eng.Engine(kube, check_mode=True).run(GuardedColourBackend("green"))
    assert kube.sent == [] and result["diff"]["after"]["ConfigMap/live"]["data"] == {
        "colour": "green"}


def test_a_failure_midway_carries_what_was_written_and_what_is_live():
    kube = FakeKube()
    engine = eng.Engine(kube)
    with pytest.raises(KubeError) as err:
        with engine.accounting(lambda: "live: blue"):
            engine.write(eng.Write("create", CONFIGMAP, NS, "live", configmap("live"),
                                   "create live"))
            raise KubeError(403, "Forbidden", "cannot list endpointslices")
    assert err.value.actions == ["create live"] and err.value.live == "live: blue"
    with pytest.raises(KubeError) as err:
        with eng.Engine(kube).accounting():
            raise KubeError(403, "Forbidden", "cannot get configmaps")
    assert err.value.actions == [] and err.value.live is None


# --- the read cache: each object read once per call unless it changed ------------
def reads(kube, kind="ConfigMap"):
    return [r for r in kube.requests if r[0] in ("get", "list") and r[1] == kind]


def test_a_call_that_changes_nothing_reads_each_object_once():
    kube = FakeKube([configmap("live", colour="green")])
    result = eng.Engine(kube).run(ColourBackend("green"))  # observe, then report: one GET
    assert result["changed"] is False
    assert reads(kube) == [("get", "ConfigMap", "live")]


def test_a_write_makes_the_next_read_of_that_object_fresh():
    kube = FakeKube([configmap("live", colour="blue")])
    result = eng.Engine(kube).run(ColourBackend("green"))
    assert result["colour"] == "green"  # the report read the object as written
    assert reads(kube) == [("get", "ConfigMap", "live"), ("get", "ConfigMap", "live")]


def test_a_conflict_reads_again_before_planning_again():
    kube = FakeKube([configmap("live", colour="blue")])
    state = {"raced": False}

    def other_writer(fake, verb, key):
        if not state["raced"]:
            state["raced"] = True
            fake.put(configmap("live", colour="red", owner="them"))
    kube.before_write = other_writer
    engine = eng.Engine(kube)
    engine.run(ColourBackend("green"))
    assert engine.conflicts == 1
    # read, 409, read again (the other writer's change is seen), write, read for the report
    assert reads(kube) == [("get", "ConfigMap", "live")] * 3
    assert kube.obj("ConfigMap", NS, "live")["data"] == {"colour": "green", "owner": "them"}


def test_a_write_the_server_kept_as_it_was_keeps_the_reads():
    kube = FakeKube([configmap("live", colour="green")])
    engine = eng.Engine(kube)
    current = engine.get(CONFIGMAP, NS, "live")
    engine.reads.written(CONFIGMAP, NS, "live", current, dict(current))
    engine.get(CONFIGMAP, NS, "live")
    assert reads(kube) == [("get", "ConfigMap", "live")]
    engine.reads.written(CONFIGMAP, NS, "live", current,
                         dict(current, metadata=dict(current["metadata"], resourceVersion="x")))
    engine.get(CONFIGMAP, NS, "live")
    assert reads(kube) == [("get", "ConfigMap", "live")] * 2


def test_a_watch_or_a_write_past_the_engine_forgets_what_was_read():
    kube = FakeKube([configmap("live", colour="green"), configmap("other", colour="x")])
    engine = eng.Engine(kube)
    engine.get(CONFIGMAP, NS, "live")
    engine.get(CONFIGMAP, NS, "other")
    list(engine.kube.watch(CONFIGMAP, NS, "1", 1, name="live"))  # a wait that had to wait
    engine.get(CONFIGMAP, NS, "live")
    engine.kube.patch(CONFIGMAP, NS, "other", {"data": {"colour": "y"}})  # a restore, say
    assert engine.get(CONFIGMAP, NS, "other")["data"]["colour"] == "y"
    assert reads(kube) == [("get", "ConfigMap", "live"), ("get", "ConfigMap", "other"),
                           ("get", "ConfigMap", "live"), ("get", "ConfigMap", "other")]
    engine.get(CONFIGMAP, NS, "other")
    engine.kube.get_or_none(CONFIGMAP, NS, "other")  # plain reads pass through
    assert len(reads(kube)) == 5


def test_an_object_is_found_in_a_list_read_before_and_a_write_forgets_the_lists():
    kube = FakeKube([configmap("live", colour="green"), configmap("other", colour="x")])
    engine = eng.Engine(kube)
    assert sorted(i["metadata"]["name"] for i in engine.list(CONFIGMAP, NS)) == ["live", "other"]
    live = engine.get(CONFIGMAP, NS, "live")
    assert live["kind"] == "ConfigMap" and live["apiVersion"] == "v1"
    assert engine.get(CONFIGMAP, NS, "missing") is None
    assert reads(kube) == [("list", "ConfigMap", NS)]
    engine.list(CONFIGMAP, NS, label_selector="a=b")  # a selected list is its own read
    engine.write(eng.Write("patch", CONFIGMAP, NS, "other", {"data": {"colour": "z"}}))
    assert engine.list(CONFIGMAP, NS)[1]["data"]["colour"] == "z"
    assert engine.get(CONFIGMAP, NS, "live")["data"]["colour"] == "green"
    assert reads(kube) == [("list", "ConfigMap", NS)] * 3


def test_what_the_engine_returns_is_a_copy():
    kube = FakeKube([configmap("live", colour="green")])
    engine = eng.Engine(kube)
    engine.get(CONFIGMAP, NS, "live")["data"]["colour"] = "scribbled"
    engine.list(CONFIGMAP, NS)[0]["data"]["colour"] = "scribbled"
    assert engine.get(CONFIGMAP, NS, "live")["data"]["colour"] == "green"
    assert engine.list(CONFIGMAP, NS)[0]["data"]["colour"] == "green"


def test_a_read_made_past_the_engine_refreshes_what_it_read():
    """A wait reads its object fresh (a list narrowed to the name); what it saw replaces
    the engine's copy, so a report after the proof shows the object as the wait left it."""
    kube = FakeKube([configmap("live", colour="green"), configmap("other", colour="x")])
    engine = eng.Engine(kube)
    engine.get(CONFIGMAP, NS, "live")
    engine.list(CONFIGMAP, NS)
    kube.put(configmap("live", colour="blue"))  # a controller changes it
    listed = engine.kube.list(CONFIGMAP, NS, field_selector="metadata.name=live")
    assert listed["items"][0]["data"]["colour"] == "blue"
    assert engine.get(CONFIGMAP, NS, "live")["data"]["colour"] == "blue"
    # the list held the old copy of 'live', so it is dropped: the rest is read again
    assert [i["data"]["colour"] for i in engine.list(CONFIGMAP, NS)] == ["blue", "x"]
    assert engine.get(CONFIGMAP, NS, "other")["data"]["colour"] == "x"  # from that list
    assert reads(kube) == [("get", "ConfigMap", "live"), ("list", "ConfigMap", NS),
                           ("list", "ConfigMap", NS), ("list", "ConfigMap", NS)]


def test_the_first_read_past_the_engine_after_a_write_forgets_the_other_kinds():
    """A write moves controllers: a Deployment's patch changes its ReplicaSets. A wait whose
    first read is already satisfied opens no watch, so that read itself must drop what was
    read before the write."""
    kube = FakeKube([configmap("live", colour="blue"), replicaset("web-1", 5)])
    engine = eng.Engine(kube)
    engine.get(REPLICASET, NS, "web-1")
    engine.write(eng.Write("patch", CONFIGMAP, NS, "live", {"data": {"colour": "green"}}))
    kube.put(replicaset("web-1", 1))  # the controller's answer to the write
    engine.kube.list(CONFIGMAP, NS, field_selector="metadata.name=live")  # the wait's read
    assert engine.get(REPLICASET, NS, "web-1")["spec"]["replicas"] == 1
    # no write since that read: the cache serves again
    engine.kube.list(CONFIGMAP, NS, field_selector="metadata.name=live")
    engine.get(REPLICASET, NS, "web-1")
    assert [r for r in kube.requests if r[1] == "ReplicaSet"] == [("get", "ReplicaSet", "web-1")] * 2


def service(name, selector, ports=None):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NS},
            "spec": {"selector": selector, "ports": ports or [{"port": 80}]}}


def endpointslice(name, pods):
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name, "namespace": NS},
            "endpoints": [{"targetRef": {"name": pod}} for pod in pods]}


def selector_patch(version, **spec):
    spec.setdefault("selector", {"app": "web", "version": version})
    return eng.Write("patch", SERVICE, NS, "web", {
        "metadata": {"annotations": {"live": version}}, "spec": spec})


def test_a_service_selector_patch_moves_its_endpointslices_only():
    """Pointing a Service at other pods changes its EndpointSlices; Deployments, pods and
    the other Services stay as read, so a report after the switch need not read them
    again. Anything else a Service patch changes (its ports) may move anything."""
    assert eng.moved_kinds(selector_patch("v2")) == ("EndpointSlice", "Endpoints")
    assert eng.moved_kinds(selector_patch("v2", ports=[{"port": 81}])) is None
    assert eng.moved_kinds(eng.Write("create", SERVICE, NS, "web", service("web", {}))) is None
    assert eng.moved_kinds(eng.Write("patch", DEPLOYMENT, NS, "web-v2",
                                     {"spec": {"replicas": 2}})) is None
    assert eng.moved_kinds(eng.Write("delete", SERVICE, NS, "web")) is None


def test_after_a_selector_patch_only_the_moved_kinds_are_read_again():
    kube = FakeKube([service("web", {"app": "web", "version": "v1"}),
                     service("web-preview", {"app": "web", "version": "v2"}),
                     deployment("web-v1", 3), deployment("web-v2", 3),
                     endpointslice("web-abc", ["v1-pod"])])
    engine = eng.Engine(kube)
    engine.list(DEPLOYMENT, NS)
    engine.get(SERVICE, NS, "web-preview")
    engine.get(ENDPOINTSLICE, NS, "web-abc")
    engine.write(selector_patch("v2"))
    kube.put(endpointslice("web-abc", ["v2-pod"]))  # the controller's answer
    engine.kube.get(SERVICE, NS, "web")  # the proof's read past the engine
    assert engine.get(ENDPOINTSLICE, NS, "web-abc")["endpoints"][0]["targetRef"]["name"] == "v2-pod"
    engine.get(DEPLOYMENT, NS, "web-v1")
    engine.get(SERVICE, NS, "web-preview")
    engine.get(SERVICE, NS, "web")
    assert [r for r in kube.requests if r[0] != "patch"] == [
        ("list", "Deployment", NS), ("get", "Service", "web-preview"),
        ("get", "EndpointSlice", "web-abc"), ("get", "Service", "web"),  # the write's read
        ("get", "Service", "web"), ("get", "EndpointSlice", "web-abc")]


def test_a_selector_patch_after_another_write_still_forgets_everything():
    kube = FakeKube([service("web", {"app": "web", "version": "v1"}), deployment("web-v1", 3),
                     configmap("live", colour="blue")])
    engine = eng.Engine(kube)
    engine.get(DEPLOYMENT, NS, "web-v1")
    engine.write(eng.Write("patch", CONFIGMAP, NS, "live", {"data": {"colour": "green"}}))
    engine.write(selector_patch("v2"))
    engine.kube.get(SERVICE, NS, "web")
    engine.get(DEPLOYMENT, NS, "web-v1")
    assert reads(kube, "Deployment") == [("get", "Deployment", "web-v1")] * 2


def test_a_call_without_writes_keeps_its_reads_across_a_wait_read():
    kube = FakeKube([configmap("live", colour="blue"), replicaset("web-1", 5)])
    engine = eng.Engine(kube)
    engine.get(REPLICASET, NS, "web-1")
    engine.kube.list(CONFIGMAP, NS, field_selector="metadata.name=live")
    engine.get(REPLICASET, NS, "web-1")
    assert [r for r in kube.requests if r[1] == "ReplicaSet"] == [("get", "ReplicaSet", "web-1")]


def test_a_list_is_read_once_copied_unless_shared_and_its_items_have_their_kind():
    kube = FakeKube([deployment("a", 1), deployment("b", 3)])
    engine = eng.Engine(kube)
    first = engine.list(DEPLOYMENT, NS)
    assert sorted(item["metadata"]["name"] for item in first) == ["a", "b"]
    assert all(item["kind"] == "Deployment" for item in first)
    first[0]["spec"]["replicas"] = 99  # a copy: the call's own read is untouched
    shared = engine.list(DEPLOYMENT, NS, shared=True)
    assert sorted(item["spec"]["replicas"] for item in shared) == [1, 3]
    again = engine.list(DEPLOYMENT, NS, shared=True)
    assert all(a is b for a, b in zip(shared, again))  # the same objects, no copy
    assert [r for r in kube.requests if r[0] == "list"] == [("list", "Deployment", NS)]
    assert engine.get(DEPLOYMENT, NS, "b")["spec"]["replicas"] == 3  # found in the list


def test_what_a_wait_saw_last_is_read_from_the_cache_not_again():
    kube = FakeKube([deployment("a", 1)])
    engine = eng.Engine(kube)
    seen = dict(deployment("a", 2), status={"readyReplicas": 2})
    assert engine.saw(DEPLOYMENT, NS, "a", seen) is seen
    got = engine.get(DEPLOYMENT, NS, "a")
    assert got == seen and got is not seen  # a copy of what the wait saw
    assert [r for r in kube.requests if r[0] in ("get", "list")] == []
