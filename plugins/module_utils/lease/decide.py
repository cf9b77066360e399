# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a release_lease call does with the Lease it read (pure; ``now`` is a parameter).

Taking the lease:
  no Lease                       -> create     (a create carries no resourceVersion: when
                                                another job created it first the API answers
                                                409 AlreadyExists, the engine reads again and
                                                this call then finds it held)
  nobody holds it (released)     -> take
  we hold it                     -> renew      (same holder: a re-run of the take renews it)
  another holder, expired        -> take_expired
  another holder, process gone   -> take_abandoned (its ansible-playbook ran on this machine
                                                and no longer runs: a killed job)
  another holder, live, takeover -> take_over  (the operator says that job is dead)
  another holder, live           -> refuse     (LeaseHeld, nothing written)
Every write to an existing Lease is a replace carrying the resourceVersion read, so two jobs
taking an expired lease at once cannot both win: the second gets a 409, reads again and
finds it held by the first.

Giving it back: release when we hold it (the holder is cleared, the Lease stays with who
held it last, so the next job's message can say so); nothing when nobody holds it; nothing
either when another holder has it (it was taken over from us: it is theirs now).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json

from ansible_collections.progressive.delivery.plugins.module_utils.engine import Write
from ansible_collections.progressive.delivery.plugins.module_utils.lease import holding as hd

ACQUIRE = ("create", "take", "renew", "take_expired", "take_abandoned", "take_over")
RELEASE = ("release", "none", "other")
TAKEOVER_HINT = ("set takeover: true on release_lease (in the roles: bluegreen_lease_takeover "
                 "or canary_lease_takeover)")


class LeaseHeld(Exception):
    """Another job holds the lease: nothing was written. ``result`` is what the module
    returns beside the message (the lease as read)."""

    def __init__(self, message, result=None):
        super(LeaseHeld, self).__init__(message)
        self.result = result or {}


def acquire_action(lease, holder, now, takeover=False, alive=None):
    """One of ACQUIRE, or "refuse". ``alive(process)`` says whether the process a holder
    recorded still runs (False only when it is known to be gone)."""
    if lease is None:
        return "create"
    holding = hd.holding_of(lease)
    if holding is None:
        return "take"
    if holding.holder == holder:
        return "renew"
    if holding.expired(now):
        return "take_expired"
    if alive is not None and not alive(holding.process):
        return "take_abandoned"
    return "take_over" if takeover else "refuse"


def release_action(lease, holder):
    """One of RELEASE."""
    holding = hd.holding_of(lease)
    if holding is None:
        return "none"
    return "release" if holding.holder == holder else "other"


def refusal(where, lease, now):
    """The message of a refused take: who holds it, since when, until when, what to do."""
    holding = hd.holding_of(lease)
    return ("the release lease %s is held by %s. Another release of this app is under way: "
            "wait for it to finish. If that job is dead (killed on another machine or in "
            "another container; on this one its lease would have been taken at once), either "
            "wait until the lease expires (a later run then takes it by itself) or, to take "
            "it over now, %s."
            % (where, hd.describe(holding, now), TAKEOVER_HINT))


def _base(namespace, name, app, current):
    if current is not None:
        body = copy.deepcopy(current)
        # a replace that sends managedFields would reset them; leave them to the server
        body["metadata"].pop("managedFields", None)
        body.pop("status", None)
    else:
        body = {"apiVersion": hd.LEASE.api_version, "kind": hd.LEASE.kind,
                "metadata": {"name": name, "namespace": namespace}}
    meta = body["metadata"]
    labels = meta.setdefault("labels", {})
    labels[hd.MANAGED_BY[0]] = hd.MANAGED_BY[1]
    if app:
        labels[hd.RELEASE_OF] = app
    meta.setdefault("annotations", {})
    body.setdefault("spec", {})
    return body


def acquired_body(action, namespace, name, app, current, holder, duration, now, purpose=None,
                  process=None):
    """The Lease after a take (one of ACQUIRE); ``process``: where this holder runs."""
    body = _base(namespace, name, app, current)
    spec, annotations = body["spec"], body["metadata"]["annotations"]
    before = hd.holding_of(current)
    stamp = hd.format_time(now)
    spec["holderIdentity"] = holder
    spec["leaseDurationSeconds"] = int(duration)
    spec["renewTime"] = stamp
    # a renewing holder keeps the time it first took the lease
    if action != "renew" or not spec.get("acquireTime"):
        spec["acquireTime"] = stamp
    if action == "create":
        spec["leaseTransitions"] = 0
    elif action != "renew":  # the holder changes: one more transition, as leader election counts
        spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
    if before is not None and before.holder != holder:
        annotations[hd.LAST_HOLDER] = before.holder
    for key, value in ((hd.PURPOSE, purpose),
                       (hd.PROCESS, json.dumps(process, sort_keys=True) if process else None)):
        if value:
            annotations[key] = value
        else:
            annotations.pop(key, None)
    return body


def released_body(namespace, name, app, current, holder, now):
    """The Lease after its holder gave it back: no holder; renewTime says when."""
    body = _base(namespace, name, app, current)
    spec, annotations = body["spec"], body["metadata"]["annotations"]
    spec.pop("holderIdentity", None)
    spec.pop("acquireTime", None)
    spec["renewTime"] = hd.format_time(now)
    annotations[hd.LAST_HOLDER] = holder
    annotations.pop(hd.PURPOSE, None)
    annotations.pop(hd.PROCESS, None)
    return body


def plan(state, namespace, name, app, lease, holder, duration, now, takeover=False,
         purpose=None, process=None, alive=None):
    """(action, [Write]) of one call on the Lease as read; raises LeaseHeld on refusal.
    ``process``: where this holder runs; ``alive``: as for acquire_action."""
    where = "%s in %s" % (name, namespace)
    if state == "released":
        action = release_action(lease, holder)
        if action != "release":
            return action, []
        body = released_body(namespace, name, app, lease, holder, now)
        return action, [Write("replace", hd.LEASE, namespace, name, body,
                              "release lease %s (held by %s)" % (name, holder))]
    action = acquire_action(lease, holder, now, takeover, alive)
    if action == "refuse":
        raise LeaseHeld(refusal(where, lease, now),
                        dict(lease=hd.view(lease, now), holder=holder))
    body = acquired_body(action, namespace, name, app, lease, holder, duration, now, purpose,
                         process)
    words = {
        "create": "create lease %s for %s",
        "take": "take lease %s (free) for %s",
        "renew": "renew lease %s for %s",
        "take_expired": "take over expired lease %s for %s",
        "take_abandoned": "take over lease %s (its holder's process is gone) for %s",
        "take_over": "take over lease %s (takeover) for %s",
    }[action] % (name, holder)
    verb = "create" if action == "create" else "replace"
    return action, [Write(verb, hd.LEASE, namespace, name, body,
                          "%s, %ds" % (words, int(duration)))]


def message(action, name, namespace, holder, before, now, duration=None):
    """What the call did, in words (``before``: the Lease as read)."""
    where = "%s in %s" % (name, namespace)
    held = hd.holding_of(before)
    if action in ACQUIRE:
        until = "until %s unless renewed" % hd.show_time(now + duration)
        if action == "renew":
            return "renewed the release lease %s for %s, %s" % (where, holder, until)
        if action in ("take_expired", "take_over", "take_abandoned"):
            gone = ""
            if action == "take_abandoned":
                gone = "; that job's ansible-playbook (pid %s) no longer runs on this machine" % (
                    (held.process or {}).get("pid"))
            return ("took the release lease %s over for %s, %s; it was held by %s%s"
                    % (where, holder, until, hd.describe(held, now), gone))
        return "took the release lease %s for %s, %s" % (where, holder, until)
    if action == "release":
        return "released the release lease %s (held by %s)" % (where, holder)
    if action == "other":
        return ("left the release lease %s alone: it is held by %s, not by %s (it was taken "
                "over)" % (where, hd.describe(held, now), holder))
    return "the release lease %s is not held; nothing to release" % where
