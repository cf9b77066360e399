# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the fleet role: the wave split and the decisions between waves.

The logic lives in module_utils/fleet/plan.py (pure, unit-tested); these wrap it and turn
a validation error into a filter error that names the variable and the value."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible.errors import AnsibleFilterError

from ansible_collections.progressive.delivery.plugins.module_utils.fleet import plan
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    ValidationError,
)


def _plain(value):
    """Template results may be lazy containers or tagged strings: plain JSON types."""
    return json.loads(json.dumps(value))


def fleet_waves(hosts, waves):
    try:
        return plan.split_waves(_plain(hosts), _plain(waves))
    except ValidationError as exc:
        raise AnsibleFilterError(str(exc))


def fleet_wave_of(waves_plan, host):
    return plan.wave_of(_plain(waves_plan), host)


def fleet_record(configmap):
    return plan.read_record(_plain(configmap))


def fleet_cluster_action(record, release, version):
    return plan.cluster_action(_plain(record or {}), release, version)


def fleet_record_json(release, version, wave, phase, now, reason=None, rollback_to=None):
    try:
        return json.dumps(plan.new_record(release, version, int(wave), phase, now, reason,
                                          _plain(rollback_to) if rollback_to else None),
                          sort_keys=True)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc))


def fleet_recorded_way_back(record, release, version):
    return plan.recorded_way_back(_plain(record or {}), release, version)


def fleet_way_back(facts, strategy, backend, switched, recorded=None):
    return plan.way_back(strategy, backend, bool(switched), _plain(facts or {}),
                         _plain(recorded) if recorded else None)


def fleet_bluegreen_rollback_facts(way, backend, host=""):
    try:
        return plan.bluegreen_rollback_facts(backend, _plain(way) if way else None, host)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc))


def fleet_canary_rollback_vars(settings, current, previous):
    try:
        return plan.canary_rollback_vars(_plain(settings), _plain(current or {}), previous)
    except (ValidationError, ValueError) as exc:
        raise AnsibleFilterError(str(exc))


def fleet_check_canary_rollback(settings):
    """True, or a filter error naming what is wrong with fleet_canary_rollback."""
    try:
        plan.check_canary_rollback(_plain(settings))
    except ValidationError as exc:
        raise AnsibleFilterError(str(exc))
    return True


def fleet_outcome(cluster_outcomes, halted):
    return plan.fleet_outcome(bool(halted), _plain(cluster_outcomes or {}))


def fleet_max_failed(value, wave_size):
    try:
        return plan.max_failed(_plain(value), int(wave_size))
    except ValidationError as exc:
        raise AnsibleFilterError(str(exc))


def fleet_verdict(outcomes, wave_index, allowed_failures, fleet_gate_passed=True,
                  fleet_gate_summary=""):
    return plan.wave_verdict(int(wave_index), _plain(outcomes), int(allowed_failures),
                             bool(fleet_gate_passed), fleet_gate_summary)


def fleet_rollback_targets(waves_plan, halted_wave, failed, released, rollback_released,
                           gate_failed=False):
    return plan.rollback_targets(_plain(waves_plan), int(halted_wave), _plain(failed),
                                 _plain(released), bool(rollback_released), bool(gate_failed))


def fleet_facts(hosts, hostvars, name, default=None):
    """{host: hostvars[host][name]} with ``default`` for a host that lacks the fact (one
    that failed before the fleet role set it, e.g. an unreachable cluster)."""
    facts = {}
    for host in hosts:
        try:
            value = hostvars[host].get(name, default)
        except KeyError:
            value = default
        facts[host] = default if value is None else value
    return _plain(facts)


def fleet_plan_lines(waves_plan, actions, version):
    return plan.plan_lines(_plain(waves_plan), _plain(actions), version)


class FilterModule(object):
    def filters(self):
        return {
            "fleet_waves": fleet_waves,
            "fleet_wave_of": fleet_wave_of,
            "fleet_record": fleet_record,
            "fleet_cluster_action": fleet_cluster_action,
            "fleet_record_json": fleet_record_json,
            "fleet_max_failed": fleet_max_failed,
            "fleet_verdict": fleet_verdict,
            "fleet_rollback_targets": fleet_rollback_targets,
            "fleet_facts": fleet_facts,
            "fleet_plan_lines": fleet_plan_lines,
            "fleet_recorded_way_back": fleet_recorded_way_back,
            "fleet_way_back": fleet_way_back,
            "fleet_bluegreen_rollback_facts": fleet_bluegreen_rollback_facts,
            "fleet_canary_rollback_vars": fleet_canary_rollback_vars,
            "fleet_check_canary_rollback": fleet_check_canary_rollback,
            "fleet_outcome": fleet_outcome,
        }
