"""The REST client's retry loop, on a scripted API session and a fake clock: transient
answers are retried with bounded backoff, an unreachable server (a restart) for up to
restart_seconds, anything else is raised at once as a KubeError with the server's message."""

import json

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.k8s import client as k
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.transport import (
    CertificateError,
    HTTPStatusError,
    Response,
    TransportError,
)


class ScriptedSession(object):
    """transport.ApiSession's request: each call takes the next scripted outcome (an
    exception to raise or a dict to answer)."""

    def __init__(self, outcomes):
        self.outcomes = list(outcomes)
        self.calls = 0

    def request(self, method, path, query=None, headers=None, body=None, timeout=60):
        self.calls += 1
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return Response(200, "OK", {}, json.dumps(outcome).encode())


def api_error(status, message="boom", headers=None):
    body = json.dumps({"message": message, "reason": "Reason%d" % status})
    return HTTPStatusError(status, "Reason%d" % status, body, headers or {})


def refused():
    return TransportError("ConnectionRefusedError: [Errno 111] Connection refused")


class Clock(object):
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def kube(outcomes, **kwargs):
    clock = Clock()
    api = ScriptedSession(outcomes)
    return k.Kube(api, sleep=clock.sleep, clock=clock, **kwargs), api, clock


def test_answer_on_first_try():
    client, api, clock = kube([{"kind": "Pod"}])
    assert client.request("GET", "/api/v1/pods") == {"kind": "Pod"}
    assert api.calls == 1 and clock.sleeps == []


def test_a_5xx_is_retried_with_backoff_then_succeeds():
    client, api, clock = kube([api_error(500), api_error(502), {"ok": True}])
    assert client.request("GET", "/x") == {"ok": True}
    assert clock.sleeps == [0.2, 0.4]


def test_retry_after_is_honoured_and_bounded():
    client, api, clock = kube([api_error(429, headers={"Retry-After": "3"}),
                               api_error(429, headers={"Retry-After": "30"}), {"ok": 1}])
    client.request("GET", "/x")
    assert clock.sleeps == [3.0, 5.0]


def test_a_persistent_5xx_gives_up_after_the_bounded_attempts():
    client, api, clock = kube([api_error(500, "etcd timeout")] * 10)
    with pytest.raises(k.KubeError) as err:
        client.request("GET", "/x")
    assert err.value.status == 500 and "etcd timeout" in str(err.value)
    assert api.calls == 5


def test_an_unreachable_server_is_retried_through_a_restart():
    outcomes = [refused()] * 20 + [api_error(503)] * 3 + [{"ok": True}]
    client, api, clock = kube(outcomes)
    assert client.request("GET", "/x") == {"ok": True}
    assert 20 < clock.now < k.RESTART_SECONDS


def test_an_unreachable_server_gives_up_after_restart_seconds_naming_the_cause():
    client, api, clock = kube([refused()] * 100, restart_seconds=10)
    with pytest.raises(k.KubeError) as err:
        client.request("GET", "/x")
    assert err.value.status == 0 and err.value.transient
    assert "cannot reach the API server" in str(err.value)
    assert 10 <= clock.now <= 12


def test_a_dropped_response_counts_as_unreachable():
    client, api, clock = kube([TransportError("IncompleteRead: 0 bytes read"), {"ok": True}])
    assert client.request("GET", "/x") == {"ok": True}


def test_an_untrusted_certificate_is_not_retried():
    client, api, clock = kube([CertificateError("self-signed certificate")] * 3)
    with pytest.raises(k.KubeError) as err:
        client.request("GET", "/x")
    assert api.calls == 1 and not err.value.transient
    assert "cannot trust the API server" in str(err.value)


@pytest.mark.parametrize("status", [400, 403, 404, 409, 422])
def test_client_errors_are_not_retried(status):
    client, api, clock = kube([api_error(status, "no way")])
    with pytest.raises(k.KubeError) as err:
        client.request("PATCH", "/x", body={})
    assert err.value.status == status and str(err.value) == "no way"
    assert api.calls == 1 and not err.value.transient


class RefreshingSession(ScriptedSession):
    def __init__(self, outcomes, refreshable=True):
        super(RefreshingSession, self).__init__(outcomes)
        self.refreshable, self.refreshes = refreshable, 0

    def refresh_credentials(self):
        self.refreshes += 1
        return self.refreshable


def test_a_401_fetches_the_credentials_again_once():
    api = RefreshingSession([api_error(401, "Unauthorized"), {"ok": True}])
    assert k.Kube(api).request("GET", "/x") == {"ok": True}
    assert api.refreshes == 1 and api.calls == 2
    api = RefreshingSession([api_error(401, "Unauthorized")] * 3)
    with pytest.raises(k.KubeError) as err:
        k.Kube(api).request("GET", "/x")
    assert err.value.status == 401 and api.refreshes == 1 and api.calls == 2


def test_a_401_with_static_credentials_is_the_answer():
    api = RefreshingSession([api_error(401, "Unauthorized"), {"ok": True}], refreshable=False)
    with pytest.raises(k.KubeError):
        k.Kube(api).request("GET", "/x")
    assert api.calls == 1
