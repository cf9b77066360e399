# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Renewing a release lease from inside a release (each canary step): one request, no read.

The renewal is a JSON patch that first tests ``spec.holderIdentity`` and then sets
``spec.renewTime``; the API server applies the two operations together or not at all, so
the renewal only lands while this job still holds the lease. When another job took it over
(or the lease was given back, or deleted) the test fails (422, or 404 for a Lease that is
gone): then, and only then, the Lease is read to say who holds it now, and the caller stops
before its next write (LeaseLost). The duration is left as the take set it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    JSON_PATCH,
    KubeError,
)
from ansible_collections.progressive.delivery.plugins.module_utils.lease import holding as hd

# what the API server answers a JSON patch whose "test" failed, and a missing Lease
TEST_FAILED = 422
GONE = 404


class LeaseLost(Exception):
    """This job no longer holds its release lease; ``lease`` is the Lease as read (the
    module's view of it, None when it is gone)."""

    def __init__(self, message, lease=None):
        super(LeaseLost, self).__init__(message)
        self.lease = lease


def renew_patch(holder, now):
    """The JSON patch that renews the lease only while ``holder`` holds it (pure)."""
    return [{"op": "test", "path": "/spec/holderIdentity", "value": holder},
            # "add" sets the member whether or not the Lease has one yet
            {"op": "add", "path": "/spec/renewTime", "value": hd.format_time(now)}]


def lost_message(namespace, name, holder, lease, now):
    """Why this job may not go on (pure): who holds the lease now, or that nobody does."""
    where = "%s in %s" % (name, namespace)
    ours = "this job (%s)" % holder
    if lease is None:
        return ("the release lease %s is gone (deleted) while %s was releasing: stopping "
                "before the next write; another job may be releasing this app" % (where, ours))
    holding = hd.holding_of(lease)
    if holding is None:
        return ("the release lease %s was given back by %s while %s was releasing: stopping "
                "before the next write"
                % (where, (lease["metadata"].get("annotations") or {}).get(hd.LAST_HOLDER)
                   or "another job", ours))
    return ("the release lease %s was taken over: it is held by %s, not by %s. That job "
            "now releases this app; this one stops before its next write and leaves the "
            "release to it (nothing is rolled back)" % (where, hd.describe(holding, now), ours))


def renew(kube, namespace, name, holder, now, check_mode=False):
    """Renew the lease ``name`` for ``holder``; return the Lease as the server answered
    (None in check mode: nothing is sent). Raises LeaseLost when ``holder`` does not hold
    it (after one read, to name who does), KubeError for any other refusal."""
    if check_mode:
        return None
    try:
        return kube.patch(hd.LEASE, namespace, name, renew_patch(holder, now), JSON_PATCH)
    except KubeError as exc:
        if exc.status not in (TEST_FAILED, GONE):
            raise
    lease = kube.get_or_none(hd.LEASE, namespace, name)
    held = hd.holding_of(lease)
    if held is not None and held.holder == holder:
        # ours after all: the 422 was about something else; renew once more and let any
        # error speak for itself
        return kube.patch(hd.LEASE, namespace, name, renew_patch(holder, now), JSON_PATCH)
    raise LeaseLost(lost_message(namespace, name, holder, lease, now), hd.view(lease, now))
