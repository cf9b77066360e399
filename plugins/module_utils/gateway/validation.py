# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gateway_traffic's input: the parameters checked on their own (``spec_from_params``)
and against what was read (``check_refs``: Services and ports, the parent Gateway and
its listeners). Every problem is reported at once with its field path; nothing is
written when there is one."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from collections import OrderedDict, namedtuple

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    FieldErrors,
)

Spec = namedtuple("Spec", "name namespace parent_refs hostnames rule_name path weights port "
                          "header mirror validate_refs")
ParentRef = namedtuple("ParentRef", "name namespace section_name")
Header = namedtuple("Header", "name value type backend state")
Mirror = namedtuple("Mirror", "backend percent state")

HEADER_TYPES = ("Exact", "RegularExpression")
# RFC 7230 token characters: what the Gateway API allows in a header name.
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$")


def spec_from_params(params):
    """The call's Spec, or ValidationError naming every bad field and value."""
    errors = FieldErrors()
    errors.check_dns_subdomain("name", params.get("name"))
    errors.check_dns_label("namespace", params.get("namespace"))
    path = params.get("path") or "/"
    if not path.startswith("/"):
        errors.add("path", "%r must start with '/'", path)
    rule_name = params.get("rule_name")
    if rule_name is not None:
        errors.check_dns_label("rule_name", rule_name)
    port = params.get("port")
    if port is not None and not 1 <= int(port) <= 65535:
        errors.add("port", "%r is not a port number (1-65535)", port)
    weights = _weights(errors, params.get("weights"))
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
    header = _header(errors, params.get("header"))
    mirror = _mirror(errors, params.get("mirror"))
    if weights is None and header is None and mirror is None:
        errors.add("weights", "give weights, header or mirror: the call has nothing to do")
    errors.raise_if_any()
    return Spec(params["name"], params["namespace"], parents, list(params.get("hostnames") or []),
                rule_name, path, weights, port, header, mirror,
                params.get("validate_refs", True))


def _weights(errors, weights):
    if weights is None:
        return None
    if not isinstance(weights, dict) or not weights:
        errors.add("weights", "%r must map Service names to percents, e.g. "
                   "{stable: 95, canary: 5}", weights)
        return None
    result = OrderedDict()
    for name, value in weights.items():
        where = "weights.%s" % name
        errors.check_dns_label(where, name)
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
    if len(result) == len(weights):
        total = sum(result.values())
        if total != 100:
            errors.add("weights", "percents sum to %d, want 100 (weights are relative in the "
                       "Gateway API; this module takes percents)", total)
        elif not any(result.values()):
            errors.add("weights", "at least one Service needs a non-zero percent")
    return result


def _header(errors, header):
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
    if header.get("backend"):
        errors.check_dns_label("header.backend", header["backend"])
    kind = header.get("type") or "Exact"
    if kind not in HEADER_TYPES:
        errors.add("header.type", "%r is not one of %s", kind, ", ".join(HEADER_TYPES))
    if kind == "RegularExpression" and header.get("value"):
        try:
            re.compile(header["value"])
        except re.error as exc:
            errors.add("header.value", "%r is not a regular expression: %s", header["value"], exc)
    return Header(header.get("name"), header.get("value"), kind, header.get("backend"), state)


def _mirror(errors, mirror):
    if mirror is None:
        return None
    state = mirror.get("state") or "present"
    percent = mirror.get("percent")
    percent = 100 if percent is None else percent
    if state == "present":
        if not mirror.get("backend"):
            errors.add("mirror.backend", "is required when mirror.state is present")
        else:
            errors.check_dns_label("mirror.backend", mirror["backend"])
        if not 1 <= int(percent) <= 100:
            errors.add("mirror.percent", "%r is out of range: a percent from 1 to 100", percent)
    return Mirror(mirror.get("backend"), int(percent), state)


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


def check_refs(spec, route, current_ports, services, gateways):
    """The port of every Service the call names; ValidationError otherwise.

    ``current_ports``: service -> port in the managed rule as read (kept when the call
    gives no port). ``services``/``gateways``: what was read (None: missing), or None when
    validate_refs is off (the controller's verdict is then the only check)."""
    errors = FieldErrors()
    ports = {}
    for name, where in named_services(spec).items():
        port = spec.port or current_ports.get(name)
        if services is not None:
            port = _service_port(errors, where, spec, services.get(name), name, port)
        elif port is None:
            errors.add("port", "is required when validate_refs is false (Service %s is not "
                       "read)", name)
        ports[name] = port
    if route is None and not spec.parent_refs:
        errors.add("parent_refs", "is required to create HTTPRoute %s/%s (it does not exist)",
                   spec.namespace, spec.name)
    if gateways is not None:
        for i, ref in enumerate(spec.parent_refs):
            _check_gateway(errors, "parent_refs[%d]" % i, spec, ref,
                           gateways.get((ref.namespace, ref.name)))
    errors.raise_if_any()
    return ports


def _service_port(errors, where, spec, service, name, port):
    if service is None:
        errors.add(where, "Service %s/%s does not exist", spec.namespace, name)
        return port
    declared = [p.get("port") for p in (service.get("spec") or {}).get("ports") or []]
    if port is None:
        if len(declared) == 1:
            return declared[0]
        errors.add("port", "is required: Service %s/%s has %d ports (%s)", spec.namespace, name,
                   len(declared), ", ".join(str(p) for p in declared) or "none")
        return None
    if port not in declared:
        errors.add("port" if spec.port else where, "Service %s/%s has no port %s (it has %s)",
                   spec.namespace, name, port, ", ".join(str(p) for p in declared) or "none")
    return port


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
    verdicts = [listener_admits(lst, ref.namespace, spec.namespace) for lst in listeners]
    if not any(v is not False for v in verdicts):
        errors.add(where, "no listener of Gateway %s/%s admits HTTPRoutes from namespace %s "
                   "(listeners: %s)", ref.namespace, ref.name, spec.namespace,
                   "; ".join(_listener_text(lst) for lst in listeners) or "none")


def listener_admits(listener, gateway_namespace, route_namespace):
    """True/False when the listener alone decides whether it takes an HTTPRoute from
    ``route_namespace``; None for a namespace selector (the controller judges it: reading
    namespaces' labels needs cluster-wide rights the module should not ask for)."""
    if listener.get("protocol") not in ("HTTP", "HTTPS"):
        return False
    allowed = listener.get("allowedRoutes") or {}
    kinds = allowed.get("kinds")
    if kinds and not any(k.get("kind") == "HTTPRoute" for k in kinds):
        return False
    source = (allowed.get("namespaces") or {}).get("from") or "Same"
    if source == "All":
        return True
    if source == "Same":
        return gateway_namespace == route_namespace
    return None


def _listener_text(listener):
    allowed = ((listener.get("allowedRoutes") or {}).get("namespaces") or {}).get("from") or "Same"
    return "%s %s from %s" % (listener.get("name"), listener.get("protocol"), allowed)
