#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: knative_revision_info
short_description: Revisions of a Knative Service or Configuration, with traffic and conditions
version_added: 0.1.0
author:
  - progressive.delivery maintainers (@progressive-delivery)
description:
  - Reports what C(kn revision list) and C(kn revision describe) show, as data, for every
    revision of a Knative Service (O(service)) or Configuration (O(configuration)), or for
    one revision (O(revision)).
  - For each revision, newest first; its name, configuration generation, creation time
    and age, the traffic it receives and its tags (from the Service's or Routes' status),
    image, environment, desired and actual replicas, and its conditions (Ready,
    ContainerHealthy, ResourcesAvailable, Active with reasons such as C(NoTraffic)).
  - Also the latest created and latest ready revision names and the URL.
  - Read-only.
options:
  namespace:
    description: Namespace of the revisions.
    type: str
    required: true
  service:
    description: The Knative Service whose revisions are listed.
    type: str
  configuration:
    description:
      - A Configuration whose revisions are listed (for example one behind a standalone
        Route). Mutually exclusive with O(service).
    type: str
  revision:
    description:
      - Report only this revision. Without O(service) or O(configuration), its own
        Service or Configuration (from its labels) gives the traffic and latest names.
    type: str
  route:
    description:
      - With O(configuration), the Route whose traffic is reported. Default every Route of
        the namespace that sends traffic to these revisions.
    type: str
extends_documentation_fragment:
  - progressive.delivery.k8s_auth
attributes:
  check_mode:
    support: full
    description: The module only reads.
  diff_mode:
    support: none
    description: Nothing is changed, so there is nothing to compare.
notes:
  - Replicas come from the Revision's C(status.actualReplicas) and
    C(status.desiredReplicas) when Knative reports them, else from the revision's
    PodAutoscaler, else from its Deployment; C(replicas.source) of each revision says which.
seealso:
  - module: progressive.delivery.knative_traffic
"""

EXAMPLES = r"""
- name: The revisions of a Knative Service, as kn revision list shows them
  progressive.delivery.knative_revision_info:
    namespace: default
    service: hello
  register: info

- name: Print it as kn does
  ansible.builtin.debug:
    msg: "{{ info.table }}"

- name: kn revision describe hello-00002
  progressive.delivery.knative_revision_info:
    namespace: default
    revision: hello-00002
  register: rev

- name: Fail unless revision 2 is healthy and has no traffic
  ansible.builtin.assert:
    that:
      - rev.revisions[0].ready
      - rev.revisions[0].traffic_percent == 0
      - rev.revisions[0].env.TARGET == "Second"

- name: Revisions of a Configuration behind a standalone Route (blue/green between two revisions)
  progressive.delivery.knative_revision_info:
    namespace: default
    configuration: blue-green-demo
    route: blue-green-demo
"""

RETURN = r"""
revisions:
  description: One entry per revision, newest (highest generation) first.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Revision name.
      type: str
    service:
      description: Its Knative Service (null for a bare Configuration).
      type: str
    configuration:
      description: Its Configuration.
      type: str
    generation:
      description: The C(serving.knative.dev/configurationGeneration) label.
      type: int
    created:
      description: Creation timestamp.
      type: str
    age:
      description: Age in kubectl's compact form (C(45s), C(118m), C(2h), C(9d)).
      type: str
    traffic_percent:
      description: Its share of the traffic, summed over its targets (0 when none).
      type: int
    tags:
      description: Its tags.
      type: list
      elements: str
    tag_urls:
      description: Tag to URL.
      type: dict
    traffic:
      description: Each traffic target that serves it (route, percent, tag, latest_revision, url).
      type: list
      elements: dict
    latest_created:
      description: Whether it is the latest created revision.
      type: bool
    latest_ready:
      description: Whether it is the latest ready revision.
      type: bool
    routed_as_latest:
      description: Whether it gets traffic through a C(latestRevision) target (kn's C(@latest)).
      type: bool
    image:
      description: Image of the first container.
      type: str
    images:
      description: Images of every container.
      type: list
      elements: str
    image_digests:
      description: Digests Knative resolved (C(status.containerStatuses[].imageDigest)).
      type: list
      elements: str
    env:
      description: Environment of the first container (values from references show as C([ref])).
      type: dict
    env_list:
      description: The same as C(NAME=value) strings, as kn prints them.
      type: list
      elements: str
    replicas:
      description: Desired and actual replicas and where they were read (source).
      type: dict
      sample: {desired: 1, actual: 1, source: Revision}
    routing_state:
      description: The C(serving.knative.dev/routingState) label (active, reserve, pending).
      type: str
    conditions:
      description:
        - Conditions with type, status, reason, message, severity, last_transition_time,
          age, and C(ok) as kn prints it (C(++) fine, C(I) informational, C(W) warning,
          C(!!) error, C(??) unknown).
      type: list
      elements: dict
    conditions_ok:
      description: kn's CONDITIONS column.
      type: str
      sample: 3 OK / 4
    ready:
      description: Whether the Ready condition is True.
      type: bool
    reason:
      description: Reason of the Ready condition.
      type: str
table:
  description: The C(kn revision list) table, one string per line.
  returned: always
  type: list
  elements: str
  sample:
    - "NAME          SERVICE   TRAFFIC   TAGS   GENERATION   AGE   CONDITIONS   READY   REASON"
    - "hello-00004   hello     50%              4            9d    3 OK / 4     True"
traffic:
  description: The split in force (route, revision, percent, tag, latest_revision, url).
  returned: always
  type: list
  elements: dict
latest_created_revision:
  description: Latest created revision of the Service or Configuration.
  returned: always
  type: str
latest_ready_revision:
  description: Latest ready revision of the Service or Configuration.
  returned: always
  type: str
url:
  description: URL of the Service (or of the single Route reported).
  returned: always
  type: str
kind:
  description: Service or Configuration.
  returned: always
  type: str
name:
  description: Name of the Service or Configuration.
  returned: always
  type: str
namespace:
  description: The namespace.
  returned: always
  type: str
"""

import copy

from ansible.module_utils.basic import AnsibleModule

# First of the collection's imports: the others are then compiled once (see zip_import).
from ansible_collections.progressive.delivery.plugins.module_utils import zip_import  # noqa: F401 pylint: disable=unused-import
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.connection import (
    AUTH_ARG_SPEC,
)
from ansible_collections.progressive.delivery.plugins.module_utils.knative.revision_info import (
    build_report,
    read_revisions,
    validate,
)
from ansible_collections.progressive.delivery.plugins.module_utils.module_entry import (
    kube_for,
    run_module,
)

OWN_SPEC = dict(
    namespace=dict(type="str", required=True),
    service=dict(type="str"),
    configuration=dict(type="str"),
    revision=dict(type="str"),
    route=dict(type="str"),
)


def main():
    spec = copy.deepcopy(AUTH_ARG_SPEC)
    spec.update(OWN_SPEC)
    module = AnsibleModule(
        argument_spec=spec,
        mutually_exclusive=[("service", "configuration"), ("service", "route")],
        required_one_of=[("service", "configuration", "revision")],
        supports_check_mode=True,
    )

    def work():
        info_spec = validate(module.params)
        kube = kube_for(module)
        return build_report(info_spec, read_revisions(kube, info_spec))

    run_module(module, work, refusal_types=(LookupError,))


if __name__ == "__main__":
    main()
