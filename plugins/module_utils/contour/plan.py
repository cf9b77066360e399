# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure planning for Contour delegation and weights (contour_delegate).

A root proxy (HTTPProxy with ``spec.virtualhost``, or a legacy IngressRoute) delegates a
path prefix to a child proxy, possibly in another namespace: an HTTPProxy ``include`` with
a ``prefix`` condition, or an IngressRoute route with ``match`` and ``delegate``. Blue/green
switches which child a path is delegated to; a canary sets the weights of the services in
the child's route that serves the path (seed 002).

Nothing here talks to the API server: the runner reads the objects, these functions check
the request against them and return the writes (each one whole-field merge patch carrying
the read resourceVersion), so every rule deciding where traffic goes is unit-tested.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import re
from collections import namedtuple

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    FieldErrors,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import Resource
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import Check

HTTPPROXY = Resource("projectcontour.io/v1", "HTTPProxy", "httpproxies", True)
TLS_DELEGATION = Resource("projectcontour.io/v1", "TLSCertificateDelegation",
                          "tlscertificatedelegations", True)
INGRESSROUTE = Resource("contour.heptio.com/v1beta1", "IngressRoute", "ingressroutes", True)
RESOURCES = {"httpproxy": HTTPPROXY, "ingressroute": INGRESSROUTE}
APIS = ("httpproxy", "ingressroute")
STATES = ("present", "absent")

