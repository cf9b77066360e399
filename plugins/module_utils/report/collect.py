# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release report: what happened in each release a playbook ran, from its task results.

The ``release_report`` callback hands every finished task of the collection's modules (and
the fleet role's facts and set_stats) to ``Recorder.task``; the recorder keeps, per release
(one app in one namespace on one cluster, or one fleet release): its steps with start and
end times, the traffic split after each step, every gate evaluation with its values, the
pauses, the decisions and why. ``Recorder.reports()`` returns them as JSON-ready dicts.
Pure: no Ansible imports, so it is unit-tested with plain dicts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.progressive.delivery.plugins.module_utils.report.traffic import (
    bluegreen_release,
    candidate,
    classify,
    is_preview,
    labelled,
    remember_backend_facts,
    rolled_back_target,
    shares,
    traffic_object,
)

# The traffic objects of the bluegreen role's gateway, contour and knative backends
# (traffic.py reads their results).
TRAFFIC_MODULES = ("gateway_traffic", "contour_delegate", "knative_traffic")
MODULES = ("k8s_bluegreen", "k8s_canary", "canary_release_state", "canary_step",
           "gate_check") + TRAFFIC_MODULES
BLUEGREEN_STEPS = {"deployed": "deploy", "previewed": "deploy and preview",
                   "promoted": "promote", "rolled_back": "roll back",
                   "scaled_down": "scale down"}


def iso(ts):
    """Epoch seconds -> '2026-11-30T05:14:47.123Z'."""
    return datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def short_action(action):
    """'progressive.delivery.k8s_bluegreen' or 'k8s_bluegreen' -> 'k8s_bluegreen'; None for
    modules that are not the collection's."""
    action = action or ""
    if action.startswith("progressive.delivery."):
        action = action[len("progressive.delivery."):]
    return action if action in MODULES else None


def task_title(name):
    """'Blue/green | switch live traffic to the candidate | myapp v2' -> the middle part."""
    parts = [p.strip() for p in (name or "").split(" : ")[-1].split("|")]
    return parts[1] if len(parts) >= 3 else (parts[-1] if parts else "")


def task_label(name):
    parts = [p.strip() for p in (name or "").split("|")]
    return parts[-1] if len(parts) >= 2 else ""


