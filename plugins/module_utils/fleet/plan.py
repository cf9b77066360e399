# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A release across a fleet of clusters: which cluster goes in which wave, what a cluster
does in a run (release it, or only re-check it because an earlier run released it), when
the fleet halts, which clusters roll back then and to what (the way back kept in the
cluster's fleet record). Pure functions; the ``fleet`` role and its filters call them.

Waves are split exactly as Ansible's ``serial`` splits a play's hosts: each entry is a
batch size, a number or a percent of the whole fleet (rounded down, at least 1), and the
last entry repeats until every cluster has a wave. ``[1, '25%', '100%']`` over 10 clusters
is waves of 1, 2 and 7.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    FieldErrors,
)

RECORD_ANNOTATION = "progressive.delivery/fleet-release"
# A cluster's phase in the record: released (its release role succeeded), baked (its wave's
# bake and fleet gate passed too), rolled_back (this fleet release rolled it back).
CLUSTER_PHASES = ("released", "baked", "rolled_back")
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
_NUMBER = re.compile(r"^\s*(\d+)\s*$")


def _batch_size(entry, total, path, errs):
    """A wave entry -> a batch size (None when invalid; the error is in errs)."""
    if isinstance(entry, bool):
        errs.add(path, "must be a number of clusters or a percent such as '25%%', got %r", entry)
        return None
    if isinstance(entry, int):
        if entry < 1:
            errs.add(path, "must be at least 1 cluster, got %r", entry)
            return None
        return entry
    if isinstance(entry, str):
        match = _NUMBER.match(entry)
        if match:
            return _batch_size(int(match.group(1)), total, path, errs)
        match = _PERCENT.match(entry)
        if match:
            percent = float(match.group(1))
            if not 0 < percent <= 100:
                errs.add(path, "must be a percent above 0 and at most 100, got %r", entry)
                return None
            return max(1, int(percent / 100.0 * total))
    errs.add(path, "must be a number of clusters or a percent such as '25%%', got %r", entry)
    return None


def split_waves(hosts, waves, path="fleet_waves"):
    """The clusters of each wave, in inventory order: [[h1], [h2, h3], [h4, ...]].

    Raises ValidationError naming every bad entry."""
    errs = FieldErrors()
    if not isinstance(waves, list) or not waves:
        errs.add(path, "must be a non-empty list of wave sizes such as [1, '25%%', '100%%'], "
                 "got %r", waves)
        errs.raise_if_any()
    hosts = list(hosts)
    sizes = [_batch_size(entry, len(hosts), "%s[%d]" % (path, i), errs)
             for i, entry in enumerate(waves)]
    errs.raise_if_any()
    result, at, index = [], 0, 0
    while at < len(hosts):
        size = sizes[min(index, len(sizes) - 1)]
        result.append(hosts[at:at + size])
        at += size
        index += 1
    return result


def wave_of(plan, host):
    """The 0-based wave index of ``host`` in ``plan`` (None when it is not in the plan)."""
    for index, members in enumerate(plan):
        if host in members:
            return index
    return None


def read_record(configmap):
    """The fleet record on a ConfigMap (a dict; {} when there is none or it is unreadable)."""
    text = (((configmap or {}).get("metadata") or {}).get("annotations") or {}).get(
        RECORD_ANNOTATION)
    if not text:
        return {}
    try:
        record = json.loads(text)
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def cluster_action(record, release, version):
    """What this run does on one cluster, from the cluster's fleet record.

    * ``recheck``: this fleet release (same name and version) already released the
      cluster and its wave baked; the run re-evaluates its gates and moves on.
    * ``release``: anything else (no record, another release or version, released but the
      bake did not finish, rolled back by an earlier run): run the release role. The roles
      are idempotent, so a cluster whose role had finished changes nothing there.
    """
    if (record.get("release") == release and record.get("version") == version
            and record.get("phase") == "baked"):
        return "recheck"
    return "release"


