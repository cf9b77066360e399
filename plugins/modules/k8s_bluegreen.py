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
  - B(Many apps in one call) (O(apps)) runs the release of each app of a list, the
    top-level options being the defaults of every app, in one module process; their waits
    run together. Each app is its own release; see O(apps).
options:
  name:
    description:
      - Name of the app. Default of O(app_labels) (C(app=<name>)) and of the Deployment and
        per-version Service names.
      - Exactly one of O(name) and O(apps) is required.
    type: str
  namespace:
    description:
      - Namespace of every object the module reads and writes.
      - Required, unless O(apps) is given and every element of it sets its own.
    type: str
  apps:
    description:
      - Release many apps in one call. Each element names one app and may set any of the
        per-app options below; an option an element does not set is the top-level one
        (so O(state=promoted) and O(namespace) at the top, O(apps[].name) and
        O(apps[].version) per element).
      - An element's O(apps[].ingress) is taken whole (not merged with the top-level one),
        and an element that sets O(apps[].definition) or O(apps[].pod_template) replaces
        both top-level ones.
      - Every element is validated before anything is written; one bad element fails the
        call, naming it (C(apps[3].version)), and nothing is written for any app. So are two
        elements for the same app (namespace and name) or sharing a live or preview Service,
        an Ingress or their O(app_labels) in one namespace.
      - Each app then runs exactly as a call with its options alone would (its own reads,
        writes, re-plans on conflict and proofs), O(apps_parallel) at a time. Apps are
        independent releases. An app that fails (its candidate is not ready, a wait times
        out, a permission is missing) is left as that single call would leave it (live
        traffic is never pointed at a version that is not ready) and the others finish;
        the module then fails with a message naming each failed app and why. Apps that were
        promoted are not rolled back (nothing couples them, and undoing a good release
        because another app failed would be a second change nobody asked for); to roll
        them back, run the same call with O(state=rolled_back).
      - O(wait_timeout) applies to each app, from when its release starts.
      - Mutually exclusive with O(name).
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the app (as O(name)).
        type: str
        required: true
      namespace:
        description: As O(namespace).
        type: str
      version:
        description: As O(version).
        type: str
      state:
        description: As O(state).
        type: str
        choices: [deployed, previewed, promoted, rolled_back, scaled_down]
      app_labels:
        description: As O(app_labels).
        type: dict
      version_label:
        description: As O(version_label).
        type: str
      definition:
        description: As O(definition). Mutually exclusive with O(apps[].pod_template).
        type: dict
      pod_template:
        description: As O(pod_template).
        type: dict
      replicas:
        description: As O(replicas).
        type: int
      service:
        description: As O(service).
        type: str
      service_ports:
        description: As O(service_ports).
        type: list
        elements: dict
      service_type:
        description: As O(service_type).
        type: str
      preview_service:
        description: As O(preview_service).
        type: str
      ingress:
        description: As O(ingress) (see there for its suboptions).
        type: dict
        suboptions:
          name:
            description: As O(ingress.name).
            type: str
            required: true
          host:
            description: As O(ingress.host).
            type: str
          class_name:
            description: As O(ingress.class_name).
            type: str
          path:
            description: As O(ingress.path).
            type: str
            default: /
          path_type:
            description: As O(ingress.path_type).
            type: str
            default: Prefix
            choices: [Prefix, Exact, ImplementationSpecific]
          port:
            description: As O(ingress.port).
            type: raw
          preview_path:
            description: As O(ingress.preview_path).
            type: str
          preview_rewrite_target:
            description: As O(ingress.preview_rewrite_target).
            type: str
          preview_host:
            description: As O(ingress.preview_host).
            type: str
          preview_ingress:
            description: As O(ingress.preview_ingress).
            type: str
      deployment_name_format:
        description: As O(deployment_name_format).
        type: str
      version_service_name_format:
        description: As O(version_service_name_format).
        type: str
      force:
        description: As O(force).
        type: bool
      scale_down_replicas:
        description: As O(scale_down_replicas).
        type: int
  apps_parallel:
    description:
      - With O(apps), how many apps' releases run at once (threads of the one module
        process, sharing one connection pool to the API server).
      - A release mostly waits on the API server (watches), so the threads cost little
        CPU; the bound keeps the requests and watches the call holds open at once modest.
    type: int
    default: 10
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

