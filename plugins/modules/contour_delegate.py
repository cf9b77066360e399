#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: contour_delegate
short_description: Delegate a path of a Contour virtual host to a child proxy, and weight its services
version_added: 0.1.0
description:
  - Manages the delegation of one path prefix of a Contour root proxy (the proxy that
    defines the virtual host) to a child proxy, possibly in another namespace, and the
    weights of the services in the child's route for that path.
  - Blue/green is switching which child proxy a path is delegated to, for example
    from C(blog) (service green) to C(blog2) (service blue); switching back is the same call
    with the other child. The switch is one write to the root.
  - Canary is setting O(services) with weights, for example green 5 / blue 95, then 100 / 0.
  - With O(api=httpproxy) (the default) the delegation is an C(include) of the root
    HTTPProxy with a C(prefix) condition, and the module waits until Contour reports the
    root and the child C(valid) for the new generation. If Contour reports the change
    invalid, the module puts the previous state back (one write per object it changed)
    and fails with Contour's own message.
  - With O(api=ingressroute) the legacy C(contour.heptio.com/v1beta1) IngressRoute is
    managed the same way (C(routes[].delegate) and C(routes[].services[].weight)). No
    current Contour serves it, so nothing reports validity and the module does not wait.
  - Every problem with the input (a missing child, namespace, Service or port, a path no
    route of the child serves, a negative weight) is reported at once, naming the field and
    the value, before anything is written.
author:
  - progressive.delivery maintainers (@progressive-delivery)
options:
  name:
    description:
      - Name of the root proxy (the one with C(spec.virtualhost)).
      - Created when missing (O(fqdn) is then required); an existing root is adopted, its
        other includes, routes and fields are left as they are.
    type: str
    required: true
  namespace:
    description: Namespace of the root proxy.
    type: str
    required: true
  api:
    description:
      - V(httpproxy) for C(projectcontour.io/v1) HTTPProxy, V(ingressroute) for the legacy
        C(contour.heptio.com/v1beta1) IngressRoute.
    type: str
    choices: [httpproxy, ingressroute]
    default: httpproxy
  state:
    description:
      - V(present) makes O(path) delegated to O(child) (and sets O(services) when given).
      - V(absent) removes the delegation of O(path) from the root (only if it points at
        O(child), when O(child) is given). A root left routing nothing is deleted, since
        Contour rejects an empty root.
    type: str
    choices: [present, absent]
    default: present
  fqdn:
    description:
      - The virtual host of the root. Required to create the root.
      - For an existing root it must match the root's host; the module never renames a
        host.
    type: str
  tls_secret:
    description:
      - C(spec.virtualhost.tls.secretName) of the root, V(name) or V(namespace/name).
      - A Secret in another namespace needs a C(TLSCertificateDelegation) in that namespace
        granting it to the root's namespace; the module checks this (and that the Secret
        exists and has type C(kubernetes.io/tls)) before writing.
    type: str
  path:
    description:
      - The path prefix that is delegated, as the client requests it, such as V(/blog).
      - HTTPProxy, the include whose only condition is C(prefix) O(path) (an include
        without conditions is V(/)); IngressRoute, the route whose C(match) is O(path) and
        that has a C(delegate).
    type: str
    required: true
  child:
    description:
      - The proxy O(path) is delegated to. Switching it is the blue/green switch.
      - Optional when the root already delegates O(path) and only O(services) change.
      - It must exist and must not be a root itself (unless O(force=true)).
    type: dict
    suboptions:
      name:
        description: Name of the child proxy.
        type: str
        required: true
      namespace:
        description: Namespace of the child proxy; default O(namespace).
        type: str
  services:
    description:
      - The weighted services of the child's route that serves O(route_path). The route's
        services become exactly this list, in this order; an entry already in the route
        keeps its other fields (protocol, health port, ...); mirror services are kept.
      - "Weights are relative, as Contour programs Envoy: a service gets weight / (sum of
        weights) of the requests, so 5 and 95 are 5% and 95%, and 1 and 3 are 25% and 75%.
        Weight 0 gets no traffic. All weights 0 is refused, because Contour then splits
        evenly (as when no weight is set)."
      - Each Service must exist in the child's namespace and have the port.
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the Service, in the child's namespace.
        type: str
        required: true
      port:
        description:
          - Service port. Default, the port the route already uses for this service, else
            the Service's only port.
        type: int
      weight:
        description: Relative weight, an integer of 0 or more.
        type: int
        required: true
  route_path:
    description:
      - The request path of the child's route whose O(services) are set; default O(path).
      - For HTTPProxy the route's path is O(path) joined with the route's own C(prefix)
        condition (none means the whole O(path)); a trailing C(/) is ignored when that
        leaves a single match. Routes with header, query, exact or regex conditions are
        never chosen.
    type: str
  force:
    description:
      - Skip the checks that the child proxy, its namespace, the Services and the TLS
        Secret exist before writing, and let Contour judge. If Contour then reports the
        change invalid, it is still put back.
    type: bool
    default: false
