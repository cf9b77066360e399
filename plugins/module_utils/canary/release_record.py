# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The canary release as a state machine: its steps, its record, what to do next.

A release is a list of steps (``{weight: 10}``, ``{pause: 2m}``, and on the backends that
route by request ``{mirror: 100}`` and ``{header: {name: x-canary, value: "true"}}``). Its progress is kept in
one record (a JSON annotation on a ConfigMap in the cluster): the versions, the index of
the current step, when that step started, the phase, the last gate results. A job that is
killed and run again reads the record and continues from the recorded step, with the time
a pause already waited subtracted, or rolls back. Everything here is pure: the
``canary_release_state`` module does the reading and writing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import math
import re
from collections import namedtuple

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.duration import (  # noqa: F401
    parse_duration,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    FieldErrors,
)

RECORD_ANNOTATION = "progressive.delivery/canary-release"
PHASES = ("progressing", "promoting", "promoted", "aborting", "aborted")
IN_FLIGHT = ("progressing", "promoting", "aborting")
ON_RESUME = ("continue", "rollback")
STEP_KEYS = ("weight", "pause", "mirror", "header")
# The backends that can do a step kind (the others refuse the step list before any write).
STEP_BACKENDS = {"mirror": ("gateway",), "header": ("gateway", "nginx")}
# RFC 7230 token characters: what the Gateway API and ingress-nginx take as a header name.
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$")
# Argo Rollouts' spelling, accepted so that a copied step list says what is wrong with it.
FOREIGN_KEYS = {"setWeight": "weight", "set_weight": "weight"}


Step = namedtuple("Step", "index kind weight seconds text value")
"""kind: weight | pause | mirror | header; weight: 0..100 (weight steps); seconds: the pause
length; value: a mirror step's percent, a header step's match ({name, value, type}, type
Exact or RegularExpression) or "absent"; text: how the step reads in a timeline
("weight 10%", "pause 2m", "mirror 100%", "header x-canary=true")."""


def _step(index, kind, text, weight=None, seconds=None, value=None):
    return Step(index, kind, weight, seconds, text, value)


Decision = namedtuple("Decision", "action start_step message")
"""action: start | resume | done | rollback | promote. start_step: the index of the step to
run first (start/resume)."""


class ReleaseConflict(Exception):
    """The record says another release is under way, or the steps changed under it."""


