#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: canary_release_state
short_description: Read, decide on and record the progress of a canary release
version_added: 0.1.0
author:
  - progressive.delivery maintainers (@progressive-delivery)
description:
  - Keeps the progress of a phased (canary) release in the cluster, so that a job that was
    killed and run again continues where it stopped instead of starting over. The record is
    JSON in the C(progressive.delivery/canary-release) annotation of a ConfigMap
    (O(record_name)); it holds the canary and stable versions, the index of the current
    step and when it started, the phase, the weight, the last gate results and a short
    history.
  - O(state=query) validates O(steps) (and O(gates)), reads the record and says what this
    run does (RV(decision)), writing nothing. C(start) at step 1 when nothing is in flight
    (or the last release finished); C(resume) at the recorded step when this version's
    release was interrupted; C(done) when this version was already promoted; C(rollback)
    with O(on_resume=rollback), or when a rollback was under way; C(promote) when a
    promotion was under way. A release of another version in flight, or changed steps, are
    refused with a message saying how to go on.
  - O(state=started) writes a new record for O(version) at step 1.
  - O(state=present) records an event of the release in flight (O(step), O(phase),
    O(weight), O(gate_results), O(reason)). A step's start time is kept while the release
    stays on that step, so for a pause RV(remaining) is what is left of it, also after a
    restart. An event the record already holds (the same step, phase, weight, gate results,
    reason and data) writes nothing and reports no change.
  - O(state=absent) deletes the record.
  - "Steps: a list of C({weight: N}) (an integer percent, increasing from step to step) and
    C({pause: DURATION}) (C(30s), C(10m), C(1h30m), seconds, or C({pause: {duration: 10m}}));
    every pause has a length greater than 0. Every problem is reported at once with its
    path, for example C(steps[3].pause: 'soon' is not a duration)."
