#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: k8s_rollout
short_description: Rolling updates as kubectl rollout does them, held at N pods, with history and undo
version_added: 0.2.0
author:
  - progressive.delivery maintainers (@progressive-delivery)
description:
  - The rolling update of one Deployment, StatefulSet or DaemonSet as an idempotent Ansible
    operation, in place of C(kubectl set image), C(kubectl rollout pause/resume/status/history/undo)
    and hand-written patches. See docs/rollout.md in the collection for each C(kubectl rollout)
    command beside its call.
  - "Strategy: O(max_surge), O(max_unavailable) (pods or a percent), O(revision_history_limit),
    O(min_ready_seconds), O(progress_deadline_seconds). Checked before writing with the API's
    own rules (both 0 is an error, at most 100% unavailable; a DaemonSet takes only one of the
    two). RV(pod_counts) reports what the controller makes of them for the current replica
    count: surge rounds up, unavailable rounds down."
  - "Update: O(images) by container name, O(env), O(pod_template) (merged into the template),
    with O(change_cause) recorded in the annotation C(kubernetes.io/change-cause) as
    C(kubectl --record) did, then a wait for the rollout as C(kubectl rollout status) defines it
    (also when the update was already made and its rollout is still under way; a call that
    only reads does not wait). A rollout that stops progressing fails with the Deployment's
    C(ProgressDeadlineExceeded)."
  - "Hold after N new pods (O(pause_after), Deployments): the update is rolled out by exactly
    N new pods beside all the old ones (N = O(pause_after), or that percent of the replicas
    rounded up, at least 1), then the Deployment is paused there. The controller creates the
    batch in one step (C(maxSurge=N), C(maxUnavailable=0)) while a temporary C(minReadySeconds)
    (the largest the API takes) keeps any new pod from counting as available, so it cannot go
    beyond N before the pause; a paused Deployment whose pods add up to replicas + maxSurge is
    not rescaled, so the count stays at N. Moving a held batch on to a larger one first puts
    that C(minReadySeconds) back while still paused and waits until the held pods no longer
    count as available, so the controller removes no old pod for them. The count is exact;
    the cost is N extra pods while the batch is
    held (as with a C(maxSurge) batch paused by hand). The Deployment's own strategy is kept in the
    annotation C(progressive.delivery/rollout-hold) and put back by O(state=resumed) (or a
    batch of 100%); C(kubectl rollout resume) alone would go on with batches of N."
  - "O(state=paused) / O(state=resumed) (Deployments, as C(kubectl rollout pause/resume)) are
    states: a second call changes nothing. Updates given with them are written in the same
    write."
  - "O(state=undone): back to the revision before the current one, to O(to_revision), or to
    the newest revision running O(to_image), in one write, then a wait for the rollout. A
    revision that is no longer retained is refused with the list of those that are. Undo to
    the current revision changes nothing. Undo of a paused or held Deployment also resumes
    it (C(kubectl rollout undo) refuses a paused Deployment)."
  - "Every call returns RV(history) (what C(kubectl rollout history) shows, and more) and, with
    O(revision), RV(revision_detail) (C(kubectl rollout history --revision N))."
  - Writes replace the whole object with the C(resourceVersion) read as precondition; if
    another writer got there first, the module reads and plans again.
