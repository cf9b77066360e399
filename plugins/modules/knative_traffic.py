#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: knative_traffic
short_description: Split traffic between the revisions of a Knative Service or Route
version_added: 0.1.0
author:
  - progressive.delivery maintainers (@progressive-delivery)
description:
  - Manages the C(spec.traffic) block of a Knative Service (C(serving.knative.dev/v1)
    Service, O(service)) or of a standalone Route (O(route)) that routes to the revisions
    of a Configuration.
  - B(Declarative) (O(traffic)) the given list of targets becomes the traffic block, in
    that order. A target names a revision, or one of three references
    V(@latest) (follow the latest Ready revision, C(latestRevision=true)),
    V(@latest_created) (pin, now, the revision named by the Configuration's
    C(status.latestCreatedRevisionName)) or V(@latest_ready) (pin, now,
    C(status.latestReadyRevisionName)).
  - B(Tag changes) (O(tags), O(untag)) keep the split and only add, move or remove tags,
    like C(kn service update --tag/--untag).
  - Everything is checked before anything is written, and every problem is reported at
    once with its field path (for example C(traffic[1].percent)). Percents are integers
    from 0 to 100 that sum to 100 (otherwise C(given traffic percents sum to 110, want
    100)); tags are DNS-1035 labels and unique; a revision appears twice only under
    different tags; named revisions exist and belong to this Service or Configuration;
    a revision that is not Ready gets no traffic, and a failed one is not referenced at
    all, unless O(force=true).
  - The block is written once, as a JSON patch whose C(test) operation holds the block
    as it was read. A change of another field in between (an annotation, a label) does
    not conflict; a change of C(spec.traffic) itself means read, check and plan again,
    with a warning (after three, the module fails and leaves the other block in place). With O(wait=true) the module
    then watches the object until it is Ready for the new generation and
    C(status.traffic) reports the requested split. If instead the object turns not Ready,
    the previous block is put back (O(rollback_on_failure)) and the module fails saying
    what Knative reported.
  - Before deciding, with O(wait=true), the module also waits for revisions it would
    route to that are still starting (C(Ready=Unknown)), and for the Configuration to
    observe its latest template before resolving V(@latest_created).
  - A second identical call reports C(changed=false), also with V(@latest) targets.