# Contour hands weights to Envoy as uint32 and Envoy requires their sum to fit in one.
MAX_TOTAL_WEIGHT = 4294967295
FQDN = re.compile(r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
TLS_SECRET_TYPE = "kubernetes.io/tls"


class PlanError(Exception):
    """The request is valid but the cluster's state forbids it (nothing was written)."""


ChildRef = namedtuple("ChildRef", "name namespace")
Backend = namedtuple("Backend", "name port weight")
"""One weighted service of a route; port None means: keep the route's, or the Service's
only port."""


class Spec(namedtuple("Spec", "api name namespace state fqdn tls_secret path child services "
                              "route_path force")):
    """Validated module input. child: ChildRef or None; services: [Backend] or None."""

    @property
    def resource(self):
        return RESOURCES[self.api]

    @property
    def kind(self):
        return self.resource.kind


Observed = namedtuple(
    "Observed",
    "root root_namespace_exists child child_namespace_exists services tls_secret "
    "tls_delegations",
)
"""What the runner read. root/child: objects or None. services: {name: Service or None}
in the child's namespace. tls_secret: the Secret (or None) when the TLS secret is being
set, else the string "unchecked"; tls_delegations: TLSCertificateDelegations of the
secret's namespace (a list)."""

Write = namedtuple("Write", "verb role name namespace body description")
"""verb: create | patch | delete; role: root | child; body: the manifest for create, a JSON
merge patch carrying metadata.resourceVersion (the precondition) for patch."""

Plan = namedtuple(
    "Plan", "writes child root_after child_after delegation_before delegation_after route_index")
"""child: the ChildRef whose route is managed (None when there is none); *_after: objects as
the writes leave them (None: absent); route_index: index in the child's spec.routes of the
route serving route_path (None without services)."""

UNCHECKED = "unchecked"


# ---------------------------------------------------------------------------
# validation of the module input (no cluster needed)
# ---------------------------------------------------------------------------
def validate(params):
    """Turn module params into a Spec, reporting every problem at once."""
    errs = FieldErrors()
    api = params.get("api") or "httpproxy"
    if api not in APIS:
        errs.add("api", "%r is not one of %s", api, ", ".join(APIS))
    state = params.get("state") or "present"
    if state not in STATES:
        errs.add("state", "%r is not one of %s", state, ", ".join(STATES))
    errs.check_dns_subdomain("name", params.get("name"))
    errs.check_dns_label("namespace", params.get("namespace"))
    namespace = params.get("namespace")

    fqdn = params.get("fqdn")
    if fqdn is not None and (len(fqdn) > 253 or not FQDN.match(fqdn)):
        errs.add("fqdn", "%r is not a valid host name (lower-case DNS name, optionally "
                 "starting with '*.')", fqdn)
    tls_secret = params.get("tls_secret")
    if tls_secret is not None:
        _check_secret_ref(errs, tls_secret)

    path = params.get("path")
    _check_path(errs, "path", path)
    route_path = params.get("route_path")
    if route_path is not None:
        _check_path(errs, "route_path", route_path)

    child = None
    if params.get("child"):
        raw = params["child"]
        errs.check_dns_subdomain("child.name", raw.get("name"))
        child_ns = raw.get("namespace") or namespace
        if raw.get("namespace"):
            errs.check_dns_label("child.namespace", raw["namespace"])
        child = ChildRef(raw.get("name"), child_ns)
        if child == ChildRef(params.get("name"), namespace):
            errs.add("child", "%s/%s is the root itself; a proxy cannot include itself",
                     namespace, raw.get("name"))

    services = None
    if params.get("services") is not None:
        services = _validate_services(errs, params["services"])
        if state == "absent":
            errs.add("services", "cannot be set with state=absent (nothing is routed)")
    errs.raise_if_any()

    return Spec(api=api, name=params["name"], namespace=namespace, state=state, fqdn=fqdn,
                tls_secret=tls_secret, path=path, child=child, services=services,
                route_path=route_path or path, force=bool(params.get("force")))


def _check_path(errs, field, value):
    if not isinstance(value, str) or not value.startswith("/"):
        errs.add(field, "%r must be a path prefix starting with '/'", value)
    elif re.search(r"\s", value):
        errs.add(field, "%r must not contain white space", value)


def _check_secret_ref(errs, value):
    parts = value.split("/") if isinstance(value, str) else [None]
    if len(parts) > 2:
        errs.add("tls_secret", "%r must be a Secret name or <namespace>/<name>", value)
        return
    if len(parts) == 2:
        errs.check_dns_label("tls_secret", parts[0]) and errs.check_dns_subdomain(
            "tls_secret", parts[1])
    else:
        errs.check_dns_subdomain("tls_secret", parts[0])


def _validate_services(errs, services):
    if not services:
        errs.add("services", "needs at least one service")
        return []
    backends, seen, total = [], set(), 0
    for index, entry in enumerate(services):
        field = "services[%d]" % index
        if not isinstance(entry, dict):
            errs.add(field, "must be a dictionary with name, port and weight, got %r", entry)
            continue
        name, port, weight = entry.get("name"), entry.get("port"), entry.get("weight")
        errs.check_dns_label(field + ".name", name)
        if name in seen:
            errs.add(field + ".name", "%r is listed twice", name)
        seen.add(name)
        if port is not None and (_not_int(port) or not 1 <= port <= 65535):
            errs.add(field + ".port", "must be a port number from 1 to 65535, got %r", port)
        if weight is None:
            errs.add(field + ".weight", "is required")
        elif _not_int(weight) or weight < 0:
            errs.add(field + ".weight", "must be an integer of 0 or more, got %r", weight)
        else:
            total += weight
        backends.append(Backend(name, port, weight))
    if backends and total == 0 and not any(e.path.endswith(".weight") for e in errs.errors):
        errs.add("services", "all weights are 0: Contour would then split the traffic evenly "
                 "(as if no weight was set); give at least one service a positive weight")
    if total > MAX_TOTAL_WEIGHT:
        errs.add("services", "weights sum to %d, more than Envoy accepts (%d)",
                 total, MAX_TOTAL_WEIGHT)
    return backends


def _not_int(value):
    return isinstance(value, bool) or not isinstance(value, int)


# ---------------------------------------------------------------------------
# reading proxies
# ---------------------------------------------------------------------------
def _spec(obj):
    return (obj or {}).get("spec") or {}


def _meta(obj, key, default=None):
    return ((obj or {}).get("metadata") or {}).get(key, default)


def fqdn_of(obj):
    return (_spec(obj).get("virtualhost") or {}).get("fqdn")


def tls_secret_of(obj):
    return ((_spec(obj).get("virtualhost") or {}).get("tls") or {}).get("secretName")


def is_root(obj):
    return bool(_spec(obj).get("virtualhost"))


def include_path(include):
    """The path prefix an HTTPProxy include delegates, or None when it has header or
    query conditions (then it is not a plain path delegation this module manages)."""
    conditions = include.get("conditions") or []
    prefixes = [c.get("prefix") for c in conditions if c.get("prefix")]
    if len(prefixes) != len(conditions) or len(prefixes) > 1:
        return None
    return prefixes[0] if prefixes else "/"


def delegations(api, root):
    """[(index, path, ChildRef)] of the root's delegations, in spec order."""
    found = []
    ns = _meta(root, "namespace")
    if api == "httpproxy":
        for index, include in enumerate(_spec(root).get("includes") or []):
            path = include_path(include)
            if path is not None:
                found.append((index, path, ChildRef(include.get("name"),
                                                    include.get("namespace") or ns)))
    else:
        for index, route in enumerate(_spec(root).get("routes") or []):
            delegate = route.get("delegate")
            if delegate:
                found.append((index, route.get("match"), ChildRef(delegate.get("name"),
                                                                  delegate.get("namespace") or ns)))
    return found


def find_delegation(spec, root):
    """(index, ChildRef) of the delegation of spec.path in the root, or (None, None)."""
    matches = [(i, ref) for i, path, ref in delegations(spec.api, root) if path == spec.path]
    if len(matches) > 1:
        raise PlanError("%s %s/%s delegates %s %d times (%s); Contour rejects duplicate "
                        "conditions: fix the root by hand first"
                        % (spec.kind, spec.namespace, spec.name, spec.path, len(matches),
                           ", ".join("%s/%s" % (r.namespace, r.name) for _i, r in matches)))
    if spec.api == "ingressroute" and not matches:
        for route in _spec(root).get("routes") or []:
            if route.get("match") == spec.path and route.get("services"):
                raise PlanError("IngressRoute %s/%s routes %s to services, not to a delegate; "
                                "refusing to replace that route"
                                % (spec.namespace, spec.name, spec.path))
    return matches[0] if matches else (None, None)


def join_paths(prefix, suffix):
    """Contour's merge of an include prefix and a route prefix: concatenate, collapse
    repeated slashes, empty means '/'."""
    return re.sub(r"//+", "/", (prefix or "") + (suffix or "")) or "/"


def child_routes(api, child, delegated_path):
    """[(index, request path, route)] of the child's routes that forward to services by a
    path prefix alone (routes with header, query, exact or regex conditions are left
    out). For HTTPProxy the path is the include prefix joined with the route's prefix; an
    IngressRoute route carries the full path in ``match``."""
    found = []
    for index, route in enumerate(_spec(child).get("routes") or []):
        if api == "ingressroute":
            if route.get("match") and not route.get("delegate"):
                found.append((index, route["match"], route))
            continue
        conditions = route.get("conditions") or []
        prefixes = [c.get("prefix") for c in conditions if c.get("prefix")]
        if len(prefixes) != len(conditions) or len(prefixes) > 1:
            continue
        found.append((index, join_paths(delegated_path, prefixes[0] if prefixes else ""),
                      route))
    return found


def find_route(spec, child):
    """(index, route) of the child's route serving spec.route_path. An exact match wins;
    otherwise a unique match ignoring a trailing '/' (include /blog + route prefix / is
    /blog/ to Contour)."""
    routes = child_routes(spec.api, child, spec.path)
    exact = [(i, r) for i, p, r in routes if p == spec.route_path]
    loose = [(i, r) for i, p, r in routes
             if p.rstrip("/") == spec.route_path.rstrip("/")]
    for candidates in (exact, loose):
        if len(candidates) == 1:
            return candidates[0]
        if len(candidates) > 1:
            raise PlanError("%s %s/%s has %d routes for %s (spec.routes indexes %s); cannot "
                            "tell which one to weight"
                            % (spec.kind, _meta(child, "namespace"), _meta(child, "name"),
                               len(candidates), spec.route_path,
                               ", ".join(str(i) for i, _route in candidates)))
    return None, None


def route_paths(spec, child):
    return sorted(set(path for _i, path, _route in child_routes(spec.api, child, spec.path)))


def weighted_services(route):
    """[{name, port, weight}] of the route's traffic backends (mirrors left out)."""
    return [dict(name=s.get("name"), port=s.get("port"), weight=s.get("weight"))
            for s in (route or {}).get("services") or [] if not s.get("mirror")]


def traffic_shares(services):
    """{name: percent} as Contour programs Envoy: weights are relative (share = weight /
    sum); when no service has a weight they are split evenly; a service without a weight
    beside weighted ones gets nothing."""
    if not services:
        return {}
    weights = [s.get("weight") or 0 for s in services]
    total = sum(weights)
    if total == 0:
        weights, total = [1] * len(services), len(services)
    return dict((s.get("name"), round(100.0 * w / total, 2)) for s, w in zip(services, weights))


# ---------------------------------------------------------------------------
# checks against what the cluster holds (bad input -> FieldErrors, nothing written)
# ---------------------------------------------------------------------------
def check_against_cluster(spec, observed, child_ref):
    errs = FieldErrors()
    root = observed.root
    kind = spec.kind
    if spec.state == "present":
        if root is None:
            if not observed.root_namespace_exists:
                errs.add("namespace", "namespace %r does not exist", spec.namespace)
            if spec.fqdn is None:
                errs.add("fqdn", "is required to create the root %s %s/%s (it does not exist)",
                         kind, spec.namespace, spec.name)
        else:
            if not is_root(root):
                errs.add("name", "%s %s/%s is not a root (it has no spec.virtualhost)",
                         kind, spec.namespace, spec.name)
            elif spec.fqdn is not None and fqdn_of(root) != spec.fqdn:
                errs.add("fqdn", "%r differs from the host %r that root %s %s/%s serves; this "
                         "module does not rename hosts", spec.fqdn, fqdn_of(root), kind,
                         spec.namespace, spec.name)
        _check_tls(errs, spec, observed)
        if child_ref is None:
            errs.add("child", "is required: %s %s/%s delegates nothing at %s yet", kind,
                     spec.namespace, spec.name, spec.path)
        else:
            _check_child(errs, spec, observed, child_ref)
    errs.raise_if_any()


def _check_tls(errs, spec, observed):
    if spec.tls_secret is None or observed.tls_secret == UNCHECKED:
        return
    secret_ns, _slash, secret_name = spec.tls_secret.rpartition("/")
    secret_ns = secret_ns or spec.namespace
    secret = observed.tls_secret
    if secret is None:
        errs.add("tls_secret", "Secret %s/%s does not exist", secret_ns, secret_name)
        return
    if secret.get("type") != TLS_SECRET_TYPE:
        errs.add("tls_secret", "Secret %s/%s has type %r; Contour needs %r (tls.crt and "
                 "tls.key)", secret_ns, secret_name, secret.get("type"), TLS_SECRET_TYPE)
    if spec.api == "httpproxy" and secret_ns != spec.namespace and not tls_delegated(
            observed.tls_delegations, secret_name, spec.namespace):
        errs.add("tls_secret", "Secret %s/%s is in another namespace and no "
                 "TLSCertificateDelegation in %s lets namespace %s use it", secret_ns,
                 secret_name, secret_ns, spec.namespace)


def tls_delegated(delegation_objects, secret_name, namespace):
    """A TLSCertificateDelegation grants the secret to the namespace (or to '*')."""
    for obj in delegation_objects or []:
        for grant in _spec(obj).get("delegations") or []:
            if grant.get("secretName") != secret_name:
                continue
            targets = grant.get("targetNamespaces") or []
            if namespace in targets or "*" in targets:
                return True
    return False


def _check_child(errs, spec, observed, child_ref):
    kind = spec.kind
    where = "%s/%s" % (child_ref.namespace, child_ref.name)
    child = observed.child
    if child is None:
        if spec.services is not None:
            errs.add("child.name" if spec.child else "services",
                     "%s %s does not exist; cannot set the weights of its route", kind, where)
        elif not spec.force:
            if not observed.child_namespace_exists:
                errs.add("child.namespace", "namespace %r does not exist", child_ref.namespace)
            else:
                errs.add("child.name", "%s %s does not exist (create it first, or set force=true "
                         "to leave the verdict to Contour)", kind, where)
        return
    if is_root(child):
        errs.add("child", "%s %s is a root (it has spec.virtualhost %r); a root cannot "
                 "include another root", kind, where, fqdn_of(child))
    if spec.services is None:
        return
    route = find_route(spec, child)[1]
    if route is None:
        field = "route_path" if spec.route_path != spec.path else "path"
        errs.add(field, "%r matches no route of %s %s (its routes serve: %s)", spec.route_path,
                 kind, where, ", ".join(route_paths(spec, child)) or "none")
        return
    current = dict((s.get("name"), s) for s in route.get("services") or [])
    for index, backend in enumerate(spec.services):
        field = "services[%d]" % index
        service = (observed.services or {}).get(backend.name)
        if service is None:
            if not spec.force:
                errs.add(field + ".name", "Service %s/%s does not exist", child_ref.namespace,
                         backend.name)
            if backend.port is None and backend.name not in current:
                errs.add(field + ".port", "is required: %s is new to the route", backend.name)
            continue
        ports = [p.get("port") for p in (service.get("spec") or {}).get("ports") or []]
        if backend.port is not None:
            if backend.port not in ports and not spec.force:
                errs.add(field + ".port", "Service %s/%s has no port %d (its ports: %s)",
                         child_ref.namespace, backend.name, backend.port,
                         ", ".join(str(p) for p in ports) or "none")
        elif backend.name not in current and len(ports) != 1:
            errs.add(field + ".port", "is required: Service %s/%s has %s", child_ref.namespace,
                     backend.name, "ports %s" % ", ".join(str(p) for p in ports)
                     if ports else "no ports")


# ---------------------------------------------------------------------------
# planning
# ---------------------------------------------------------------------------
def target_child(spec, root):
    """The child the call is about: the one given, else the one delegated now."""
    if spec.child is not None:
        return spec.child
    return find_delegation(spec, root)[1] if root is not None else None


def plan(spec, observed):
    """Check the request against the cluster and return the Plan (writes may be empty)."""
    root = observed.root
    before_ref = find_delegation(spec, root)[1] if root is not None else None
    child_ref = spec.child or before_ref
    check_against_cluster(spec, observed, child_ref)
    if spec.state == "absent":
        return _plan_absent(spec, root, before_ref)

    writes = []
    child_after, route_index = observed.child, None
    if spec.services is not None:
        route_index, route = find_route(spec, observed.child)
        new_services = desired_services(spec, route, observed.services or {})
        if new_services != route.get("services"):
            routes = copy.deepcopy(_spec(observed.child).get("routes"))
            routes[route_index] = dict(routes[route_index], services=new_services)
            child_after = _with_spec(observed.child, routes=routes)
            writes.append(Write(
                "patch", "child", child_ref.name, child_ref.namespace,
                _merge_patch(observed.child, {"routes": routes}),
                "%s %s/%s route %s weights %s -> %s" % (
                    spec.kind, child_ref.namespace, child_ref.name, spec.route_path,
                    _weights_text(route.get("services")), _weights_text(new_services))))

    root_after = desired_root(spec, root, child_ref)
    if root is None:
        writes.append(Write("create", "root", spec.name, spec.namespace, root_after,
                            "create %s %s/%s for %s with %s -> %s/%s" % (
                                spec.kind, spec.namespace, spec.name, spec.fqdn, spec.path,
                                child_ref.namespace, child_ref.name)))
    elif _spec(root_after) != _spec(root):
        changed = dict((k, v) for k, v in _spec(root_after).items() if _spec(root).get(k) != v)
        writes.append(Write("patch", "root", spec.name, spec.namespace,
                            _merge_patch(root, changed),
                            _root_change_text(spec, root, before_ref, child_ref)))
    return Plan(writes, child_ref, root_after, child_after, before_ref, child_ref, route_index)


def _plan_absent(spec, root, before_ref):
    if root is None or before_ref is None or (spec.child and spec.child != before_ref):
        return Plan([], before_ref, root, None, before_ref, before_ref, None)
    index = find_delegation(spec, root)[0]
    field = "includes" if spec.api == "httpproxy" else "routes"
    remaining = [d for i, d in enumerate(_spec(root).get(field) or []) if i != index]
    root_spec = _spec(root)
    what = "remove %s -> %s/%s from %s %s/%s" % (spec.path, before_ref.namespace,
                                                 before_ref.name, spec.kind, spec.namespace,
                                                 spec.name)
    others = [k for k in ("includes", "routes", "tcpproxy") if k != field and root_spec.get(k)]
    if not remaining and not others:
        write = Write("delete", "root", spec.name, spec.namespace, None,
                      what + " (it routes nothing else: delete it)")
        return Plan([write], before_ref, None, None, before_ref, None, None)
    root_after = _with_spec(root, **{field: remaining})
    write = Write("patch", "root", spec.name, spec.namespace,
                  _merge_patch(root, {field: remaining}), what)
    return Plan([write], before_ref, root_after, None, before_ref, None, None)


def desired_root(spec, root, child_ref):
    """The root as it should be: the delegation of spec.path points at child_ref, TLS
    secret as asked; every other include, route and field kept as it is."""
    if root is None:
        virtualhost = {"fqdn": spec.fqdn}
        if spec.tls_secret:
            virtualhost["tls"] = {"secretName": spec.tls_secret}
        field = "includes" if spec.api == "httpproxy" else "routes"
        return {
            "apiVersion": spec.resource.api_version,
            "kind": spec.kind,
            "metadata": {"name": spec.name, "namespace": spec.namespace,
                         "labels": {"app.kubernetes.io/managed-by": "progressive.delivery"}},
            "spec": {"virtualhost": virtualhost,
                     field: [delegation_entry(spec, None, child_ref)]},
        }
    new_spec = copy.deepcopy(_spec(root))
    if spec.tls_secret and tls_secret_of(root) != spec.tls_secret:
        tls = dict(new_spec["virtualhost"].get("tls") or {}, secretName=spec.tls_secret)
        new_spec["virtualhost"] = dict(new_spec["virtualhost"], tls=tls)
    field = "includes" if spec.api == "httpproxy" else "routes"
    entries = new_spec.get(field) or []
    index, current = find_delegation(spec, root)
    if index is None:
        entries.append(delegation_entry(spec, None, child_ref))
    elif current != child_ref:
        entries[index] = delegation_entry(spec, entries[index], child_ref)
    new_spec[field] = entries
    return dict(root, spec=new_spec)


def delegation_entry(spec, existing, child_ref):
    """An include (HTTPProxy) or a delegating route (IngressRoute) for spec.path; an
    existing entry keeps its other fields."""
    entry = copy.deepcopy(existing) if existing else {}
    if spec.api == "httpproxy":
        entry["name"] = child_ref.name
        entry["namespace"] = child_ref.namespace
        if existing is None:
            entry["conditions"] = [{"prefix": spec.path}]
    else:
        entry.setdefault("match", spec.path)
        entry["delegate"] = {"name": child_ref.name, "namespace": child_ref.namespace}
    return entry


def desired_services(spec, route, services):
    """The route's services list: exactly spec.services, in that order. An entry already in
    the route keeps its other fields (protocol, health port...); mirrors are kept."""
    current = dict((s.get("name"), s) for s in route.get("services") or [] if not s.get("mirror"))
    result = []
    for backend in spec.services:
        entry = copy.deepcopy(current.get(backend.name) or {"name": backend.name})
        if backend.port is not None:
            entry["port"] = backend.port
        elif "port" not in entry:
            ports = ((services.get(backend.name) or {}).get("spec") or {}).get("ports") or []
            entry["port"] = ports[0].get("port")
        entry["weight"] = backend.weight
        result.append(entry)
    result.extend(copy.deepcopy(s) for s in route.get("services") or [] if s.get("mirror"))
    return result


def _with_spec(obj, **fields):
    new = copy.deepcopy(obj)
    new.setdefault("spec", {}).update(copy.deepcopy(fields))
    return new


def _merge_patch(obj, spec_fields):
    """A merge patch of whole spec fields, with the read resourceVersion: the API server
    refuses it (409) if the object changed since it was read."""
    return {"metadata": {"resourceVersion": _meta(obj, "resourceVersion")},
            "spec": copy.deepcopy(spec_fields)}


def _weights_text(services):
    return "/".join("%s=%s" % (s.get("name"), s.get("weight", "-"))
                    for s in services or [] if not s.get("mirror")) or "none"


def _root_change_text(spec, root, before_ref, child_ref):
    parts = []
    if spec.tls_secret and tls_secret_of(root) != spec.tls_secret:
        parts.append("TLS secret %s -> %s" % (tls_secret_of(root), spec.tls_secret))
    if before_ref is None:
        parts.append("add %s -> %s/%s" % (spec.path, child_ref.namespace, child_ref.name))
    elif before_ref != child_ref:
        parts.append("%s -> %s/%s (was %s/%s)" % (
            spec.path, child_ref.namespace, child_ref.name, before_ref.namespace,
            before_ref.name))
    return "%s %s/%s: %s" % (spec.kind, spec.namespace, spec.name, "; ".join(parts))


def managed_fields(spec, role):
    """The spec fields a write of ``role`` may change (and a restore puts back)."""
    if role == "child":
        return ["routes"]
    return ["includes" if spec.api == "httpproxy" else "routes", "virtualhost"]


def restore_patch(spec, role, before, live):
    """The merge patch that puts the managed fields of ``before`` back on ``live`` (with
    live's resourceVersion), or None when they are already equal."""
    fields = managed_fields(spec, role)
    if all(_spec(live).get(f) == _spec(before).get(f) for f in fields):
        return None
    return _merge_patch(live, dict((f, _spec(before).get(f)) for f in fields))


def changed_since(spec, role, written, live):
    """Another writer changed the managed fields after our write: do not undo theirs."""
    return any(_spec(live).get(f) != _spec(written).get(f) for f in managed_fields(spec, role))


# ---------------------------------------------------------------------------
# Contour's verdict (HTTPProxy status)
# ---------------------------------------------------------------------------
def valid_condition(obj):
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Valid":
            return cond
    return None


def status_report(obj):
    """currentStatus/description plus the Valid condition's generation, errors, warnings."""
    if obj is None:
        return None
    status = obj.get("status") or {}
    cond = valid_condition(obj) or {}
    if not status and not cond:
        return None

    def subs(key):
        return [dict(type=s.get("type"), reason=s.get("reason"), message=s.get("message"))
                for s in cond.get(key) or []]

    return dict(current=status.get("currentStatus"), description=status.get("description"),
                valid=cond.get("status") == "True",
                observed_generation=cond.get("observedGeneration"),
                generation=_meta(obj, "generation"), errors=subs("errors"),
                warnings=subs("warnings"))


def contour_message(obj):
    """Contour's own words: the errors of the Valid condition, else the description."""
    cond = valid_condition(obj) or {}
    errors = ["%s: %s" % (e.get("reason"), e.get("message")) for e in cond.get("errors") or []]
    if errors:
        return "; ".join(errors)
    return (obj.get("status") or {}).get("description") or cond.get("message") or "no message"


def proxy_valid(generation):
    """Predicate: Contour reports the HTTPProxy valid for ``generation`` or later.

    Stale status (an older generation, or none yet) and 'orphaned' mean: not processed yet,
    keep waiting (a child just included was orphaned until Contour's next pass). Invalid
    for the generation means Contour rejected it: fail at once with its message."""

    def predicate(obj):
        if obj is None:
            return Check(False, "the HTTPProxy does not exist", True)
        where = "HTTPProxy %s/%s" % (_meta(obj, "namespace"), _meta(obj, "name"))
        cond = valid_condition(obj)
        if cond is None:
            return Check(False, "%s has no status from Contour yet (is Contour running?)" % where)
        seen = cond.get("observedGeneration") or 0
        if seen < generation:
            return Check(False, "Contour has not processed generation %d of %s yet (status is "
                         "for generation %d)" % (generation, where, seen))
        if cond.get("status") == "True":
            return Check(True, "%s is valid" % where)
        if any(e.get("type") == "Orphaned" for e in cond.get("errors") or []):
            return Check(False, "%s is orphaned: %s" % (where, contour_message(obj)))
        return Check(False, "%s is invalid: %s" % (where, contour_message(obj)), True)

    return predicate


# ---------------------------------------------------------------------------
# reporting
# ---------------------------------------------------------------------------
def proxy_view(spec, obj, role):
    """The parts of a proxy the module manages, for the diff and the result."""
    if obj is None:
        return None
    view = dict(name=_meta(obj, "name"), namespace=_meta(obj, "namespace"),
                generation=_meta(obj, "generation"))
    if role == "root":
        view["fqdn"] = fqdn_of(obj)
        view["tls_secret"] = tls_secret_of(obj)
        view["delegations"] = [dict(path=p, name=r.name, namespace=r.namespace)
                               for _i, p, r in delegations(spec.api, obj)]
    else:
        view["routes"] = [dict(path=p, services=weighted_services(r))
                          for _i, p, r in child_routes(spec.api, obj, spec.path)]
    return view


def diff_view(spec, obj, role):
    view = proxy_view(spec, obj, role)
    if view is not None:
        view.pop("generation")
    return view