options:
  kind:
    description: The kind of the workload.
    type: str
    choices: [Deployment, StatefulSet, DaemonSet]
    default: Deployment
  name:
    description: Name of the workload; it must exist.
    type: str
    required: true
  namespace:
    description: Namespace of the workload.
    type: str
    required: true
  state:
    description:
      - V(present) writes the settings and the update (a paused Deployment stays paused).
      - V(paused) and V(resumed) pause and resume a Deployment.
      - V(undone) goes back to a retained revision.
    type: str
    choices: [present, paused, resumed, undone]
    default: present
  max_surge:
    description:
      - Pods (V(1)) or percent of the replicas (V(25%)) a rolling update may add above the
        replica count. Deployments and DaemonSets.
    type: raw
  max_unavailable:
    description:
      - Pods or percent of the replicas that may be unavailable during the update.
        Deployments and DaemonSets.
    type: raw
  revision_history_limit:
    description: How many old revisions the controller keeps (and O(state=undone) can reach).
    type: int
  min_ready_seconds:
    description: Seconds a new pod must be ready before it counts as available.
    type: int
  progress_deadline_seconds:
    description:
      - Seconds without progress after which a Deployment's rollout is reported failed
        (C(ProgressDeadlineExceeded)). Must be greater than the minReadySeconds.
    type: int
  images:
    description: New images by container name (init containers included), like C(kubectl set image).
    type: dict
  env:
    description:
      - Environment variables to set in every container, like C(kubectl set env); a null
        value removes the variable.
    type: dict
  pod_template:
    description:
      - Merged into the pod template; mappings key by key, lists of named items (containers,
        env, ports, volumes) by name, other lists replaced.
    type: dict
  change_cause:
    description: Recorded in the workload's C(kubernetes.io/change-cause) annotation.
    type: str
  pause_after:
    description:
      - With O(state=present), a Deployment only. Hold the update once this many pods (V(1))
        or percent of the replicas (V(10%), rounded up) run the new template, and pause. A
        later call with a larger value moves on to that batch; V(100%) finishes the rollout.
      - A call asking for fewer new pods than already run changes nothing.
    type: raw
  to_revision:
    description:
      - With O(state=undone), the revision to go back to; 0 or unset means the one before
        the current (relative, as C(kubectl rollout undo); use a number for a repeatable call).
    type: int
  to_image:
    description: With O(state=undone), go back to the newest retained revision running this image.
    type: str
  revision:
    description: Return this revision with its pod template in RV(revision_detail).
    type: int
extends_documentation_fragment:
  - progressive.delivery.k8s_auth
  - progressive.delivery.wait
attributes:
  check_mode:
    support: full
    description: Reads the workload and reports the writes a run would make; nothing is written.
  diff_mode:
    support: full
    description: Shows the workload's spec and annotations before and after.
notes:
  - C(kubectl rollout pause/resume) exist for Deployments only; a StatefulSet or a DaemonSet
    rolls out as soon as its template changes. History and undo work for all three kinds
    (ReplicaSets for a Deployment, ControllerRevisions for the others).
seealso:
  - module: progressive.delivery.k8s_canary
"""

EXAMPLES = r"""
- name: Rolling update knobs (10 replicas -> at most 13 pods, at least 8 available)
  progressive.delivery.k8s_rollout:
    name: myapp
    namespace: test
    max_surge: 25%
    max_unavailable: 25%
    revision_history_limit: 5

- name: New image, recorded, waited for like kubectl rollout status
  progressive.delivery.k8s_rollout:
    name: myapp
    namespace: test
    images:
      myapp: ikubernetes/myapp:v2
    change_cause: "release v2"

- name: Canary batch, one pod of v3, then hold (kubectl set image + rollout pause)
  progressive.delivery.k8s_rollout:
    name: myapp
    namespace: test
    images:
      myapp: ikubernetes/myapp:v3
    pause_after: 1
  register: canary

- name: Next batch, 10% of the pods
  progressive.delivery.k8s_rollout:
    name: myapp
    namespace: test
    images:
      myapp: ikubernetes/myapp:v3
    pause_after: 10%

- name: The rest (kubectl rollout resume)
  progressive.delivery.k8s_rollout:
    name: myapp
    namespace: test
    state: resumed

- name: Back to revision 2 (kubectl rollout undo --to-revision=2)
  progressive.delivery.k8s_rollout:
    name: myapp
    namespace: test
    state: undone
    to_revision: 2

- name: History of a DaemonSet, with the template of revision 1
  progressive.delivery.k8s_rollout:
    kind: DaemonSet
    name: node-agent
    namespace: kube-system
    revision: 1
  register: agent
"""

RETURN = r"""
actions:
  description: The writes made (or, in check mode, that would be), in order.
  returned: always
  type: list
  elements: str
