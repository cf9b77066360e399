#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: gateway_traffic
short_description: Weighted, header-matched and mirrored traffic on a Gateway API HTTPRoute or GRPCRoute
version_added: 0.1.0
author:
  - progressive.delivery maintainers (@progressive-delivery)
description:
  - Manages the traffic-splitting part of one C(gateway.networking.k8s.io/v1) HTTPRoute (or,
    with O(kind=GRPCRoute), GRPCRoute), in one idempotent write. Works with any Gateway API implementation that reports route
    status (Contour, Envoy Gateway, Istio, NGINX Gateway Fabric, ...).
  - B(The managed rule) is selected by its name (O(rule_name); rule names are in the
    Gateway API's experimental channel) or else, in an HTTPRoute, as the one rule whose
    only match is the path prefix O(path); in a GRPCRoute, as the one rule whose only
    match is the gRPC O(method) (without O(method), the rule with no match, which takes
    every call). Its C(backendRefs) become the split in O(weights).
  - B(Weights are percents.) The Gateway API's weights are relative; this module takes
    percents that sum to 100 and writes each percent as the weight, so the route reads as
    shares. An existing split with the same shares (19/1 for 95/5) is left as it is.
  - B(Targeted canary) (O(header)) adds, in front of the weighted rule, a rule that sends
    requests carrying a header (exact value or regular expression) to one Service only,
    the Gateway API's counterpart of ingress-nginx's canary-by-header.
  - B(Mirroring) (O(mirror)) adds a C(RequestMirror) filter with a percent to the weighted
    rule, so a candidate sees a copy of live traffic before it gets any.
  - Creates the HTTPRoute when it is missing (O(parent_refs), O(hostnames), the rule), or
    adopts an existing one and changes only the managed rule and its header rule; other
    rules, filters and fields are kept. The write carries the resourceVersion it read; if
    someone else wrote in between, the module reads and plans again, so their change is
    never overwritten.
  - B(Services in other namespaces.) A Service is named by its name in the route's
    namespace and as C(namespace/name) in another one (in O(weights), O(header.backend)
    and O(mirror.backend)); the backendRef then carries that namespace. The Gateway API
    allows such a reference only when a C(ReferenceGrant) in the Service's namespace lets
    HTTPRoutes from the route's namespace refer to that Service (by name, or to every
    Service there).
  - B(Before writing) it checks that every Service named exists with the port, that a
    ReferenceGrant allows each Service in another namespace (the error says which grant
    to create), that the percents are sane, and that each parent Gateway exists and has a
    listener that admits HTTPRoutes from this namespace (C(from=Same) and C(from=All) are
    judged here; a namespace C(Selector) is left to the controller). Every problem is
    reported at once, with its field and value; nothing is written.
  - B(After writing) it watches the route until every parent in C(status.parents) reports
    C(Accepted=True) and C(ResolvedRefs=True) for the new generation. If one reports
    C(False), it puts the previous rules back (or deletes the route it created) and fails
    with the controller's own reason and message.
