# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gateway_traffic's input: the parameters checked on their own (``spec_from_params``)
and against what was read (``check_refs``: Services and ports, the ReferenceGrants that
allow a Service in another namespace, the parent Gateway and its listeners). Every
problem is reported at once with its field path; nothing is written when there is one.

A Service is named ``name`` in the route's namespace and ``namespace/name`` in another;
the Spec holds the short form for the route's own namespace whichever was given."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from collections import OrderedDict, namedtuple

from ansible_collections.progressive.delivery.plugins.module_utils.gateway import plan as gp
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    FieldErrors,
)

Spec = namedtuple("Spec", "name namespace parent_refs hostnames rule_name path weights port "
                          "header mirror validate_refs kind method")
ParentRef = namedtuple("ParentRef", "name namespace section_name")
Header = namedtuple("Header", "name value type backend state")
Mirror = namedtuple("Mirror", "backend percent state")

HEADER_TYPES = ("Exact", "RegularExpression")
# RFC 7230 token characters: what the Gateway API allows in a header name.
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$")
# A GRPCRoute's method match, as the Gateway API's CRD validates them.
GRPC_SERVICE = re.compile(r"^\.?[A-Za-z_][A-Za-z_0-9]*(\.[A-Za-z_][A-Za-z_0-9]*)*$")
GRPC_METHOD = re.compile(r"^[A-Za-z_][A-Za-z_0-9]*$")
KINDS = ("HTTPRoute", "GRPCRoute")


def spec_from_params(params):
    """The call's Spec, or ValidationError naming every bad field and value."""
    errors = FieldErrors()
    errors.check_dns_subdomain("name", params.get("name"))
    errors.check_dns_label("namespace", params.get("namespace"))
    kind = params.get("kind") or "HTTPRoute"
    if kind not in KINDS:
        errors.add("kind", "%r is not one of %s", kind, ", ".join(KINDS))
    path = params.get("path")
    method = _method(errors, kind, params.get("method"))
    if kind == "GRPCRoute" and path is not None:
        errors.add("path", "selects an HTTPRoute's rule; a GRPCRoute's rule is selected by "
                   "method (or rule_name)")
    path = path or "/"
    if not path.startswith("/"):
        errors.add("path", "%r must start with '/'", path)
    rule_name = params.get("rule_name")
    if rule_name is not None:
        errors.check_dns_label("rule_name", rule_name)
    port = params.get("port")
    if port is not None and not 1 <= int(port) <= 65535:
        errors.add("port", "%r is not a port number (1-65535)", port)
    home = params.get("namespace")
    weights = _weights(errors, params.get("weights"), home)
    parents = []
    for i, ref in enumerate(params.get("parent_refs") or []):
        where = "parent_refs[%d]" % i
        if not isinstance(ref, dict) or not ref.get("name"):
            errors.add(where + ".name", "is required (the Gateway's name)")
            continue
        errors.check_dns_subdomain(where + ".name", ref["name"])
        if ref.get("namespace"):
            errors.check_dns_label(where + ".namespace", ref["namespace"])
        parents.append(ParentRef(ref["name"], ref.get("namespace") or params.get("namespace"),
                                 ref.get("section_name")))
    header = _header(errors, params.get("header"), home)
    mirror = _mirror(errors, params.get("mirror"), home)
    if weights is None and header is None and mirror is None:
        errors.add("weights", "give weights, header or mirror: the call has nothing to do")
    errors.raise_if_any()
    return Spec(params["name"], params["namespace"], parents, list(params.get("hostnames") or []),
                rule_name, path, weights, port, header, mirror,
                params.get("validate_refs", True), kind, method)


def _method(errors, kind, method):
    """A GRPCRoute's rule key as (service, method), or None (the rule with no match)."""
    if not method:
        return None
    if kind != "GRPCRoute":
        errors.add("method", "selects a GRPCRoute's rule; an HTTPRoute's rule is selected by "
                   "path (or rule_name)")
        return None
    service, name = method.get("service"), method.get("method")
    if not service and not name:
        errors.add("method", "give service, method or both (a rule for every call has no "
                   "method: leave method out)")
    if service and not GRPC_SERVICE.match(service):
        errors.add("method.service", "%r is not a gRPC service name (package.Service)", service)
    if name and not GRPC_METHOD.match(name):
        errors.add("method.method", "%r is not a gRPC method name", name)
    return (service or None, name or None)


def _service(errors, where, value, home):
    """A Service named by the call ('name' or 'namespace/name'), in the Spec's form (the
    short one in the route's namespace), or None when it is not a valid name."""
    value = str(value)
    parts = value.split("/")
    if len(parts) > 2 or not all(parts):
        errors.add(where, "%r is not a Service: give name, or namespace/name for a Service "
                   "in another namespace", value)
        return None
    before = len(errors.errors)
    if len(parts) == 2:
        errors.check_dns_label(where, parts[0])
    errors.check_dns_label(where, parts[-1])
    if len(errors.errors) != before:
        return None
    return gp.service_key(parts[0] if len(parts) == 2 else None, parts[-1], home)


