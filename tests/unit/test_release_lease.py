"""release_lease: the decisions on a Lease as read (free, expired, held by us, held by
another), the Lease each write leaves, the default holder identity, and the call on the
engine with the in-memory fake client (a lost create race and a lost update race re-read
and are refused; check mode writes nothing; bad input reads nothing). The clock is always
injected."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    ValidationError,
)
from ansible_collections.progressive.delivery.plugins.module_utils.lease import (
    backend,
    decide,
    holder as hl,
    holding as hd,
)

from fake_kube import FakeKube

NS = "shop"
T0 = 1796530800.0  # 2026-12-06T04:20:00Z
ME = "alice@build-1 ansible-playbook pid 4242 started 2026-12-06T04:19:58Z"
OTHER = "AWX job 42 on https://awx.example.com"


def lease(holder=OTHER, renewed=T0, duration=600, acquired=None, rv="7", purpose=None,
          transitions=0):
    spec = {"leaseTransitions": transitions}
    if holder is not None:
        spec["holderIdentity"] = holder
    if renewed is not None:
        spec["renewTime"] = hd.format_time(renewed)
    spec["acquireTime"] = hd.format_time(acquired if acquired is not None else (renewed or T0))
    if duration is not None:
        spec["leaseDurationSeconds"] = duration
    obj = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
           "metadata": {"name": "myapp-release", "namespace": NS, "resourceVersion": rv,
                        "annotations": {}},
           "spec": spec}
    if purpose:
        obj["metadata"]["annotations"][hd.PURPOSE] = purpose
    return obj


# --- times -----------------------------------------------------------------
@pytest.mark.parametrize("text,epoch", [
    ("2026-12-06T04:20:00.000000Z", T0),
    ("2026-12-06T04:20:00Z", T0),
    ("2026-12-06T04:20:00.5Z", T0 + 0.5),
    ("2026-12-06T05:20:00+01:00", T0),
    ("2026-12-06T03:50:00-0030", T0),
])
def test_times_are_read_as_the_api_writes_them(text, epoch):
    assert hd.parse_time(text) == epoch


@pytest.mark.parametrize("text", [None, "", "yesterday", 17, "2026-13-45T99:00:00Z"])
def test_unreadable_times_are_none(text):
    assert hd.parse_time(text) is None


def test_a_written_time_reads_back_the_same():
    assert hd.format_time(T0 + 0.25) == "2026-12-06T04:20:00.250000Z"
    assert hd.parse_time(hd.format_time(T0 + 0.25)) == T0 + 0.25


def test_spans_read_as_people_say_them():
    assert [hd.show_span(s) for s in (0, 12, 250, 3725, -5)] == \
        ["0s", "12s", "4m 10s", "1h 2m 5s", "0s"]


# --- who holds it ------------------------------------------------------------
def test_a_lease_expires_its_duration_after_it_was_renewed():
    held = hd.holding_of(lease(renewed=T0, duration=600, acquired=T0 - 300))
    assert held.holder == OTHER and held.acquired == T0 - 300 and held.expires == T0 + 600
    assert not held.expired(T0 + 599.9)
    assert held.expired(T0 + 600)


def test_a_lease_without_holder_is_free_and_one_without_duration_counts_as_expired():
    assert hd.holding_of(None) is None
    assert hd.holding_of(lease(holder=None)) is None
    assert hd.holding_of(lease(holder="")) is None
    assert hd.holding_of(lease(duration=None)).expired(T0)
    assert hd.holding_of(lease(renewed=None, acquired=T0)).expires == T0 + 600


# --- taking it ----------------------------------------------------------------
@pytest.mark.parametrize("current,now,takeover,action", [
    (None, T0, False, "create"),
    (lease(holder=None), T0, False, "take"),
    (lease(holder=ME), T0 + 5, False, "renew"),
    (lease(holder=ME), T0 + 6000, False, "renew"),          # ours, even when expired
    (lease(holder=OTHER), T0 + 600, False, "take_expired"),
    (lease(holder=OTHER, duration=None), T0, False, "take_expired"),
    (lease(holder=OTHER), T0 + 599, False, "refuse"),
    (lease(holder=OTHER), T0 + 599, True, "take_over"),
])
def test_what_a_take_does(current, now, takeover, action):
    assert decide.acquire_action(current, ME, now, takeover) == action


@pytest.mark.parametrize("current,action", [
    (None, "none"),
    (lease(holder=None), "none"),
    (lease(holder=ME), "release"),
    (lease(holder=OTHER), "other"),
])
def test_what_a_release_does(current, action):
    assert decide.release_action(current, ME) == action


def test_a_refusal_names_the_holder_since_when_until_when_and_how_to_take_over():
    current = lease(holder=OTHER, renewed=T0, acquired=T0 - 60, purpose="canary release of myapp v2")
    with pytest.raises(decide.LeaseHeld) as caught:
        decide.plan("acquired", NS, "myapp-release", "myapp", current, ME, 600, T0 + 10)
    text = str(caught.value)
    assert "myapp-release in shop is held by AWX job 42 on https://awx.example.com" in text
    assert "(canary release of myapp v2)" in text
    assert "since 2026-12-06T04:19:00Z" in text
    assert "expires at 2026-12-06T04:30:00Z, in 9m 50s" in text
    assert "takeover: true" in text and "bluegreen_lease_takeover" in text
    assert caught.value.result["lease"]["holder"] == OTHER


def test_a_create_is_the_whole_lease_without_resource_version():
    action, writes = decide.plan("acquired", NS, "myapp-release", "myapp", None, ME, 600, T0,
                                 purpose="release of myapp v2")
    assert action == "create" and [w.verb for w in writes] == ["create"]
    body = writes[0].body
    assert "resourceVersion" not in body["metadata"]
    assert body["spec"] == {"holderIdentity": ME, "leaseDurationSeconds": 600,
                            "acquireTime": "2026-12-06T04:20:00.000000Z",
                            "renewTime": "2026-12-06T04:20:00.000000Z", "leaseTransitions": 0}
    assert body["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "progressive.delivery",
                                          "progressive.delivery/release-of": "myapp"}
    assert body["metadata"]["annotations"] == {hd.PURPOSE: "release of myapp v2"}


def test_a_renew_keeps_the_acquire_time_and_moves_the_renew_time_conditionally():
    current = lease(holder=ME, renewed=T0, acquired=T0 - 100, transitions=2)
    current["metadata"]["managedFields"] = [{"manager": "x"}]
    action, writes = decide.plan("acquired", NS, "myapp-release", "myapp", current, ME, 900,
                                 T0 + 30)
    assert action == "renew" and writes[0].verb == "replace"
    body = writes[0].body
    assert body["metadata"]["resourceVersion"] == "7"
    assert "managedFields" not in body["metadata"]
    assert hd.parse_time(body["spec"]["acquireTime"]) == T0 - 100
    assert hd.parse_time(body["spec"]["renewTime"]) == T0 + 30
    assert body["spec"]["leaseDurationSeconds"] == 900
    assert body["spec"]["leaseTransitions"] == 2


def test_a_take_over_counts_a_transition_and_keeps_who_it_was_taken_from():
    current = lease(holder=OTHER, renewed=T0, transitions=3, purpose="old")
    action, writes = decide.plan("acquired", NS, "myapp-release", "myapp", current, ME, 600,
                                 T0 + 700, purpose="new")
    assert action == "take_expired"
    body = writes[0].body
    assert body["metadata"]["resourceVersion"] == "7"
    assert body["spec"]["holderIdentity"] == ME and body["spec"]["leaseTransitions"] == 4
    assert hd.parse_time(body["spec"]["acquireTime"]) == T0 + 700
    assert body["metadata"]["annotations"] == {hd.PURPOSE: "new", hd.LAST_HOLDER: OTHER}


def test_a_release_clears_the_holder_conditionally_and_only_ours():
    current = lease(holder=ME, purpose="release of myapp v2", transitions=1)
    action, writes = decide.plan("released", NS, "myapp-release", "myapp", current, ME, 600,
                                 T0 + 50)
    assert action == "release"
    body = writes[0].body
    assert writes[0].verb == "replace" and body["metadata"]["resourceVersion"] == "7"
    assert "holderIdentity" not in body["spec"] and "acquireTime" not in body["spec"]
    assert hd.parse_time(body["spec"]["renewTime"]) == T0 + 50
    assert body["metadata"]["annotations"] == {hd.LAST_HOLDER: ME}
    assert hd.holding_of(body) is None
    for other in (None, lease(holder=None), lease(holder=OTHER)):
        assert decide.plan("released", NS, "myapp-release", "myapp", other, ME, 600, T0)[1] == []


# --- the default holder ---------------------------------------------------------
def test_in_an_awx_job_the_holder_is_the_job():
    env = {"JOB_ID": "42", "INVENTORY_ID": "3", "AWX_HOST": "https://awx.example.com"}
    assert hl.default_holder(env, lambda pid: None, 10) == "AWX job 42 on https://awx.example.com"
    assert hl.default_holder({"JOB_ID": "42", "INVENTORY_ID": "3"}, lambda pid: None, 10,
                             context="cluster-a") == "AWX job 42 (cluster-a)"


def test_a_job_id_alone_is_not_an_awx_job():
    assert hl.awx_job({"JOB_ID": "42"}) is None


PROCESSES = {
    # pid: (parent, argv, start)
    900: (1, ["/bin/bash"], T0 - 1000),
    4242: (900, ["/usr/bin/python3", "/venv/bin/ansible-playbook", "site.yml"], T0 - 2),
    4300: (4242, ["/usr/bin/python3", "/venv/bin/ansible-playbook", "site.yml"], T0 - 1),
    4301: (4300, ["/bin/sh", "-c", "python3 AnsiballZ_release_lease.py"], T0),
    4302: (4301, ["python3", "AnsiballZ_release_lease.py"], T0),
}


def test_outside_awx_the_holder_is_the_outermost_ansible_playbook_process():
    # Ansible's worker (4300) is a fork of ansible-playbook (4242): the top one counts, so
    # every task of the run has the same identity.
    holder = hl.default_holder({"USER": "alice"}, PROCESSES.get, 4302, user="alice",
                               host="build-1", context="localhost")
    assert holder == "alice@build-1 ansible-playbook pid 4242 started 2026-12-06T04:19:58Z (localhost)"


def test_without_ansible_playbook_above_the_parent_process_stands_in():
    # a module run on a remote host: sshd, a shell, python
    remote = {700: (1, ["sshd: bob"], T0), 701: (700, ["/bin/sh", "-c", "python3"], T0),
              702: (701, ["python3", "AnsiballZ_release_lease.py"], T0)}
    assert hl.default_holder({}, remote.get, 702, user="bob", host="h") == "bob@h pid 701"


def test_the_running_process_can_be_read_from_proc():
    import os
    info = hl.read_linux_process(os.getpid())
    assert info is not None and info[0] == os.getppid() and info[1]
    assert hl.read_linux_process(0) is None


# --- the call on the engine -----------------------------------------------------
def params(**extra):
    base = dict(name="myapp", namespace=NS, lease_name=None, state="acquired", holder=ME,
                holder_context=None, duration="10m", takeover=False, purpose=None)
    base.update(extra)
    return base


def call(kube, now, check_mode=False, **extra):
    return backend.run_lease(params(**extra), lambda: kube, lambda ctx: "default " + str(ctx),
                             check_mode=check_mode, clock=lambda: now)


def test_take_renew_release_and_take_again():
    kube = FakeKube()
    first = call(kube, T0)
    assert first["changed"] and first["decision"] == "create"
    assert first["lease"]["holder"] == ME and first["expires"] == "2026-12-06T04:30:00Z"
    again = call(kube, T0 + 60)
    assert again["decision"] == "renew" and again["lease"]["expires"] == "2026-12-06T04:31:00Z"
    gone = call(kube, T0 + 70, state="released")
    assert gone["decision"] == "release" and gone["lease"]["held"] is False
    assert gone["lease"]["last_holder"] == ME
    assert call(kube, T0 + 80, state="released")["changed"] is False
    other = call(kube, T0 + 90, holder=OTHER)
    assert other["decision"] == "take" and other["lease"]["transitions"] == 1
    assert kube.writes() == [("create", "Lease", "myapp-release")] + \
        [("replace", "Lease", "myapp-release")] * 3


def test_the_default_holder_is_used_when_none_is_given():
    kube = FakeKube()
    result = call(kube, T0, holder=None, holder_context="cluster-b")
    assert result["holder"] == "default cluster-b"


def test_held_by_another_job_fails_and_writes_nothing_also_in_check_mode():
    for check_mode in (False, True):
        kube = FakeKube([lease(holder=OTHER, renewed=T0)])
        with pytest.raises(decide.LeaseHeld):
            call(kube, T0 + 1, check_mode=check_mode)
        assert kube.writes() == []


def test_losing_the_create_race_rereads_and_is_refused():
    def other_job_creates_first(fake, verb, key):
        if verb == "create" and key[0] == "Lease" and key not in fake.store:
            fake.put(lease(holder=OTHER, renewed=T0))
    kube = FakeKube(before_write=other_job_creates_first)
    with pytest.raises(decide.LeaseHeld) as caught:
        call(kube, T0 + 1)
    assert OTHER in str(caught.value)
    assert kube.writes() == [("create", "Lease", "myapp-release")]  # the refused one


def test_losing_the_take_of_an_expired_lease_rereads_and_is_refused():
    def other_job_takes_it_first(fake, verb, key):
        if verb == "replace" and fake.store[key]["spec"]["holderIdentity"] == "dead job":
            fake.put(lease(holder=OTHER, renewed=T0 + 700))
    kube = FakeKube([lease(holder="dead job", renewed=T0)], before_write=other_job_takes_it_first)
    with pytest.raises(decide.LeaseHeld):
        call(kube, T0 + 701)
    assert kube.obj("Lease", NS, "myapp-release")["spec"]["holderIdentity"] == OTHER


def test_takeover_and_expiry_say_whose_lease_was_taken():
    kube = FakeKube([lease(holder=OTHER, renewed=T0)])
    result = call(kube, T0 + 5, takeover=True)
    assert result["decision"] == "take_over" and result["lease"]["holder"] == ME
    assert result["previous"]["holder"] == OTHER
    assert OTHER in result["warnings"][0]


def test_check_mode_reports_what_it_would_do_and_writes_nothing():
    kube = FakeKube()
    result = call(kube, T0, check_mode=True)
    assert result["changed"] and result["decision"] == "create"
    assert result["lease"]["holder"] == ME and kube.writes() == []
    assert kube.obj("Lease", NS, "myapp-release") is None


def test_releasing_a_lease_taken_over_from_us_leaves_it_alone():
    kube = FakeKube([lease(holder=OTHER, renewed=T0)])
    result = call(kube, T0 + 1, state="released")
    assert result["changed"] is False and result["decision"] == "other"
    assert "left the release lease" in result["warnings"][0]
    assert kube.writes() == []


@pytest.mark.parametrize("extra,field,words", [
    (dict(namespace="Shop"), "namespace", "'Shop'"),
    (dict(duration="soon"), "duration", "'soon'"),
    (dict(duration=0), "duration", "0"),
    (dict(duration=-5), "duration", "negative"),
    (dict(duration=2 ** 40), "duration", "longer than a lease can last"),
    (dict(lease_name="Bad_Name"), "lease_name", "'Bad_Name'"),
    (dict(name="My_App"), "name", "'My_App-release'"),
    (dict(holder="  "), "holder", "empty"),
    (dict(purpose="two\nlines"), "purpose", "one line"),
])
def test_bad_input_names_field_and_value_and_reads_nothing(extra, field, words):
    kube = FakeKube()
    with pytest.raises(ValidationError) as caught:
        call(kube, T0, **extra)
    assert [e.path for e in caught.value.errors] == [field]
    assert words in str(caught.value)
    assert kube.requests == []


def test_a_duration_rounds_up_to_whole_seconds():
    kube = FakeKube()
    assert call(kube, T0, duration="1.5")["duration_seconds"] == 2
    assert call(kube, T0 + 1, duration="1h30m")["duration_seconds"] == 5400


# --- a killed holder on this machine ----------------------------------------------
HERE = dict(boot_id="boot-1", pid_namespace="pid:[4026531836]")


def test_the_playbook_process_is_identified_by_boot_namespace_pid_and_start():
    identity = hl.process_identity(4302, PROCESSES.get, HERE["boot_id"], HERE["pid_namespace"])
    assert identity == dict(HERE, pid=4242, start=round(T0 - 2, 2))
    assert hl.process_identity(4302, PROCESSES.get, None, "ns") is None
    assert hl.process_identity(702, {702: (1, ["python3"], T0)}.get, "b", "ns") is None


@pytest.mark.parametrize("recorded,alive", [
    (dict(HERE, pid=4242, start=round(T0 - 2, 2)), True),          # still runs
    (dict(HERE, pid=5555, start=round(T0 - 2, 2)), False),         # gone
    (dict(HERE, pid=4242, start=round(T0 - 500, 2)), False),       # pid reused by a later process
    (dict(HERE, boot_id="boot-0", pid=5555, start=1.0), True),     # before a reboot: cannot tell
    (dict(HERE, pid_namespace="pid:[1]", pid=5555, start=1.0), True),  # another container
    (None, True),
    ({}, True),
])
def test_a_holder_is_known_dead_only_when_its_process_is_visible_and_gone(recorded, alive):
    assert hl.holder_alive(recorded, HERE["boot_id"], HERE["pid_namespace"],
                           PROCESSES.get) is alive


class Machine(object):
    def __init__(self, identity, gone=()):
        self._identity = identity
        self.gone = gone

    def identity(self):
        return self._identity

    def alive(self, recorded):
        return not (recorded and recorded.get("pid") in self.gone)


def test_a_killed_holder_on_this_machine_is_taken_over_at_once_and_a_live_one_refuses():
    kube = FakeKube()
    mine = dict(HERE, pid=4242, start=1.5)
    backend.run_lease(params(holder=OTHER), lambda: kube, None, clock=lambda: T0,
                      machine=Machine(mine))
    stored = kube.obj("Lease", NS, "myapp-release")
    assert hd.holding_of(stored).process == mine
    with pytest.raises(decide.LeaseHeld):
        backend.run_lease(params(), lambda: kube, None, clock=lambda: T0 + 1,
                          machine=Machine(dict(HERE, pid=5000, start=9.0)))
    result = backend.run_lease(params(), lambda: kube, None, clock=lambda: T0 + 2,
                               machine=Machine(dict(HERE, pid=5000, start=9.0), gone=(4242,)))
    assert result["decision"] == "take_abandoned"
    assert "(pid 4242) no longer runs on this machine" in result["warnings"][0]
    assert hd.holding_of(kube.obj("Lease", NS, "myapp-release")).process["pid"] == 5000
    released = backend.run_lease(params(state="released"), lambda: kube, None,
                                 clock=lambda: T0 + 3, machine=Machine(None))
    assert released["decision"] == "release"
    assert hd.PROCESS not in kube.obj("Lease", NS, "myapp-release")["metadata"]["annotations"]
