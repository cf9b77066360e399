# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Release gates: plain data evaluated by one function.

A gate is a dict with a ``type`` and that type's fields. ``GATE_TYPES`` maps each type to
its field validator and its evaluator; adding a gate kind adds one entry there, not a
branch in every strategy. Evaluators return a ``GateResult`` with the measured values, so
a failed release can say which gate failed and with what numbers.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import math
import re
import time
from collections import namedtuple

from ansible.module_utils.six.moves.urllib.parse import urlencode

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    FieldErrors,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    NAMESPACE,
    POD,
    KubeError,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import (
    describe_unready_pod,
    label_selector_string,
    pod_is_ready,
)
from ansible_collections.progressive.delivery.plugins.module_utils.secrets import redact_url

GateResult = namedtuple("GateResult", "name type passed message values")

COMPARISONS = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


# ---------------------------------------------------------------------------
# pure helpers (unit-tested)
# ---------------------------------------------------------------------------
def percentile(values, pct):
    """Nearest-rank percentile (pct in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, int(math.ceil(pct / 100.0 * len(ordered))))
    return ordered[rank - 1]


def http_verdict(gate, samples):
    """Judge N HTTP samples [(status or None, body, seconds, error)] against the gate."""
    expected = gate.get("expect_status") or [200]
    expected = expected if isinstance(expected, list) else [expected]
    body_pattern = gate.get("expect_body")
    ok = []
    failures = []
    for status, body, seconds, error in samples:
        if error:
            failures.append(error)
        elif status not in expected:
            failures.append("status %s" % status)
        elif body_pattern and not re.search(body_pattern, body or ""):
            failures.append("body did not match %r" % body_pattern)
        else:
            ok.append(seconds)
    rate = 100.0 * len(ok) / len(samples)
    values = dict(requests=len(samples), succeeded=len(ok), success_rate=round(rate, 2))
    reasons = []
    if rate < gate.get("success_rate", 100):
        reasons.append("success rate %.1f%% < %s%%" % (rate, gate.get("success_rate", 100)))
    latency_bound = gate.get("max_latency_ms")
    if ok:
        pct = gate.get("latency_percentile", 95)
        latency = round(percentile(ok, pct) * 1000.0, 1)
        values["latency_ms_p%s" % pct] = latency
        if latency_bound is not None and latency > latency_bound:
            reasons.append("p%s latency %.1f ms > %s ms" % (pct, latency, latency_bound))
    elif latency_bound is not None:
        reasons.append("no successful request to measure latency on")
    if failures:
        values["failures"] = sorted(set(failures))[:5]
    passed = not reasons
    message = "%d/%d requests to %s succeeded" % (
        len(ok), len(samples), redact_url(gate["url"]))
    if reasons:
        message += ": " + "; ".join(reasons)
    return passed, message, values


def prometheus_value(response):
    """The first sample of an instant query answer (vector or scalar), or None."""
    if response.get("status") != "success":
        raise ValueError("query failed: %s" % response.get("error", response))
    data = response.get("data") or {}
    result = data.get("result")
    if data.get("resultType") in ("scalar", "string"):
        return float(result[1])
    if not result:
        return None
    return float(result[0]["value"][1])


def prometheus_error(status, body):
    """Prometheus's own words for a refused query (e.g. "bad_data: 1:8: parse error: ...")."""
    try:
        answer = json.loads(body or "{}")
    except ValueError:
        answer = {}
    if isinstance(answer, dict) and answer.get("error"):
        return "status %s, %s: %s" % (status, answer.get("errorType", "error"), answer["error"])
    return "status %s" % status


def pods_verdict(gate, pods):
    live = [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]
    ready = [p for p in live if pod_is_ready(p)]
    restarts = sum(c.get("restartCount", 0)
                   for p in live for c in (p.get("status") or {}).get("containerStatuses") or [])
    min_ready = gate.get("min_ready", 1)
    max_restarts = gate.get("max_restarts", 0)
    values = dict(pods=len(live), ready=len(ready), restarts=restarts)
    reasons = []
    if len(ready) < len(live):
        reasons.append("%d of %d pods ready" % (len(ready), len(live)))
        values["unready"] = [describe_unready_pod(p) for p in live if not pod_is_ready(p)][:5]
    if len(ready) < min_ready:
        reasons.append("%d ready pods < min_ready %d" % (len(ready), min_ready))
    if restarts > max_restarts:
        reasons.append("%d container restarts > max_restarts %d" % (restarts, max_restarts))
    message = "%d/%d pods ready, %d restarts" % (len(ready), len(live), restarts)
    if reasons:
        message += ": " + "; ".join(reasons)
    return not reasons, message, values


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