extends_documentation_fragment:
  - progressive.delivery.k8s_auth
  - progressive.delivery.wait
attributes:
  check_mode:
    support: full
    description: Reads the cluster, checks the input and works out the objects as the
      writes would leave them; reports what would change. Nothing is sent.
  diff_mode:
    support: full
    description: Shows the root's host, TLS secret and delegations, and the child's routes
      with their weights, before and after.
notes:
  - Each object is written once, with a JSON merge patch of whole spec fields that carries
    the read C(resourceVersion); if another writer got there first the API server answers
    409 and the module reads again and re-plans.
  - The wait is on Contour's status, C(status.conditions[type=Valid]), whose
    C(observedGeneration) tells which generation it judged. A child that is C(orphaned) is
    waited for (Contour had not yet processed the include); C(invalid) fails at once. If
    the wait fails or times out, the module puts the previous state back before failing.
  - Contour does not restrict which namespace a child may be in; only roots can be
    restricted (C(--root-namespaces)), which Contour reports on the root as
    C(RootProxyNotAllowedInNamespace). Secrets across namespaces need a
    C(TLSCertificateDelegation).
  - See docs/contour_delegate.md in the collection for the full behaviour.
seealso:
  - name: Contour HTTPProxy inclusion
    description: How includes and their conditions combine.
    link: https://projectcontour.io/docs/main/config/inclusion-delegation/
  - name: Contour upstream weighting
    description: How Contour applies service weights.
    link: https://projectcontour.io/docs/main/config/request-routing/
"""

EXAMPLES = r"""
- name: Root for yangcs.net delegating /blog to marketing/blog (green)
  progressive.delivery.contour_delegate:
    name: root-blog
    namespace: root-ingressroute
    fqdn: yangcs.net
    tls_secret: yangcs-net
    path: /blog
    child:
      name: blog
      namespace: marketing

- name: Blue/green, switch /blog to blog2 (service blue)
  progressive.delivery.contour_delegate:
    name: root-blog
    namespace: root-ingressroute
    path: /blog
    child:
      name: blog2
      namespace: marketing

- name: Trouble, switch back to blog
  progressive.delivery.contour_delegate:
    name: root-blog
    namespace: root-ingressroute
    path: /blog
    child:
      name: blog
      namespace: marketing

- name: Canary, green 5 / blue 95 in the child that serves /blog
  progressive.delivery.contour_delegate:
    name: root-blog
    namespace: root-ingressroute
    path: /blog
    services:
      - name: green
        port: 80
        weight: 5
      - name: blue
        port: 80
        weight: 95

- name: Canary done, green 100 / blue 0
  progressive.delivery.contour_delegate:
    name: root-blog
    namespace: root-ingressroute
    path: /blog
    services:
      - name: green
        weight: 100
      - name: blue
        weight: 0

- name: The same switch on a legacy IngressRoute
  progressive.delivery.contour_delegate:
    api: ingressroute
    name: root-blog
    namespace: root-ingressroute
    path: /blog
    child:
      name: blog2
      namespace: marketing
