# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What one canary_release_state call means, as pure functions of its parameters and the
record it read (release_record.py keeps the record's own rules): its input checked with
every problem at once, the record after its event, the answer to a query, and the pause
timings it reports. record_backend.py reads and writes the record on the engine."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.progressive.delivery.plugins.module_utils.canary import (
    release_record as rr,
)
from ansible_collections.progressive.delivery.plugins.module_utils.gates.validation import (
    validate_gates,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    FieldErrors,
    ValidationError,
)

STATES = ("query", "started", "present", "absent")


class RecordError(Exception):
    """The record does not allow the call (no release recorded, another version, another
    release in flight): nothing was written."""


def record_name_of(params):
    return params.get("record_name") or "%s-release" % params["name"]


def validate(params):
    """(record name, parsed steps or None); every bad field reported at once."""
    errs = FieldErrors()
    errs.check_dns_label("namespace", params["namespace"])
    state = params["state"]
    if state != "absent" and not params.get("version"):
        errs.add("version", "is required with state=%s", state)
    record_name = record_name_of(params)
    errs.check_dns_subdomain("record_name", record_name)
    steps = None
    if params.get("steps") is not None:
        try:
            steps = rr.parse_steps(params["steps"])
            if params.get("backend"):  # a mirror or header step the backend cannot do
                rr.check_backend(steps, params["backend"])
        except ValidationError as exc:
            errs.errors.extend(exc.errors)
    elif state in ("query", "started"):
        errs.add("steps", "is required with state=%s", state)
    gates = params.get("gates") or []
    try:
        # tasks gates too, so every gate keeps the index the user wrote it at
        validate_gates(gates, allow_tasks=True)
    except ValidationError as exc:
        errs.errors.extend(exc.errors)
    interval = params.get("gate_interval")
    if interval is not None:
        try:
            rr.parse_duration(interval)
        except ValueError as exc:
            errs.add("gate_interval", "%s", exc)
    if state == "present" and params.get("step") is not None and steps is not None:
        if not 0 <= params["step"] < len(steps):
            errs.add("step", "%d is not a step index (0 to %d)", params["step"], len(steps) - 1)
    errs.raise_if_any()
    return record_name, steps


def record_after(params, steps, record, now):
    """The record after this call's event (state started or present)."""
    version = params["version"]
    if params["state"] == "started":
        new = rr.new_record(params["name"], version, params.get("stable_version"),
                            params.get("backend"), steps, now)
        new["attempt"] = (record or {}).get("attempt", 0) + 1 if record and record.get(
            "version") == version else 1
        for key, value in (params.get("data") or {}).items():
            new[key] = value
        return new
    if record is None:
        raise RecordError("no release is recorded in ConfigMap %s/%s; start one with "
                          "state=started" % (params["namespace"], record_name_of(params)))
    if record.get("version") != version:
        raise RecordError("the recorded release is of version %s, not %s (%s)"
                          % (record.get("version"), version, rr.describe(record)))
    extra = dict(params.get("data") or {})
    if params.get("stable_version"):
        extra["stable_version"] = params["stable_version"]
    if params.get("backend"):
        extra["backend"] = params["backend"]
    weight = params.get("weight")
    if weight is not None and weight == int(weight):
        weight = int(weight)
    after = rr.update_record(record, now, step=params.get("step"), phase=params.get("phase"),
                             weight=weight, gates=params.get("gate_results"),
                             message=params.get("reason"), extra=extra)
    # An event that tells the record nothing new (the same step, phase, weight, gate results
    # and data again: a re-run task, a slice of a pause whose gates answered as before)
    # leaves it as it is, so the call writes nothing and reports no change; only the times
    # of the write itself would have moved.
    if _without_times(after) == _without_times(record):
        return record
    return after


# Stamped by every write of an event; they say when it was written, not what happened.
WRITE_TIMES = ("updated", "gates_checked")


def _without_times(record):
    return dict((k, v) for k, v in record.items() if k not in WRITE_TIMES)


def query(params, steps, record):
    """What this run does (state=query): decision, start_step, message and the weight in
    force before the start step."""
    try:
        decision = rr.decide(record, params["version"], steps, params["on_resume"])
    except rr.ReleaseConflict as exc:
        raise RecordError(str(exc))
    return dict(decision=decision.action, start_step=decision.start_step,
                message=decision.message, record=record,
                weight_before_start=rr.last_weight_before(steps, decision.start_step or 0))


def timings(params, steps, record, now):
    """elapsed on the current step; on a pause step (state=present) what is left of it
    and the sleeps it is cut into so that gates run between them."""
    if not record:
        return {}
    result = dict(elapsed=round(max(0, now - (record.get("step_started") or now)), 3))
    index = record.get("step")
    if params["state"] == "present" and steps is not None and isinstance(index, int) and \
            0 <= index < len(steps) and steps[index].kind == "pause":
        remaining = rr.pause_remaining(record, steps[index], now)
        interval = params.get("gate_interval")
        result["remaining"] = round(remaining, 3)
        result["pause_chunks"] = rr.pause_chunks(
            remaining, rr.parse_duration(interval) if interval is not None else None)
    return result


def diff_view(record):
    """The record in --diff output, without its history."""
    if not record:
        return {}
    view = dict(record)
    view.pop("history", None)
    return view
