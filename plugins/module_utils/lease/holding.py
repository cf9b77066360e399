# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading a coordination.k8s.io/v1 Lease (pure): who holds it, since when, until when.

A Lease is held while ``spec.holderIdentity`` is set; it expires ``leaseDurationSeconds``
after ``spec.renewTime`` (the Kubernetes rule leader election follows). Times are the API's
MicroTime (RFC 3339 with microseconds, UTC). Expiry is judged on the caller's clock, so
jobs on hosts whose clocks disagree by more than a few seconds judge it differently.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import json
import re
import time
from collections import namedtuple

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import Resource

LEASE = Resource("coordination.k8s.io/v1", "Lease", "leases", True)
# What the holder is doing ("blue/green release of web v2"), for the next job's message.
PURPOSE = "progressive.delivery/lease-purpose"
# Who held it before: the holder that released it, or the one a take-over replaced.
LAST_HOLDER = "progressive.delivery/last-holder"
# Where the holder's ansible-playbook process runs (holder.process_identity), as JSON: a
# later run on the same machine can see that a killed holder is gone.
PROCESS = "progressive.delivery/holder-process"
RELEASE_OF = "progressive.delivery/release-of"
MANAGED_BY = ("app.kubernetes.io/managed-by", "progressive.delivery")

_TIME = re.compile(r"^(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(\.\d+)?([Zz]|[+-]\d\d:?\d\d)?$")


class Holding(namedtuple("Holding", "holder acquired renewed duration expires purpose transitions "
                                    "process")):
    """A held Lease as read. Times are epoch seconds (None when the Lease lacks them);
    ``expires`` is None when the Lease says nothing of its duration (then it counts as
    expired: a holder that never said for how long cannot keep others out for ever).
    ``process``: where the holder's process runs (a dict), when it said."""

    def expired(self, now):
        return self.expires is None or now >= self.expires


def format_time(epoch):
    """MicroTime as the API writes it: 2026-12-06T03:05:12.123456Z."""
    whole = int(epoch)
    micros = int(round((epoch - whole) * 1000000))
    if micros >= 1000000:
        whole, micros = whole + 1, 0
    return "%s.%06dZ" % (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)), micros)


def parse_time(text):
    """Epoch seconds of an RFC 3339 time (with or without fraction, Z or an offset), or
    None when it is missing or unreadable."""
    if not isinstance(text, str):
        return None
    match = _TIME.match(text.strip())
    if not match:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    try:
        epoch = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    except (OverflowError, ValueError):
        return None
    if match.group(7):
        epoch += float(match.group(7))
    zone = match.group(8)
    if zone and zone not in ("Z", "z"):
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        epoch -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return epoch


def show_time(epoch):
    """A time for people: 2026-12-06T03:05:12Z (whole seconds, UTC)."""
    if epoch is None:
        return "an unknown time"
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(epoch)))


def show_span(seconds):
    """1h 2m 5s, 4m 10s, 12s, 0s."""
    seconds = int(round(max(0, seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(hours, "h"), (minutes, "m"), (secs, "s")]
    text = " ".join("%d%s" % (n, unit) for n, unit in parts if n)
    return text or "0s"


def holding_of(lease):
    """The Holding of a Lease object, or None when there is no Lease or nobody holds it."""
    if not lease:
        return None
    spec = lease.get("spec") or {}
    holder = spec.get("holderIdentity")
    if not holder:
        return None
    acquired = parse_time(spec.get("acquireTime"))
    renewed = parse_time(spec.get("renewTime"))
    if renewed is None:
        renewed = acquired
    duration = spec.get("leaseDurationSeconds")
    if isinstance(duration, bool) or not isinstance(duration, int) or duration <= 0:
        duration = None
    expires = renewed + duration if renewed is not None and duration is not None else None
    annotations = (lease.get("metadata") or {}).get("annotations") or {}
    return Holding(holder, acquired, renewed, duration, expires, annotations.get(PURPOSE),
                   spec.get("leaseTransitions") or 0, _process(annotations.get(PROCESS)))


def _process(text):
    try:
        value = json.loads(text) if text else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def describe(holding, now):
    """One line on who holds the lease: holder (purpose) since T, and when it expires."""
    text = holding.holder
    if holding.purpose:
        text += " (%s)" % holding.purpose
    if holding.acquired is not None:
        text += " since %s" % show_time(holding.acquired)
    if holding.expires is None:
        return text + "; it gives no duration, so it counts as expired"
    if holding.expired(now):
        return text + "; it expired at %s, %s ago" % (show_time(holding.expires),
                                                      show_span(now - holding.expires))
    return text + "; it expires at %s, in %s, unless renewed" % (
        show_time(holding.expires), show_span(holding.expires - now))


def view(lease, now):
    """The Lease as the module reports it (None when there is no Lease)."""
    if not lease:
        return None
    holding = holding_of(lease)
    annotations = (lease.get("metadata") or {}).get("annotations") or {}
    spec = lease.get("spec") or {}
    if holding is None:
        return dict(name=lease["metadata"]["name"], held=False, holder=None,
                    last_holder=annotations.get(LAST_HOLDER),
                    released=show_time(parse_time(spec.get("renewTime")))
                    if spec.get("renewTime") else None,
                    transitions=spec.get("leaseTransitions") or 0)
    return dict(name=lease["metadata"]["name"], held=True, holder=holding.holder,
                purpose=holding.purpose,
                acquired=show_time(holding.acquired) if holding.acquired is not None else None,
                renewed=show_time(holding.renewed) if holding.renewed is not None else None,
                duration_seconds=holding.duration,
                expires=show_time(holding.expires) if holding.expires is not None else None,
                expired=holding.expired(now),
                expires_in=None if holding.expires is None else round(holding.expires - now, 1),
                last_holder=annotations.get(LAST_HOLDER),
                transitions=holding.transitions)