# ---------------------------------------------------------------------------
# durations and steps
# ---------------------------------------------------------------------------
def format_duration(seconds):
    """A short human form: 600 -> '10m', 5400 -> '1h30m', 90 -> '1m30s', 0.5 -> '0.5s'."""
    if seconds != int(seconds) or seconds < 60:
        return "%ss" % (int(seconds) if seconds == int(seconds) else seconds)
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return "".join("%d%s" % (n, u) for n, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if n)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def parse_steps(steps, path="steps", require_increasing=True):
    """Validate and normalise a step list; every problem is reported at once.

    A step is ``{weight: N}`` (N an integer percent 0..100), ``{pause: DURATION}`` /
    ``{pause: {duration: DURATION}}``, ``{mirror: N}`` (N percent 1..100 of the live
    requests copied to the canary, only while it has no weighted traffic) or ``{header:
    {name: H, value: V}}`` / ``{header: {name: H, regex: R}}`` / ``{header: absent}``
    (requests that match go to the canary only, until promotion, abort or ``absent``).
    Every pause has a length > 0 (roles run unattended, nothing waits for a person);
    weights must increase from step to step. Which backends can mirror or match a header
    is ``check_backend``'s business (the step list alone does not name the backend)."""
    errs = FieldErrors()
    parsed = []
    if not isinstance(steps, list) or not steps:
        errs.add(path, "must be a non-empty list of steps such as [{weight: 10}, {pause: 2m}, "
                 "{weight: 100}], got %r", steps)
        errs.raise_if_any()
    last_weight = None
    header_name = None   # (index, name) of the first header step: one header per release
    header_on = False
    for index, step in enumerate(steps):
        here = "%s[%d]" % (path, index)
        if not isinstance(step, dict):
            errs.add(here, "must be a dictionary with one key, weight, pause, mirror or header, "
                     "got %r", step)
            continue
        unknown = sorted(set(step) - set(STEP_KEYS))
        for key in unknown:
            hint = " (did you mean %r?)" % FOREIGN_KEYS[key] if key in FOREIGN_KEYS else ""
            errs.add("%s.%s" % (here, key), "is not a step key; a step has weight, pause, "
                     "mirror or header%s", hint)
        present = [k for k in STEP_KEYS if k in step]
        if len(present) > 1:
            errs.add(here, "has both %s and %s; make them two steps", present[0],
                     present[1])
            continue
        if not present:
            if not unknown:
                errs.add(here, "is empty; a step has weight, pause, mirror or header")
            continue
        if "weight" in step:
            weight = step["weight"]
            if isinstance(weight, str) and re.match(r"^\d+$", weight.strip()):
                weight = int(weight)
            if not _is_int(weight) or not 0 <= weight <= 100:
                errs.add(here + ".weight", "must be an integer percent from 0 to 100, got %r",
                         step["weight"])
                continue
            if require_increasing and last_weight is not None and weight <= last_weight:
                errs.add(here + ".weight", "%d does not increase on the previous weight %d; "
                         "weights must increase from step to step", weight, last_weight)
            last_weight = weight
            parsed.append(_step(index, "weight", "weight %d%%" % weight, weight=weight))
        elif "mirror" in step:
            percent = _percent(step["mirror"])
            if percent is None or not 1 <= percent <= 100:
                errs.add(here + ".mirror", "must be an integer percent from 1 to 100 (of the "
                         "live requests copied to the canary), got %r", step["mirror"])
                continue
            if last_weight:
                # a copy of requests the canary already serves would double them
                errs.add(here + ".mirror", "comes after weight %d%%: a mirror copies traffic "
                         "to a canary that has none yet; put it before the first weight step "
                         "above 0", last_weight)
                continue
            parsed.append(_step(index, "mirror", "mirror %d%%" % percent, value=percent))
        elif "header" in step:
            match = _header_match(errs, here + ".header", step["header"])
            if match is None:
                continue
            if match == "absent":
                if not header_on:
                    errs.add(here + ".header", "absent removes the header rule of an earlier "
                             "header step; there is none before it")
                    continue
                header_on = False
                parsed.append(_step(index, "header", "header removed", value="absent"))
                continue
            if header_name is not None and header_name[1].lower() != match["name"].lower():
                errs.add(here + ".header.name", "%r differs from %r of %s[%d]: a release "
                         "routes by one header (a later step may change its value)",
                         match["name"], header_name[1], path, header_name[0])
                continue
            header_name = header_name or (index, match["name"])
            header_on = True
            op = "~" if match["type"] == "RegularExpression" else "="
            parsed.append(_step(index, "header", "header %s%s%s" % (
                match["name"], op, match["value"]), value=match))
        else:
            raw = step["pause"]
            field = here + ".pause"
            if isinstance(raw, dict):
                extra = sorted(set(raw) - set(["duration"]))
                for key in extra:
                    errs.add("%s.%s" % (field, key), "is not a pause key (only duration)")
                raw = raw.get("duration")
                field += ".duration"
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                errs.add(field, "needs a duration such as 30s, 10m or 1h: a release never "
                         "waits for a person")
                continue
            try:
                seconds = parse_duration(raw)
            except ValueError as exc:
                errs.add(field, "%s", exc)
                continue
            if seconds <= 0:
                errs.add(field, "must be longer than 0, got %r", raw)
                continue
            parsed.append(_step(index, "pause", "pause %s" % format_duration(seconds),
                                seconds=seconds))
    if not errs and not any(s.kind == "weight" for s in parsed):
        errs.add(path, "has no weight step; nothing would reach the canary")
    errs.raise_if_any()
    return parsed


def _percent(value):
    if isinstance(value, str) and re.match(r"^\d+%?$", value.strip()):
        return int(value.strip().rstrip("%"))
    return value if _is_int(value) else None


