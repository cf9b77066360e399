"""The loop behind every wait, driven by scripted reads and watch streams and a fake clock."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import KubeError

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import Check
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import (
    WaitFailed,
    WaitTimeout,
    _watch_until,
)


class Script:
    """Reads return the next state; each watch yields the next list of events and advances
    the fake clock by ``tick`` per event."""

    def __init__(self, reads, streams, tick=1.0):
        self.reads, self.streams, self.tick, self.now = list(reads), list(streams), tick, 0.0
        self.read_count = 0

    def clock(self):
        return self.now

    def read(self):
        self.read_count += 1
        return self.reads.pop(0), "rv%d" % self.read_count

    def events(self, unused_rv, unused_remaining):
        for event in self.streams.pop(0) if self.streams else []:
            self.now += self.tick
            yield event
        self.now += self.tick  # a stream that ends did so after its server timeout


def replace(unused_state, unused_type, obj):
    return obj


def equals(wanted):
    return lambda state: Check(state == wanted, "state is %s" % state)


def run(script, predicate, timeout=10):
    return _watch_until(script.read, script.events, replace, predicate, timeout, script.clock)


def test_done_on_the_first_read_never_watches():
    script = Script(reads=[3], streams=[])
    assert run(script, equals(3)) == 3 and script.now == 0


def test_done_on_an_event_and_bookmarks_are_ignored():
    script = Script(reads=[1], streams=[[("BOOKMARK", None), ("MODIFIED", 2), ("MODIFIED", 3)]])
    assert run(script, equals(3)) == 3 and script.read_count == 1


def test_an_error_event_reads_again():
    script = Script(reads=[1, 3], streams=[[("ERROR", {"code": 410})]])
    assert run(script, equals(3)) == 3 and script.read_count == 2


def test_failed_stops_at_once():
    script = Script(reads=[1], streams=[[("MODIFIED", -1), ("MODIFIED", 3)]])
    with pytest.raises(WaitFailed):
        run(script, lambda s: Check(s == 3, "at %s" % s, failed=s < 0))


def test_timeout_carries_the_last_message():
    script = Script(reads=[1, 1, 1], streams=[[("MODIFIED", 2)]] * 3, tick=2.0)
    with pytest.raises(WaitTimeout) as err:
        run(script, equals(3), timeout=5)
    assert str(err.value) == "state is 2"


class Outage(Script):
    """Reads and streams that raise (an API server restart) where the script says so: an
    entry that is an exception is raised instead of returned."""

    def read(self):
        self.read_count += 1
        state = self.reads.pop(0)
        if isinstance(state, Exception):
            self.now += 5.0
            raise state
        return state, "rv%d" % self.read_count

    def events(self, unused_rv, unused_remaining):
        for event in self.streams.pop(0) if self.streams else []:
            self.now += self.tick
            if isinstance(event, Exception):
                raise event
            yield event
        self.now += self.tick


def refused():
    return KubeError(0, "ConnectionError", "cannot reach the API server: connection refused")


def run_outage(script, predicate, timeout=60):
    return _watch_until(script.read, script.events, replace, predicate, timeout, script.clock,
                        sleep=lambda seconds: None)


def test_a_stream_cut_by_a_restart_reads_again_and_goes_on():
    script = Outage(reads=[1, refused(), refused(), 2],
                    streams=[[("MODIFIED", 1), refused()], [("MODIFIED", 3)]])
    assert run_outage(script, equals(3)) == 3
    assert script.read_count == 4


def test_an_outage_longer_than_the_wait_times_out_saying_so():
    script = Outage(reads=[1] + [refused()] * 30, streams=[[refused()]])
    with pytest.raises(WaitTimeout) as err:
        run_outage(script, equals(3), timeout=20)
    assert "cannot reach the API server" in str(err.value)
    assert "last seen: state is 1" in str(err.value)


def test_a_non_transient_error_is_not_retried():
    script = Outage(reads=[KubeError(403, "Forbidden", "pods is forbidden")], streams=[])
    with pytest.raises(KubeError) as err:
        run_outage(script, equals(3))
    assert err.value.status == 403 and script.read_count == 1


def test_the_pods_a_service_should_serve_are_read_again_when_the_slices_disagree():
    """A canary scaled away while the proof runs: its pods were ready when the wait began,
    then are gone; the wait must not go on waiting for them."""
    from ansible_collections.progressive.delivery.plugins.module_utils.k8s import wait as w

    def pod(name):
        return {"metadata": {"name": name},
                "status": {"conditions": [{"type": "Ready", "status": "True"}]}}

    def slice_of(*names):
        return {"metadata": {"name": "s", "resourceVersion": "1"},
                "endpoints": [{"targetRef": {"kind": "Pod", "name": n},
                               "conditions": {"ready": True}} for n in names]}

    class Kube(object):
        pods = [pod("stable-1"), pod("canary-1")]
        lists = 0

        def list(self, resource, namespace, label_selector=None, field_selector=None):
            if resource.kind == "Pod":
                Kube.lists += 1
                return {"items": list(Kube.pods)}
            # the slices already dropped the canary pod; the pod list still shows it
            return {"metadata": {"resourceVersion": "1"}, "items": [slice_of("stable-1")]}

        def watch(self, resource, namespace, resource_version, timeout, **unused):
            Kube.pods = [pod("stable-1")]  # the canary pod is scaled away
            yield "MODIFIED", slice_of("stable-1")

    found = w.wait_for_service_to_serve_selected(Kube(), "ns", "web", {"app": "web"}, 5)
    assert [s["endpoints"][0]["targetRef"]["name"] for s in found] == ["stable-1"]
    assert Kube.lists == 2
