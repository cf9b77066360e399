# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A release across a fleet of clusters: which cluster goes in which wave, what a cluster
does in a run (release it, or only re-check it because an earlier run released it), when
the fleet halts and which clusters roll back then. Pure functions; the ``fleet`` role and
its filters call them.

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


def new_record(release, version, wave, phase, now, reason=None):
    if phase not in CLUSTER_PHASES:
        raise ValueError("phase must be one of %s, got %r" % (", ".join(CLUSTER_PHASES), phase))
    record = dict(release=release, version=version, wave=wave, phase=phase, updated=now)
    if reason:
        record["reason"] = reason
    return record


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
    if len(failed) > allowed_failures:
        return dict(halt=True, failed=failed, reason="wave %d: %d cluster(s) failed (%s), "
                    "more than the %d allowed: the fleet halts"
                    % (wave, len(failed), ", ".join(failed), allowed_failures))
    if not fleet_gate_passed:
        return dict(halt=True, failed=failed, reason="wave %d: the fleet gate failed (%s): "
                    "the fleet halts" % (wave, fleet_gate_summary or "no details"))
    return dict(halt=False, failed=failed, reason="wave %d: %d cluster(s) released, %d failed "
                "(at most %d allowed), fleet gate passed: next wave"
                % (wave, len(outcomes), len(failed), allowed_failures))


def rollback_targets(plan, halted_wave, failed, released, rollback_released):
    """On a halt, the clusters the fleet rolls back itself (in wave order).

    The clusters that failed their own release were rolled back by the release role
    already; a cluster that failed a re-evaluated gate during the bake is rolled back here.
    With ``rollback_released``, every other cluster this release had released rolls back
    too; otherwise those stay on the new version. Clusters of later waves were never
    touched. ``released`` lists the clusters whose release succeeded (this run or an
    earlier one)."""
    targets = []
    for members in plan[:halted_wave + 1]:
        for host in members:
            if host in released and (rollback_released or host in failed):
                targets.append(host)
    return targets


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