# ---------------------------------------------------------------------------
# evaluation, per type
# ---------------------------------------------------------------------------
def _evaluate_pods_ready(gate, kube, fetch):
    selector = label_selector_string({"matchLabels": gate["selector"]})
    try:
        pods = kube.list(POD, gate["namespace"], label_selector=selector).get("items") or []
        if not pods and kube.get_or_none(NAMESPACE, None, gate["namespace"]) is None:
            return False, "namespace %s does not exist" % gate["namespace"], {}
    except KubeError as exc:
        return False, "cannot list pods %s in %s: %s" % (selector, gate["namespace"], exc), {}
    return pods_verdict(gate, pods)


def _evaluate_http(gate, kube, fetch):
    samples = []
    for index in range(gate.get("requests", 1)):
        if index and gate.get("interval_ms"):
            time.sleep(gate["interval_ms"] / 1000.0)
        samples.append(fetch(gate["url"], gate.get("method", "GET"), gate.get("headers"),
                             gate.get("timeout", 5)))
    return http_verdict(gate, samples)


def _evaluate_prometheus(gate, kube, fetch):
    url = gate["url"].rstrip("/") + "/api/v1/query?" + urlencode({"query": gate["query"]})
    status, body, unused_seconds, error = fetch(url, "GET", gate.get("headers"),
                                                gate.get("timeout", 10))
    if error or status != 200:
        return False, "Prometheus query failed: %s (query %r)" % (
            error or prometheus_error(status, body), gate["query"]), {}
    try:
        value = prometheus_value(json.loads(body))
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        return False, "cannot read the Prometheus answer: %s" % exc, {}
    comparison = gate.get("comparison", "<=")
    values = dict(value=value, threshold=gate["threshold"], comparison=comparison)
    if value is None:
        passed = bool(gate.get("pass_on_empty", False))
        return passed, "query %r returned no sample" % gate["query"], values
    passed = COMPARISONS[comparison](value, gate["threshold"])
    return passed, "%s = %s, want %s %s" % (gate["query"], value, comparison,
                                            gate["threshold"]), values


GateType = namedtuple("GateType", "validate evaluate")

GATE_TYPES = {
    "pods_ready": GateType(_validate_pods_ready, _evaluate_pods_ready),
    "http": GateType(_validate_http, _evaluate_http),
    "prometheus": GateType(_validate_prometheus, _evaluate_prometheus),
}


def _validate_tasks(errs, path, gate):
    if not isinstance(gate.get("file"), str) or not gate.get("file"):
        errs.add(path + ".file", "is required (the task file to run as a gate), got %r",
                 gate.get("file"))


def validate_gates(gates, field="gates", allow_tasks=False):
    """Every problem of every gate at once, each named by its field path
    (``gates[1].threshold``), counted as the user wrote the list. ``allow_tasks``: also
    accept ``tasks`` gates (task files a role runs, not this module)."""
    types = dict(GATE_TYPES, tasks=GateType(_validate_tasks, None)) if allow_tasks \
        else GATE_TYPES
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
        types[kind].validate(errs, path, gate)
    errs.raise_if_any()


def http_fetch(url, method="GET", headers=None, timeout=5):
    """One request: (status, body, seconds, error). HTTP errors are answers, not errors."""
    # Imported here: ansible's urls module (and the cryptography package it loads) costs
    # about 50 ms of every module process's start-up, and only http/prometheus gates use it.
    from ansible.module_utils.urls import open_url

    start = time.monotonic()
    try:
        response = open_url(url, method=method, headers=headers or {}, timeout=timeout,
                            validate_certs=False, follow_redirects="safe")
        body = response.read().decode("utf-8", "replace")
        return response.getcode(), body, time.monotonic() - start, None
    except Exception as exc:  # urllib raises HTTPError for 4xx/5xx: keep its status
        status = getattr(exc, "code", None)
        if status is not None:
            try:
                body = exc.read().decode("utf-8", "replace")
            except Exception:
                body = ""
            return status, body, time.monotonic() - start, None
        return None, "", time.monotonic() - start, "%s: %s" % (type(exc).__name__, exc)


def evaluate_gates(gates, kube, fetch=http_fetch):
    """Evaluate every gate (all of them, so the summary is complete); return results."""
    results = []
    for index, gate in enumerate(gates or []):
        kind = gate["type"]
        name = gate.get("name") or "%s-%d" % (kind, index)
        passed, message, values = GATE_TYPES[kind].evaluate(gate, kube, fetch)
        results.append(GateResult(name, kind, passed, message, values))
    return results
