#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: canary_step
short_description: Run one step of a canary release (a weight or a pause with its gates) in one call
version_added: 0.2.0
author:
  - progressive.delivery maintainers (@progressive-delivery)
description:
  - Runs step O(step) of a canary release whose record M(progressive.delivery.canary_release_state)
    keeps, in one module process. The C(progressive.delivery.canary) role calls it once per
    step.
  - "A weight step: records that the step started (a job killed from here on resumes at this
    step), sends the step's weight to the canary through the traffic O(backend) (the same
    code, waits and proofs as M(progressive.delivery.k8s_canary),
    M(progressive.delivery.contour_delegate), M(progressive.delivery.knative_traffic),
    M(progressive.delivery.gateway_traffic) and M(progressive.delivery.k8s_rollout)),
    evaluates the gates (as M(progressive.delivery.gate_check) does) and records the weight
    and the gate results."
  - "A mirror or a header step (O(backend=gateway); a header step also O(backend=nginx)):
    the same, with the weight in force kept and the C(RequestMirror) filter or the
    header-matched rule set (nginx: C(canary-by-header) and C(canary-by-header-value) or
    C(canary-by-header-pattern)). Every traffic call carries the header rule and the mirror
    the steps up to it ask for: the first weight step above 0 removes the mirror, the header
    rule stays until promotion or a C({header: absent}) step. A mirror below 100% that the
    API server did not keep (C(percent) dropped by older Gateway API CRDs) fails the step."
  - "A pause step: records that the step started (a resumed pause keeps its start time, so
    only what is left of it is waited), then waits in slices of O(gate_interval), evaluating
    the gates after each slice and recording their results each time."
  - The gates are the built-in C(canary-pods) gate (every pod of the canary ready, at most
    O(max_restarts) restarts; see O(pods_gate)) and O(gates). Gates of type C(tasks) (task
    files) cannot run in a module; they are returned in RV(task_gates) for the caller to run.
  - O(action=promote) makes the canary the stable version through the backend, between
    two record writes, in the same way; O(action=prepare) prepares the canary at 0% and
    records the start of the release.
  - Fails when a gate fails (after recording the results), when the backend refuses the
    weight or its proof times out; the failure carries RV(record), RV(gate_results) and
    RV(failed_gate_results), so the caller can roll back and say why.