options:
  namespace:
    description: Namespace of the Service or Route and of the revisions.
    type: str
    required: true
  service:
    description:
      - Name of the Knative Service whose traffic block is managed.
      - Its targets always belong to the Service's own Configuration.
      - Exactly one of O(service) and O(route) is required.
    type: str
  route:
    description:
      - Name of a standalone Knative Route (one not owned by a Service).
      - A Route that does not exist yet is created with the O(traffic) block (as the first
        C(kubectl apply) of the Route does in the Knative blue/green example).
    type: str
  configuration:
    description:
      - With O(route), the Configuration whose revisions the targets name and whose status
        resolves V(@latest), V(@latest_created) and V(@latest_ready). Default the Route's
        name (as in the Knative blue/green example, where both are C(blue-green-demo)).
      - A target may name another Configuration with its own C(configuration).
    type: str
  traffic:
    description:
      - The whole traffic block, in order. Mutually exclusive with O(tags) and O(untag).
    type: list
    elements: dict
    suboptions:
      revision:
        description:
          - Required. A revision name, or V(@latest), V(@latest_created) or V(@latest_ready).
        type: str
      percent:
        description:
          - Share of the traffic, an integer from 0 to 100. Default 0 (a target reached
            only through its tag).
          - Integral strings and floats such as C("50") or C(50.0) are accepted; anything
            else is refused with the target's field path.
        type: raw
      tag:
        description:
          - Gives the target its own URL, C(http://<tag>-<route>.<namespace>.<domain>),
            reported in RV(tag_urls).
        type: str
      configuration:
        description:
          - Route mode only. The Configuration of this target (default O(configuration)).
        type: str
  tags:
    description:
      - Put tags on revisions without changing the split. An untagged target of that
        revision gets the tag; otherwise a new target with 0% is added. A tag that is on
        another revision moves.
    type: list
    elements: dict
    suboptions:
      revision:
        description: A revision name, or V(@latest), V(@latest_created) or V(@latest_ready).
        type: str
        required: true
      tag:
        description: The tag.
        type: str
        required: true
      configuration:
        description: Route mode only. The Configuration of this revision.
        type: str
  untag:
    description:
      - Tags to remove. A target left with 0% and no tag is removed; a missing tag is not
        an error.
    type: list
    elements: str
  force:
    description:
      - Write even when a target's revision is not Ready, has failed, or when V(@latest)
        has no Ready revision. Knative then keeps the Route not Ready until they are.
    type: bool
    default: false
  rollback_on_failure:
    description:
      - When the object was Ready before the write and does not become Ready with the new
        block (Knative reports a failure, or O(wait_timeout) passes), write the previous
        block back and wait for it. Not done when someone else changed C(spec.traffic) in
        the meantime.
    type: bool
    default: true
extends_documentation_fragment:
  - progressive.delivery.k8s_auth
  - progressive.delivery.wait
attributes:
  check_mode:
    support: full
    description: Reads the cluster, validates, and reports the split that would be
      written (RV(traffic) is the predicted split). Nothing is written.
  diff_mode:
    support: full
    description: Shows C(spec.traffic) before and after.
notes:
  - The wait is watch-based; a 409 Conflict on write means another writer got there first,
    and the module reads and plans again rather than overwrite.
  - For a Service, C(spec.traffic) of the Service is written, never the Route the Service
    owns (the Service controller would overwrite it).
seealso:
  - module: progressive.delivery.knative_revision_info
"""

EXAMPLES = r"""
# Blue/green between two revisions of a Configuration behind a standalone Route.
- name: All traffic to the revision just created (revision 1, blue)
  progressive.delivery.knative_traffic:
    namespace: default
    route: blue-green-demo
    traffic:
      - revision: "@latest_created"
        percent: 100

- name: Revision 2 (green) at 0% with its own test URL (tag v2); revision 1 keeps 100%
  progressive.delivery.knative_traffic:
    namespace: default
    route: blue-green-demo
    traffic:
      - revision: "{{ blue }}"
        percent: 100
      - revision: "@latest_created"
        percent: 0
        tag: v2
  register: step

- name: The test URL of revision 2
  ansible.builtin.debug:
    msg: "{{ step.tag_urls.v2 }}"

- name: Shift half of the traffic (start with 1-2% in production)
  progressive.delivery.knative_traffic:
    namespace: default
    route: blue-green-demo
    traffic:
      - revision: "{{ blue }}"
        percent: 50
      - revision: "{{ green }}"
        percent: 50
        tag: v2

- name: All traffic to revision 2, keep tag v1 on revision 1 for a quick rollback
  progressive.delivery.knative_traffic:
    namespace: default
    route: blue-green-demo
    traffic:
      - revision: "{{ blue }}"
        percent: 0
        tag: v1
      - revision: "{{ green }}"
        percent: 100

# A three-way split, as `kn service update hello --traffic hello-00004=50 ...` does
- name: Three-way split of a Knative Service
  progressive.delivery.knative_traffic:
    namespace: default
    service: hello
    traffic:
      - revision: hello-00004
        percent: 50
      - revision: hello-00002
        percent: 25
      - revision: hello-00001
        percent: 25

- name: Back to following the latest revision
  progressive.delivery.knative_traffic:
    namespace: default
    service: hello
    traffic:
      - revision: "@latest"
        percent: 100

- name: kn service update hello --tag hello-00002=old --untag candidate
  progressive.delivery.knative_traffic:
    namespace: default
    service: hello
    tags:
      - revision: hello-00002
        tag: old
    untag:
      - candidate

- name: One step of a canary, driven by a role (weights per step)
  progressive.delivery.knative_traffic:
    namespace: default
    service: hello
    traffic:
      - revision: "{{ stable_revision }}"
        percent: "{{ 100 - step_weight | int }}"
      - revision: "{{ canary_revision }}"
        percent: "{{ step_weight }}"
        tag: canary
    wait_timeout: 120
"""

RETURN = r"""
traffic:
  description:
    - The split Knative has in force (C(status.traffic)) after the call, one entry per
      target. In check mode, when something would change, the split the call would write.
  returned: always
  type: list
  elements: dict
  contains:
    revision:
      description: The revision the target sends traffic to.
      type: str
    percent:
      description: Its share.
      type: int
    tag:
      description: Its tag, or null.
      type: str
    latest_revision:
      description: Whether the target follows the latest Ready revision.
      type: bool
    url:
      description: The tag's URL (tagged targets only).
      type: str
  sample:
    - {revision: blue-green-demo-00001, percent: 0, tag: v1, latest_revision: false,
       url: "http://v1-blue-green-demo.default.example.com"}
    - {revision: blue-green-demo-00002, percent: 100, tag: null, latest_revision: false,
       url: null}
tag_urls:
  description: Every tag and its URL.
  returned: always
  type: dict
  sample: {v2: "http://v2-blue-green-demo.default.example.com"}
url:
  description: The main URL of the Service or Route (C(status.url)).
  returned: always
  type: str
  sample: http://blue-green-demo.default.example.com
ready:
  description: Whether the Service or Route is Ready for its current generation.
  returned: always
  type: bool
spec_traffic:
  description: C(spec.traffic) as written (or as it would be, in check mode).
  returned: always
  type: list
  elements: dict
previous_traffic:
  description: C(spec.traffic) as it was before the call.
  returned: always
  type: list
  elements: dict
latest_created_revision:
  description: C(status.latestCreatedRevisionName) of the Configuration.
  returned: always
  type: str
latest_ready_revision:
  description: C(status.latestReadyRevisionName) of the Configuration.
  returned: always
  type: str
actions:
  description: What was changed, one line per write.
  returned: always
  type: list
  elements: str
  sample: ["Route default/blue-green-demo spec.traffic: [blue-green-demo-00001 100%] ->
            [blue-green-demo-00001 100%, blue-green-demo-00002 0% (tag v2)]"]
kind:
  description: Service or Route.
  returned: always
  type: str
name:
  description: Name of the Service or Route.
  returned: always
  type: str
namespace:
  description: Its namespace.
  returned: always
  type: str
rolled_back:
  description: On a failed wait, whether the previous traffic block was written back.
  returned: failure after the write
  type: bool
errors:
  description: Every validation problem, with its field path.
  returned: failure before the write
  type: list
  elements: dict
  sample: [{field: traffic, message: "given traffic percents sum to 110, want 100"}]
diff:
  description: C(spec.traffic) before and after (with --diff).
  returned: when diff mode is on
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

# First of the collection's imports: the others are then compiled once (see zip_import).
from ansible_collections.progressive.delivery.plugins.module_utils import zip_import  # noqa: F401 pylint: disable=unused-import
from ansible_collections.progressive.delivery.plugins.module_utils.knative.traffic_backend import (
    TrafficFailed,
    run_traffic,
)
from ansible_collections.progressive.delivery.plugins.module_utils.knative.traffic_validation import (
    validate,
)
from ansible_collections.progressive.delivery.plugins.module_utils.module_entry import (
    argument_spec,
    kube_for,
    run_module,
)

TARGET_SPEC = dict(
    revision=dict(type="str"),
    percent=dict(type="raw"),
    tag=dict(type="str"),
    configuration=dict(type="str"),
)

TAG_SPEC = dict(
    revision=dict(type="str", required=True),
    tag=dict(type="str", required=True),
    configuration=dict(type="str"),
)

OWN_SPEC = dict(
    namespace=dict(type="str", required=True),
    service=dict(type="str"),
    route=dict(type="str"),
    configuration=dict(type="str"),
    traffic=dict(type="list", elements="dict", options=TARGET_SPEC),
    tags=dict(type="list", elements="dict", options=TAG_SPEC),
    untag=dict(type="list", elements="str"),
    force=dict(type="bool", default=False),
    rollback_on_failure=dict(type="bool", default=True),
)


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(OWN_SPEC),
        mutually_exclusive=[("service", "route"), ("traffic", "tags"), ("traffic", "untag")],
        required_one_of=[("service", "route"), ("traffic", "tags", "untag")],
        supports_check_mode=True,
    )

    def work():
        spec = validate(module.params, strict=False)
        return run_traffic(kube_for(module), spec, check_mode=module.check_mode,
                           wait=module.params["wait"],
                           wait_timeout=module.params["wait_timeout"],
                           rollback=module.params["rollback_on_failure"])

    run_module(module, work, refusal_types=(TrafficFailed,))


if __name__ == "__main__":
    main()
