#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: k8s_bluegreen
short_description: Blue/green releases of a Deployment behind a Service and/or an Ingress
version_added: 0.1.0
author:
  - progressive.delivery maintainers (@progressive-delivery)
description:
  - Runs two versions of an app side by side, each its own Deployment whose pods carry
    O(version_label)=<version>, and moves live traffic between them in one write.
  - B(Service mode) (O(service)) switches the live Service's selector between versions and
    previews the candidate through a second Service.
  - B(Ingress mode) (O(ingress)) gives every version its own Service, named by
    O(version_service_name_format) with dots turned into dashes and upper case into lower
    case (Service names may not contain dots), so version C(v1.22.0) of C(nginx) gets the
    Service C(nginx-v1-22-0). It switches the backend of the Ingress's live path; the
    candidate is previewed through a regex path with an ingress-nginx rewrite
    (V(/green(/|$\)(.*\)) to V(/$2)) and/or a preview host.
  - The version that was live before a promotion is recorded in the
    C(progressive.delivery/previous-version) annotation of the live Service (or Ingress),
    so O(state=rolled_back) needs no other input.
  - Every state is idempotent; check mode and diff are supported.
options:
  name:
    description:
      - Name of the app. Default of O(app_labels) (C(app=<name>)) and of the Deployment and
        per-version Service names.
    type: str
    required: true
  namespace:
    description: Namespace of every object the module reads and writes.
    type: str
    required: true
  version:
    description:
      - The version this call is about (a label value such as C(v2) or C(v1.24.0)).
      - Required for O(state=deployed), O(state=previewed) and O(state=promoted).
      - With O(state=rolled_back), roll back only if this version is live.
      - With O(state=scaled_down), the version to scale down (default the recorded previous one).
    type: str
  state:
    description:
      - V(deployed) creates or updates the version's Deployment (from O(definition) or
        O(pod_template)), or adopts an existing one, and waits for its rollout.
      - V(previewed) also points the preview Service / preview Ingress at the version; live
        traffic is untouched.
      - V(promoted) also switches live traffic to the version (one write per object), records
        the version that was live before and removes the preview route. Refused when the
        version's Deployment is missing or not fully ready, unless O(force=true).
      - V(rolled_back) switches live traffic back to the recorded previous version in one step
        (scaling it back up first if it was scaled down by this module).
      - V(scaled_down) scales a version that is not live to O(scale_down_replicas). The live
        version is never scaled down.
    type: str
    choices: [deployed, previewed, promoted, rolled_back, scaled_down]
    default: deployed
  app_labels:
    description:
      - Labels shared by every version's pods. Default C(app=<name>).
      - They must not contain O(version_label).
    type: dict
  version_label:
    description: The pod label whose value tells the versions apart.
    type: str
    default: version
  definition:
    description:
      - The version's Deployment manifest. The module adds O(app_labels) and the version
        label to its labels, selector and pod template (a conflicting value is an error), and
        applies it server-side.
      - The default name is O(deployment_name_format).
      - Mutually exclusive with O(pod_template).
    type: dict
  pod_template:
    description:
      - A pod template (C(metadata), C(spec)) from which the module builds the Deployment.
    type: dict
  replicas:
    description: Replica count of the version's Deployment (overrides O(definition)).
    type: int
  service:
    description:
      - Name of the live Service whose selector is switched (Service mode).
      - Must exist unless O(service_ports) is given, in which case it is created.
    type: str
  service_ports:
    description:
      - Ports for Services the module creates (live, preview, per-version), as in a Service
        C(spec.ports). The preview Service otherwise copies the live Service's ports.
    type: list
    elements: dict
  service_type:
    description: Type of a live Service created by the module.
    type: str
    default: ClusterIP
  preview_service:
    description:
      - Name of the Service pointed at the candidate. Default C(<service>-preview).
      - Set to an empty string for no preview Service.
    type: str
  ingress:
    description:
      - Ingress mode. Live traffic follows the backend of one path of this Ingress; every
        version gets its own Service, and the candidate is previewed through a separate
        preview Ingress (a regex path with an ingress-nginx rewrite, and/or a preview host).
    type: dict
    suboptions:
      name:
        description: Name of the main Ingress (created if missing).
        type: str
        required: true
      host:
        description: Host of the rule to manage (none for a rule without host).
        type: str
      class_name:
        description: C(ingressClassName) for Ingresses the module creates.
        type: str
      path:
        description: The live path whose backend is switched.
        type: str
        default: /
      path_type:
        description: pathType of the live path.
        type: str
        default: Prefix
        choices: [Prefix, Exact, ImplementationSpecific]
      port:
        description: Service port the Ingress backends use (default the Service's first port, or 80).
        type: raw
      preview_path:
        description:
          - A regular expression path routed to the candidate, such as V(/green(/|$\)(.*\)).
          - It is put in its own Ingress (O(ingress.preview_ingress)) because ingress-nginx
            applies C(rewrite-target) to every path of an Ingress.
        type: str
      preview_rewrite_target:
        description:
          - The C(nginx.ingress.kubernetes.io/rewrite-target) of the preview Ingress.
            Default C(/$N) with N the number of capture groups in O(ingress.preview_path).
        type: str
      preview_host:
        description: A host whose whole traffic goes to the candidate.
        type: str
      preview_ingress:
        description: Name of the preview Ingress. Default C(<name>-preview).
        type: str
  deployment_name_format:
    description: Name of a Deployment the module creates; C({name}) and C({version}) are replaced.
    type: str
    default: "{name}-{version}"
  version_service_name_format:
    description:
      - Name of each version's Service in Ingress mode; C({name}) and C({version}) are
        replaced.
      - Dots become dashes and the name is lower-cased, because Service names are DNS-1035
        labels; the default gives C(nginx-v1-22-0) for version C(v1.22.0) of C(nginx).
    type: str
    default: "{name}-{version}"
  force:
    description: Promote or roll back to a version even if its Deployment is not fully ready.
    type: bool
    default: false
  scale_down_replicas:
    description: Replica count for O(state=scaled_down).
    type: int
    default: 0
extends_documentation_fragment:
  - progressive.delivery.k8s_auth
  - progressive.delivery.wait
attributes:
  check_mode:
    support: full
    description: Reads the cluster and reports what would change; Deployments are dry-run
      server-side. Nothing is written.
  diff_mode:
    support: full
    description: Shows selectors, paths, annotations, replicas and images before and after.
notes:
  - A switch writes each traffic object once, with the read C(resourceVersion) as a
    precondition; if another writer got there first the module reads again and re-plans.
  - After a switch in Service mode the module waits (by watching) until the Service's
    EndpointSlices list ready pods of the new version and no others.
"""

EXAMPLES = r"""
- name: Deploy v2 beside v1 and preview it through myapp-lan-preview
  progressive.delivery.k8s_bluegreen:
    name: myapp
    namespace: blue-green
    version: v2
    service: myapp-lan
    pod_template:
      spec:
        containers:
          - name: myapp
            image: janakiramm/myapp:v2
            ports:
              - containerPort: 80
    replicas: 3
    state: previewed

- name: Switch myapp-lan to v2
  progressive.delivery.k8s_bluegreen:
    name: myapp
    namespace: blue-green
    version: v2
    service: myapp-lan
    state: promoted

- name: Something is wrong, go back to the recorded previous version
  progressive.delivery.k8s_bluegreen:
    name: myapp
    namespace: blue-green
    service: myapp-lan
    state: rolled_back

- name: Ingress mode, preview v1.24.0 under /green/ on the live host (Service nginx-v1-24-0)
  progressive.delivery.k8s_bluegreen:
    name: nginx
    namespace: default
    version: v1.24.0
    version_label: revision
    ingress:
      name: nginx
      host: example.com
      class_name: nginx
      path: /*
      path_type: ImplementationSpecific
      port: 80
      preview_path: /green(/|$)(.*)
    state: previewed

- name: Scale the old version down once the new one has held
  progressive.delivery.k8s_bluegreen:
    name: myapp
    namespace: blue-green
    service: myapp-lan
    version: v1
    state: scaled_down
"""

RETURN = r"""
actions:
  description: What was changed (or would be, in check mode), one line per write.
  returned: always
  type: list
  elements: str
  sample: ["Service myapp-lan selector version=v1 -> v2", "delete preview Service myapp-lan-preview"]
live:
  description: After a failure midway (a Kubernetes API error such as a missing permission,
    or a failed wait), what is live now, from what the call read and wrote; the message ends
    with it and with the writes made before it stopped (also in RV(actions)).
  returned: on such a failure
  type: str
  sample: live traffic is still on v1 (not switched by this call)
live_version_before:
  description: The live version when the module started (null when none).
  returned: always
  type: str
  sample: v1
live_version:
  description: The live version now.
  returned: always
  type: str
  sample: v2
previous_version:
  description: The recorded previous version (the rollback target).
  returned: always
  type: str
  sample: v1
rolled_back_from:
  description: Set when the last switch was a rollback, to the version it left.
  returned: always
  type: str
preview_version:
  description: The version the preview Service or preview Ingress points at.
  returned: always
  type: str
versions:
  description: Each version's Deployment and replica counts.
  returned: always
  type: dict
  sample: {"v1": {"deployment": "myapp-v1", "replicas": 3, "ready_replicas": 3,
           "updated_replicas": 3, "available_replicas": 3}}
service:
  description: The live Service (name, exists, selector, type, ports).
  returned: when O(service) is set
  type: dict
preview_service:
  description: The preview Service (name, exists, selector, type, ports).
  returned: when a preview Service is configured
  type: dict
ingress:
  description: The main Ingress (name, paths with host/path/service, annotations).
  returned: in Ingress mode
  type: dict
preview_ingress:
  description: The preview Ingress, or null when there is none.
  returned: in Ingress mode
  type: dict
urls:
  description: The live and preview URLs the Ingresses route (host and path).
  returned: in Ingress mode
  type: list
  elements: str
  sample: ["http://example.com/*", "http://example.com/green(/|$)(.*)"]
diff:
  description: The touched objects before and after (with --diff).
  returned: when diff mode is on
  type: dict
"""

import copy

from ansible.module_utils.basic import AnsibleModule

# First of the collection's imports: the others are then compiled once (see zip_import).
from ansible_collections.progressive.delivery.plugins.module_utils import zip_import  # noqa: F401 pylint: disable=unused-import
from ansible_collections.progressive.delivery.plugins.module_utils.bluegreen import (
    backend,
    batch,
    status,
    validation,
)
from ansible_collections.progressive.delivery.plugins.module_utils.module_entry import (
    argument_spec,
    kube_for,
    run_module,
)

INGRESS_SPEC = dict(
    name=dict(type="str", required=True),
    host=dict(type="str"),
    class_name=dict(type="str"),
    path=dict(type="str", default="/"),
    path_type=dict(type="str", default="Prefix",
                   choices=["Prefix", "Exact", "ImplementationSpecific"]),
    port=dict(type="raw"),
    preview_path=dict(type="str"),
    preview_rewrite_target=dict(type="str"),
    preview_host=dict(type="str"),
    preview_ingress=dict(type="str"),
)

OWN_SPEC = dict(
    name=dict(type="str"),
    namespace=dict(type="str"),
    version=dict(type="str"),
    state=dict(type="str", default="deployed", choices=list(validation.STATES)),
    app_labels=dict(type="dict"),
    version_label=dict(type="str", default="version"),
    definition=dict(type="dict"),
    pod_template=dict(type="dict"),
    replicas=dict(type="int"),
    service=dict(type="str"),
    service_ports=dict(type="list", elements="dict"),
    service_type=dict(type="str", default="ClusterIP"),
    preview_service=dict(type="str"),
    ingress=dict(type="dict", options=INGRESS_SPEC),
    deployment_name_format=dict(type="str", default="{name}-{version}"),
    version_service_name_format=dict(type="str", default="{name}-{version}"),
    force=dict(type="bool", default=False),
    scale_down_replicas=dict(type="int", default=0),
)

# An element of ``apps``: the per-app options, without defaults (an unset one is the
# top-level value; batch.app_params).
APP_SPEC = dict((key, dict((k, copy.deepcopy(v)) for k, v in OWN_SPEC[key].items()
                         if k != "default"))
                for key in batch.PER_APP)
APP_SPEC["name"]["required"] = True

OWN_SPEC.update(
    apps=dict(type="list", elements="dict", options=APP_SPEC,
              mutually_exclusive=[("definition", "pod_template")]),
    apps_parallel=dict(type="int", default=10),
)


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(OWN_SPEC),
        mutually_exclusive=[("definition", "pod_template"), ("name", "apps")],
        required_one_of=[("name", "apps")],
        supports_check_mode=True,
    )
    params = module.params
    if params["apps"] is None and params["namespace"] is None:
        module.fail_json(msg="missing required arguments: namespace")

    def work():
        if params["apps"] is not None:
            specs = batch.validate_all(params, params["apps"])
            return batch.run_apps(kube_for(module), specs, check_mode=module.check_mode,
                                  wait=params["wait"], wait_timeout=params["wait_timeout"],
                                  parallel=params["apps_parallel"])
        spec = validation.validate(params)
        return backend.run_bluegreen(kube_for(module), spec, check_mode=module.check_mode,
                                     wait=params["wait"], wait_timeout=params["wait_timeout"])

    run_module(module, work, refusal_types=(status.PlanError,))


if __name__ == "__main__":
    main()
