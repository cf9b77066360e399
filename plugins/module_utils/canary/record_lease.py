# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""canary_release_state's part of the release lease (its ``lease`` option).

A query whose answer is a run with work to do (start, resume, roll back, promote) takes the
release lease in the same call, right after the record was read: the release then needs no
release_lease call of its own, one module process fewer. The take is release_lease's own
code (lease/backend.py), so the Lease, the holder and the refusal are the same. Bad lease
input is refused before anything is read; a release that is done takes no lease.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    FieldErrors,
    ValidationError,
)
from ansible_collections.progressive.delivery.plugins.module_utils.lease import (
    backend as lb,
)

KEYS = ("name", "holder", "holder_context", "duration", "takeover", "purpose", "wait_timeout")
# the query's decisions that go on to write, and so need the lease
TAKES_LEASE = ("start", "resume", "rollback", "promote")
DEFAULT_WAIT_TIMEOUT = 300


def lease_call(params, duration):
    """release_lease's parameters for this call's take (pure)."""
    lease = params["lease"]
    return dict(name=params["name"], namespace=params["namespace"], lease_name=lease.get("name"),
                state="acquired", holder=lease.get("holder"),
                holder_context=lease.get("holder_context"), duration=duration,
                takeover=bool(lease.get("takeover")), purpose=lease.get("purpose"))


def validate(params):
    """Raise ValidationError naming ``lease.<key>`` for bad lease input (before any read)."""
    lease = params.get("lease")
    if not lease:
        return
    errs = FieldErrors()
    unknown = sorted(set(lease) - set(KEYS))
    if unknown:
        errs.add("lease", "unknown key(s) %s (known: %s)", ", ".join(unknown), ", ".join(KEYS))
    if params.get("state") != "query":
        errs.add("lease", "is only taken by a query (state=query), not with state=%s",
                 params.get("state"))
    timeout = _wait_timeout(lease)
    if not _whole_seconds(timeout):
        errs.add("lease.wait_timeout", "%r is not a whole number of seconds above 0", timeout)
    # release_lease's own checks; a placeholder stands for a duration left to the default
    call = lease_call(params, lease.get("duration") if lease.get("duration") not in (None, "")
                      else 1)
    try:
        lb.validate(call)
    except ValidationError as exc:
        for error in exc.errors:
            # release_lease's lease_name is this option's lease.name
            field = {"lease_name": "name", "": "name"}.get(error.path or "", error.path)
            errs.add("lease." + field, "%s", error.message)
    errs.raise_if_any()


def _wait_timeout(lease):
    value = lease.get("wait_timeout")
    return DEFAULT_WAIT_TIMEOUT if value is None else value


def _whole_seconds(value):
    try:
        return int(value) == float(value) and int(value) > 0 and not isinstance(value, bool)
    except (TypeError, ValueError):
        return False


def default_duration(steps, start_step, decision, wait_timeout):
    """Seconds the lease is taken for when ``lease.duration`` is not given (pure): long
    enough for what this run has left, since each step renews it only by its own start. The
    pauses still to run; ``wait_timeout`` for every weight step left and for preparing,
    promoting and rolling back; a minute per step and three more for gates and module
    start-ups."""
    left = list(steps[start_step or 0:]) if decision in ("start", "resume") else []
    pauses = sum(step.seconds for step in left if step.kind == "pause")
    waits = len([step for step in left if step.kind != "pause"]) + 3
    return int(pauses + waits * int(wait_timeout) + 60 * (len(left) + 3))


def take(params, kube, steps, answer, check_mode, holder_of, machine, clock):
    """The lease part of a query's result (None when nothing is taken). Raises
    lease.decide.LeaseHeld when another job holds the lease: the query then fails, and
    nothing was written."""
    lease = params.get("lease")
    if not lease or answer["decision"] not in TAKES_LEASE:
        return None
    duration = lease.get("duration")
    if duration in (None, ""):
        duration = default_duration(steps, answer.get("start_step"), answer["decision"],
                                    _wait_timeout(lease))
    result = lb.run_lease(lease_call(params, duration), lambda: kube, holder_of, check_mode,
                          clock=clock, machine=machine)
    result.pop("diff", None)
    return result