options:
  name:
    description: Name of the app whose release this is.
    type: str
    required: true
  namespace:
    description: Namespace of the record (the app's namespace).
    type: str
    required: true
  record_name:
    description: Name of the ConfigMap holding the record. Default C(<name>-release).
    type: str
  state:
    description: See the description.
    type: str
    choices: [query, started, present, absent]
    default: query
  version:
    description:
      - The canary version of this run. Required unless O(state=absent).
    type: str
  steps:
    description:
      - "The release's steps: C({weight: N}), C({pause: DURATION}), C({mirror: N}) (percent of
        the live requests copied to the canary while it has no weighted traffic),
        C({header: {name: H, value: V}}) or C({header: {name: H, regex: R}}) or
        C({header: absent}) (requests that match go to the canary only)."
      - Required with O(state=query) and O(state=started); with
        O(state=present) it gives the pause length for RV(remaining).
    type: list
    elements: raw
  on_resume:
    description:
      - What a run does when it finds this version's release interrupted (the job was
        killed). V(continue) from the recorded step, or V(rollback).
    type: str
    choices: [continue, rollback]
    default: continue
  gates:
    description:
      - Gates to validate with the steps (O(state=query)), as for M(progressive.delivery.gate_check).
        C(tasks) gates only need a C(file).
    type: list
    elements: dict
  stable_version:
    description: The stable version, recorded with O(state=started) (or set later).
    type: str
  backend:
    description:
      - The traffic backend, recorded for the record's readers.
      - With O(steps), a mirror step (only the V(gateway) backend) or a header step
        (V(gateway) or V(nginx)) the backend cannot do fails the call before reading.
    type: str
  step:
    description: O(state=present) The index (from 0) of the step the release is on.
    type: int
  phase:
    description: O(state=present) The release's phase.
    type: str
    choices: [progressing, promoting, promoted, aborting, aborted]
  weight:
    description: O(state=present) The canary's weight now.
    type: float
  gate_results:
    description: O(state=present) The last gate results (as the release_gate role reports them).
    type: list
    elements: dict
  reason:
    description: O(state=present) A line for the record (for example why it was aborted).
    type: str
  data:
    description: O(state=present) or O(state=started) Other keys to keep in the record
      (for example C(total_replicas)).
    type: dict
  gate_interval:
    description:
      - With O(state=present) on a pause step, cut what is left of the pause into sleeps of
        at most this long (a duration such as C(30s)), returned as RV(pause_chunks), so
        that the gates run between them.
    type: raw
  lease:
    description:
      - With O(state=query), take the app's release lease
        (the same Lease, holder and refusal as M(progressive.delivery.release_lease) with
        O(progressive.delivery.release_lease#module:state=acquired)) in the same call, right after the record was
        read, when RV(decision) is C(start), C(resume), C(rollback) or C(promote); a release
        that is C(done) takes none. When another job holds the lease the call fails naming
        it, and nothing is written. The take is returned as RV(lease); give it back with
        M(progressive.delivery.release_lease) O(progressive.delivery.release_lease#module:state=released) and its C(holder) (the
        canary role's promote call does, through M(progressive.delivery.canary_step)).
      - Saves the release a module call of its own; without this option no lease is taken.
    type: dict
    suboptions:
      name:
        description: Name of the Lease. Default C(<name>-release).
        type: str
      holder:
        description: Who takes the lease. Default the user, host and ansible-playbook process, as for release_lease.
        type: str
      holder_context:
        description: Added to the default holder, for example the inventory host.
        type: str
      duration:
        description:
          - How long the lease lasts unless renewed (C(30m), C(1h), seconds).
          - Default what the rest of the release may take, from RV(start_step) on - the pauses
            left, O(lease.wait_timeout) for each other step left and three more (prepare,
            promote, roll back), and a minute per step and three more.
        type: raw
      takeover:
        description: Take the lease even from a live holder (as release_lease's O(progressive.delivery.release_lease#module:takeover)).
        type: bool
        default: false
      purpose:
        description: What the holder does, kept on the Lease for whoever is refused.
        type: str
      wait_timeout:
        description: The longest a step may wait (the canary role's C(canary_wait_timeout)), for the default O(lease.duration).
        type: int
        default: 300
extends_documentation_fragment:
  - progressive.delivery.k8s_auth
attributes:
  check_mode:
    support: full
    description: Reports the record as it would be written; nothing is written.
  diff_mode:
    support: full
    description: Shows the record before and after.
notes:
  - Writes carry the read C(resourceVersion); on a conflict the module reads again and
    applies the event to the fresh record.
  - The record's clock is the managed host's (C(localhost) for these roles).
"""

EXAMPLES = r"""
- name: What does this run do?
  progressive.delivery.canary_release_state:
    name: myapp
    namespace: test
    version: v2
    steps:
      - weight: 1
      - pause: 10m
      - weight: 10
      - pause: 2m
      - weight: 100
    on_resume: continue
  register: plan

- name: A new release starts
  progressive.delivery.canary_release_state:
    name: myapp
    namespace: test
    version: v2
    steps: "{{ my_steps }}"
    state: started
    stable_version: v1
    backend: replicas
  when: plan.decision == 'start'

- name: Record that step 2 (the 10m pause) is under way; how much of it is left?
  progressive.delivery.canary_release_state:
    name: myapp
    namespace: test
    version: v2
    steps: "{{ my_steps }}"
    state: present
    step: 1
  register: here

- name: Wait what is left
  ansible.builtin.pause:
    seconds: "{{ here.remaining | int }}"
  when: here.remaining > 0
"""

RETURN = r"""
decision:
  description: O(state=query) What this run does, C(start), C(resume), C(done), C(rollback)
    or C(promote).
  returned: when state=query
  type: str
  sample: resume
start_step:
  description: O(state=query) The index of the first step to run (start and resume).
  returned: when state=query
  type: int
message:
  description: The decision (or the event) in words.
  returned: always
  type: str
  sample: "release of myapp v2 is progressing (step 2 of 7, weight 1%): continuing at step 2 (pause 10m)"
steps:
  description: The steps, normalised (index, kind, weight, seconds, text, value).
  returned: when steps are given
  type: list
  elements: dict
  sample: [{"index": 0, "kind": "weight", "weight": 1, "seconds": null, "text": "weight 1%"}]
weight_before_start:
  description: O(state=query) The weight in force before RV(start_step) runs.
  returned: when state=query
  type: int
record:
  description: The record after the call (null when there is none).
  returned: always
  type: dict
elapsed:
  description: Seconds since the current step started.
  returned: when a record exists
  type: float
remaining:
  description: For a pause step, the seconds of it still to wait (0 when it ran out).
  returned: with state=present on a pause step
  type: float
pause_chunks:
  description:
    - With O(state=present) on a pause step, the sleeps (whole seconds) what is left of the
      pause is cut into (O(gate_interval)); never empty (C([0]) when the pause has run out,
      so the gates still run once).
  returned: with state=present on a pause step
  type: list
  elements: int
  sample: [30, 30, 12]
now:
  description: The managed host's clock (epoch seconds) the module used.
  returned: always
  type: float
lease:
  description:
    - With O(lease), the take, as M(progressive.delivery.release_lease) returns it - C(holder) (give it
      back with it), C(lease_name), C(decision), C(message), C(expires),
      C(duration_seconds), C(lease) and C(previous).
  returned: when O(lease) is given and the decision takes the lease
  type: dict
  sample: {"holder": "alice@build-1 ansible-playbook pid 4242 started 2026-12-06T03:05:12Z (localhost)", "lease_name": "myapp-release"}
"""

from ansible.module_utils.basic import AnsibleModule

# First of the collection's imports: the others are then compiled once (see zip_import).
from ansible_collections.progressive.delivery.plugins.module_utils import zip_import  # noqa: F401 pylint: disable=unused-import
from ansible_collections.progressive.delivery.plugins.module_utils.canary.record_backend import (
    run_release_state,
)
from ansible_collections.progressive.delivery.plugins.module_utils.canary.release_call import (
    STATES,
    RecordError,
)
from ansible_collections.progressive.delivery.plugins.module_utils.canary.release_record import (
    ON_RESUME,
    PHASES,
)
from ansible_collections.progressive.delivery.plugins.module_utils.lease.decide import LeaseHeld
from ansible_collections.progressive.delivery.plugins.module_utils.lease.holder import (
    ThisMachine,
    this_holder,
)
from ansible_collections.progressive.delivery.plugins.module_utils.module_entry import (
    argument_spec,
    kube_for,
    run_module,
)

OWN_SPEC = dict(
    name=dict(type="str", required=True),
    namespace=dict(type="str", required=True),
    record_name=dict(type="str"),
    state=dict(type="str", default="query", choices=list(STATES)),
    version=dict(type="str"),
    steps=dict(type="list", elements="raw"),
    on_resume=dict(type="str", default="continue", choices=list(ON_RESUME)),
    gates=dict(type="list", elements="dict"),
    stable_version=dict(type="str"),
    backend=dict(type="str"),
    step=dict(type="int"),
    phase=dict(type="str", choices=list(PHASES)),
    weight=dict(type="float"),
    gate_results=dict(type="list", elements="dict"),
    reason=dict(type="str"),
    data=dict(type="dict"),
    gate_interval=dict(type="raw"),
    lease=dict(type="dict", options=dict(
        name=dict(type="str"),
        holder=dict(type="str"),
        holder_context=dict(type="str"),
        duration=dict(type="raw"),
        takeover=dict(type="bool", default=False),
        purpose=dict(type="str"),
        wait_timeout=dict(type="int", default=300),
    )),
)


def main():
    spec = argument_spec(OWN_SPEC)
    spec.pop("wait")  # the record is written and read back; there is nothing to wait for
    spec.pop("wait_timeout")
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    run_module(module, lambda: run_release_state(module.params, lambda: kube_for(module),
                                                 module.check_mode, holder_of=this_holder,
                                                 # where this playbook runs: only a lease needs it
                                                 machine=ThisMachine() if module.params["lease"] else None),
               refusal_types=(RecordError, LeaseHeld))


if __name__ == "__main__":
    main()