def new_record(release, version, wave, phase, now, reason=None, rollback_to=None):
    """The record written on a cluster; ``rollback_to`` is the way back (way_back())."""
    if phase not in CLUSTER_PHASES:
        raise ValueError("phase must be one of %s, got %r" % (", ".join(CLUSTER_PHASES), phase))
    record = dict(release=release, version=version, wave=wave, phase=phase, updated=now)
    if reason:
        record["reason"] = reason
    if rollback_to:
        record["rollback_to"] = rollback_to
    return record


def recorded_way_back(record, release, version):
    """The way back an earlier run of this release (same name and version) recorded."""
    if record.get("release") == release and record.get("version") == version:
        way = record.get("rollback_to")
        return way if isinstance(way, dict) and way else None
    return None


def way_back(strategy, backend, switched, facts, recorded=None):
    """What a fleet rollback of one cluster returns to, kept in its fleet record as soon as
    its release succeeded, so that a later run (a resumed job, a halt) can still roll back a
    cluster released by an earlier one.

    ``facts``: what the strategy role left after the release: ``live_before``,
    ``contour_live`` (the child proxy live before), ``gateway_live`` (the HTTPRoute's split
    live before; empty when the release created the route) and ``gateway_stable`` (the
    stable Service), ``canary_previous`` (the canary record's stable version). ``switched``:
    the bluegreen role moved live traffic in this run; when it did not (the candidate was
    live already: a rerun), the way back recorded by the earlier run stays.

    * bluegreen service: ``{version}`` (k8s_bluegreen keeps its own way back in the
      Service's annotations; the version is for the report);
    * bluegreen contour: ``{child: {name, namespace}}``; knative: ``{revision}``; gateway:
      ``{weights}``;
    * canary: ``{version}``, the version the promotion replaced (its release record).
    Returns None when nothing is known (the candidate was live before this release)."""
    facts = facts or {}
    if strategy == "canary":
        previous = facts.get("canary_previous")
        return dict(version=previous) if previous else recorded
    if not switched:
        return recorded
    before = facts.get("live_before")
    if backend == "contour":
        child = facts.get("contour_live") or {}
        return dict(child=dict(name=child["name"], namespace=child["namespace"])) \
            if child.get("name") else None
    if backend == "gateway":
        # a route the release created started with all traffic on the stable Service,
        # which is where the bluegreen role's own rollback sends it too
        weights = facts.get("gateway_live") or (
            {facts["gateway_stable"]: 100} if facts.get("gateway_stable") else {})
        return dict(weights=weights) if weights else None
    if backend == "knative":
        return dict(revision=before) if before else None
    return dict(version=before) if before else None


def bluegreen_rollback_facts(backend, way, host=""):
    """The facts the bluegreen role's rollback phase of ``backend`` reads
    (tasks/backends/<backend>/rollback.yml), from a recorded way back. Raises ValueError
    naming the cluster when the record holds no way back for that backend."""
    way = way or {}
    where = (" on %s" % host) if host else ""
    if backend == "contour" and (way.get("child") or {}).get("name"):
        child = way["child"]
        return dict(live_before="%s/%s" % (child["namespace"], child["name"]),
                    contour_live=child, gateway_live={})
    if backend == "gateway" and way.get("weights"):
        live = ", ".join(sorted(k for k, v in way["weights"].items() if v)) or None
        return dict(live_before=live, contour_live={}, gateway_live=way["weights"])
    if backend == "knative" and way.get("revision"):
        return dict(live_before=way["revision"], contour_live={}, gateway_live={})
    if backend == "service":
        return dict(live_before=way.get("version"), contour_live={}, gateway_live={})
    raise ValueError("no way back recorded for the %s backend%s: this release did not "
                     "switch its live traffic (it was live before), or the fleet record was "
                     "written by an older version of the role; switch it back by hand"
                     % (backend, where))