def _weights(errors, weights, home):
    if weights is None:
        return None
    if not isinstance(weights, dict) or not weights:
        errors.add("weights", "%r must map Service names to percents, e.g. "
                   "{stable: 95, canary: 5}", weights)
        return None
    result = OrderedDict()
    valid = 0
    for given, value in weights.items():
        where = "weights.%s" % given
        name = _service(errors, where, given, home)
        if name is None:
            continue
        if name in result:
            errors.add(where, "names Service %s again (in the route's namespace it is %s)",
                       given, name)
            continue
        try:
            percent = int(value)
            if str(value).strip() != str(percent):
                raise ValueError()
        except (TypeError, ValueError):
            errors.add(where, "%r is not a whole percent (0-100)", value)
            continue
        if not 0 <= percent <= 100:
            errors.add(where, "%r is out of range: a percent from 0 to 100", value)
            continue
        result[name] = percent
        valid += 1
    if valid == len(weights):
        total = sum(result.values())
        if total != 100:
            errors.add("weights", "percents sum to %d, want 100 (weights are relative in the "
                       "Gateway API; this module takes percents)", total)
        elif not any(result.values()):
            errors.add("weights", "at least one Service needs a non-zero percent")
    return result


def _header(errors, header, home):
    if header is None:
        return None
    state = header.get("state") or "present"
    if state == "absent":
        return Header(header.get("name"), None, None, None, "absent")
    for key in ("name", "value", "backend"):
        if not header.get(key):
            errors.add("header.%s" % key, "is required when header.state is present")
    if header.get("name") and not HEADER_NAME.match(header["name"]):
        errors.add("header.name", "%r is not a valid HTTP header name", header["name"])
    backend = header.get("backend")
    if backend:
        backend = _service(errors, "header.backend", backend, home)
    kind = header.get("type") or "Exact"
    if kind not in HEADER_TYPES:
        errors.add("header.type", "%r is not one of %s", kind, ", ".join(HEADER_TYPES))
    if kind == "RegularExpression" and header.get("value"):
        try:
            re.compile(header["value"])
        except re.error as exc:
            errors.add("header.value", "%r is not a regular expression: %s", header["value"], exc)
    return Header(header.get("name"), header.get("value"), kind, backend, state)


def _mirror(errors, mirror, home):
    if mirror is None:
        return None
    state = mirror.get("state") or "present"
    percent = mirror.get("percent")
    percent = 100 if percent is None else percent
    backend = mirror.get("backend")
    if backend:
        backend = _service(errors, "mirror.backend", backend, home)
    if state == "present":
        if not mirror.get("backend"):
            errors.add("mirror.backend", "is required when mirror.state is present")
        if not 1 <= int(percent) <= 100:
            errors.add("mirror.percent", "%r is out of range: a percent from 1 to 100", percent)
    return Mirror(backend, int(percent), state)


# --- against the cluster -------------------------------------------------------
def named_services(spec):
    """service -> the parameter that names it, for every Service the call writes."""
    named = OrderedDict()
    for name in spec.weights or {}:
        named[name] = "weights.%s" % name
    if spec.header is not None and spec.header.state == "present":
        named.setdefault(spec.header.backend, "header.backend")
    if spec.mirror is not None and spec.mirror.state == "present":
        named.setdefault(spec.mirror.backend, "mirror.backend")
    return named


def foreign_namespaces(spec):
    """The namespaces, other than the route's, of the Services the call writes (each
    must allow the reference with a ReferenceGrant)."""
    found = []
    for key in named_services(spec):
        namespace = gp.split_service(key, spec.namespace)[0]
        if namespace != spec.namespace and namespace not in found:
            found.append(namespace)
    return found


def check_refs(spec, route, current_ports, services, gateways, grants=None):
    """The port of every Service the call names; ValidationError otherwise.

    ``current_ports``: service -> port in the managed rule as read (kept when the call
    gives no port). ``services``/``gateways``: what was read (None: missing), or None when
    validate_refs is off (the controller's verdict is then the only check). ``grants``:
    namespace -> the ReferenceGrants listed there (None: the API has none), for every
    namespace of ``foreign_namespaces``."""
    errors = FieldErrors()
    ports = {}
    for name, where in named_services(spec).items():
        port = spec.port or current_ports.get(name)
        if services is not None:
            port = _service_port(errors, where, spec, services.get(name), name, port)
            namespace = gp.split_service(name, spec.namespace)[0]
            if namespace != spec.namespace:
                _check_grant(errors, where, spec, name, (grants or {}).get(namespace), spec.kind)
        elif port is None:
            errors.add("port", "is required when validate_refs is false (Service %s is not "
                       "read)", name)
        ports[name] = port
    if route is None and not spec.parent_refs:
        errors.add("parent_refs", "is required to create %s %s/%s (it does not exist)",
                   spec.kind, spec.namespace, spec.name)
    if gateways is not None:
        for i, ref in enumerate(spec.parent_refs):
            _check_gateway(errors, "parent_refs[%d]" % i, spec, ref,
                           gateways.get((ref.namespace, ref.name)))
    errors.raise_if_any()
    return ports


