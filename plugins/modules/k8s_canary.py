#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: k8s_canary
short_description: Send a percent of an app's traffic to a canary version, promote it or abort it
version_added: 0.1.0
author:
  - progressive.delivery maintainers (@progressive-delivery)
description:
  - Makes "O(weight) percent of the traffic goes to the canary" true in one idempotent call,
    with one of two backends.
  - B(replicas) (the classic phased release) runs a stable and a canary Deployment behind one
    Service whose selector holds only the labels both versions share, so the Service spreads
    requests over the pods of both. The percent becomes replica counts that keep the total
    capacity (O(replicas), for example 10 pods at 10% are 9 stable and 1 canary). The canary
    Deployment is created or updated from O(definition) or O(pod_template) (server-side
    apply), or an existing one is adopted; its pods carry the Service's selector labels,
    O(track_label)=canary and, with O(version), O(version_label)=O(version).
  - "Rounding (replicas): 0% is no canary pod and 100% is no stable pod; any other weight
    gives the canary C(total * weight / 100) pods rounded half up, but at least 1 and at most
    C(total - 1), and the stable version the rest. With a total of 1 there is no such split:
    the stable and the canary run one pod each until 0% or 100%. RV(weight) reports the
    share the counts give."
  - "Order (replicas): when the canary grows it is scaled up and waited for first, then the
    stable version is scaled down, so a canary whose pods never get ready leaves the stable
    version untouched; when the canary shrinks the stable version grows first. Every step is
    waited for by watching the Deployment, and at the end the Service's EndpointSlices must
    list the ready pods of both."
  - B(nginx) adds a canary Ingress beside the main Ingress (O(nginx.ingress)) with the
    ingress-nginx annotations C(nginx.ingress.kubernetes.io/canary=true) and C(canary-weight),
    and optionally C(canary-by-header), C(canary-by-header-value), C(canary-by-header-pattern)
    and C(canary-by-cookie). Its rules are the main Ingress's hosts and paths that reach the
    stable Service, sent to O(nginx.canary_service). The canary's Deployment and Service are
    deployed beforehand (for example with M(kubernetes.core.k8s)).
  - O(state=promoted) makes the canary the stable version. B(replicas) the stable Deployment
    gets the canary's pod template (with the stable's track label) and the full capacity and
    is rolled out, then the canary is scaled to zero. B(nginx) the main Ingress's paths to the
    stable Service are switched to the canary Service in one write, then the canary Ingress is
    deleted.
  - O(state=aborted) sends all traffic back to the stable version in one step. B(replicas) the
    stable Deployment goes back to the full capacity first (and is waited for), then the
    canary to zero, so there are never fewer ready pods than before. B(nginx) the canary
    Ingress is deleted.
  - Input is validated before anything is read or written; every problem is reported at
    once with its field. Missing objects (stable Deployment, Service, Ingress, canary Service)
    are refused before any write.