def _header_match(errs, where, header):
    """A header step's match as {name, value, type}, "absent", or None (errors added)."""
    if isinstance(header, str) and header.strip() == "absent":
        return "absent"
    if not isinstance(header, dict):
        errs.add(where, "must be {name: H, value: V}, {name: H, regex: R} or absent, got %r",
                 header)
        return None
    before = len(errs.errors)
    for key in sorted(set(header) - set(["name", "value", "regex"])):
        errs.add("%s.%s" % (where, key), "is not a header key (name, and value or regex)")
    name = header.get("name")
    if not isinstance(name, str) or not HEADER_NAME.match(name):
        errs.add(where + ".name", "%r is not an HTTP header name", name)
    given = [k for k in ("value", "regex") if header.get(k) not in (None, "")]
    if len(given) != 1:
        errs.add(where, "needs exactly one of value (an exact match) or regex, got %s",
                 " and ".join(given) or "neither")
    elif given == ["regex"]:
        try:
            re.compile(str(header["regex"]))
        except re.error as exc:
            errs.add(where + ".regex", "%r is not a regular expression: %s", header["regex"], exc)
    if len(errs.errors) != before:
        return None
    kind = "RegularExpression" if given == ["regex"] else "Exact"
    return dict(name=name, value=str(header[given[0]]), type=kind)


def check_backend(steps, backend, path="steps"):
    """ValidationError when a step needs a backend other than ``backend`` (a mirror step
    the gateway backend, a header step the gateway or nginx backend)."""
    errs = FieldErrors()
    for step in steps:
        allowed = STEP_BACKENDS.get(step.kind)
        if allowed and backend not in allowed:
            errs.add("%s[%d]" % (path, step.index), "a %s step needs the %s backend (got %s)",
                     step.kind, " or ".join(allowed), backend)
    errs.raise_if_any()


def routing_at(steps, index):
    """(header, mirror) in force once step ``index`` has run (pure): header the match of
    the last header step (None when there was none or it was removed), mirror the percent
    of the last mirror step while no weight above 0 came after it (None otherwise)."""
    header = mirror = None
    for step in steps:
        if step.index > index:
            break
        if step.kind == "header":
            header = None if step.value == "absent" else step.value
        elif step.kind == "mirror":
            mirror = step.value
        elif step.kind == "weight" and step.weight > 0:
            mirror = None
    return header, mirror