# The canary role's variables a fleet rollback of a canary cluster may set
# (fleet_canary_rollback): the previous version's definition, as it was given for its own
# release, and the shape of the rollback release.
CANARY_DEFINITIONS = ("canary_pod_template", "canary_definition", "canary_manifests")
CANARY_SETTINGS = ("canary_knative", "canary_rolling", "canary_nginx", "canary_contour",
                   "canary_gateway")
CANARY_ROLLBACK_KEYS = CANARY_DEFINITIONS + CANARY_SETTINGS + (
    "canary_version", "canary_steps", "canary_gates", "canary_pods_gate")
CANARY_ROLLBACK_STEPS = [dict(weight=100)]


def check_canary_rollback(settings, path="fleet_canary_rollback"):
    """fleet_canary_rollback: a dict of the canary role's variables for releasing the
    previous version again; it must define that version (a pod template, a definition,
    manifests, or the knative/rolling settings that name it)."""
    errs = FieldErrors()
    if not isinstance(settings, dict):
        errs.add(path, "must be a dictionary of canary_* variables for releasing the previous "
                 "version again, got %r", settings)
        errs.raise_if_any()
    for key in sorted(settings):
        if key not in CANARY_ROLLBACK_KEYS:
            errs.add("%s.%s" % (path, key), "is not a variable a rollback may set; use %s",
                     ", ".join(CANARY_ROLLBACK_KEYS))
    defining = CANARY_DEFINITIONS + ("canary_knative", "canary_rolling")
    if not any(settings.get(key) for key in defining):
        errs.add(path, "must give the previous version's definition (one of %s), as it was "
                 "given for its own release: a promoted canary's old pod template is gone "
                 "from the cluster, got %r", ", ".join(defining), settings)
    errs.raise_if_any()
    return settings


def canary_rollback_vars(settings, current, previous, path="fleet_canary_rollback"):
    """The canary role's variables for rolling a promoted canary cluster back: a release of
    ``previous`` (its record's stable version) with the definition from ``settings``
    (never the play's, which defines the new version), the play's backend settings with
    ``settings``' on top, one step to 100% and no gates of the new version (the pods gate
    of the previous version still runs) unless ``settings`` says otherwise."""
    check_canary_rollback(settings, path)
    version = settings.get("canary_version") or previous
    if not version:
        raise ValueError("no previous version is known for this cluster (its canary release "
                         "record has no stable version): set %s.canary_version" % path)
    out = dict(canary_version=version,
               canary_steps=settings.get("canary_steps") or CANARY_ROLLBACK_STEPS,
               canary_gates=settings.get("canary_gates") or [],
               canary_pods_gate=settings.get("canary_pods_gate", current.get("canary_pods_gate", True)))
    out["canary_pod_template"] = settings.get("canary_pod_template") or {}
    out["canary_definition"] = settings.get("canary_definition") or {}
    out["canary_manifests"] = settings.get("canary_manifests") or []
    for key in CANARY_SETTINGS:
        merged = dict(current.get(key) or {})
        merged.update(settings.get(key) or {})
        out[key] = merged
    return out


def max_failed(value, wave_size, path="fleet_max_failed"):
    """How many of the clusters released so far may fail before the fleet halts: a number,
    or a percent of them (rounded down). 0 (the default) halts on the first failure."""
    errs = FieldErrors()
    if isinstance(value, bool) or value is None:
        errs.add(path, "must be a number of clusters or a percent such as '10%%', got %r", value)
    elif isinstance(value, int):
        if value < 0:
            errs.add(path, "must be 0 or more, got %r", value)
    elif isinstance(value, str) and _NUMBER.match(value):
        value = int(value)
    elif isinstance(value, str) and _PERCENT.match(value):
        percent = float(_PERCENT.match(value).group(1))
        if percent > 100:
            errs.add(path, "must be a percent from 0 to 100, got %r", value)
        else:
            value = int(percent / 100.0 * wave_size)
    else:
        errs.add(path, "must be a number of clusters or a percent such as '10%%', got %r", value)
    errs.raise_if_any()
    return value