current_revision:
  description: The current revision number (null while a paused Deployment's new template has no ReplicaSet yet).
  returned: always
  type: int
revision_before:
  description: The current revision number before the call.
  returned: always
  type: int
history:
  description:
    - Every retained revision, oldest first, with revision, name (ReplicaSet or
      ControllerRevision), change_cause, images, created, replicas, ready_replicas,
      available_replicas, pod_labels (the label that tells its pods) and current.
  returned: always
  type: list
  elements: dict
revision_detail:
  description: The revision asked for with O(revision), with its pod template.
  returned: when revision is given
  type: dict
pod_selector:
  description:
    - Labels that select the pods of the current revision (the workload's matchLabels plus
      C(pod-template-hash) or C(controller-revision-hash)), for example for a pods gate.
  returned: always
  type: dict
  sample: {"app": "myapp", "pod-template-hash": "6b5f9bf7cc"}
pods_by_revision:
  description: Pods per revision number (revisions without pods left out).
  returned: always
  type: dict
  sample: {"3": 10, "4": 1}
paused:
  description: Whether the Deployment is paused.
  returned: always
  type: bool
held:
  description: A Deployment held by O(pause_after) (batch, saved_strategy), or null.
  returned: always
  type: dict
rollout:
  description: The rollout status as C(kubectl rollout status) words it (complete, message).
  returned: always
  type: dict
settings:
  description:
    - max_surge, max_unavailable, revision_history_limit, min_ready_seconds,
      progress_deadline_seconds (for a held Deployment, those it resumes with).
  returned: always
  type: dict
pod_counts:
  description:
    - What the rolling update may do with the current replica count (replicas, max_surge,
      max_unavailable as pods, max_pods, min_available, adjusted when both came out 0).
  returned: for Deployments and DaemonSets
  type: dict
  sample: {"replicas": 10, "max_surge": 3, "max_unavailable": 2, "max_pods": 13,
           "min_available": 8, "adjusted": false}
status:
  description: The workload's status (without conditions).
  returned: always
  type: dict
undone_to:
  description: With O(state=undone), the revision number that is current after the undo.
  returned: with state=undone
  type: int
diff:
  description: Spec and annotations before and after (with --diff).
  returned: when diff mode is on
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

# First of the collection's imports: the others are then compiled once (see zip_import).
from ansible_collections.progressive.delivery.plugins.module_utils import zip_import  # noqa: F401 pylint: disable=unused-import
from ansible_collections.progressive.delivery.plugins.module_utils.module_entry import (
    argument_spec,
    kube_for,
    run_module,
)
from ansible_collections.progressive.delivery.plugins.module_utils.rollout.backend import (
    run_rollout,
)
from ansible_collections.progressive.delivery.plugins.module_utils.rollout.history import (
    UndoRefused,
)
from ansible_collections.progressive.delivery.plugins.module_utils.rollout.plan import PlanError
from ansible_collections.progressive.delivery.plugins.module_utils.rollout.validation import (
    KINDS,
    STATES,
    validate,
)

OWN_SPEC = dict(
    kind=dict(type="str", default="Deployment", choices=list(KINDS)),
    name=dict(type="str", required=True),
    namespace=dict(type="str", required=True),
    state=dict(type="str", default="present", choices=list(STATES)),
    max_surge=dict(type="raw"),
    max_unavailable=dict(type="raw"),
    revision_history_limit=dict(type="int"),
    min_ready_seconds=dict(type="int"),
    progress_deadline_seconds=dict(type="int"),
    images=dict(type="dict"),
    env=dict(type="dict"),
    pod_template=dict(type="dict"),
    change_cause=dict(type="str"),
    pause_after=dict(type="raw"),
    to_revision=dict(type="int"),
    to_image=dict(type="str"),
    revision=dict(type="int"),
)


def main():
    module = AnsibleModule(argument_spec=argument_spec(OWN_SPEC), supports_check_mode=True)

    def work():
        spec = validate(module.params)
        return run_rollout(kube_for(module), spec, check_mode=module.check_mode,
                           wait=module.params["wait"],
                           wait_timeout=module.params["wait_timeout"])

    run_module(module, work, refusal_types=(PlanError, UndoRefused))


if __name__ == "__main__":
    main()