def steps_fingerprint(steps):
    """A short stable hash of the normalised steps, kept in the record: resuming a release
    whose steps were changed in between is refused (which step is 'step 3' then?)."""
    # weight and pause steps hash as before they had a value, so a record written by an
    # earlier version of the collection still resumes
    canonical = json.dumps([[s.kind, s.weight, s.seconds] + ([s.value] if s.value is not None
                                                             else []) for s in steps],
                           sort_keys=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def steps_report(steps):
    return [dict(index=s.index, kind=s.kind, weight=s.weight, seconds=s.seconds, text=s.text,
                 value=s.value) for s in steps]


def pause_chunks(remaining, interval):
    """The sleeps of a pause with gates every ``interval`` seconds: [10, 10, 5] for 25 s
    every 10 s. Whole seconds (rounded up); never empty, so the gates run at least once
    after the pause, even when a resumed pause had already run out ([0])."""
    remaining = int(math.ceil(max(remaining, 0)))
    interval = int(math.ceil(interval)) if interval and interval > 0 else remaining
    if remaining <= 0:
        return [0]
    if interval <= 0 or interval >= remaining:
        return [remaining]
    chunks = [interval] * (remaining // interval)
    if remaining % interval:
        chunks.append(remaining % interval)
    return chunks


def last_weight_before(steps, index):
    """The weight in force when step ``index`` starts (0 before any weight step)."""
    weight = 0
    for step in steps:
        if step.index >= index:
            break
        if step.kind == "weight":
            weight = step.weight
    return weight


# ---------------------------------------------------------------------------
# the record
# ---------------------------------------------------------------------------
def read_record(configmap):
    """The record on a ConfigMap (None when there is none or it is unreadable)."""
    if configmap is None:
        return None
    text = ((configmap.get("metadata") or {}).get("annotations") or {}).get(RECORD_ANNOTATION)
    if not text:
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def describe(record):
    if not record:
        return "no release recorded"
    step = record.get("step")
    count = record.get("steps_count")
    where = "step %s of %s" % (step + 1, count) if isinstance(step, int) and count else "start"
    return "release of %s %s is %s (%s, weight %s%%)" % (
        record.get("app"), record.get("version"), record.get("phase"), where,
        record.get("weight", 0))


def decide(record, version, steps, on_resume="continue"):
    """What a run of the release of ``version`` with ``steps`` does, given the record.

    * no record, or the record of a finished release (promoted or aborted, of any
      version): start at step 0;
    * this version promoted: done (a re-run changes nothing);
    * this version in flight (the job was killed): continue at the recorded step, or roll
      back with on_resume=rollback; a promotion or a rollback that was under way is always
      finished, whatever on_resume says (half a promotion cannot be rolled back safely);
    * another version in flight: refused, unless on_resume=rollback (roll that one back).
    """
    if on_resume not in ON_RESUME:
        raise ValueError("on_resume must be one of %s, got %r"
                         % (", ".join(ON_RESUME), on_resume))
    if not record or record.get("phase") not in PHASES:
        return Decision("start", 0, "no release in flight: start at step 1")
    phase = record["phase"]
    same_version = record.get("version") == version
    if phase == "promoted":
        if same_version:
            return Decision("done", None, "%s %s was already promoted: nothing to do"
                            % (record.get("app"), version))
        return Decision("start", 0, "the previous release (%s) was promoted: start at step 1"
                        % record.get("version"))
    if phase == "aborted":
        return Decision("start", 0, "the previous release of %s was rolled back: start at "
                        "step 1" % record.get("version"))
    # in flight
    if phase == "aborting":
        return Decision("rollback", None, "%s: finishing its rollback" % describe(record))
    if phase == "promoting":
        if not same_version:
            raise ReleaseConflict("%s; rerun with version %s to finish the promotion"
                                  % (describe(record), record.get("version")))
        return Decision("promote", None, "%s: finishing its promotion" % describe(record))
    if on_resume == "rollback":
        return Decision("rollback", None, "%s: rolling it back (on_resume=rollback)"
                        % describe(record))
    if not same_version:
        raise ReleaseConflict("%s; rerun with version %s to continue it, or with "
                              "on_resume=rollback to roll it back first"
                              % (describe(record), record.get("version")))
    if record.get("steps_fingerprint") != steps_fingerprint(steps):
        raise ReleaseConflict("%s, but its steps were changed since it started; rerun with "
                              "the original steps, or with on_resume=rollback"
                              % describe(record))
    step = record.get("step")
    if not isinstance(step, int) or not 0 <= step < len(steps):
        step = 0
    return Decision("resume", step, "%s: continuing at step %d (%s)"
                    % (describe(record), step + 1, steps[step].text))


def new_record(app, version, stable_version, backend, steps, now):
    return dict(
        app=app,
        version=version,
        stable_version=stable_version,
        backend=backend,
        steps_fingerprint=steps_fingerprint(steps),
        steps_count=len(steps),
        steps=[s.text for s in steps],
        phase="progressing",
        step=0,
        step_started=now,
        weight=0,
        started=now,
        updated=now,
        gates=[],
        history=[],
    )


HISTORY_LIMIT = 30


def update_record(record, now, step=None, phase=None, weight=None, gates=None, message=None,
                  extra=None):
    """The record after an event. A step's start time is kept while the record stays on
    that step (so a resumed pause only waits what is left) and reset when the step or the
    phase changes."""
    record = dict(record)
    step_changed = step is not None and step != record.get("step")
    phase_changed = phase is not None and phase != record.get("phase")
    if step is not None:
        record["step"] = step
    if phase is not None:
        record["phase"] = phase
    if step_changed or phase_changed or record.get("step_started") is None:
        record["step_started"] = now
    if weight is not None:
        record["weight"] = weight
    if gates is not None:
        record["gates"] = gates
        record["gates_checked"] = now
    if message is not None:
        record["message"] = message
    for key, value in (extra or {}).items():
        if value is not None:
            record[key] = value
    if step_changed or phase_changed:
        history = list(record.get("history") or [])
        history.append(dict(at=now, step=record.get("step"), phase=record.get("phase"),
                            weight=record.get("weight")))
        record["history"] = history[-HISTORY_LIMIT:]
    record["updated"] = now
    return record


def pause_remaining(record, step, now):
    """Seconds still to wait of the pause ``step`` given when the record says it began."""
    started = record.get("step_started")
    if record.get("step") != step.index or started is None:
        return step.seconds
    return max(0, step.seconds - max(0, now - started))