options:
  name:
    description: Name of the app whose release this is (the record's C(app)).
    type: str
    required: true
  namespace:
    description: Namespace of the app and of the record.
    type: str
    required: true
  record_name:
    description: Name of the ConfigMap holding the record. Default C(<name>-release).
    type: str
  version:
    description: The canary version of this release (the record's C(version)).
    type: str
    required: true
  steps:
    description:
      - "The release's steps, as for M(progressive.delivery.canary_release_state)
        (C({weight: N}), C({pause: DURATION}), C({mirror: N}), C({header: {name: H, value: V}}))."
      - A mirror step needs O(backend=gateway), a header step O(backend=gateway) or
        O(backend=nginx); otherwise, or with the setting of the same name in O(settings)
        (C(header), C(mirror)), the call fails before reading anything.
    type: list
    elements: raw
    required: true
  action:
    description:
      - V(step) runs step O(step).
      - V(promote) makes the canary the stable version, after the last step, as the
        backend's module does it (for example M(progressive.delivery.k8s_canary)
        C(state=promoted), a Contour or Gateway API route with all the weight on the canary,
        the Knative canary revision at 100% with the old one tagged C(previous) at 0%, the
        rolling update finished); it records C(promoting), promotes, then records C(promoted) at 100%.
      - V(prepare) starts a release - the canary at 0% (no traffic moves), as the role's
        backends prepare it (V(replicas) the canary Deployment at 0 pods; V(nginx) the canary
        Ingress at weight 0; V(contour) and V(gateway) the canary Service at weight 0, with the
        header rule and the mirror when set; V(knative) all traffic pinned to the stable
        revision by name, C(template) written, the new revision added at 0% with its tag;
        V(rolling) the Deployment's current revision read) - then records the release as
        started at step 1 with what was prepared (O(stable_version), the replica total, the
        canary's pod labels, the Knative revisions and tag URL). The canary's own manifests
        (nginx, contour, gateway) are applied before, by the caller.
    type: str
    choices: [step, promote, prepare]
    default: step
  step:
    description: The index (from 0) of the step to run. Required with O(action=step).
    type: int
  backend:
    description: The traffic backend (weight steps).
    type: str
    choices: [replicas, nginx, contour, knative, gateway, rolling]
    default: replicas
  settings:
    description:
      - The backend's settings, as the C(progressive.delivery.canary) role takes them.
      - "V(replicas): C(service), C(stable_deployment), C(canary_deployment), C(pod_template),
        C(definition), C(total_replicas) (default: the record's), C(version_label),
        C(track_label) (the options of M(progressive.delivery.k8s_canary))."
      - "V(nginx): the C(nginx) options of M(progressive.delivery.k8s_canary)."
      - "V(contour): C(name), C(namespace), C(path), C(route_path), C(port),
        C(stable_service), C(canary_service)."
      - "V(knative): C(service), C(tag) (default C(canary)); the stable and canary revisions
        are the record's."
      - "V(gateway): C(route), C(namespace), C(parent_refs), C(hostnames), C(rule_name),
        C(path), C(port), C(stable_service), C(canary_service), C(header), C(mirror)."
      - "V(rolling): C(deployment) (default O(name)), C(images) or C(pod_template),
        C(change_cause)."
    type: dict
    default: {}
  stable_version:
    description:
      - With O(action=prepare), the stable version to record; default what the backend
        reports (the stable Deployment's version, the stable Service, the stable revision).
    type: str
  canary_selector:
    description:
      - With O(action=prepare), the labels of the canary's pods (from its manifests) for the
        record, so the C(canary-pods) gate finds them (nginx, contour, gateway).
    type: dict
  gates:
    description:
      - The release's gates, as for M(progressive.delivery.gate_check). C(tasks) gates are
        not evaluated here (see RV(task_gates)).
    type: list
    elements: dict
    default: []
  pods_gate:
    description:
      - Put the built-in C(canary-pods) gate (a C(pods_ready) gate on the canary's pods) in
        front of O(gates). It runs when the canary's pod labels are known (the record's
        C(canary_selector); the rolling backend's new pods) and, on the replicas backend,
        when the canary has a weight above 0.
    type: bool
    default: true
  max_restarts:
    description: The C(canary-pods) gate's bound on container restarts.
    type: int
    default: 0
  gate_interval:
    description: How often a pause step evaluates the gates (a duration such as C(30s)).
    type: raw
  wait_timeout:
    description:
      - How many seconds the backend may take to prove a weight. On timeout the step fails
        and says what was still missing.
    type: int
    default: 300
  lease:
    description:
      - The release lease this release holds (M(progressive.delivery.release_lease)), as a
        dictionary with C(name), the lease's name, and C(holder), the holder the
        C(release_lease) call that took it returned (the canary role passes them). Before
        its first write the step renews the lease
        (one JSON patch that sets C(spec.renewTime) only while C(spec.holderIdentity) is
        still the lease's C(holder), so no read is needed); when another job took the lease over
        (or it was given back or deleted), the step fails naming the holder, writes
        nothing, and returns RV(lease_lost). Not renewed in check mode. Without it, no lease is renewed.
      - With O(action=promote), C(give_back=true) in the dictionary also gives the lease back
        once the promotion is recorded (RV(lease_given_back)), so the release needs no
        release_lease call for it. A lease that cannot be given back leaves the promotion
        standing, with a warning (the lease then expires unless the caller gives it back).
    type: dict
extends_documentation_fragment:
  - progressive.delivery.k8s_auth
attributes:
  check_mode:
    support: full
    description:
      - The record and the weight are simulated (nothing is written); gates are not
        evaluated and a pause does not wait.
  diff_mode:
    support: partial
    description: Shows the backend's change of a weight step.
notes:
  - The step runs as long as the pause lasts (plus the gates); give the task a C(timeout)
    larger than that if you set one.
  - Writes carry the read C(resourceVersion); the record is written by the same code as
    M(progressive.delivery.canary_release_state), so either module can read what the other
    wrote.
seealso:
  - module: progressive.delivery.canary_release_state
  - module: progressive.delivery.gate_check
"""

EXAMPLES = r"""
- name: Step 1 of the release, 10% to the canary through a Contour route, gated
  progressive.delivery.canary_step:
    name: blog
    namespace: blog
    version: v2
    steps: [{weight: 10}, {pause: 5m}, {weight: 100}]
    step: 0
    backend: contour
    settings:
      name: root
      path: /blog
      stable_service: blog-green
      canary_service: blog-blue
    gates:
      - name: error-rate
        type: prometheus
        url: http://127.0.0.1:9090
        query: sum(rate(http_requests_total{app="blog",code=~"5.."}[1m]))
        threshold: 0.1
    gate_interval: 30s
  register: step

- name: Step 2, the 5 minute pause, gates every 30 seconds (a resumed job waits only what is left)
  progressive.delivery.canary_step:
    name: blog
    namespace: blog
    version: v2
    steps: [{weight: 10}, {pause: 5m}, {weight: 100}]
    step: 1
    backend: contour
    gates: "{{ my_gates }}"
    gate_interval: 30s

- name: After the last step, blog v2 becomes the stable version
  progressive.delivery.canary_step:
    name: blog
    namespace: blog
    version: v2
    steps: [{weight: 10}, {pause: 5m}, {weight: 100}]
    action: promote
    backend: contour
    settings:
      name: root
      path: /blog
      stable_service: blog-green
      canary_service: blog-blue
"""

RETURN = r"""
step:
  description:
    - The step that ran, normalised (index, kind, weight, seconds, text, value); null for O(action=promote) and O(action=prepare).
    - kind is weight, pause, mirror or header; value is a mirror step's percent, or a header step's match
      (name, value, type Exact or RegularExpression) or C(absent).
  returned: always
  type: dict
  sample: {"index": 0, "kind": "weight", "weight": 10, "seconds": null, "text": "weight 10%", "value": null}
title:
  description: How the step reads in a timeline.
  returned: always
  type: str
  sample: step 1/3 send 10% to the canary (contour)
record:
  description: The release record after the step (as M(progressive.delivery.canary_release_state) returns it).
  returned: always
  type: dict
weight:
  description: The canary's weight after the step, as recorded.
  returned: always
  type: int
passed:
  description: Whether every gate of the step passed.
  returned: always
  type: bool
gate_results:
  description:
    - The last evaluation of the gates, one entry per gate in order, as
      M(progressive.delivery.gate_check) returns them (name, type, passed, message, values).
  returned: always
  type: list
  elements: dict
failed_gates:
  description: Names of the gates that failed.
  returned: always
  type: list
  elements: str
failed_gate_results:
  description: The entries of RV(gate_results) that failed.
  returned: always
  type: list
  elements: dict
summary:
  description: "One line per failed gate (C(name: message; ...))."
  returned: always
  type: str
evaluations:
  description: Every evaluation of the gates in this call (a pause has one per slice), with its time (epoch seconds).
  returned: always
  type: list
  elements: dict
task_gates:
  description: The gates of type C(tasks), which the caller runs (the canary role runs them with the release_gate role).
  returned: always
  type: list
  elements: dict
lease_lost:
  description: The step stopped because this release no longer holds its lease (O(lease)).
  returned: when the lease was lost
  type: bool
lease_given_back:
  description: With O(action=promote) and C(give_back) in O(lease), whether the lease was given back.
  returned: with action=promote
  type: bool
lease:
  description: The lease as read after it was found lost (holder, since, expires), or null
    when it was deleted.
  returned: when the lease was lost
  type: dict
traffic_result:
  description:
    - A weight step's result of the backend, as its module returns it (for example
      C(stable), C(canary) and C(weight) of M(progressive.delivery.k8s_canary), C(services)
      of M(progressive.delivery.contour_delegate), C(traffic) of
      M(progressive.delivery.knative_traffic)); null for a pause.
  returned: always
  type: dict
remaining:
  description: A pause step's seconds still to wait when the call began (less than the pause after a resume).
  returned: for a pause step
  type: float
waited:
  description: The seconds a pause step slept.
  returned: for a pause step
  type: float
stable_version:
  description: O(action=prepare) The stable version recorded.
  returned: with action=prepare
  type: str
prepared:
  description: O(action=prepare) What the record keeps of the preparation (C(total_replicas),
    C(canary_selector), C(stable_revision), C(canary_revision), C(canary_tag_url)).
  returned: with action=prepare
  type: dict
message:
  description: The record in words.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

# First of the collection's imports: the others are then compiled once (see zip_import).
from ansible_collections.progressive.delivery.plugins.module_utils import zip_import  # noqa: F401 pylint: disable=unused-import
from ansible_collections.progressive.delivery.plugins.module_utils.canary.step_run import (
    StepFailed,
    run_step,
)
from ansible_collections.progressive.delivery.plugins.module_utils.canary.step_traffic import (
    BACKENDS,
)
from ansible_collections.progressive.delivery.plugins.module_utils.module_entry import (
    argument_spec,
    kube_for,
    run_module,
)
from ansible_collections.progressive.delivery.plugins.module_utils.secrets import (
    gate_secrets,
    protect,
)

OWN_SPEC = dict(
    name=dict(type="str", required=True),
    namespace=dict(type="str", required=True),
    record_name=dict(type="str"),
    version=dict(type="str", required=True),
    steps=dict(type="list", elements="raw", required=True),
    action=dict(type="str", default="step", choices=["step", "promote", "prepare"]),
    stable_version=dict(type="str"),
    canary_selector=dict(type="dict"),
    step=dict(type="int"),
    backend=dict(type="str", default="replicas", choices=list(BACKENDS)),
    settings=dict(type="dict", default={}),
    gates=dict(type="list", elements="dict", default=[]),
    pods_gate=dict(type="bool", default=True),
    max_restarts=dict(type="int", default=0),
    gate_interval=dict(type="raw"),
    lease=dict(type="dict"),
)


def main():
    spec = argument_spec(OWN_SPEC)
    spec.pop("wait")  # a step always waits for its weight: its gates judge that weight
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    protect(module, gate_secrets(module.params["gates"]))

    def work():
        result = run_step(module.params, lambda: kube_for(module), module.check_mode)
        traffic = result.get("traffic_result") or {}
        if traffic.get("diff") is not None:
            result["diff"] = traffic.pop("diff")
        return result

    run_module(module, work, refusal_types=(StepFailed,))


if __name__ == "__main__":
    main()