options:
  name:
    description: Name of the HTTPRoute.
    type: str
    required: true
  namespace:
    description:
      - Namespace of the HTTPRoute, and of the Services named without a namespace.
    type: str
    required: true
  parent_refs:
    description:
      - The Gateways the route attaches to. Required to create the route; on an existing
        route they are only validated (the route's own parentRefs are kept).
    type: list
    elements: dict
    suboptions:
      name:
        description: Gateway name.
        type: str
        required: true
      namespace:
        description: Gateway namespace (default O(namespace)).
        type: str
      section_name:
        description: The listener to attach to (C(sectionName)).
        type: str
  hostnames:
    description: Hostnames of a route this module creates.
    type: list
    elements: str
  kind:
    description:
      - The route's kind. A GRPCRoute has the same weights, header rule and mirror; its
        rules are found by O(method) instead of O(path).
    type: str
    choices: [HTTPRoute, GRPCRoute]
    default: HTTPRoute
  rule_name:
    description:
      - Name of the managed rule (C(rules[].name)). The header rule is then named
        C(<rule_name>-header). Without it, rules are found by O(path).
    type: str
  path:
    description:
      - HTTPRoute only. Path prefix the managed rule matches on (and is found by); default V(/).
    type: str
  method:
    description:
      - GRPCRoute only. The gRPC method the managed rule matches on (and is found by), an
        C(Exact) method match with O(method.service), O(method.method) or both (Contour
        accepts only both). Omitted, the managed rule is the one without matches (every
        call).
    type: dict
    suboptions:
      service:
        description: The gRPC service, C(package.Service).
        type: str
      method:
        description: The method name.
        type: str
  weights:
    description:
      - "Service name to percent of the rule's traffic, for example C({stable: 95, canary: 5})."
      - "A Service in another namespace is C(namespace/name): C({stable: 95, shared/canary: 5})."
      - Percents are whole numbers from 0 to 100 that sum to 100; 0 keeps the Service in the
        rule with no traffic; at least one is not 0. Omitted, the split is left as it is.
    type: dict
  port:
    description:
      - Port of the Services. Default, the port the rule already uses for that Service,
        else the Service's only port.
    type: int
  header:
    description: The header-matched rule in front of the weighted one.
    type: dict
    suboptions:
      name:
        description: Header name.
        type: str
      value:
        description: Header value (or regular expression).
        type: str
      type:
        description: How the value matches.
        type: str
        choices: [Exact, RegularExpression]
        default: Exact
      backend:
        description: The Service that receives the matching requests (C(name) or C(namespace/name)).
        type: str
      state:
        description: V(absent) removes the header rule.
        type: str
        choices: [present, absent]
        default: present
  mirror:
    description: The C(RequestMirror) filter on the weighted rule.
    type: dict
    suboptions:
      backend:
        description:
          - The Service that receives the copies (C(name) or C(namespace/name)).
          - With V(absent), omitted removes every mirror filter of the rule.
        type: str
      percent:
        description: Percent of requests copied (1-100).
        type: int
        default: 100
      state:
        description: V(absent) removes the filter.
        type: str
        choices: [present, absent]
        default: present
  validate_refs:
    description:
      - Read the Services, the ReferenceGrants of the namespaces of Services in other
        namespaces, and the parent Gateways to validate the call before writing.
        With V(false) only the controller judges the references (credentials that cannot
        read them); O(port) is then required for Services new to the rule.
    type: bool
    default: true
extends_documentation_fragment:
  - progressive.delivery.k8s_auth
  - progressive.delivery.wait
attributes:
  check_mode:
    support: full
    description: Reads and validates, reports the route as it would be; writes nothing.
  diff_mode:
    support: full
    description: Shows the route's parents, hostnames and one line per rule (old and new weights).
notes:
  - Gateway API v1.0 or later (C(gateway.networking.k8s.io/v1) HTTPRoute). C(rules[].name)
    needs the experimental channel's CRD; on the standard channel use O(path).
  - ReferenceGrant is read at C(gateway.networking.k8s.io/v1beta1), the version every
    Gateway API release since v0.6 serves in its standard channel.
  - GRPCRoute is C(gateway.networking.k8s.io/v1) (Gateway API v1.1 or later); the parent
    Gateway's listener must admit GRPCRoutes (C(allowedRoutes.kinds)).
seealso:
  - module: progressive.delivery.k8s_canary
"""

EXAMPLES = r"""
- name: 5% of / on the canary Service (creates the route if needed)
  progressive.delivery.gateway_traffic:
    namespace: web
    name: shop
    parent_refs:
      - name: public
        namespace: gateways
    hostnames: [shop.example.com]
    weights: {shop-stable: 95, shop-canary: 5}

- name: Testers (x-canary=true) go to the canary; everyone else stays at 5%
  progressive.delivery.gateway_traffic:
    namespace: web
    name: shop
    header: {name: x-canary, value: "true", backend: shop-canary}

- name: Copy every request to the candidate before it takes any traffic
  progressive.delivery.gateway_traffic:
    namespace: web
    name: shop
    weights: {shop-stable: 100, shop-canary: 0}
    mirror: {backend: shop-canary, percent: 100}

- name: 10% to a canary Service in the namespace shared (a ReferenceGrant there must allow it)
  progressive.delivery.gateway_traffic:
    namespace: web
    name: shop
    weights: {shop-stable: 90, shared/shop-canary: 10}

# The grant, in the Service's namespace:
#   apiVersion: gateway.networking.k8s.io/v1beta1
#   kind: ReferenceGrant
#   metadata: {name: web-routes, namespace: shared}
#   spec:
#     from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: web}]
#     to: [{group: "", kind: Service, name: shop-canary}]

- name: A GRPCRoute, 10% of the calls of shop.Cart/Get to the canary
  progressive.delivery.gateway_traffic:
    kind: GRPCRoute
    namespace: web
    name: cart
    parent_refs: [{name: public, namespace: gateways}]
    method: {service: shop.Cart, method: Get}
    weights: {cart-stable: 90, cart-canary: 10}

- name: Promote; remove the header rule and the mirror
  progressive.delivery.gateway_traffic:
    namespace: web
    name: shop
    weights: {shop-stable: 0, shop-canary: 100}
    header: {state: absent}
    mirror: {state: absent}
"""

RETURN = r"""
weights:
  description:
    - The managed rule's split after the call, Service to percent of its traffic.
    - Services in another namespace than the route's are named C(namespace/name).
  returned: always
  type: dict
  sample: {shop-stable: 95, shop-canary: 5}
previous_weights:
  description: The same before the call (empty when the rule did not exist).
  returned: always
  type: dict
route:
  description: The route after the call (in check mode, as it would be), one line per rule.
  returned: always
  type: dict
  sample: {hostnames: [shop.example.com], parents: [gateways/public],
           rules: ["/ [x-canary=true] -> shop-canary 100%", "/ -> shop-stable 95%, shop-canary 5%"]}
parents:
  description: Per parent Gateway, the route's conditions as the controller reports them.
  returned: always
  type: list
  elements: dict
actions:
  description: The writes made (or, in check mode, that would be made).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

# First of the collection's imports: the others are then compiled once (see zip_import).
from ansible_collections.progressive.delivery.plugins.module_utils import zip_import  # noqa: F401 pylint: disable=unused-import
from ansible_collections.progressive.delivery.plugins.module_utils.gateway.backend import (
    run_gateway_traffic,
)
from ansible_collections.progressive.delivery.plugins.module_utils.gateway.validation import (
    spec_from_params,
)
from ansible_collections.progressive.delivery.plugins.module_utils.module_entry import (
    argument_spec,
    kube_for,
    run_module,
)

OWN_SPEC = dict(
    name=dict(type="str", required=True),
    namespace=dict(type="str", required=True),
    parent_refs=dict(type="list", elements="dict", options=dict(
        name=dict(type="str", required=True), namespace=dict(type="str"),
        section_name=dict(type="str"))),
    hostnames=dict(type="list", elements="str"),
    kind=dict(type="str", choices=["HTTPRoute", "GRPCRoute"], default="HTTPRoute"),
    rule_name=dict(type="str"),
    path=dict(type="str"),
    method=dict(type="dict", options=dict(service=dict(type="str"), method=dict(type="str"))),
    weights=dict(type="dict"),
    port=dict(type="int"),
    header=dict(type="dict", options=dict(
        name=dict(type="str"), value=dict(type="str"),
        type=dict(type="str", choices=["Exact", "RegularExpression"], default="Exact"),
        backend=dict(type="str"),
        state=dict(type="str", choices=["present", "absent"], default="present"))),
    mirror=dict(type="dict", options=dict(
        backend=dict(type="str"), percent=dict(type="int", default=100),
        state=dict(type="str", choices=["present", "absent"], default="present"))),
    validate_refs=dict(type="bool", default=True),
)


def main():
    module = AnsibleModule(argument_spec=argument_spec(OWN_SPEC), supports_check_mode=True)

    def work():
        spec = spec_from_params(module.params)
        return run_gateway_traffic(kube_for(module), spec, check_mode=module.check_mode,
                                   wait=module.params["wait"],
                                   wait_timeout=module.params["wait_timeout"])

    run_module(module, work)


if __name__ == "__main__":
    main()
