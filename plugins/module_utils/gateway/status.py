# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A route's verdict (HTTPRoute or GRPCRoute), as pure predicates over the object: every parent it names
reports ``Accepted=True`` and ``ResolvedRefs=True`` for the route's current generation
(``observedGeneration``). A ``False`` for that generation is final: the controller has
refused the route, and its reason and message say why."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import (
    Check,
    meta_value,
)

PROOF = ("Accepted", "ResolvedRefs")
BACKEND_NOT_FOUND = "BackendNotFound"


def backend_not_found(route):
    """Whether a parent says ResolvedRefs=False only because a backend was not found."""
    reasons = [conditions.get("ResolvedRefs", {}).get("reason")
               for conditions in parents_status(route or {}).values()
               if conditions.get("ResolvedRefs", {}).get("status") == "False"]
    return bool(reasons) and all(r == BACKEND_NOT_FOUND for r in reasons)


def missing_backends(route):
    """The Services a BackendNotFound verdict may be about (every one the route names), or
    [] when the route's refs failed for another reason."""
    return service_refs(route) if backend_not_found(route) else []


def service_refs(route):
    """(namespace, name) of every Service the route's rules send to or mirror to."""
    namespace = meta_value(route, "namespace")
    found = []
    for rule in (route.get("spec") or {}).get("rules") or []:
        refs = list(rule.get("backendRefs") or [])
        refs += [(f.get("requestMirror") or {}).get("backendRef") or {}
                 for f in rule.get("filters") or [] if f.get("type") == "RequestMirror"]
        for ref in refs:
            if ref.get("name") and ref.get("kind", "Service") == "Service" and \
                    ref.get("group", "") in ("", "core"):
                key = (ref.get("namespace") or namespace, ref["name"])
                if key not in found:
                    found.append(key)
    return found


def parent_key(ref, route_namespace):
    return (ref.get("namespace") or route_namespace, ref.get("name"), ref.get("sectionName"))


def parent_label(key):
    namespace, name, section = key
    return "Gateway %s/%s%s" % (namespace, name, (" listener %s" % section) if section else "")


def parents_status(route):
    """parent key -> {condition type -> condition}, from status.parents."""
    namespace = meta_value(route, "namespace")
    result = {}
    for parent in ((route or {}).get("status") or {}).get("parents") or []:
        conditions = dict((c.get("type"), c) for c in parent.get("conditions") or [])
        result[parent_key(parent.get("parentRef") or {}, namespace)] = conditions
    return result


def route_accepted(route, services_exist=False):
    """Check: every parentRef of the route is Accepted with its refs resolved, for the
    route's generation. failed=True as soon as one says False for that generation; except
    ResolvedRefs=False for BackendNotFound when ``services_exist`` (the caller read every
    Service the route names): the controller judged before its cache had a Service just
    created, and judges again once it sees it."""
    if route is None:
        return Check(False, "the route does not exist")
    namespace = meta_value(route, "namespace")
    generation = meta_value(route, "generation")
    reported = parents_status(route)
    waiting = []
    for ref in (route.get("spec") or {}).get("parentRefs") or []:
        key = parent_key(ref, namespace)
        conditions = reported.get(key)
        if conditions is None:
            waiting.append("%s has not reported on the route yet" % parent_label(key))
            continue
        for kind in PROOF:
            cond = conditions.get(kind)
            if cond is None or (generation is not None
                                and (cond.get("observedGeneration") or 0) < generation):
                waiting.append("%s: %s not reported for generation %s yet"
                               % (parent_label(key), kind, generation))
            elif services_exist and kind == "ResolvedRefs" and \
                    cond.get("reason") == BACKEND_NOT_FOUND:
                waiting.append("%s has not seen the route's Services yet, which exist (%s)"
                               % (parent_label(key), cond.get("message", "")))
            elif cond.get("status") != "True":
                return Check(False, "%s: %s=%s (%s): %s" % (
                    parent_label(key), kind, cond.get("status"), cond.get("reason"),
                    cond.get("message", "")), failed=cond.get("status") == "False")
    if waiting:
        return Check(False, "; ".join(waiting))
    return Check(True, "every parent reports Accepted and ResolvedRefs for generation %s"
                 % generation)


def status_report(route):
    """For the module result: per parent, each condition's status, reason and message."""
    return [dict(parent=parent_label(key),
                 conditions=dict((kind, dict(status=c.get("status"), reason=c.get("reason"),
                                             message=c.get("message"),
                                             observed_generation=c.get("observedGeneration")))
                                 for kind, c in conditions.items()))
            for key, conditions in sorted(parents_status(route).items(),
                                          key=lambda kv: [str(x) for x in kv[0]])]