options:
  name:
    description:
      - Name of the app. Default of O(stable_deployment).
    type: str
    required: true
  namespace:
    description: Namespace of every object the module reads and writes.
    type: str
    required: true
  backend:
    description:
      - How traffic is split. V(replicas) by pod counts behind one Service, V(nginx) by an
        ingress-nginx canary Ingress.
    type: str
    choices: [replicas, nginx]
    default: replicas
  state:
    description:
      - V(present) sets the canary's share to O(weight).
      - V(promoted) makes the canary the stable version (see the description).
      - V(aborted) sends all traffic back to the stable version.
    type: str
    choices: [present, promoted, aborted]
    default: present
  weight:
    description:
      - The percent of the traffic for the canary, an integer from 0 to 100.
      - Required with O(state=present).
    type: int
  stable_deployment:
    description:
      - B(replicas) The stable version's Deployment; it must exist. Default O(name).
    type: str
  canary_deployment:
    description:
      - B(replicas) The canary version's Deployment. Default C(<stable_deployment>-canary).
    type: str
  definition:
    description:
      - B(replicas) The canary's Deployment manifest. The module sets its name, namespace,
        replicas and selector (the Service's selector plus O(track_label)=canary), adds those
        labels to the pod template (a conflicting value is an error) and applies it
        server-side.
      - Mutually exclusive with O(pod_template). Without either, an existing canary
        Deployment is adopted.
    type: dict
  pod_template:
    description:
      - B(replicas) The canary's pod template (C(metadata), C(spec)), from which the module
        builds its Deployment.
    type: dict
  replicas:
    description:
      - B(replicas) The total capacity, stable plus canary pods.
      - Default, while a canary runs, the total recorded on the canary Deployment
        (annotation C(progressive.delivery/canary-total-replicas)); otherwise the stable
        Deployment's replicas plus the canary's.
    type: int
  service:
    description:
      - B(replicas) The Service in front of both versions; it must exist, select the stable
        pods, and must not select on O(track_label) (or on O(version_label) when O(version)
        is set), so that both versions get traffic.
      - Required with O(backend=replicas).
    type: str
  track_label:
    description:
      - B(replicas) The pod label that tells the canary's pods (value C(canary)) from the
        stable ones.
    type: str
    default: track
  version:
    description:
      - B(replicas) The canary's version; its pods get O(version_label)=O(version).
    type: str
  version_label:
    description:
      - The pod label holding the version, used with O(version) and to report the versions
        (the C(version) of RV(stable) and RV(canary); the first image when the label is absent).
    type: str
    default: version
  nginx:
    description: B(nginx) backend settings. Required with O(backend=nginx).
    type: dict
    suboptions:
      ingress:
        description: Name of the main Ingress; it must exist.
        type: str
        required: true
      canary_ingress:
        description: Name of the canary Ingress. Default C(<ingress>-canary).
        type: str
      canary_service:
        description:
          - The canary's Service; it must exist. Required unless O(state=aborted).
        type: str
      stable_service:
        description:
          - The stable Service whose paths the canary shares. Default the one Service the
            main Ingress routes to (an error when it routes to several).
        type: str
      canary_service_port:
        description:
          - Port (number or name) of the canary Service. Default the stable backend's port
            when the canary Service has it, else the canary Service's only port.
        type: raw
      header:
        description: C(canary-by-header), a request header that forces the canary (value
          C(always)) or the stable version (C(never)), whatever the weight.
        type: str
      header_value:
        description: C(canary-by-header-value), the header value that selects the canary.
        type: str
      header_pattern:
        description: C(canary-by-header-pattern), a regular expression on the header value.
        type: str
      cookie:
        description: C(canary-by-cookie), a cookie whose value C(always) / C(never) decides.
        type: str
  force:
    description:
      - Promote even when the canary's Deployment is not fully ready (B(replicas)), or switch
        the main Ingress without a canary Ingress (B(nginx)).
    type: bool
    default: false
extends_documentation_fragment:
  - progressive.delivery.k8s_auth
  - progressive.delivery.wait
attributes:
  check_mode:
    support: full
    description: Reads the cluster and reports every write the call would make (Deployment
      applies and Ingress creations are sent as server-side dry runs). Nothing is written.
  diff_mode:
    support: full
    description: Shows replicas, images, pod labels, Ingress rules and annotations before
      and after.
notes:
  - Every merge patch, replace and update of an existing canary Deployment carries the
    C(resourceVersion) that was read as a precondition; if another writer got there first,
    the module reads again and plans again. The server-side apply that creates the canary
    Deployment carries none (an apply cannot require the object to be absent), so one created
    by someone else in between is taken over.
  - A Service whose selector also selects the pods of a Deployment other than the stable
    and the canary is refused before any write, naming it (the canary would not get the
    share asked for). An abort is not refused for it.
  - An abort never takes away the last ready pods. The canary is scaled down (replicas) or
    its Ingress deleted (nginx) only once the stable version serves; while it is not ready
    the module waits within O(wait_timeout), then fails keeping the canary serving and
    saying what is live and what is unready. With O(wait=false) the canary is left
    serving, with a warning.
  - With the nginx backend nothing waits for the ingress controller (an Ingress has no
    status that proves a weight is in force); the module returns once the objects are
    written.
  - The stable Deployment's selector should not select the canary's pods (for example
    C(app=myapp, track=stable)); one that does (C(app=myapp)) still works, because each
    ReplicaSet owns its pods, but C(kubectl) shows the canary's pods under both.
  - See docs/canary.md in the collection for the rounding table and the whole release.
seealso:
  - module: progressive.delivery.canary_release_state
  - module: progressive.delivery.gate_check
"""

EXAMPLES = r"""
- name: First batch, one pod of ten runs v2 (10%)
  progressive.delivery.k8s_canary:
    name: myapp
    namespace: test
    service: myapp
    version: v2
    weight: 10
    replicas: 10
    pod_template:
      spec:
        containers:
          - name: myapp
            image: ikubernetes/myapp:v2
            ports:
              - containerPort: 80
  register: step

- name: Next batch, 50%
  progressive.delivery.k8s_canary:
    name: myapp
    namespace: test
    service: myapp
    weight: 50

- name: Canary healthy, v2 becomes the stable version
  progressive.delivery.k8s_canary:
    name: myapp
    namespace: test
    service: myapp
    state: promoted

- name: Something is wrong, all traffic back to v1 at once
  progressive.delivery.k8s_canary:
    name: myapp
    namespace: test
    service: myapp
    state: aborted

- name: ingress-nginx, 5% to myapp-v2 and every request with header X-Canary=always
  progressive.delivery.k8s_canary:
    name: myapp
    namespace: test
    backend: nginx
    weight: 5
    nginx:
      ingress: myapp
      canary_service: myapp-v2
      header: X-Canary

- name: ingress-nginx, promote (the main Ingress routes myapp-v2, the canary Ingress goes)
  progressive.delivery.k8s_canary:
    name: myapp
    namespace: test
    backend: nginx
    state: promoted
    nginx:
      ingress: myapp
      canary_service: myapp-v2
"""

RETURN = r"""
actions:
  description: What was changed (or would be, in check mode), one line per write, in order.
  returned: always
  type: list
  elements: str
  sample: ["update canary Deployment myapp-canary (ikubernetes/myapp:v2) with 1 replica(s)",
           "scale stable Deployment myapp 10 -> 9"]
live:
  description: After a failure midway (a Kubernetes API error such as a missing permission,
    or a failed wait), what is live now, from what the call read and wrote; the message ends
    with it and with the writes made before it stopped (also in RV(actions)).
  returned: on such a failure
  type: str
  sample: live traffic is still on v1 (not switched by this call)
backend:
  description: The backend used.
  returned: always
  type: str
state:
  description: The state asked for.
  returned: always
  type: str
weight_requested:
  description: O(weight) as given (null for promoted/aborted).
  returned: always
  type: int
weight:
  description:
    - The canary's share now. B(replicas) the percent of pods that are canary pods (a
      float, e.g. 33.33 for 1 of 3); B(nginx) the canary Ingress's C(canary-weight) (0
      without a canary Ingress).
  returned: always
  type: float
  sample: 10.0
