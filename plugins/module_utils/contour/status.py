# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Contour's verdict on a proxy (the proof predicate the backend waits on) and the views
of proxies that go into the module's result and diff."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.progressive.delivery.plugins.module_utils.contour.proxies import (
    PlanError,
    child_routes,
    delegations,
    find_route,
    fqdn_of,
    meta_of,
    tls_secret_of,
    traffic_shares,
    weighted_services,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import Check


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
                generation=meta_of(obj, "generation"), errors=subs("errors"),
                warnings=subs("warnings"))


def contour_message(obj):
    """Contour's own words: the errors of the Valid condition, else the description."""
    cond = valid_condition(obj) or {}
    errors = ["%s: %s" % (e.get("reason"), e.get("message")) for e in cond.get("errors") or []]
    if errors:
        return "; ".join(errors)
    return (obj.get("status") or {}).get("description") or cond.get("message") or "no message"


UNRESOLVED_SERVICE = re.compile(r'service "([^"/]+)/([^"]+)" not found')


def unresolved_services(obj):
    """The (namespace, name) of each Service Contour's Valid condition says it could not
    find (reason ServiceUnresolvedReference), in order; empty when an error is of another
    kind (a verdict only a missing Service explains is the one that can be Contour's lag)."""
    found = []
    for error in (valid_condition(obj) or {}).get("errors") or []:
        match = UNRESOLVED_SERVICE.search(error.get("message") or "")
        if error.get("reason") != "ServiceUnresolvedReference" or not match:
            return []
        found.append(match.groups())
    return found


def proxy_valid(generation, lagging=()):
    """Predicate: Contour reports the HTTPProxy valid for ``generation`` or later.

    Stale status (an older generation, or none yet) and 'orphaned' mean: not processed yet,
    keep waiting (a child just included was orphaned until Contour's next pass). Invalid
    for the generation means Contour rejected it: fail at once with its message; except
    when it only misses Services in ``lagging``: those exist (the caller read them), Contour
    judged before its cache had them, and it judges again once it sees them."""

    def predicate(obj):
        if obj is None:
            return Check(False, "the HTTPProxy does not exist", True)
        where = "HTTPProxy %s/%s" % (meta_of(obj, "namespace"), meta_of(obj, "name"))
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
        missing = unresolved_services(obj)
        if missing and set(missing) <= set(lagging):
            return Check(False, "%s: Contour has not seen Service(s) %s yet, which exist (%s)"
                         % (where, ", ".join("/".join(m) for m in missing), contour_message(obj)))
        return Check(False, "%s is invalid: %s" % (where, contour_message(obj)), True)

    return predicate


# ---------------------------------------------------------------------------
# views for the result and the diff
# ---------------------------------------------------------------------------
def proxy_view(spec, obj, role):
    """The parts of a proxy the module manages, for the diff and the result."""
    if obj is None:
        return None
    view = dict(name=meta_of(obj, "name"), namespace=meta_of(obj, "namespace"),
                generation=meta_of(obj, "generation"))
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


def proxy_report(spec, obj, role):
    """The view of a proxy with Contour's status of it (None when it does not exist)."""
    view = proxy_view(spec, obj, role)
    if view is not None:
        view["status"] = status_report(obj)
    return view


def services_with_shares(spec, child):
    """The services of the child's route for spec.route_path, each with ``share``: the
    percent of requests it gets by Contour's weighting rules."""
    route = None
    if child is not None:
        try:
            route = find_route(spec, child)[1]
        except PlanError:
            route = None
    services = weighted_services(route)
    shares = traffic_shares(services)
    for service in services:
        service["share"] = shares.get(service["name"])
    return services


def summary(spec, role, obj):
    """One line for messages: a root's delegations, or a child's routes and weights."""
    view = proxy_view(spec, obj, role)
    if role == "root":
        return ", ".join("%s -> %s/%s" % (d["path"], d["namespace"], d["name"])
                         for d in view["delegations"]) or "no delegation"
    return "; ".join("%s: %s" % (r["path"], _weights(r["services"]))
                     for r in view["routes"]) or "no routes"


def _weights(services):
    return "/".join("%s=%s" % (s["name"], s["weight"]) for s in services)
