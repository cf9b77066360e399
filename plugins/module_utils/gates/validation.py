# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Release gates as the user writes them: every problem of every gate at once, each named
by its field path. Pure, and light to import (the canary role's input check loads it in a
task of its own); the evaluation is checks.py's.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    FieldErrors,
)
from ansible_collections.progressive.delivery.plugins.module_utils.secrets import redact_url

COMPARISONS = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


# ---------------------------------------------------------------------------
# validation, per type
# ---------------------------------------------------------------------------
def _validate_pods_ready(errs, path, gate):
    if not gate.get("namespace") or not isinstance(gate.get("namespace"), str):
        errs.add(path + ".namespace", "is required (a namespace name), got %r",
                 gate.get("namespace"))
    if not isinstance(gate.get("selector"), dict) or not gate.get("selector"):
        errs.add(path + ".selector", "is required (pod labels, e.g. {app: myapp, version: v2})")
    for key in ("max_restarts", "min_ready"):
        if key in gate and (not isinstance(gate[key], int) or isinstance(gate[key], bool)
                            or gate[key] < 0):
            errs.add(path + "." + key, "must be an integer >= 0, got %r", gate[key])


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _validate_http(errs, path, gate):
    url = gate.get("url")
    if not isinstance(url, str) or not re.match(r"^https?://", url):
        errs.add(path + ".url", "must be an http:// or https:// URL, got %r", redact_url(url))
    requests = gate.get("requests", 1)
    if not isinstance(requests, int) or isinstance(requests, bool) or requests < 1:
        errs.add(path + ".requests", "must be an integer >= 1, got %r", requests)
    rate = gate.get("success_rate", 100)
    if not _is_number(rate) or not 0 <= rate <= 100:
        errs.add(path + ".success_rate", "must be a percentage 0-100, got %r", rate)
    interval = gate.get("interval_ms")
    if interval is not None and (not _is_number(interval) or interval < 0):
        errs.add(path + ".interval_ms", "must be a number of milliseconds >= 0 (e.g. 100), "
                 "got %r", interval)
    pct = gate.get("latency_percentile", 95)
    if not _is_number(pct) or not 0 < pct <= 100:
        errs.add(path + ".latency_percentile", "must be a number in (0, 100], e.g. 95 for "
                 "p95, got %r", pct)
    headers = gate.get("headers")
    if headers is not None and (not isinstance(headers, dict) or not all(
            isinstance(v, (str, int, float)) for v in headers.values())):
        errs.add(path + ".headers", "must be a dictionary of header name to value")
    method = gate.get("method", "GET")
    if not isinstance(method, str) or not re.match(r"^[A-Za-z]+$", method):
        errs.add(path + ".method", "must be an HTTP method such as GET, got %r", method)
    statuses = gate.get("expect_status", [200])
    statuses = statuses if isinstance(statuses, list) else [statuses]
    if not statuses or not all(isinstance(c, int) and 100 <= c <= 599 for c in statuses):
        errs.add(path + ".expect_status", "must be an HTTP status code or a list of them, "
                 "got %r", gate.get("expect_status"))
    if gate.get("expect_body") is not None:
        try:
            re.compile(gate["expect_body"])
        except re.error as exc:
            errs.add(path + ".expect_body", "%r is not a valid regular expression: %s",
                     gate["expect_body"], exc)
    _validate_positive_number(errs, path, gate, "max_latency_ms")
    _validate_positive_number(errs, path, gate, "timeout")


def _validate_prometheus(errs, path, gate):
    if not isinstance(gate.get("url"), str) or not re.match(r"^https?://", gate.get("url")):
        errs.add(path + ".url", "must be the Prometheus base URL (http://host:9090), got %r",
                 redact_url(gate.get("url")))
    if not gate.get("query") or not isinstance(gate.get("query"), str):
        errs.add(path + ".query", "is required (a PromQL instant query as a string)")
    if gate.get("comparison", "<=") not in COMPARISONS:
        errs.add(path + ".comparison", "%r is not one of %s", gate.get("comparison"),
                 ", ".join(sorted(COMPARISONS)))
    if not _is_number(gate.get("threshold")):
        errs.add(path + ".threshold", "must be a number, got %r", gate.get("threshold"))


def _validate_positive_number(errs, path, gate, key):
    value = gate.get(key)
    if value is not None and (not _is_number(value) or value <= 0):
        errs.add(path + "." + key, "must be a positive number, got %r", value)


# The field validator of each gate type (checks.EVALUATORS has its evaluator).
VALIDATORS = {
    "pods_ready": _validate_pods_ready,
    "http": _validate_http,
    "prometheus": _validate_prometheus,
}


def _validate_tasks(errs, path, gate):
    if not isinstance(gate.get("file"), str) or not gate.get("file"):
        errs.add(path + ".file", "is required (the task file to run as a gate), got %r",
                 gate.get("file"))


def validate_gates(gates, field="gates", allow_tasks=False):
    """Every problem of every gate at once, each named by its field path
    (``gates[1].threshold``), counted as the user wrote the list. ``allow_tasks``: also
    accept ``tasks`` gates (task files a role runs, not this module)."""
    types = dict(VALIDATORS, tasks=_validate_tasks) if allow_tasks else VALIDATORS
    errs = FieldErrors()
    if not isinstance(gates, list):
        errs.add(field, "must be a list of gates, got %r", gates)
        errs.raise_if_any()
    names = set()
    for index, gate in enumerate(gates):
        path = "%s[%d]" % (field, index)
        if not isinstance(gate, dict):
            errs.add(path, "must be a dictionary, got %r", gate)
            continue
        kind = gate.get("type")
        if kind is None:
            errs.add(path + ".type", "is required: one of %s", ", ".join(sorted(types)))
            continue
        if not isinstance(kind, str) or kind not in types:
            errs.add(path + ".type", "%r is not one of %s", kind, ", ".join(sorted(types)))
            continue
        name = gate.get("name")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            errs.add(path + ".name", "must be a non-empty string, got %r", name)
            name = None
        name = name or "%s-%d" % (kind, index)
        if name in names:
            errs.add(path + ".name", "%r is used by another gate; names must be unique", name)
        names.add(name)
        types[kind](errs, path, gate)
    errs.raise_if_any()