"""

RETURN = r"""
actions:
  description: What was changed (or would be, in check mode), one line per write.
  returned: always
  type: list
  elements: str
  sample: ["HTTPProxy root-ingressroute/root-blog: /blog -> marketing/blog2 (was marketing/blog)"]
api:
  description: The API managed, V(httpproxy) or V(ingressroute).
  returned: always
  type: str
path:
  description: The delegated path.
  returned: always
  type: str
  sample: /blog
route_path:
  description: The path of the child's route whose services are reported.
  returned: always
  type: str
delegation:
  description: The child O(path) is delegated to now (null when none).
  returned: always
  type: dict
  sample: {"name": "blog2", "namespace": "marketing"}
previous_delegation:
  description: The child O(path) was delegated to before this call (null when none).
  returned: always
  type: dict
  sample: {"name": "blog", "namespace": "marketing"}
services:
  description:
    - The services of the child's route for O(route_path) in force now, with C(share),
      the percentage of requests each receives by Contour's weighting rules.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "green", "port": 80, "weight": 5, "share": 5.0},
           {"name": "blue", "port": 80, "weight": 95, "share": 95.0}]
root:
  description:
    - The root proxy (name, namespace, generation, fqdn, tls_secret, delegations) and
      Contour's status of it (current, description, valid, observed_generation, errors,
      warnings; null for an IngressRoute nobody reports on).
  returned: always
  type: dict
  sample: {"name": "root-blog", "namespace": "root-ingressroute", "generation": 2,
           "fqdn": "yangcs.net", "tls_secret": "yangcs-net",
           "delegations": [{"path": "/blog", "name": "blog2", "namespace": "marketing"}],
           "status": {"current": "valid", "description": "Valid HTTPProxy", "valid": true,
                      "observed_generation": 2, "generation": 2, "errors": [],
                      "warnings": []}}
child:
  description:
    - The child proxy (name, namespace, generation, routes with their paths and services)
      and Contour's status of it, as for RV(root). Null when there is no child.
  returned: always
  type: dict
diff:
  description: The root's delegations and the child's routes before and after (with --diff).
  returned: when diff mode is on
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

# First of the collection's imports: the others are then compiled once (see zip_import).
from ansible_collections.progressive.delivery.plugins.module_utils import zip_import  # noqa: F401 pylint: disable=unused-import
from ansible_collections.progressive.delivery.plugins.module_utils.contour.backend import (
    run_contour_delegate,
)
from ansible_collections.progressive.delivery.plugins.module_utils.contour.proxies import (
    PlanError,
)
from ansible_collections.progressive.delivery.plugins.module_utils.contour.validation import (
    APIS,
    STATES,
    validate,
)
from ansible_collections.progressive.delivery.plugins.module_utils.module_entry import (
    argument_spec,
    kube_for,
    run_module,
)

CHILD_SPEC = dict(
    name=dict(type="str", required=True),
    namespace=dict(type="str"),
)

SERVICE_SPEC = dict(
    name=dict(type="str", required=True),
    port=dict(type="int"),
    weight=dict(type="int", required=True),
)

OWN_SPEC = dict(
    name=dict(type="str", required=True),
    namespace=dict(type="str", required=True),
    api=dict(type="str", default="httpproxy", choices=list(APIS)),
    state=dict(type="str", default="present", choices=list(STATES)),
    fqdn=dict(type="str"),
    tls_secret=dict(type="str", no_log=False),  # a Secret's name, not secret material
    path=dict(type="str", required=True),
    child=dict(type="dict", options=CHILD_SPEC),
    services=dict(type="list", elements="dict", options=SERVICE_SPEC),
    route_path=dict(type="str"),
    force=dict(type="bool", default=False),
)


def main():
    module = AnsibleModule(argument_spec=argument_spec(OWN_SPEC), supports_check_mode=True)

    def work():
        spec = validate(module.params)
        kube = kube_for(module)
        return run_contour_delegate(kube, spec, check_mode=module.check_mode,
                                    wait=module.params["wait"],
                                    wait_timeout=module.params["wait_timeout"])

    run_module(module, work, refusal_types=(PlanError,))


if __name__ == "__main__":
    main()
