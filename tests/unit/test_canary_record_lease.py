"""The release lease taken by the call that reads the canary record (canary_release_state's
``lease`` option, canary/record_lease.py) and given back by the promotion (canary_step's
``lease.give_back``, canary/step_lease.py), on the in-memory client: the take is
release_lease's own (same Lease, same refusal), only when the run has work to do, sized to
what the run has left; bad lease input is refused before anything is read. The role's
whole release under the lease is proven on the testbed (tests/integration/test_release_lease.py)."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.canary import (
    record_backend,
    record_lease,
    release_record as rr,
    step_lease,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    ValidationError,
)
from ansible_collections.progressive.delivery.plugins.module_utils.lease import (
    decide,
    holding as hd,
)

from fake_kube import FakeKube
from test_release_lease import ME, NS, OTHER, T0, lease

STEPS = [{"weight": 10}, {"pause": "20s"}, {"weight": 50}, {"pause": "1s"}, {"weight": 100}]


def query(kube, check_mode=False, now=T0, **lease_option):
    params = dict(name="myapp", namespace=NS, record_name=None, state="query", version="v2",
                  steps=STEPS, on_resume="continue", gates=None, stable_version=None,
                  backend=None, step=None, phase=None, weight=None, gate_results=None,
                  reason=None, data=None, gate_interval=None,
                  lease=dict(lease_option, takeover=lease_option.get("takeover", False)))
    return record_backend.run_release_state(params, lambda: kube, check_mode=check_mode,
                                            clock=lambda: now, holder_of=lambda ctx: ME)


def held_by(kube):
    return hd.holding_of(kube.obj("Lease", NS, "myapp-release"))


def record_at(step, version="v2"):
    """A release of ``version`` recorded as progressing at ``step``."""
    steps = rr.parse_steps(STEPS)
    record = rr.new_record("myapp", version, "v1", "replicas", steps, T0 - 60)
    record = rr.update_record(record, T0 - 30, step=step, phase="progressing")
    return record_backend.record_writes(NS, "myapp-release", "myapp", None, record)[0].body


# --- how long ------------------------------------------------------------------
@pytest.mark.parametrize("start,decision,seconds", [
    # the pauses left (21 s), 3 weight steps + 3 waits of 60 s, a minute per step + 3
    (0, "start", 21 + 6 * 60 + 8 * 60),
    (2, "resume", 1 + 5 * 60 + 6 * 60),
    (None, "rollback", 3 * 60 + 3 * 60),
    (None, "promote", 3 * 60 + 3 * 60),
])
def test_the_default_duration_is_what_the_run_has_left(start, decision, seconds):
    steps = rr.parse_steps(STEPS)
    assert record_lease.default_duration(steps, start, decision, 60) == seconds


# --- taking it with the query --------------------------------------------------------
def test_a_new_release_takes_the_lease_in_the_query_call():
    kube = FakeKube()
    result = query(kube, wait_timeout=60, purpose="canary release of myapp v2")
    assert result["decision"] == "start" and result["changed"]
    taken = result["lease"]
    assert taken["decision"] == "create" and taken["holder"] == ME
    assert taken["lease_name"] == "myapp-release"
    assert taken["duration_seconds"] == 21 + 6 * 60 + 8 * 60
    held = held_by(kube)
    assert held.holder == ME and held.expires == T0 + taken["duration_seconds"]
    # one read of the record, then release_lease's read and its one write
    assert kube.requests == [("get", "ConfigMap", "myapp-release"),
                             ("get", "Lease", "myapp-release"),
                             ("create", "Lease", "myapp-release")]


def test_a_resumed_release_sizes_the_lease_to_the_steps_left_and_an_explicit_duration_wins():
    kube = FakeKube([record_at(2)])
    result = query(kube, wait_timeout=60)
    assert result["decision"] == "resume" and result["start_step"] == 2
    assert result["lease"]["duration_seconds"] == 1 + 5 * 60 + 6 * 60
    kube = FakeKube([record_at(2)])
    assert query(kube, duration="45m")["lease"]["duration_seconds"] == 45 * 60


def test_a_lease_held_by_another_job_refuses_the_query_and_nothing_is_written():
    kube = FakeKube([lease(holder=OTHER, renewed=T0 - 10)])
    with pytest.raises(decide.LeaseHeld) as refused:
        query(kube)
    assert "is held by %s" % OTHER in str(refused.value)
    assert kube.writes() == []
    assert held_by(kube).holder == OTHER


def test_a_done_release_takes_no_lease():
    steps = rr.parse_steps(STEPS)
    record = rr.new_record("myapp", "v2", "v1", "replicas", steps, T0 - 60)
    record = rr.update_record(record, T0 - 30, step=4, phase="promoted", weight=100)
    kube = FakeKube([record_backend.record_writes(NS, "myapp-release", "myapp", None,
                                                  record)[0].body])
    result = query(kube)
    assert result["decision"] == "done" and "lease" not in result
    assert kube.obj("Lease", NS, "myapp-release") is None and not result["changed"]


def test_check_mode_reports_the_take_and_writes_nothing():
    kube = FakeKube()
    result = query(kube, check_mode=True)
    assert result["lease"]["decision"] == "create"
    assert kube.writes() == [] and kube.obj("Lease", NS, "myapp-release") is None


@pytest.mark.parametrize("option,state,field,words", [
    (dict(duration="soon"), "query", "lease.duration", "soon"),
    (dict(duration="-5s"), "query", "lease.duration", "-5s"),
    (dict(name="Not_A_Name"), "query", "lease.name", "Not_A_Name"),
    (dict(holder="   "), "query", "lease.holder", "empty"),
    (dict(wait_timeout=0), "query", "lease.wait_timeout", "0"),
    (dict(colour="red"), "query", "lease", "colour"),
    (dict(duration="10m"), "present", "lease", "state=present"),
])
def test_bad_lease_input_is_refused_before_anything_is_read(option, state, field, words):
    kube = FakeKube()
    params = dict(name="myapp", namespace=NS, record_name=None, state=state, version="v2",
                  steps=STEPS, on_resume="continue", gates=None, stable_version=None,
                  backend=None, step=0 if state == "present" else None, phase=None,
                  weight=None, gate_results=None, reason=None, data=None, gate_interval=None,
                  lease=option)
    with pytest.raises(ValidationError) as refused:
        record_backend.run_release_state(params, lambda: kube, clock=lambda: T0,
                                         holder_of=lambda ctx: ME)
    errors = [(e.path, e.message) for e in refused.value.errors]
    assert any(path == field and words in message for path, message in errors), errors
    assert kube.requests == []


# --- giving it back with the promotion ------------------------------------------------
class Run(object):
    """What step_lease needs of a canary_step call."""

    def __init__(self, kube, give_back=True, holder=ME, check_mode=False, action="promote"):
        self.kube = kube
        self.check_mode = check_mode
        self.params = dict(name="myapp", namespace=NS, version="v2", action=action,
                           lease=dict(name="myapp-release", holder=holder, give_back=give_back))

    @staticmethod
    def clock():
        return T0


def test_the_promotion_gives_the_lease_back():
    kube = FakeKube([lease(holder=ME, renewed=T0 - 5)])
    assert step_lease.give_back(Run(kube)) == (True, None)
    after = kube.obj("Lease", NS, "myapp-release")
    assert hd.holding_of(after) is None
    assert after["metadata"]["annotations"][hd.LAST_HOLDER] == ME


def test_a_lease_another_job_holds_is_left_alone_with_a_warning():
    kube = FakeKube([lease(holder=OTHER, renewed=T0 - 5)])
    given_back, warning = step_lease.give_back(Run(kube))
    assert not given_back and OTHER in warning
    assert kube.writes() == [] and held_by(kube).holder == OTHER


@pytest.mark.parametrize("run_args", [dict(give_back=False), dict(check_mode=True)])
def test_without_give_back_or_in_check_mode_nothing_is_sent(run_args):
    kube = FakeKube([lease(holder=ME, renewed=T0 - 5)])
    assert step_lease.give_back(Run(kube, **run_args)) == (False, None)
    assert kube.requests == []


def test_only_a_promotion_may_give_the_lease_back():
    run = Run(FakeKube(), action="step")
    with pytest.raises(ValidationError) as refused:
        step_lease.lease_of(run.params)
    assert [e.path for e in refused.value.errors] == ["lease.give_back"]