def _service_port(errors, where, spec, service, key, port):
    namespace, name = gp.split_service(key, spec.namespace)
    if service is None:
        errors.add(where, "Service %s/%s does not exist", namespace, name)
        return port
    declared = [p.get("port") for p in (service.get("spec") or {}).get("ports") or []]
    if port is None:
        if len(declared) == 1:
            return declared[0]
        errors.add("port", "is required: Service %s/%s has %d ports (%s)", namespace, name,
                   len(declared), ", ".join(str(p) for p in declared) or "none")
        return None
    if port not in declared:
        errors.add("port" if spec.port else where, "Service %s/%s has no port %s (it has %s)",
                   namespace, name, port, ", ".join(str(p) for p in declared) or "none")
    return port


def grant_allows(grant, route_kind, route_namespace, service):
    """Whether one ReferenceGrant lets routes of ``route_kind`` in ``route_namespace``
    refer to the Service named ``service`` in the grant's namespace (any of its ``from``
    with any of its ``to``; a ``to`` without a name covers every Service)."""
    body = grant.get("spec") or {}
    allowed_from = any(f.get("group") == gp.GROUP and f.get("kind") == route_kind
                       and f.get("namespace") == route_namespace
                       for f in body.get("from") or [])
    allowed_to = any((t.get("group") or "") == "" and t.get("kind") == "Service"
                     and t.get("name") in (None, "", service)
                     for t in body.get("to") or [])
    return allowed_from and allowed_to


def _check_grant(errors, where, spec, key, grants, route_kind="HTTPRoute"):
    namespace, name = gp.split_service(key, spec.namespace)
    if grants is None:
        errors.add(where, "Service %s/%s is in another namespace than the %s, which needs a "
                   "ReferenceGrant, and the cluster serves no ReferenceGrant API (%s "
                   "referencegrants): install the Gateway API CRDs", namespace, name,
                   route_kind, gp.REFERENCEGRANT.api_version)
        return
    if any(grant_allows(g, route_kind, spec.namespace, name) for g in grants):
        return
    errors.add(where, "no ReferenceGrant in namespace %s allows %ss from namespace %s to "
               "refer to Service %s: create one in %s with spec.from [{group: %s, kind: %s, "
               "namespace: %s}] and spec.to [{group: \"\", kind: Service, name: %s}] (or "
               "without name for every Service there)", namespace, route_kind, spec.namespace,
               name, namespace, gp.GROUP, route_kind, spec.namespace, name)


def _check_gateway(errors, where, spec, ref, gateway):
    if gateway is None:
        errors.add(where, "Gateway %s/%s does not exist", ref.namespace, ref.name)
        return
    listeners = (gateway.get("spec") or {}).get("listeners") or []
    if ref.section_name:
        listeners = [lst for lst in listeners if lst.get("name") == ref.section_name]
        if not listeners:
            errors.add(where + ".section_name", "Gateway %s/%s has no listener %r",
                       ref.namespace, ref.name, ref.section_name)
            return
    verdicts = [listener_admits(lst, ref.namespace, spec.namespace, spec.kind)
                for lst in listeners]
    if not any(v is not False for v in verdicts):
        errors.add(where, "no listener of Gateway %s/%s admits %ss from namespace %s "
                   "(listeners: %s)", ref.namespace, ref.name, spec.kind, spec.namespace,
                   "; ".join(_listener_text(lst) for lst in listeners) or "none")


def listener_admits(listener, gateway_namespace, route_namespace, kind="HTTPRoute"):
    """True/False when the listener alone decides whether it takes a route of ``kind``
    (HTTPRoute, GRPCRoute: both on HTTP and HTTPS listeners) from ``route_namespace``;
    None for a namespace selector (the controller judges it: reading namespaces' labels
    needs cluster-wide rights the module should not ask for)."""
    if listener.get("protocol") not in ("HTTP", "HTTPS"):
        return False
    allowed = listener.get("allowedRoutes") or {}
    kinds = allowed.get("kinds")
    if kinds and not any(k.get("kind") == kind for k in kinds):
        return False
    source = (allowed.get("namespaces") or {}).get("from") or "Same"
    if source == "All":
        return True
    if source == "Same":
        return gateway_namespace == route_namespace
    return None


def _listener_text(listener):
    allowed = listener.get("allowedRoutes") or {}
    source = (allowed.get("namespaces") or {}).get("from") or "Same"
    kinds = [k.get("kind") for k in allowed.get("kinds") or []]
    return "%s %s from %s%s" % (listener.get("name"), listener.get("protocol"), source,
                                (" kinds " + ",".join(kinds)) if kinds else "")