weight_before:
  description: The canary's share before the call, measured the same way.
  returned: always
  type: float
total_replicas:
  description: B(replicas) The capacity kept (stable plus canary pods).
  returned: with backend=replicas
  type: int
  sample: 10
stable:
  description:
    - B(replicas) The stable Deployment (deployment, exists, replicas, ready_replicas,
      updated_replicas, available_replicas, version, images, selector).
  returned: with backend=replicas
  type: dict
  sample: {"deployment": "myapp", "exists": true, "replicas": 9, "ready_replicas": 9,
           "updated_replicas": 9, "available_replicas": 9, "version": "v1",
           "images": {"myapp": "ikubernetes/myapp:v1"}, "selector": {"app": "myapp"}}
canary:
  description: B(replicas) The canary Deployment, with the same keys as RV(stable).
  returned: with backend=replicas
  type: dict
canary_selector:
  description: B(replicas) The labels that select the canary's pods (for a pods_ready gate).
  returned: with backend=replicas
  type: dict
  sample: {"app": "myapp", "track": "canary"}
service:
  description: B(replicas) The Service (name, selector).
  returned: with backend=replicas
  type: dict
ingress:
  description: B(nginx) The main Ingress (name, class_name, paths with host, path, service,
    port; annotations).
  returned: with backend=nginx
  type: dict
canary_ingress:
  description: B(nginx) The canary Ingress like RV(ingress), or null when there is none.
  returned: with backend=nginx
  type: dict
live_services:
  description: B(nginx) The Services the main Ingress routes to.
  returned: with backend=nginx
  type: list
  elements: str
diff:
  description: The touched objects before and after (with --diff).
  returned: when diff mode is on
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

# First of the collection's imports: the others are then compiled once (see zip_import).
from ansible_collections.progressive.delivery.plugins.module_utils import zip_import  # noqa: F401 pylint: disable=unused-import
from ansible_collections.progressive.delivery.plugins.module_utils.canary.backend import run
from ansible_collections.progressive.delivery.plugins.module_utils.canary.objects import PlanError
from ansible_collections.progressive.delivery.plugins.module_utils.canary.validation import (
    BACKENDS,
    STATES,
)
from ansible_collections.progressive.delivery.plugins.module_utils.module_entry import (
    argument_spec,
    kube_for,
    run_module,
)

NGINX_SPEC = dict(
    ingress=dict(type="str", required=True),
    canary_ingress=dict(type="str"),
    canary_service=dict(type="str"),
    stable_service=dict(type="str"),
    canary_service_port=dict(type="raw"),
    header=dict(type="str"),
    header_value=dict(type="str"),
    header_pattern=dict(type="str"),
    cookie=dict(type="str"),
)

OWN_SPEC = dict(
    name=dict(type="str", required=True),
    namespace=dict(type="str", required=True),
    backend=dict(type="str", default="replicas", choices=list(BACKENDS)),
    state=dict(type="str", default="present", choices=list(STATES)),
    weight=dict(type="int"),
    stable_deployment=dict(type="str"),
    canary_deployment=dict(type="str"),
    definition=dict(type="dict"),
    pod_template=dict(type="dict"),
    replicas=dict(type="int"),
    service=dict(type="str"),
    track_label=dict(type="str", default="track"),
    version=dict(type="str"),
    version_label=dict(type="str", default="version"),
    nginx=dict(type="dict", options=NGINX_SPEC),
    force=dict(type="bool", default=False),
)


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(OWN_SPEC),
        mutually_exclusive=[("definition", "pod_template")],
        supports_check_mode=True,
    )
    run_module(module, lambda: run(module.params, lambda: kube_for(module), module.check_mode),
               refusal_types=(PlanError,))


if __name__ == "__main__":
    main()
