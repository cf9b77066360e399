#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: gate_check
short_description: Evaluate release gates (pod health, HTTP checks, Prometheus queries)
version_added: 0.1.0
author:
  - progressive.delivery maintainers (@progressive-delivery)
description:
  - Evaluates a list of gates, each a plain dictionary with a C(type), and reports
    for every gate whether it passed, why, and the values it measured.
  - The module itself does not fail when a gate fails; it returns RV(passed=false) and the
    results, so the caller (the C(progressive.delivery.release_gate) role) decides what to do.
  - Gate types are V(pods_ready), V(http) and V(prometheus). Task-file assertions are run by
    the C(release_gate) role, not by this module.
  - Read-only; it runs in check mode too.
options:
  gates:
    description:
      - The gates to evaluate. Fields by type
      - "V(pods_ready): C(namespace), C(selector) (pod labels), C(max_restarts) (default 0,
        summed over containers), C(min_ready) (default 1). Passes when every pod is ready."
      - "V(http): C(url), C(method) (GET), C(headers), C(requests) (default 1),
        C(interval_ms), C(expect_status) (default [200]), C(expect_body) (a regular expression
        searched in the body), C(success_rate) (percent of requests that must succeed,
        default 100), C(max_latency_ms) (bound on the C(latency_percentile), default p95, of
        the successful requests), C(timeout) (seconds per request, default 5)."
      - "V(prometheus): C(url) (Prometheus base URL), C(query) (an instant PromQL query),
        C(comparison) (one of C(<), C(<=), C(>), C(>=), C(==), C(!=); default C(<=)),
        C(threshold), C(pass_on_empty) (default false), C(timeout). The first sample of the
        answer is compared: passes when C(value comparison threshold) holds."
      - Every gate may have a C(name) (default C(<type>-<index>)); names are unique.
      - Credentials are masked in everything the module returns and in the arguments Ansible
        shows at C(-vvv), namely the password (or token) in a URL such as
        C(https://user:secret@host/), and the values of credential headers (C(Authorization),
        C(Cookie), and headers whose name contains C(token), C(secret), C(key), C(auth) or
        C(password)).
    type: list
    elements: dict
    required: true
  validate_only:
    description:
      - Check every gate's fields and return, without evaluating any gate. Release roles
        run this first, so a bad gate stops the release before anything is written.
      - Also accepts V(tasks) gates (C(file), the task file the C(release_gate) role runs).
    type: bool
    default: false
extends_documentation_fragment:
  - progressive.delivery.k8s_auth
attributes:
  check_mode:
    support: full
    description: Gates only read, so they are evaluated in check mode as well.
  diff_mode:
    support: none
    description: Nothing is changed.
"""

EXAMPLES = r"""
- name: Gate the preview of v2
  progressive.delivery.gate_check:
    gates:
      - name: v2-pods
        type: pods_ready
        namespace: blue-green
        selector: {app: myapp, version: v2}
        max_restarts: 0
      - name: smoke
        type: http
        url: http://127.0.0.1:8080/healthz
        requests: 20
        success_rate: 95
        max_latency_ms: 300
        expect_body: ok
      - name: error-rate
        type: prometheus
        url: http://127.0.0.1:9090
        query: sum(rate(http_requests_total{code=~"5.."}[1m]))
        comparison: "<="
        threshold: 0.1
  register: gates

- name: Stop when a gate failed
  ansible.builtin.assert:
    that: gates.passed
    fail_msg: "{{ gates.failed_gates | join(', ') }} failed"
"""

RETURN = r"""
passed:
  description: Whether every gate passed.
  returned: always
  type: bool
failed_gates:
  description: Names of the gates that failed.
  returned: always
  type: list
  elements: str
results:
  description: One entry per gate, in order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The gate's name.
      type: str
    type:
      description: The gate's type.
      type: str
    passed:
      description: Whether the gate passed.
      type: bool
    message:
      description: What was measured against what was wanted.
      type: str
      sample: "18/20 requests to http://127.0.0.1:8080/ succeeded: success rate 90.0% < 95%"
    values:
      description: The measured values (success_rate, latency_ms_p95, ready, restarts, value, ...).
      type: dict
summary:
  description: One line per failed gate, for failure messages.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

# First of the collection's imports: the others are then compiled once (see zip_import).
from ansible_collections.progressive.delivery.plugins.module_utils import zip_import  # noqa: F401 pylint: disable=unused-import
from ansible_collections.progressive.delivery.plugins.module_utils.gates.checks import (
    evaluate_gates,
)
from ansible_collections.progressive.delivery.plugins.module_utils.gates.validation import (
    validate_gates,
)
from ansible_collections.progressive.delivery.plugins.module_utils.secrets import (
    gate_secrets,
    protect,
)
from ansible_collections.progressive.delivery.plugins.module_utils.module_entry import (
    argument_spec,
    kube_for,
    run_module,
)


def main():
    spec = argument_spec(dict(gates=dict(type="list", elements="dict", required=True),
                              validate_only=dict(type="bool", default=False)))
    spec.pop("wait")
    spec.pop("wait_timeout")
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    protect(module, gate_secrets(module.params["gates"]))

    def work():
        gates = module.params["gates"]
        if module.params["validate_only"]:
            validate_gates(gates, allow_tasks=True)
            return dict(changed=False, passed=True, failed_gates=[], results=[], summary="")
        validate_gates(gates)
        needs_cluster = any(g["type"] == "pods_ready" for g in gates)
        kube = kube_for(module) if needs_cluster else None
        results = evaluate_gates(gates, kube)
        failed = [r for r in results if not r.passed]
        return dict(
            changed=False,
            passed=not failed,
            failed_gates=[r.name for r in failed],
            results=[r._asdict() for r in results],
            summary="; ".join("%s (%s): %s" % (r.name, r.type, r.message) for r in failed),
        )

    run_module(module, work)


if __name__ == "__main__":
    main()