class Recorder(object):
    """Accumulates releases from task results, in the order they finish."""

    def __init__(self):
        self.releases = {}          # key -> release dict
        self.order = []
        self.current = {}           # host -> key of the release it last worked on
        self.fleets = {}            # fleet name -> fleet dict
        self.host_fleet = {}        # host -> fleet name
        self.rollbacks = {}         # host -> {version, of}: a fleet rolling a canary back
        self.backend_facts = {}     # host -> the bluegreen backends' facts (traffic.py)
        self.traffic_objects = {}   # (host, app, version) -> the live traffic object

    # ------------------------------------------------------------------ releases
    def _release(self, host, kind, namespace, app, version, start):
        """The release of ``version`` of the app; version None: the one the host last
        worked on for that app (a scale-down names the old version, not the release's)."""
        if version is None:
            key = self.current.get(host)
            if not key or key[1:4] != (kind, namespace, app):
                key = (host, kind, namespace, app, None)
        else:
            key = (host, kind, namespace, app, version)
        if key not in self.releases:
            self.releases[key] = dict(
                kind=kind, cluster=host, app=app, namespace=namespace, version=None,
                previous=None, started=start, ended=start, outcome="in_progress", steps=[],
                traffic=[], gates=[], pauses=[], decisions=[], failures=[])
            self.order.append(key)
        self.current[host] = key
        rel = self.releases[key]
        rel["ended"] = max(rel["ended"], start)
        return rel

    def _current(self, host):
        key = self.current.get(host)
        return self.releases.get(key) if key else None

    @staticmethod
    def _traffic(rel, ts, split, why):
        split = dict((v, int(p)) for v, p in split.items() if v)
        if rel["traffic"] and rel["traffic"][-1]["split"] == split:
            return
        rel["traffic"].append(dict(time=ts, split=split, why=why))

    @staticmethod
    def _step(rel, name, start, end, failed):
        rel["steps"].append(dict(name=name, start=start, end=end,
                                 status="failed" if failed else "ok",
                                 traffic=dict(rel["traffic"][-1]["split"]) if rel["traffic"] else {}))
        rel["ended"] = max(rel["ended"], end)

    def task(self, host, action, name, args, result, start, end, failed=False, check_mode=False):
        """One finished task. ``action``: the module or action name; ``args``: the module's
        arguments as invoked; ``result``: its result dict; ``check_mode``: whether the task
        ran in check mode (what it returns is a prediction, not traffic)."""
        args = args or {}
        result = result or {}
        if action in ("set_fact", "ansible.builtin.set_fact"):
            facts = result.get("ansible_facts") or {}
            remember_backend_facts(self.backend_facts.setdefault(host, {}), facts)
            self._task_gates(host, facts, end)
            self._facts(host, facts, end)
            return
        if action in ("set_stats", "ansible.builtin.set_stats"):
            self._stats(host, (result.get("ansible_stats") or {}).get("data") or {})
            return
        if action in ("pause", "ansible.builtin.pause"):
            self._pause(host, name, result, start, end)
            return
        if failed and not short_action(action):
            rel = self._current(host)
            if rel is not None:
                rel["failures"].append(dict(time=end, task=name, message=str(result.get("msg", ""))[:2000]))
            return
        module = short_action(action)
        if module == "k8s_bluegreen" and check_mode:
            return  # a prediction of the switch, not traffic
        if module == "k8s_bluegreen":
            self._bluegreen(host, name, args, result, start, end, failed)
        elif module == "canary_release_state":
            self._canary_record(host, name, args, result, start, end, failed)
        elif module == "canary_step":
            self._canary_step(host, name, args, result, start, end, failed)
        elif module == "gate_check" and not args.get("validate_only"):
            # (a validate_only call checks the gates' fields: no evaluation)
            self._gates(host, name, result, start, end, failed)
        elif module in TRAFFIC_MODULES:
            self._backend_traffic(host, module, name, args, result, start, end, failed, check_mode)

    def _bluegreen(self, host, name, args, result, start, end, failed):
        state = args.get("state")
        version = args.get("version")
        rel = self._release(host, "bluegreen", args.get("namespace"), args.get("name"),
                            None if state == "scaled_down" else version, start)
        if state != "scaled_down":
            rel["version"] = version
        live = result.get("live_version")
        if state == "previewed" and not failed:
            rel["previous"] = rel["previous"] or live
            if live and live != version:
                self._traffic(rel, end, {live: 100, version: 0}, "live before the release")
        elif state == "promoted" and not failed:
            previous = result.get("previous_version") or rel["previous"]
            rel["previous"] = previous
            self._traffic(rel, end, {version: 100, previous: 0}, "promoted")
            self._promoted(rel, start, end, result.get("changed", True))
        elif state == "rolled_back" and not failed:
            back_to = live or rel["previous"]
            self._traffic(rel, end, {back_to: 100, rel["version"] or version: 0}, "rolled back")
            self._rolled_back(host, rel, end)
        title = BLUEGREEN_STEPS.get(state, state or "change")
        if state == "scaled_down":
            title = "scale down %s" % version
        self._step(rel, title, start, end, failed)
        if failed:
            rel["failures"].append(dict(time=end, task=name, message=str(result.get("msg", ""))[:2000]))

    @staticmethod
    def _promoted(rel, start, end, changed):
        """The promote decision of a blue/green release and why."""
        gates = [g for g in rel["gates"] if g["time"] <= start]
        why = ("gates passed before the switch: " + ", ".join(
            "%s (%s)" % (g["name"], g["label"]) for g in gates[-3:])) if gates else \
            "no gate before the switch"
        if not changed:
            why = "%s was already live: nothing to switch" % rel["version"]
        rel["decisions"].append(dict(time=end, decision="promote", why=why))
        rel["outcome"] = "promoted"

    def _rolled_back(self, host, rel, end):
        """The rollback decision of a blue/green release and why: the failed gate, the
        fleet's halt, or the failure."""
        failed_gates = [g for g in rel["gates"] if not g["passed"]]
        fleet = self.fleets.get(self.host_fleet.get(host))
        halts = [v for v in (fleet or {}).get("verdicts", []) if v["halt"]]
        if failed_gates:
            why = "gate failed: " + "; ".join("%s: %s" % (g["name"], g["message"])
                                              for g in failed_gates[-3:])
        elif halts:
            why = "the fleet halted: " + halts[-1]["reason"]
        elif (fleet or {}).get("clusters", {}).get(host, {}).get("reason"):
            why = fleet["clusters"][host]["reason"]
        else:
            why = rel["failures"][-1]["message"] if rel["failures"] else "asked to roll back"
        rel["decisions"].append(dict(time=end, decision="rollback", why=why))
        rel["outcome"] = "rolled_back"

    def _canary_record(self, host, name, args, result, start, end, failed):
        record = result.get("record") or {}
        original = self._rolled_back_by_fleet(host, args, record)
        if original is not None:
            self._fleet_canary_rollback(original, args, record, start, end, failed, name, result)
            return
        rel = self._release(host, "canary", args.get("namespace"), args.get("name"),
                            record.get("version") or args.get("version"), start)
        rel["version"] = rel["version"] or record.get("version") or args.get("version")
        stable = record.get("stable_version") or args.get("stable_version")
        if stable:
            rel["previous"] = stable
        if failed:
            rel["failures"].append(dict(time=end, task=name, message=str(result.get("msg", ""))[:2000]))
            return
        state = args.get("state")
        if state == "query":
            rel["decisions"].append(dict(time=end, decision=result.get("decision"),
                                         why=result.get("message")))
            return
        weight = record.get("weight")
        phase = record.get("phase")
        if weight is not None and rel["version"] and rel["previous"]:
            self._traffic(rel, end, {rel["previous"]: 100 - int(weight), rel["version"]: int(weight)},
                          "step %s" % (int(record.get("step", 0)) + 1))
        steps = record.get("steps") or []
        if args.get("phase") == "progressing" and args.get("step") is not None:
            index = int(args["step"])
            text = steps[index] if index < len(steps) else "step"
            self._close_step(rel, end)
            rel["steps"].append(dict(name="step %d/%d: %s" % (index + 1, len(steps), text),
                                     start=start, end=None, status="ok", traffic={}))
        elif args.get("phase") in ("promoting", "aborting"):
            self._close_step(rel, start)
            decision = "promote" if args["phase"] == "promoting" else "rollback"
            why = args.get("reason") or ("every step passed its gates" if decision == "promote"
                                         else "asked to roll back")
            rel["decisions"].append(dict(time=end, decision=decision, why=why))
            rel["steps"].append(dict(name=decision, start=start, end=None, status="ok", traffic={}))
        elif args.get("phase") in ("promoted", "aborted"):
            rel["outcome"] = "promoted" if args["phase"] == "promoted" else "rolled_back"
            self._close_step(rel, end)
        elif phase and rel["steps"] and rel["steps"][-1]["end"] is None:
            rel["steps"][-1]["traffic"] = dict(rel["traffic"][-1]["split"]) if rel["traffic"] else {}
        rel["ended"] = max(rel["ended"], end)

    def _canary_step(self, host, name, args, result, start, end, failed):
        """A whole canary step in one task (canary_step): the step, the traffic after it,
        every gate evaluation in it and, for a pause, the pause."""
        record = result.get("record") or {}
        original = self._rolled_back_by_fleet(host, args, record)
        if original is not None:
            # a fleet releasing the previous version again: the same events as the record's
            action = args.get("action") or "step"
            event = dict(args, state="started") if action == "prepare" else dict(
                args, state="present", phase="promoted" if action == "promote" else None)
            self._fleet_canary_rollback(original, event, record, start, end, failed, name, result)
            return
        rel = self._release(host, "canary", args.get("namespace"), args.get("name"),
                            record.get("version") or args.get("version"), start)
        rel["version"] = rel["version"] or record.get("version") or args.get("version")
        if record.get("stable_version"):
            rel["previous"] = record["stable_version"]
        self._close_step(rel, start)
        if args.get("action") == "promote":
            self._canary_promote(rel, name, record, start, end, failed, result)
            return
        weight = record.get("weight")
        if args.get("action") == "prepare":
            # the canary at 0% and the release recorded as started: no step of its own
            if failed:
                rel["failures"].append(dict(time=end, task=name, message=str(result.get("msg", ""))[:2000]))
            elif rel["version"] and rel["previous"]:
                self._traffic(rel, end, {rel["previous"]: 100, rel["version"]: 0}, "step 1")
            return
        step = result.get("step") or {}
        if weight is not None and rel["version"] and rel["previous"]:
            self._traffic(rel, end, {rel["previous"]: 100 - int(weight), rel["version"]: int(weight)},
                          "step %s" % (int(step.get("index", record.get("step", 0))) + 1))
        label = task_label(name)
        for evaluation in result.get("evaluations") or []:
            for gate in evaluation.get("results") or []:
                rel["gates"].append(dict(time=evaluation.get("time", end), label=label, **_gate(gate)))
        if step.get("kind") == "pause":
            rel["pauses"].append(dict(start=start, end=end, seconds=round(end - start, 1),
                                      label=task_title(name)))
        count = len(record.get("steps") or args.get("steps") or []) or "?"
        title = "step %s/%s: %s" % (int(step.get("index", 0)) + 1, count, step.get("text", "step"))
        self._step(rel, title, start, end, failed)
        if failed:
            rel["failures"].append(dict(time=end, task=name, message=str(result.get("msg", ""))[:2000]))

    def _canary_promote(self, rel, name, record, start, end, failed, result):
        rel["decisions"].append(dict(time=start, decision="promote",
                                     why="every step passed its gates"))
        if not failed and rel["version"] and rel["previous"]:
            self._traffic(rel, end, {rel["previous"]: 0, rel["version"]: 100}, "promoted")
            rel["outcome"] = "promoted"
        self._step(rel, "promote", start, end, failed)
        if failed:
            rel["failures"].append(dict(time=end, task=name, message=str(result.get("msg", ""))[:2000]))

    def _rolled_back_by_fleet(self, host, args, record):
        """The release of the new version a fleet is rolling back by releasing the previous
        version again on ``host`` (None when this record is not that rollback)."""
        rollback = self.rollbacks.get(host)
        # the record a query returns is still the new version's: the arguments name the
        # release being made
        version = args.get("version") or record.get("version")
        if not rollback or version != rollback.get("version"):
            return None
        return self.releases.get((host, "canary", args.get("namespace"), args.get("name"),
                                  rollback.get("of")))

    def _fleet_canary_rollback(self, rel, args, record, start, end, failed, name, result):
        """The fleet rolls a promoted canary back by releasing the previous version again:
        shown on the new version's release as one step, the traffic moving back, and the
        decision (the release of the previous version is not a release of its own)."""
        previous, version = args.get("version") or record.get("version"), rel["version"]
        rel["ended"] = max(rel["ended"], end)
        if failed:
            rel["failures"].append(dict(time=end, task=name, message=str(result.get("msg", ""))[:2000]))
            return
        phase = args.get("phase")
        if args.get("state") == "started":
            rel["steps"].append(dict(name="roll back: release %s again" % previous, start=start,
                                     end=None, status="ok", traffic={}))
        weight = record.get("weight")
        if args.get("state") != "query" and weight is not None and record.get("phase") not in (
                "aborting", "aborted"):
            self._traffic(rel, end, {previous: int(weight), version: 100 - int(weight)},
                          "rolled back by the fleet")
        if phase == "promoted":
            fleet = self.fleets.get(self.host_fleet.get(rel["cluster"]))
            halts = [v for v in (fleet or {}).get("verdicts", []) if v["halt"]]
            why = ("the fleet halted: " + halts[-1]["reason"]) if halts else \
                "a gate failed on the released cluster"
            rel["decisions"].append(dict(time=end, decision="rollback", why=why))
            rel["outcome"] = "rolled_back"
            self._close_step(rel, end)
        elif phase == "aborted":
            self._traffic(rel, end, {previous: 0, version: 100}, "the rollback was aborted")
            rel["failures"].append(dict(time=end, task=name, message="the release of %s again "
                                        "was aborted: %s is still live" % (previous, version)))
            if rel["steps"] and rel["steps"][-1]["end"] is None:
                rel["steps"][-1]["status"] = "failed"
            self._close_step(rel, end)

    def _close_step(self, rel, ts):
        if rel["steps"] and rel["steps"][-1]["end"] is None:
            rel["steps"][-1]["end"] = ts
            rel["steps"][-1]["traffic"] = dict(rel["traffic"][-1]["split"]) if rel["traffic"] else {}

    def _gates(self, host, name, result, start, end, failed):
        results = result.get("results") or []
        label = task_label(name)
        if name and "fleet gates" in name:
            fleet = self.fleets.get(self.host_fleet.get(host))
            if fleet is not None:
                for gate in results:
                    fleet["gates"].append(dict(time=end, label=label, **_gate(gate)))
            return
        rel = self._current(host)
        if rel is None:
            return
        for gate in results:
            rel["gates"].append(dict(time=end, label=label, **_gate(gate)))
        # A canary's steps are its own (weight, pause): gates and pause slices happen inside them.
        if rel["kind"] == "bluegreen":
            self._step(rel, "gates: " + label if label else "gates", start, end,
                       failed or not result.get("passed", True))

    def _task_gates(self, host, facts, end):
        """Task-file gates (type tasks): the release_gate role runs them as the user's tasks,
        not through gate_check; their verdicts come with the role's combined result."""
        combined = facts.get("release_gate_result")
        if not isinstance(combined, dict):
            return
        rel = self._current(host)
        if rel is None:
            return
        for gate in combined.get("results") or []:
            if isinstance(gate, dict) and gate.get("type") == "tasks":
                rel["gates"].append(dict(time=end, label=combined.get("label") or "", **_gate(gate)))

    def _pause(self, host, name, result, start, end):
        seconds = end - start
        if "Fleet | bake" in (name or ""):
            fleet = self.fleets.get(self.host_fleet.get(host))
            if fleet is not None:
                fleet["bakes"].append(dict(start=start, end=end, seconds=round(seconds, 1),
                                           label=task_title(name)))
            return
        rel = self._current(host)
        if rel is None:
            return
        rel["pauses"].append(dict(start=start, end=end, seconds=round(seconds, 1),
                                  label=task_title(name)))
        if rel["kind"] == "bluegreen":
            self._step(rel, "hold %ds" % round(seconds), start, end, False)

    # ------------------------------------------------- bluegreen over gateway, contour, knative
    def _backend_traffic(self, host, module, name, args, result, start, end, failed, check_mode):
        """A call of the bluegreen role's gateway, contour or knative backend: the live
        split after it (and before it, for the first one of the release), and the step,
        decision and outcome the change means (traffic.py). Calls of other roles, preview
        objects and check-mode predictions are left out."""
        release = bluegreen_release(name)
        facts = self.backend_facts.get(host) or {}
        if release is None or is_preview(module, args, facts):
            return
        app, version = release
        # The live object is the first one the release touched; another path of the same
        # root proxy is a preview path.
        where = traffic_object(module, args, result)
        main = self.traffic_objects.setdefault((host, app, version), where)
        if where != main or check_mode:
            return
        namespace = (facts.get("bluegreen_child") or {}).get("namespace") if \
            module == "contour_delegate" else None
        rel = self._release(host, "bluegreen", namespace or where[1], app, version, start)
        rel["version"] = version
        if failed:
            self._step(rel, "change traffic", start, end, True)
            rel["failures"].append(dict(time=end, task=name, message=str(result.get("msg", ""))[:2000]))
            return
        before, after = shares(module, result)
        cand = candidate(module, facts, result, rel.get("targets", {}).get(version))
        if cand is None and not rel["traffic"]:
            cand = rolled_back_target(before, after)
        if cand:
            rel.setdefault("targets", {})[version] = cand
        if not rel["traffic"] and before:
            self._traffic(rel, start, labelled(before, cand, version), "live before the change")
        seen = [label for sample in rel["traffic"] for label in sample["split"]]
        change = classify(before, after, cand)
        live_before = sorted(t for t, p in before.items() if p > 0 and t != cand)
        if change in ("preview", "promote") and live_before and not rel["previous"]:
            rel["previous"] = ", ".join(live_before)
        why = {"preview": "the candidate at 0%", "promote": "promoted",
               "rollback": "rolled back"}.get(change, "live split")
        self._traffic(rel, end, labelled(after, cand, version, seen), why)
        if change == "promote":
            self._promoted(rel, start, end, result.get("changed", True))
        elif change == "rollback":
            self._rolled_back(host, rel, end)
        if change:
            self._step(rel, BLUEGREEN_STEPS[{"preview": "previewed", "promote": "promoted",
                                             "rollback": "rolled_back"}[change]], start, end, False)

    # ------------------------------------------------------------------ the fleet
    def _facts(self, host, facts, ts):
        if "fleet_report_release" in facts:
            name = facts["fleet_report_release"]
            fleet = self.fleets.setdefault(name, dict(
                kind="fleet", release=name, strategy=facts.get("fleet_report_strategy"),
                version=facts.get("fleet_report_version"), waves=facts.get("fleet_plan") or [],
                started=ts, ended=ts, outcome="in_progress", clusters={}, verdicts=[],
                bakes=[], gates=[], summary=None))
            self.host_fleet[host] = name
            fleet["clusters"].setdefault(host, dict(action=None, outcome=None))
        fleet = self.fleets.get(self.host_fleet.get(host))
        if fleet is None:
            return
        fleet["ended"] = max(fleet["ended"], ts)
        if "fleet_action" in facts:
            fleet["clusters"][host]["action"] = facts["fleet_action"]
        if facts.get("fleet_reason"):
            # why the fleet rolls the cluster back when its gates ran outside a release of
            # this run (the re-check of a cluster released by an earlier job)
            fleet["clusters"][host]["reason"] = facts["fleet_reason"]
        if isinstance(facts.get("fleet_report_rollback"), dict):
            self.rollbacks[host] = facts["fleet_report_rollback"]
        verdict = facts.get("fleet_verdict")
        if isinstance(verdict, dict) and (not fleet["verdicts"]
                                          or fleet["verdicts"][-1]["reason"] != verdict.get("reason")):
            fleet["verdicts"].append(dict(time=ts, halt=bool(verdict.get("halt")),
                                          reason=verdict.get("reason"),
                                          failed=verdict.get("failed") or []))

    def _stats(self, host, data):
        for key, value in data.items():
            if not (isinstance(value, dict) and value.get("release") in self.fleets
                    and "clusters" in value):
                continue
            fleet = self.fleets[value["release"]]
            fleet["summary"] = value
            fleet["outcome"] = value.get("outcome", fleet["outcome"])
            for cluster, info in (value.get("clusters") or {}).items():
                fleet["clusters"].setdefault(cluster, {}).update(info)

    # ------------------------------------------------------------------ output
    def reports(self):
        """[report dict]: one per fleet release (its clusters' releases inside), one per
        release that ran outside a fleet. Times are epoch seconds and ISO strings."""
        out = []
        in_fleet = set()
        for name, fleet in self.fleets.items():
            report = dict(fleet)
            report["releases"] = []
            for key in self.order:
                if (key[0] in fleet["clusters"] and self.host_fleet.get(key[0]) == name
                        and self.releases[key]["version"] == fleet["version"]):
                    report["releases"].append(_finish(self.releases[key]))
                    in_fleet.add(key)
            times = [fleet["started"], fleet["ended"]] + [
                t for r in report["releases"] for t in (r["started"], r["ended"])]
            report["started"], report["ended"] = min(times), max(times)
            out.append(_with_iso(report))
        for key in self.order:
            if key not in in_fleet:
                out.append(_with_iso(_finish(self.releases[key])))
        return out


