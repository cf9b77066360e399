# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Contour's proxy objects, and pure readers of them.

A root proxy (HTTPProxy with ``spec.virtualhost``, or a legacy IngressRoute) delegates a
path prefix to a child proxy, possibly in another namespace: an HTTPProxy ``include`` with
a ``prefix`` condition, or an IngressRoute route with ``match`` and ``delegate``. The
functions here find those delegations, the child's routes and their weighted services,
the way Contour reads them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from collections import namedtuple

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import Resource

HTTPPROXY = Resource("projectcontour.io/v1", "HTTPProxy", "httpproxies", True)
TLS_DELEGATION = Resource("projectcontour.io/v1", "TLSCertificateDelegation",
                          "tlscertificatedelegations", True)
INGRESSROUTE = Resource("contour.heptio.com/v1beta1", "IngressRoute", "ingressroutes", True)
RESOURCES = {"httpproxy": HTTPPROXY, "ingressroute": INGRESSROUTE}
UNCHECKED = "unchecked"


class PlanError(Exception):
    """The request is valid but the cluster's state forbids it (nothing was written)."""


ChildRef = namedtuple("ChildRef", "name namespace")

Observed = namedtuple(
    "Observed",
    "root root_namespace_exists child child_namespace_exists services tls_secret "
    "tls_delegations",
)
"""What the backend read. root/child: objects or None. services: {name: Service or None}
in the child's namespace. tls_secret: the Secret (or None) when the TLS secret is being
set, else the string "unchecked"; tls_delegations: TLSCertificateDelegations of the
secret's namespace (a list)."""


def spec_of(obj):
    """The object's spec (empty when absent)."""
    return (obj or {}).get("spec") or {}


def meta_of(obj, key, default=None):
    return ((obj or {}).get("metadata") or {}).get(key, default)


def fqdn_of(obj):
    return (spec_of(obj).get("virtualhost") or {}).get("fqdn")


def tls_secret_of(obj):
    return ((spec_of(obj).get("virtualhost") or {}).get("tls") or {}).get("secretName")


def is_root(obj):
    return bool(spec_of(obj).get("virtualhost"))


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
    ns = meta_of(root, "namespace")
    if api == "httpproxy":
        for index, include in enumerate(spec_of(root).get("includes") or []):
            path = include_path(include)
            if path is not None:
                found.append((index, path, ChildRef(include.get("name"),
                                                    include.get("namespace") or ns)))
    else:
        for index, route in enumerate(spec_of(root).get("routes") or []):
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
        for route in spec_of(root).get("routes") or []:
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
    for index, route in enumerate(spec_of(child).get("routes") or []):
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
                            % (spec.kind, meta_of(child, "namespace"), meta_of(child, "name"),
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
