"""Renewing the release lease from a canary step (lease/renew.py, canary/step_lease.py):
the JSON patch that only lands while we hold the lease, what a lost lease says, and the
requests a renewal makes (one patch; a read only after the patch was refused). The API
server's side (the patch's test op answered 422) is proven in
tests/integration/test_release_lease.py; here a stub client answers as it does."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.canary import step_lease
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    JSON_PATCH,
    KubeError,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    ValidationError,
)
from ansible_collections.progressive.delivery.plugins.module_utils.lease import (
    holding as hd,
    renew as rn,
)

from test_release_lease import ME, NS, OTHER, T0, lease


class Stub(object):
    """Answers a renewal as the API server does: the patch lands when its test op holds."""

    def __init__(self, current):
        self.current = current
        self.requests = []

    def patch(self, resource, namespace, name, patch, content_type):
        self.requests.append(("PATCH", name, content_type))
        if self.current is None:
            raise KubeError(404, "NotFound", "leases %r not found" % name)
        test, add = patch
        if self.current["spec"].get("holderIdentity") != test["value"]:
            raise KubeError(422, "Invalid", "the server rejected our request")
        self.current["spec"]["renewTime"] = add["value"]
        return self.current

    def get_or_none(self, resource, namespace, name):
        self.requests.append(("GET", name))
        return self.current


def test_the_patch_tests_the_holder_then_sets_the_renew_time():
    assert rn.renew_patch(ME, T0 + 30) == [
        {"op": "test", "path": "/spec/holderIdentity", "value": ME},
        {"op": "add", "path": "/spec/renewTime", "value": "2026-12-06T04:20:30.000000Z"}]


def test_a_held_lease_is_renewed_with_one_request_and_no_read():
    kube = Stub(lease(holder=ME, renewed=T0))
    answered = rn.renew(kube, NS, "myapp-release", ME, T0 + 30)
    assert kube.requests == [("PATCH", "myapp-release", JSON_PATCH)]
    assert hd.holding_of(answered).renewed == T0 + 30


def test_a_lease_taken_over_is_read_once_and_named():
    kube = Stub(lease(holder=OTHER, renewed=T0 + 10, purpose="canary release of myapp v3"))
    with pytest.raises(rn.LeaseLost) as caught:
        rn.renew(kube, NS, "myapp-release", ME, T0 + 30)
    assert [r[0] for r in kube.requests] == ["PATCH", "GET"]
    message = str(caught.value)
    assert "was taken over: it is held by %s (canary release of myapp v3)" % OTHER in message
    assert "not by this job (%s)" % ME in message and "nothing is rolled back" in message
    assert caught.value.lease["holder"] == OTHER
    assert kube.current["spec"]["renewTime"] == hd.format_time(T0 + 10)  # not ours to touch


def test_a_lease_given_back_or_deleted_stops_the_step_too():
    given_back = lease(holder=None)
    given_back["metadata"]["annotations"][hd.LAST_HOLDER] = OTHER
    with pytest.raises(rn.LeaseLost, match="was given back by %s" % OTHER):
        rn.renew(Stub(given_back), NS, "myapp-release", ME, T0)
    with pytest.raises(rn.LeaseLost, match="is gone"):
        rn.renew(Stub(None), NS, "myapp-release", ME, T0)


def test_check_mode_sends_nothing():
    kube = Stub(lease(holder=OTHER))
    assert rn.renew(kube, NS, "myapp-release", ME, T0, check_mode=True) is None
    assert kube.requests == []


def test_another_refusal_is_not_called_a_lost_lease():
    class Forbidden(Stub):
        def patch(self, *args):
            raise KubeError(403, "Forbidden", "cannot patch leases")
    with pytest.raises(KubeError, match="cannot patch"):
        rn.renew(Forbidden(lease(holder=ME)), NS, "myapp-release", ME, T0)


def test_the_step_option_is_checked_before_anything_is_sent():
    assert step_lease.lease_of({"lease": None}) is None
    assert step_lease.lease_of({"lease": {}}) is None
    assert step_lease.lease_of({"lease": {"name": "myapp-release", "holder": ME}}) == (
        "myapp-release", ME)
    with pytest.raises(ValidationError) as caught:
        step_lease.lease_of({"lease": {"name": "My_Lease", "holder": " ", "ttl": 5}})
    paths = sorted(e.path for e in caught.value.errors)
    assert paths == ["lease", "lease.holder", "lease.name"], caught.value.errors
