# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Release gates: plain data evaluated by one function.

A gate is a dict with a ``type`` and that type's fields. ``EVALUATORS`` maps each type to
its evaluator (and validation.py's ``VALIDATORS`` to its field validator); adding a gate
kind adds one entry to each, not a branch in every strategy. Evaluators return a
``GateResult`` with the measured values, so a failed release can say which gate failed and
with what numbers.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import math
import re
import time
from collections import namedtuple

from ansible.module_utils.six.moves.urllib.parse import urlencode

from ansible_collections.progressive.delivery.plugins.module_utils.gates.validation import (
    COMPARISONS,
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


# The evaluator of each gate type (validation.VALIDATORS has its validator: a type is in both).
EVALUATORS = {
    "pods_ready": _evaluate_pods_ready,
    "http": _evaluate_http,
    "prometheus": _evaluate_prometheus,
}


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
        passed, message, values = EVALUATORS[kind](gate, kube, fetch)
        results.append(GateResult(name, kind, passed, message, values))
    return results
