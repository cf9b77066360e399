# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One step of a canary release in one process (the canary_step module).

A weight step: record that the step started (so a killed job resumes here), move the
traffic through the backend (step_traffic.py: the backend modules' own runners), evaluate
the gates (gates/checks.py), record the weight and the gate results. A mirror or header
step runs the same way: the backend call keeps the weight in force and sets the mirror or
the header rule (every call carries the header and mirror the steps so far ask for, so a
resumed release puts them right whatever step it resumes at). A pause step: record
that it started (a resumed pause keeps its start time, so only what is left is waited),
then wait in slices of the gate interval with the gates after each slice, recording their
results each time. A failed gate ends the step with StepFailed after its results were
recorded. The record is written by canary_release_state's own code (record_backend.py),
so its format and its rules are the same whichever module wrote it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import time

from ansible_collections.progressive.delivery.plugins.module_utils.canary import (
    release_record as rr,
    step_lease,
    step_prepare as sp,
    step_traffic as st,
)
from ansible_collections.progressive.delivery.plugins.module_utils.canary.record_backend import (
    run_release_state,
)
from ansible_collections.progressive.delivery.plugins.module_utils.gates.checks import (
    evaluate_gates,
)
from ansible_collections.progressive.delivery.plugins.module_utils.gates.validation import (
    validate_gates,
)
from ansible_collections.progressive.delivery.plugins.module_utils.canary.release_call import (
    RecordError,
)
from ansible_collections.progressive.delivery.plugins.module_utils.engine import account, account_text
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import KubeError
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    FieldErrors,
    ValidationError,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import WaitError

PODS_GATE = "canary-pods"
# the keys of a step call that are also canary_release_state's
RECORD_KEYS = ("name", "namespace", "record_name", "version", "steps", "gate_interval")


class StepFailed(Exception):
    """A gate failed, or the backend refused or timed out: the message says which and why;
    ``result`` carries the record and the gate results for the caller's rollback."""

    def __init__(self, message, result):
        super(StepFailed, self).__init__(message)
        self.result = result


# ---------------------------------------------------------------------------
# pure parts
# ---------------------------------------------------------------------------
def step_title(step, count, backend):
    """How the step reads in the job's timeline and in messages."""
    if step.kind == "weight":
        return "step %d/%d send %d%% to the canary (%s)" % (
            step.index + 1, count, step.weight, backend)
    if step.kind in ("mirror", "header"):
        return "step %d/%d %s (%s)" % (step.index + 1, count, step.text, backend)
    return "step %d/%d %s" % (step.index + 1, count, step.text)


def split_gates(gates):
    """(gates this process evaluates, task-file gates the role runs)."""
    gates = gates or []
    return ([g for g in gates if g.get("type") != "tasks"],
            [g for g in gates if g.get("type") == "tasks"])


def gates_to_run(user_gates, pods_gate, selector, namespace, max_restarts, backend, weight):
    """The gates of this moment: the built-in pods gate on the canary's pods (when it has
    pods: a replicas canary at 0% has none) in front of the user's gates."""
    gates = []
    if pods_gate and selector and (backend != "replicas" or int(weight or 0) > 0):
        gates.append({"name": PODS_GATE, "type": "pods_ready", "namespace": namespace,
                      "selector": dict(selector), "max_restarts": max_restarts})
    return gates + list(user_gates)


def gate_outcome(results):
    """(passed, failed results, summary) of gate results (dicts)."""
    failed = [r for r in results if not r["passed"]]
    summary = "; ".join("%s: %s" % (r["name"], r["message"]) for r in failed)
    return not failed, failed, summary


def slice_plan(chunks, pause_end, now):
    """How long the next slice sleeps: its chunk, cut at the pause's end (so time spent on
    gates is not added to the pause), never below 0."""
    return max(0, min(int(chunks), int(math.ceil(pause_end - now))))


def validate(params):
    """(steps, step) of a call (step None for a promotion); every bad field at once.
    Nothing is read on bad input."""
    errs = FieldErrors()
    steps = None
    try:
        steps = rr.parse_steps(params["steps"])
        backend = params.get("backend") or "replicas"
        rr.check_backend(steps, backend)
        st.check_step_settings(backend, params.get("settings"), steps)
    except ValidationError as exc:
        errs.errors.extend(exc.errors)
    index = params.get("step")
    action = params.get("action") or "step"
    promote = action != "step"
    if promote and index is not None:
        errs.add("step", "is not used with action=%s", action)
    elif not promote and index is None:
        errs.add("step", "is required with action=step (the index of the step to run)")
    elif not promote and steps is not None and not 0 <= index < len(steps):
        errs.add("step", "%d is not a step index (0 to %d)", index, len(steps) - 1)
    try:
        validate_gates(params.get("gates") or [], allow_tasks=True)
    except ValidationError as exc:
        errs.errors.extend(exc.errors)
    if params.get("gate_interval") is not None:
        try:
            rr.parse_duration(params["gate_interval"])
        except ValueError as exc:
            errs.add("gate_interval", "%s", exc)
    errs.raise_if_any()
    return steps, None if promote else steps[index]


# ---------------------------------------------------------------------------
# the call
# ---------------------------------------------------------------------------
class StepRun(object):
    """One canary_step call. ``clock``/``sleep`` are injectable for tests."""

    def __init__(self, params, kube, check_mode=False, clock=time.time, sleep=time.sleep):
        self.params = params
        self.kube = kube
        self.check_mode = check_mode
        self.clock = clock
        self.sleep = sleep
        self.steps, self.step = validate(params)
        self.action = params.get("action") or "step"
        if self.step:
            self.title = step_title(self.step, len(self.steps), params["backend"])
        elif self.action == "promote":
            self.title = "promote: %s becomes the stable version (%s)" % (
                params["version"], params["backend"])
        else:
            self.title = "prepare the canary at 0%% (%s)" % params["backend"]
        self.label = "%s %s %s" % (params["name"], params["version"], self.title)
        self.user_gates, self.task_gates = split_gates(params.get("gates"))
        self.record = None
        # the record's ConfigMap as this call last wrote it: a second write of the record
        # patches it without reading it again (record_backend.RecordBackend.known)
        self.record_memo = {}
        self.changed = False
        self.gate_results = []
        self.evaluations = []   # every gate evaluation of the call: (time, results)
        self.traffic_result = None

    # -- the record, through canary_release_state's code
    def write_record(self, **event):
        call = dict((k, self.params.get(k)) for k in RECORD_KEYS)
        call.update(state="present", gates=None, on_resume="continue",
                    step=self.step.index if self.step else None)
        call.update(event)
        result = run_release_state(call, lambda: self.kube, self.check_mode, clock=self.clock,
                                   memo=self.record_memo)
        self.changed = self.changed or result["changed"]
        self.record = result["record"]
        return result

    def evaluate(self, weight, selector):
        gates = gates_to_run(self.user_gates, self.params["pods_gate"], selector,
                             self.params["namespace"], self.params["max_restarts"],
                             self.params["backend"], weight)
        if self.check_mode or not gates:
            return []
        results = [r._asdict() for r in evaluate_gates(gates, self.kube)]
        self.evaluations.append(dict(time=round(self.clock(), 3), results=results))
        return results

    def report(self, **extra):
        passed, failed, summary = gate_outcome(self.gate_results)
        result = dict(changed=self.changed,
                      step=rr.steps_report([self.step])[0] if self.step else None,
                      title=self.title, record=self.record, weight=(self.record or {}).get("weight"),
                      gate_results=self.gate_results, passed=passed,
                      failed_gates=[r["name"] for r in failed], failed_gate_results=failed,
                      summary=summary, evaluations=self.evaluations,
                      task_gates=self.task_gates, traffic_result=self.traffic_result,
                      message=rr.describe(self.record))
        result.update(extra)
        return result

    def fail(self, message, **extra):
        raise StepFailed(message, self.report(**extra))

    def check_gates(self, results, **extra):
        """Keep the results; stop the step when one failed (after they were recorded)."""
        self.gate_results = results
        passed, unused_failed, summary = gate_outcome(results)
        if not passed:
            self.fail("gate(s) failed for %s: %s" % (self.label, summary), **extra)

    # -- the two kinds of step
    def run(self):
        """The step; any failure after the first read becomes StepFailed, worded as the
        module it came from words it, with the record and the gate results beside it."""
        try:
            if self.action == "prepare":
                return self.prepare()
            if self.action == "promote":
                return self.promote()
            started = self.write_record(phase="progressing")
            if self.step.kind == "pause":
                return self.pause_step(started)
            return self.weight_step()
        except ValidationError as exc:
            self.fail("invalid input: %s" % exc,
                      errors=[dict(field=e.path, message=e.message) for e in exc.errors])
        except KubeError as exc:
            # a failure midway (a missing permission) says what the backend had written
            # and what is live, as the backend's own module says it
            self.fail("Kubernetes API error: %s%s" % (exc, account_text(exc)), **account(exc))
        except (WaitError, RecordError, sp.PrepareRefused) as exc:
            self.fail(str(exc) + account_text(exc), **account(exc))

    def call_backend(self, call):
        """The backend's call, as its module makes it; its refusal fails the step."""
        try:
            self.traffic_result = st.move_traffic(
                self.kube, call, check_mode=self.check_mode, wait=True,
                wait_timeout=self.params["wait_timeout"])
        except st.refusals() as exc:
            # what the backend reports as live after its refusal travels with the failure
            self.traffic_result = getattr(exc, "result", None)
            self.fail(str(exc))
        self.changed = self.changed or bool(self.traffic_result.get("changed"))
        return self.traffic_result

    def move(self, weight, action="weight"):
        params = self.params
        backend, settings = params["backend"], params.get("settings") or {}
        st.check_settings(backend, settings, self.record)
        routing = st.step_routing(self.steps, self.step.index if self.step else None)
        return self.call_backend(st.traffic_call(
            backend, settings, weight, params["name"], params["namespace"], params["version"],
            self.record, action=action, routing=routing))

    def prepare(self):
        """The canary at 0% (no traffic moves), then the release recorded as started."""
        prepared = sp.Preparation(self).prepare()
        stable = self.params.get("stable_version") or prepared.stable_version
        self.write_record(state="started", stable_version=stable, step=None,
                          backend=self.params["backend"], data=prepared.data)
        return self.report(stable_version=stable, prepared=prepared.data)

    def promote(self):
        """Record the promotion, make the canary the stable version, record it done."""
        self.write_record(phase="promoting")
        self.move(100, action="promote")
        self.write_record(phase="promoted", weight=100,
                          reason="%s promoted" % self.params["version"])
        given_back, warning = step_lease.give_back(self)
        return self.report(lease_given_back=given_back,
                           **(dict(warnings=[warning]) if warning else {}))

    def weight_step(self):
        """A weight, mirror or header step: one backend call, the gates, the record. A
        mirror or header step keeps the weight the steps before it left."""
        backend = self.params["backend"]
        weight = self.step.weight if self.step.kind == "weight" else \
            rr.last_weight_before(self.steps, self.step.index)
        self.move(weight)
        if self.step.kind == "mirror":
            self.check_mirror_percent()
        selector = st.canary_pods_selector(backend, self.record, self.traffic_result)
        results = self.evaluate(weight, selector)
        data = {"canary_selector": selector} if backend == "rolling" and selector else None
        self.write_record(weight=weight, gate_results=results, data=data)
        self.check_gates(results)
        return self.report()

    def check_mirror_percent(self):
        """A mirror of less than 100% needs RequestMirror's percent, which the Gateway API
        has since v1.2 (experimental channel; standard from v1.3); an API server with older
        CRDs drops the field without a word and the canary would get a copy of every
        request. Read the route back and fail the step (the rollback removes the mirror)."""
        if self.check_mode or self.step.value >= 100:
            return
        from ansible_collections.progressive.delivery.plugins.module_utils.gateway import (
            plan as gp,
        )
        settings = self.params.get("settings") or {}
        namespace = settings.get("namespace") or self.params["namespace"]
        route = self.kube.get(gp.HTTPROUTE, namespace, settings["route"])
        parts = settings["canary_service"].split("/")
        canary = gp.service_key(parts[0] if len(parts) == 2 else None, parts[-1], namespace)
        dropped = [f for r in (route.get("spec") or {}).get("rules") or []
                   for f in r.get("filters") or [] if f.get("type") == "RequestMirror"
                   and gp.ref_key((f.get("requestMirror") or {}).get("backendRef") or {},
                                  namespace) == canary
                   and "percent" not in f["requestMirror"]
                   and "fraction" not in f["requestMirror"]]
        if dropped:
            self.fail("HTTPRoute %s/%s: the API server did not keep requestMirror.percent %d "
                      "(its Gateway API CRDs are older than v1.2 experimental or v1.3 "
                      "standard), so the canary would get a copy of every request; install "
                      "newer CRDs or mirror 100%%" % (namespace, settings["route"],
                                                      self.step.value))

    def pause_step(self, started):
        remaining = started.get("remaining", self.step.seconds)
        chunks = started.get("pause_chunks") or [0]
        pause_end = started["now"] + remaining
        weight = (self.record or {}).get("weight") or 0
        selector = st.canary_pods_selector(self.params["backend"], self.record, None)
        waited = 0.0
        for index, chunk in enumerate(chunks):
            seconds = slice_plan(chunk, pause_end, self.clock())
            last = index == len(chunks) - 1
            if seconds <= 0 and not last:
                continue
            if seconds > 0 and not self.check_mode:
                self.sleep(seconds)
                waited += seconds
            results = self.evaluate(weight, selector)
            if results:
                self.write_record(gate_results=results)
            self.check_gates(results, remaining=round(remaining, 3), waited=waited)
        return self.report(remaining=round(remaining, 3), waited=waited)


def run_step(params, kube_for, check_mode=False, clock=time.time, sleep=time.sleep):
    """One canary_step call: validate (nothing is read on bad input), then run the step."""
    run = StepRun(params, None, check_mode, clock, sleep)
    run.kube = kube_for()
    step_lease.keep(run)  # the release lease renewed, or the step fails naming its holder
    return run.run()