def _gate(gate):
    return dict(name=gate.get("name"), type=gate.get("type"), passed=bool(gate.get("passed")),
                message=gate.get("message"), values=gate.get("values") or {})


def _finish(rel):
    rel = dict(rel)
    if rel.get("targets"):
        rel["traffic"] = _backfilled(rel["traffic"])
    for step in rel["steps"]:
        if step["end"] is None:
            step["end"] = rel["ended"]
    if rel["outcome"] == "in_progress" and rel["failures"]:
        rel["outcome"] = "failed"
    return rel


def _backfilled(traffic):
    """Every sample names every target of the release: a candidate found by its tag only
    when it came in (Knative) was at 0% before. Repeats left by the filling are dropped."""
    labels = []
    for sample in traffic:
        labels += [label for label in sample["split"] if label not in labels]
    out = []
    for sample in traffic:
        split = dict((label, sample["split"].get(label, 0)) for label in labels)
        if not out or out[-1]["split"] != split:
            out.append(dict(sample, split=split))
    return out


def _with_iso(obj):
    """A copy where every 'time', 'start', 'end', 'started', 'ended' number also has an
    ISO string beside it (key + '_iso')."""
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            out[key] = _with_iso(value)
            if key in ("time", "start", "end", "started", "ended") and isinstance(value, (int, float)):
                out[key + "_iso"] = iso(value)
        return out
    if isinstance(obj, list):
        return [_with_iso(v) for v in obj]
    return obj