- name: Promote three apps in one call (their waits run together)
  progressive.delivery.k8s_bluegreen:
    namespace: prod
    state: promoted
    apps:
      - {name: shop, service: shop, version: v2}
      - {name: cart, service: cart, version: v7}
      - {name: search, service: search, version: v3, namespace: search}
  register: release

- name: Something is wrong with them, go back (each app to its recorded previous version)
  progressive.delivery.k8s_bluegreen:
    namespace: prod
    state: rolled_back
    apps:
      - {name: shop, service: shop}
      - {name: cart, service: cart}
      - {name: search, service: search, namespace: search}

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
  description:
    - What was changed (or would be, in check mode), one line per write.
    - With O(apps), every app's lines, each starting with the app (C(<namespace>/<name>)).
  returned: always
  type: list
  elements: str
  sample: ["Service myapp-lan selector version=v1 -> v2", "delete preview Service myapp-lan-preview"]
apps:
  description:
    - With O(apps), one result per app, in the order given. Each holds the keys a call for
      that app alone returns (RV(live_version_before), RV(live_version), RV(versions),
      RV(service), RV(actions), ...) except RV(diff) (in the top-level RV(diff)), plus
      C(name), C(namespace), C(changed), C(failed), and for an app that failed C(msg)
      (with what it wrote before it stopped and what is live, when it had started
      writing, as in RV(live)).
    - The keys described below for a single app are, with O(apps), found here.
  returned: when O(apps) is given
  type: list
  elements: dict
  sample: [{"name": "shop", "namespace": "prod", "changed": true, "failed": false,
            "live_version_before": "v1", "live_version": "v2",
            "actions": ["Service shop selector version=v1 -> v2"]},
           {"name": "cart", "namespace": "prod", "changed": false, "failed": true,
            "msg": "refusing to promote version v7: Deployment cart-v7 is not ready: 0 of 2
                    replicas ready; set force=true to do it anyway"}]
live:
  description: After a failure midway (a Kubernetes API error such as a missing permission,
    or a failed wait), what is live now, from what the call read and wrote; the message ends
    with it and with the writes made before it stopped (also in RV(actions)).
  returned: on such a failure
  type: str
  sample: live traffic is still on v1 (not switched by this call)
live_version_before:
  description: The live version when the module started (null when none).
  returned: always (with O(apps), in each element of RV(apps))
  type: str
  sample: v1
live_version:
  description: The live version now.
  returned: always (with O(apps), in each element of RV(apps))
  type: str
  sample: v2
previous_version:
  description: The recorded previous version (the rollback target).
  returned: always (with O(apps), in each element of RV(apps))
  type: str
  sample: v1
rolled_back_from:
  description: Set when the last switch was a rollback, to the version it left.
  returned: always (with O(apps), in each element of RV(apps))
  type: str
preview_version:
  description: The version the preview Service or preview Ingress points at.
  returned: always (with O(apps), in each element of RV(apps))
  type: str
versions:
  description: Each version's Deployment and replica counts.
  returned: always (with O(apps), in each element of RV(apps))
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
  description:
    - The touched objects before and after (with --diff).
    - With O(apps), a list with one such entry per app that changed, each with
      C(before_header) and C(after_header) naming the app (C(<namespace>/<name>)).
  returned: when diff mode is on
  type: raw
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


def per_app_spec(spec):
    """An element of ``apps``: the per-app options, without defaults (an unset one is the
    top-level value; batch.app_params)."""
    found = dict((key, dict((k, copy.deepcopy(v)) for k, v in spec[key].items()
                            if k != "default"))
                 for key in batch.PER_APP)
    found["name"] = dict(type="str", required=True)
    return found


OWN_SPEC.update(
    apps=dict(type="list", elements="dict", options=per_app_spec(OWN_SPEC),
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