def wave_verdict(wave_index, outcomes, allowed_failures, fleet_gate_passed=True,
                 fleet_gate_summary=""):
    """After a wave's bake: does the fleet go on?

    ``outcomes`` maps every cluster released so far (this wave and earlier ones) to
    ``ok`` or ``failed`` (its release failed, or a re-evaluated gate failed during the
    bake). Returns a dict: ``halt`` (bool), ``failed`` (the failed clusters, sorted),
    ``reason`` (one sentence)."""
    failed = sorted(h for h, outcome in outcomes.items() if outcome != "ok")
    wave = wave_index + 1
    gate_failed = not fleet_gate_passed
    if len(failed) > allowed_failures:
        return dict(halt=True, failed=failed, gate_failed=gate_failed,
                    reason="wave %d: %d cluster(s) failed (%s), more than the %d allowed: the "
                    "fleet halts" % (wave, len(failed), ", ".join(failed), allowed_failures))
    if gate_failed:
        return dict(halt=True, failed=failed, gate_failed=True,
                    reason="wave %d: the fleet gate failed (%s): the fleet halts"
                    % (wave, fleet_gate_summary or "no details"))
    return dict(halt=False, failed=failed, gate_failed=False,
                reason="wave %d: %d cluster(s) released, %d failed (at most %d allowed), fleet "
                "gate passed: next wave" % (wave, len(outcomes), len(failed), allowed_failures))


def rollback_targets(plan, halted_wave, failed, released, rollback_released,
                     gate_failed=False):
    """On a halt, the clusters the fleet rolls back itself (in wave order).

    The clusters that failed their own release were rolled back by the release role
    already; a cluster that failed a re-evaluated gate during the bake is rolled back here.
    When the fleet gate failed (``gate_failed``), the wave it judged is what changed, so
    that wave's clusters roll back. With ``rollback_released``, every other cluster this
    release had released rolls back too; otherwise those stay on the new version. Clusters
    of later waves were never touched. ``released`` lists the clusters whose release
    succeeded (this run or an earlier one)."""
    targets = []
    for index, members in enumerate(plan[:halted_wave + 1]):
        for host in members:
            if host in released and (rollback_released or host in failed
                                     or (gate_failed and index == halted_wave)):
                targets.append(host)
    return targets


# Cluster outcomes that mean the cluster did not end on the new version.
NOT_RELEASED = ("rolled_back", "rollback_failed", "failed")


def fleet_outcome(halted, cluster_outcomes):
    """The fleet's outcome: ``halted``; ``partially_released`` when every wave ran but
    some clusters failed (within fleet_max_failed) and went back; ``released``."""
    if halted:
        return "halted"
    if any(outcome in NOT_RELEASED for outcome in (cluster_outcomes or {}).values()):
        return "partially_released"
    return "released"


def fleet_summary(plan, outcomes, halted_wave=None):
    """Per cluster: its wave and what happened to it (released, recheck ok, failed,
    rolled_back, kept, untouched), for set_stats and the final message."""
    summary = {}
    for index, members in enumerate(plan):
        for host in members:
            outcome = outcomes.get(host)
            if outcome is None:
                outcome = "untouched" if halted_wave is not None and index > halted_wave \
                    else "not_run"
            summary[host] = dict(wave=index + 1, outcome=outcome)
    return summary


def plan_lines(plan, actions, version):
    """The wave plan as lines for check mode: 'wave 1: eu-1 - release v2'."""
    lines = []
    for index, members in enumerate(plan):
        for host in members:
            action = actions.get(host)
            if action == "recheck":
                what = "already released by this release: re-check its gates only"
            elif action == "release":
                what = "release %s" % version
            else:
                what = "unreachable: %s" % (action or "no plan")
            lines.append("wave %d: %s - %s" % (index + 1, host, what))
    return lines
