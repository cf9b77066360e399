# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gateway_traffic on the engine: observe the route (an HTTPRoute or a GRPCRoute; and, to
validate, the Services, their namespaces' ReferenceGrants and the parent Gateways), plan one write, prove it by the parents' Accepted/ResolvedRefs for
the new generation, and on a refusal put the previous rules back (or delete the route
this call created) and fail with the controller's reason and message."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
from collections import namedtuple

from ansible_collections.progressive.delivery.plugins.module_utils.engine import Engine, Write
from ansible_collections.progressive.delivery.plugins.module_utils.gateway import plan as gp
from ansible_collections.progressive.delivery.plugins.module_utils.gateway import status as gs
from ansible_collections.progressive.delivery.plugins.module_utils.gateway.validation import (
    check_refs,
    foreign_namespaces,
    named_services,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    SERVICE,
    KubeError,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    FieldErrors,
    ValidationError,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import (
    WaitError,
    WaitTimeout,
    wait_for_verdict,
)

Observed = namedtuple("Observed", "route services gateways grants")


class GatewayRejected(WaitError):
    """The controller refused the change (or never confirmed it); what was put back is
    in the message."""


class GatewayTrafficBackend(object):
    def __init__(self, spec):
        self.spec = spec
        self.resource = gp.ROUTES[spec.kind]
        self.key = gp.spec_key(spec)

    # --- engine parts ------------------------------------------------------
    def observe(self, engine):
        spec = self.spec
        route = engine.get(self.resource, spec.namespace, spec.name)
        services = gateways = grants = None
        if spec.validate_refs:
            services = {}
            for key in named_services(spec):
                namespace, name = gp.split_service(key, spec.namespace)
                services[key] = engine.get(SERVICE, namespace, name)
            gateways = dict(((ref.namespace, ref.name),
                             engine.get(gp.GATEWAY, ref.namespace, ref.name))
                            for ref in spec.parent_refs)
            grants = dict((namespace, self._grants(engine, namespace))
                          for namespace in foreign_namespaces(spec))
        return Observed(route, services, gateways, grants)

    @staticmethod
    def _grants(engine, namespace):
        """The ReferenceGrants of a Service's namespace; None when the API has no
        ReferenceGrant (its CRD is not installed)."""
        try:
            return engine.list(gp.REFERENCEGRANT, namespace)
        except KubeError as exc:
            if exc.not_found:
                return None
            raise

    def plan(self, observed):
        spec, route = self.spec, observed.route
        rules = ((route or {}).get("spec") or {}).get("rules") or []
        try:
            index = gp.find_rule(rules, spec.rule_name, self.key)
        except gp.PlanError as exc:
            raise self._invalid(exc)
        current = rules[index].get("backendRefs") or [] if index is not None else []
        current_ports = dict((gp.ref_key(ref, spec.namespace), ref.get("port"))
                             for ref in current)
        ports = check_refs(spec, route, current_ports, observed.services, observed.gateways,
                           observed.grants)
        try:
            new_rules = gp.plan_rules(spec, rules, ports)
        except gp.PlanError as exc:
            raise self._invalid(exc)
        if route is None:
            return [Write("create", self.resource, spec.namespace, spec.name,
                          gp.new_route(spec, new_rules),
                          "create %s %s/%s" % (spec.kind, spec.namespace, spec.name))]
        if gp.canonical(new_rules, spec.kind) == gp.canonical(rules, spec.kind):
            return []
        return [Write("patch", self.resource, spec.namespace, spec.name,
                      gp.rules_patch(route, new_rules), self._describe(rules, new_rules))]

    def _invalid(self, exc):
        """The route as read leaves the managed rule ambiguous: an input problem, reported
        on the parameter that selects the rule; nothing is written."""
        errors = FieldErrors()
        spec = self.spec
        errors.add("rule_name" if spec.rule_name else
                   ("method" if spec.kind == "GRPCRoute" else "path"), str(exc))
        return ValidationError(errors.errors)

    def _describe(self, before, after):
        spec = self.spec
        old = self._managed_line(before)
        new = self._managed_line(after)
        text = "update %s %s/%s" % (spec.kind, spec.namespace, spec.name)
        changes = []
        if old != new:
            changes.append("%s => %s" % (old or "(no rule)", new))
        if spec.header is not None:
            was = gp.find_header_rule(before, spec.rule_name, self.key)
            now = gp.find_header_rule(after, spec.rule_name, self.key)
            was = self._line(before[was]) if was is not None else None
            now = self._line(after[now]) if now is not None else None
            if was != now:
                changes.append("header rule %s" % (
                    ("removed (%s)" % was) if now is None else now))
        return text + (": " + "; ".join(changes) if changes else "")

    def _managed_line(self, rules):
        index = gp.find_rule(rules, self.spec.rule_name, self.key)
        return self._line(rules[index]) if index is not None else None

    def _line(self, rule):
        return gp.describe_rule(rule, self.spec.namespace, self.spec.kind)

    def prove(self, engine, observed, writes):
        # A Service created just before this call can be missing from the controller's
        # cache for a moment under load: then its next verdict is the one that counts.
        spec = self.spec
        engine.saw(self.resource, spec.namespace, spec.name, wait_for_verdict(
            engine.kube, self.resource, spec.namespace, spec.name, gs.route_accepted,
            engine.remaining, gs.missing_backends,
            lambda unused: functools.partial(gs.route_accepted, services_exist=True)))

    def rejected(self, engine, observed, writes, error):
        spec, kube = self.spec, engine.kube
        where = "%s %s/%s" % (spec.kind, spec.namespace, spec.name)
        verdict = ("did not confirm the change in %ss" % engine.wait_timeout
                   if isinstance(error, WaitTimeout) else "refused the change")
        written = engine.written.get((self.resource.kind, spec.namespace, spec.name))
        try:
            if observed.route is None:
                kube.delete(self.resource, spec.namespace, spec.name)
                then = "deleted %s, which this call had created" % where
            else:
                then = self._restore(kube, where, written, observed.route)
        except KubeError as exc:
            then = ("left %s alone: someone else changed it since this call's write"
                    % where if exc.conflict else "could not put back %s: %s" % (where, exc))
        raise GatewayRejected("the Gateway API controller %s: %s. Then: %s"
                              % (verdict, error, then), error.obj)

    def _restore(self, kube, where, written, before):
        """Put the rules read before the write back, unless someone else has changed the
        route's spec since (its generation moved past ours: their change wins). The
        controller's status writes move the resourceVersion, not the generation."""
        spec = self.spec
        live = kube.get_or_none(self.resource, spec.namespace, spec.name)
        if live is None:
            return "%s is gone; nothing to put back" % where
        if written is not None and live["metadata"].get("generation") != \
                written["metadata"].get("generation"):
            return "left %s alone: someone else changed it since this call's write" % where
        rules = (before.get("spec") or {}).get("rules") or []
        kube.patch(self.resource, spec.namespace, spec.name, gp.rules_patch(live, rules))
        return "put back the previous rules of %s (%s)" % (
            where, "; ".join(self._line(r) for r in rules) or "none")

    def report(self, engine, first, observed, writes):
        spec = self.spec
        route = engine.get(self.resource, spec.namespace, spec.name)
        rules = ((route or {}).get("spec") or {}).get("rules") or []
        before = ((first.route or {}).get("spec") or {}).get("rules") or []
        result = dict(route=gp.route_view(route), parents=gs.status_report(route),
                      weights=self._weights(rules), previous_weights=self._weights(before))
        if spec.rule_name and route is not None and not any(
                r.get("name") == spec.rule_name for r in rules) and not engine.check_mode:
            engine.warnings.append(
                "the API server did not keep rules[].name %r (its %s CRD is of the standard "
                "channel?): select the rule by %s instead" % (
                    spec.rule_name, spec.kind, "method" if spec.kind == "GRPCRoute" else "path"))
        return result

    def _weights(self, rules):
        index = gp.find_rule(rules, self.spec.rule_name, self.key)
        return gp.shares(rules[index].get("backendRefs"), self.spec.namespace) \
            if index is not None else {}


def run_gateway_traffic(kube, spec, check_mode=False, wait=True, wait_timeout=300):
    engine = Engine(kube, check_mode=check_mode, wait=wait, wait_timeout=wait_timeout,
                    diff_view=gp.route_view)
    return engine.run(GatewayTrafficBackend(spec))
