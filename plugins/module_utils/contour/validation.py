# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""contour_delegate's input checks; bad input is a FieldErrors list, and nothing is
written.

``validate(params)`` checks the request on its own and returns the Spec;
``check_against_cluster`` checks it against the objects the backend read (does the root
serve that host, does the child exist and route that path, do the Services and ports,
is the TLS secret usable from the root's namespace).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from collections import namedtuple

from ansible_collections.progressive.delivery.plugins.module_utils.contour.proxies import (
    RESOURCES,
    UNCHECKED,
    ChildRef,
    find_route,
    fqdn_of,
    is_root,
    route_paths,
    spec_of,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    FieldErrors,
)

APIS = ("httpproxy", "ingressroute")
STATES = ("present", "absent")

# Contour hands weights to Envoy as uint32 and Envoy requires their sum to fit in one.
MAX_TOTAL_WEIGHT = 4294967295
FQDN = re.compile(r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
TLS_SECRET_TYPE = "kubernetes.io/tls"

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


# ---------------------------------------------------------------------------
# the module input on its own (no cluster needed)
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
# against what the cluster holds
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
        for grant in spec_of(obj).get("delegations") or []:
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
