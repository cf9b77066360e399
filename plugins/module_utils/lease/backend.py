# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""release_lease on the release engine: validate (nothing is read on bad input), read the
Lease, decide (decide.py), write at most once, report. A 409 (another job created or
changed the Lease between our read and our write) is the engine's: it reads again and
decides again, so the loser of a race finds the lease held and is refused."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import time

from ansible_collections.progressive.delivery.plugins.module_utils.engine import Engine
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.duration import (
    parse_duration,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    DNS1123_SUBDOMAIN,
    FieldErrors,
)
from ansible_collections.progressive.delivery.plugins.module_utils.lease import (
    decide,
    holding as hd,
)

STATES = ("acquired", "released")
MAX_DURATION = 2147483647  # leaseDurationSeconds is an int32
MAX_TEXT = 1024


def lease_name_of(params):
    return params.get("lease_name") or "%s-release" % params["name"]


def validate(params):
    """(lease name, duration in whole seconds); every bad field reported at once."""
    errs = FieldErrors()
    if params.get("lease_name"):
        errs.check_dns_subdomain("lease_name", params["lease_name"])
    else:
        name = params.get("name")
        derived = lease_name_of(params)
        if len(derived) > 253 or not DNS1123_SUBDOMAIN.match(derived):
            errs.add("name", "%r gives the lease name %r, which is not a valid DNS-1123 "
                     "subdomain (lower-case letters, digits, '-' and '.'); set lease_name",
                     name, derived)
    errs.check_dns_label("namespace", params.get("namespace"))
    duration = None
    try:
        seconds = parse_duration(params.get("duration"))
        if seconds <= 0:
            errs.add("duration", "%r: a lease must last longer than 0 seconds",
                     params.get("duration"))
        elif seconds > MAX_DURATION:
            errs.add("duration", "%r is longer than a lease can last (%d seconds)",
                     params.get("duration"), MAX_DURATION)
        else:
            duration = int(math.ceil(seconds))
    except ValueError as exc:
        errs.add("duration", "%s", exc)
    for field in ("holder", "holder_context", "purpose"):
        value = params.get(field)
        if value is None:
            continue
        if not value.strip():
            errs.add(field, "%r is empty; leave it out for the default", value)
        elif len(value) > MAX_TEXT or any(ord(c) < 32 for c in value):
            errs.add(field, "%r is not one line of at most %d characters", value, MAX_TEXT)
    errs.raise_if_any()
    return lease_name_of(params), duration


class LeaseBackend(object):
    """Plans the one write of a call (acquired or released) on the Lease as read."""

    def __init__(self, params, name, holder, duration, now, machine=None):
        self.params = params
        self.machine = machine
        self.name = name
        self.holder = holder
        self.duration = duration
        self.now = now
        self.action = None

    def observe(self, engine):
        return engine.get(hd.LEASE, self.params["namespace"], self.name)

    def plan(self, lease):
        p = self.params
        self.action, writes = decide.plan(
            p["state"], p["namespace"], self.name, p["name"], lease, self.holder,
            self.duration, self.now, takeover=p.get("takeover"), purpose=p.get("purpose"),
            process=self.machine.identity() if self.machine else None,
            alive=self.machine.alive if self.machine else None)
        return writes


def run_lease(params, kube_for, holder_of, check_mode=False, clock=time.time, machine=None):
    """One release_lease call. ``kube_for()`` makes the client; ``holder_of(context)`` the
    default identity; ``machine`` (holder.ThisMachine) where this call's playbook process
    runs, and whether a holder's recorded process still runs (None: neither is known)."""
    name, duration = validate(params)
    holder = params.get("holder") or holder_of(params.get("holder_context"))
    engine = Engine(kube_for(), check_mode=check_mode, wait=False)
    now = clock()
    backend = LeaseBackend(params, name, holder, duration, now, machine)
    unused_first, lease, writes = engine.reconcile(lambda: backend.observe(engine), backend.plan)
    after = engine.written.get((hd.LEASE.kind, params["namespace"], name), lease) \
        if writes else lease
    action = backend.action
    result = dict(
        changed=engine.changed, decision=action, holder=holder, lease_name=name,
        lease=hd.view(after, now), previous=hd.view(lease, now),
        message=decide.message(action, name, params["namespace"], holder, lease, now, duration),
        now=hd.show_time(now))
    if action in decide.ACQUIRE:
        result["expires"] = hd.show_time(now + duration)
        result["duration_seconds"] = duration
    if action in ("take_expired", "take_abandoned", "take_over", "other"):
        engine.warnings.append(result["message"])
    if engine.warnings:
        result["warnings"] = list(engine.warnings)
    result["diff"] = dict(before=_diff_view(lease), after=_diff_view(after))
    return result


def _diff_view(lease):
    if not lease:
        return {}
    return dict(spec=lease.get("spec") or {},
                annotations=dict((k, v) for k, v in
                                 ((lease.get("metadata") or {}).get("annotations") or {}).items()
                                 if k.startswith("progressive.delivery/")))
