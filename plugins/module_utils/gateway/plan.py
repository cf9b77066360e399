# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure planning for one HTTPRoute or GRPCRoute: which rule is managed, its backendRefs
weights from percents, the header-matched rule in front of it, its RequestMirror filter.
Nothing here reads the cluster. The two kinds share rules, backendRefs, filters and
header matches; they differ in what else a match holds (an HTTPRoute's path, a
GRPCRoute's method), which is the key that finds the managed rule when it has no name.

A route's ``spec.rules`` is a list, and a JSON merge patch replaces lists whole: the
plan therefore edits a copy of the rules as read, changing only the managed rule (and
its header rule), and the write carries the resourceVersion it was read at, so a rule
another writer added in between is never lost (the write gets 409 and is planned again).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
from collections import namedtuple

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import Resource

HTTPROUTE = Resource("gateway.networking.k8s.io/v1", "HTTPRoute", "httproutes", True)
GRPCROUTE = Resource("gateway.networking.k8s.io/v1", "GRPCRoute", "grpcroutes", True)
ROUTES = {"HTTPRoute": HTTPROUTE, "GRPCRoute": GRPCROUTE}
GATEWAY = Resource("gateway.networking.k8s.io/v1", "Gateway", "gateways", True)
# v1beta1: the version every Gateway API release since v0.6 serves (standard channel).
REFERENCEGRANT = Resource("gateway.networking.k8s.io/v1beta1", "ReferenceGrant",
                          "referencegrants", True)
GROUP = "gateway.networking.k8s.io"
HEADER_RULE_SUFFIX = "-header"


class PlanError(Exception):
    """The route as it is cannot be planned on (ambiguous rule); nothing is written."""


# --- naming Services -------------------------------------------------------------
# The module names a Service by its name when it is in the route's namespace (``home``)
# and as ``namespace/name`` when it is in another one (a cross-namespace backendRef, which
# the Service's namespace must allow with a ReferenceGrant).
def split_service(key, home):
    """'name' or 'namespace/name' -> (namespace, name)."""
    if "/" in key:
        namespace, name = key.split("/", 1)
        return namespace, name
    return home, key


def service_key(namespace, name, home):
    return name if not namespace or namespace == home else "%s/%s" % (namespace, name)


def ref_key(ref, home=None):
    """How the module names the Service a backendRef points at."""
    return service_key(ref.get("namespace"), ref.get("name"), home)


# --- percents and weights -----------------------------------------------------
def weights_for(percents):
    """Percents (service -> 0..100, summing to 100) as backendRef weights. Weights are
    relative in the API; the percent itself is the weight, so what a reader sees in the
    route is the share."""
    return dict((name, int(p)) for name, p in percents.items())


def shares(refs, home=None):
    """A rule's backendRefs as service -> percent of traffic (weights are relative; a
    missing weight is 1). Percents are rounded to 2 decimals for reports."""
    weights = [(ref_key(ref, home), _weight(ref)) for ref in refs or []]
    total = sum(w for _n, w in weights)
    result = {}
    for name, weight in weights:
        result[name] = result.get(name, 0) + (round(100.0 * weight / total, 2) if total else 0)
    return dict((name, _num(p)) for name, p in result.items())


def same_split(refs, percents, home=None):
    """True when the backendRefs send the same shares as ``percents`` (19/1 is 95/5),
    compared exactly on integers."""
    weights = {}
    for ref in refs or []:
        key = ref_key(ref, home)
        weights[key] = weights.get(key, 0) + _weight(ref)
    if set(weights) != set(percents):
        return False
    total = sum(weights.values())
    if total == 0:
        return False
    return all(weights[name] * 100 == int(percents[name]) * total for name in percents)


def _weight(ref):
    weight = ref.get("weight")
    return 1 if weight is None else int(weight)


# --- rule selection ------------------------------------------------------------
class RuleKey(namedtuple("RuleKey", "kind match")):
    """What finds the managed rule when it has no name: the route's kind and the one match
    the rule has (an HTTPRoute's path prefix; a GRPCRoute's method, or no match at all,
    which in a GRPCRoute means every call)."""


def path_match(path):
    return {"path": {"type": "PathPrefix", "value": path}}


def http_key(path):
    return RuleKey("HTTPRoute", path_match(path))


def grpc_key(service=None, method=None):
    if not service and not method:
        return RuleKey("GRPCRoute", {})
    wanted = {"type": "Exact"}
    if service:
        wanted["service"] = service
    if method:
        wanted["method"] = method
    return RuleKey("GRPCRoute", {"method": wanted})


def spec_key(spec):
    if spec.kind == "GRPCRoute":
        return grpc_key(*(spec.method or (None, None)))
    return http_key(spec.path)


def _as_key(where):
    """A RuleKey, or an HTTPRoute path prefix given as a string."""
    return where if isinstance(where, RuleKey) else http_key(where)


def _norm_match(match, kind="HTTPRoute"):
    """A match with the API's defaults filled in (an HTTPRoute's path PathPrefix /, a
    GRPCRoute's method type Exact, header type Exact)."""
    match = copy.deepcopy(match or {})
    if kind == "HTTPRoute":
        path = match.setdefault("path", {})
        path.setdefault("type", "PathPrefix")
        path.setdefault("value", "/")
    elif match.get("method") is not None:
        match["method"].setdefault("type", "Exact")
    for header in match.get("headers") or []:
        header.setdefault("type", "Exact")
    return match


def rule_matches(rule, kind="HTTPRoute"):
    return [_norm_match(m, kind) for m in (rule.get("matches") or [{}])]


def is_key_rule(rule, where):
    """The rule's only match is the key (an HTTPRoute path prefix and nothing else)."""
    key = _as_key(where)
    return rule_matches(rule, key.kind) == [_norm_match(key.match, key.kind)]


is_path_rule = is_key_rule


def is_header_rule(rule, where, header_name=None):
    """A rule with one match: the key plus one header (named ``header_name`` when given)."""
    key = _as_key(where)
    matches = rule_matches(rule, key.kind)
    if len(matches) != 1:
        return False
    match = dict(matches[0])
    headers = match.pop("headers", None) or []
    if len(headers) != 1 or match != _norm_match(key.match, key.kind):
        return False
    return header_name is None or headers[0].get("name", "").lower() == header_name.lower()


def key_label(where):
    """The key in words: "the path prefix '/'", "the method shop.Cart/Get"."""
    key = _as_key(where)
    if key.kind == "HTTPRoute":
        return "the path prefix %r" % key.match["path"]["value"]
    if not key.match:
        return "no match (every call)"
    return "the method %s" % _method_text(key.match["method"])


def _method_text(method):
    return "%s/%s" % (method.get("service") or "*", method.get("method") or "*")


def find_rule(rules, rule_name, where):
    """Index of the managed (weighted) rule, or None. By name when the call gives one,
    else the one rule whose only match is the key (``where``: a RuleKey or a path)."""
    key = _as_key(where)
    if rule_name:
        found = [i for i, r in enumerate(rules) if r.get("name") == rule_name]
        what = "named %r" % rule_name
    else:
        found = [i for i, r in enumerate(rules) if is_key_rule(r, key)]
        what = "matching only %s" % key_label(key)
    if len(found) > 1:
        raise PlanError("the %s has %d rules %s (rules %s); give rule_name to say "
                        "which one to manage" % (key.kind, len(found), what, found))
    return found[0] if found else None


def find_header_rule(rules, rule_name, where, header_name=None):
    key = _as_key(where)
    if rule_name:
        name = rule_name + HEADER_RULE_SUFFIX
        found = [i for i, r in enumerate(rules) if r.get("name") == name]
    else:
        found = [i for i, r in enumerate(rules) if is_header_rule(r, key, header_name)]
    if len(found) > 1:
        raise PlanError("the %s has %d header-matched rules on %s (rules %s); remove "
                        "the extra ones or give rule_name"
                        % (key.kind, len(found), key_label(key), found))
    return found[0] if found else None


# --- building rules ------------------------------------------------------------
def backend_ref(key, port, weight=None):
    namespace, name = split_service(key, None)
    ref = {"name": name, "port": int(port)}
    if namespace:
        ref["namespace"] = namespace
    if weight is not None:
        ref["weight"] = int(weight)
    return ref


def weighted_refs(existing_refs, percents, ports, home=None):
    """The backendRefs for the split: one per service in the order given, each keeping
    what else the existing ref carried (its filters), with weight = percent."""
    by_name = dict((ref_key(ref, home), ref) for ref in existing_refs or [])
    refs = []
    for name, weight in weights_for(percents).items():
        ref = copy.deepcopy(by_name.get(name) or {})
        ref.update(backend_ref(name, ports[name], weight))
        refs.append(ref)
    return refs


def header_rule(spec, ports):
    header = spec.header
    rule = {"matches": [dict(copy.deepcopy(spec_key(spec).match), headers=[
        {"type": header.type, "name": header.name, "value": header.value}])],
        "backendRefs": [backend_ref(header.backend, ports[header.backend])]}
    if spec.rule_name:
        rule = dict(name=spec.rule_name + HEADER_RULE_SUFFIX, **rule)
    return rule


def mirror_filter(mirror, port):
    return {"type": "RequestMirror", "requestMirror": {
        "backendRef": backend_ref(mirror.backend, port), "percent": int(mirror.percent)}}


def with_mirror(filters, mirror, ports, home=None):
    """The rule's filters with the managed RequestMirror set or removed; other filters
    (and mirrors to other backends) kept in place."""
    filters = list(filters or [])

    def ours(f):
        if f.get("type") != "RequestMirror":
            return False
        target = ref_key((f.get("requestMirror") or {}).get("backendRef") or {}, home)
        return mirror.backend is None or target == mirror.backend

    kept = [f for f in filters if not ours(f)]
    if mirror.state == "absent":
        return kept
    at = next((i for i, f in enumerate(filters) if ours(f)), len(kept))
    return kept[:at] + [mirror_filter(mirror, ports[mirror.backend])] + kept[at:]


def plan_rules(spec, rules, ports):
    """The route's rules after the call: only the managed rule and its header rule
    change. ``ports``: service -> port for every service the call names."""
    rules = copy.deepcopy(rules or [])
    key = spec_key(spec)
    index = find_rule(rules, spec.rule_name, key)
    if index is None:
        if spec.weights is None:
            raise PlanError("the %s has no rule %s and the call gives no weights to "
                            "create it with" % (spec.kind, _rule_label(spec)))
        # A GRPCRoute rule for every call has no matches at all.
        rule = {"matches": [key.match], "backendRefs": []} if key.match else {"backendRefs": []}
        if spec.rule_name:
            rule = dict(name=spec.rule_name, **rule)
        rules.append(rule)
        index = len(rules) - 1
    rule = rules[index]
    home = spec.namespace
    if spec.weights is not None and not (
            same_split(rule.get("backendRefs"), spec.weights, home)
            and _ports_kept(rule.get("backendRefs"), ports, spec.weights, home)):
        rule["backendRefs"] = weighted_refs(rule.get("backendRefs"), spec.weights, ports, home)
    if spec.mirror is not None:
        filters = with_mirror(rule.get("filters"), spec.mirror, ports, home)
        if canonical(filters, spec.kind) != canonical(rule.get("filters") or [], spec.kind):
            rule["filters"] = filters
        if not rule.get("filters"):
            rule.pop("filters", None)
    if spec.header is not None:
        at = find_header_rule(rules, spec.rule_name, key,
                              spec.header.name if spec.header.state == "present" else None)
        if spec.header.state == "absent":
            if at is not None:
                del rules[at]
        else:
            wanted = header_rule(spec, ports)
            if at is None:
                rules.insert(index, wanted)
            elif canonical([_semantic_header_rule(rules[at])], spec.kind) != \
                    canonical([wanted], spec.kind):
                rules[at] = wanted
    return rules


def _semantic_header_rule(rule):
    keep = dict((k, rule[k]) for k in ("name", "matches", "backendRefs") if k in rule)
    return keep


def _ports_kept(refs, ports, percents, home=None):
    by_name = dict((ref_key(ref, home), ref.get("port")) for ref in refs or [])
    return all(by_name.get(name) == ports.get(name) for name in percents)


def _rule_label(spec):
    return ("named %r" % spec.rule_name) if spec.rule_name else \
        ("matching %s" % key_label(spec_key(spec)))


# --- comparing -----------------------------------------------------------------
def _norm_ref(ref):
    ref = dict(ref)
    ref.setdefault("group", "")
    ref.setdefault("kind", "Service")
    ref.setdefault("weight", 1)
    return ref


def _norm_filter(f):
    f = copy.deepcopy(f)
    target = (f.get("requestMirror") or {}).get("backendRef")
    if target is not None:
        target.setdefault("group", "")
        target.setdefault("kind", "Service")
    return f


def _norm_rule(rule, kind):
    rule = copy.deepcopy(rule)
    rule["matches"] = rule_matches(rule, kind)
    if "backendRefs" in rule:
        rule["backendRefs"] = [_norm_ref(r) for r in rule["backendRefs"] or []]
    if "filters" in rule:
        rule["filters"] = [_norm_filter(f) for f in rule["filters"] or []]
    return rule


def canonical(items, kind="HTTPRoute"):
    """Rules (or filters) with the API server's defaults filled in, as a string: two
    lists that mean the same thing compare equal whoever wrote them."""
    normal = [_norm_rule(i, kind) if ("matches" in i or "backendRefs" in i) else _norm_filter(i)
              for i in items or []]
    return json.dumps(normal, sort_keys=True)


# --- the whole route -----------------------------------------------------------
def new_route(spec, rules):
    parents = []
    for ref in spec.parent_refs:
        parent = {"group": GROUP, "kind": "Gateway", "name": ref.name}
        if ref.namespace:
            parent["namespace"] = ref.namespace
        if ref.section_name:
            parent["sectionName"] = ref.section_name
        parents.append(parent)
    resource = ROUTES[spec.kind]
    body = {"apiVersion": resource.api_version, "kind": resource.kind,
            "metadata": {"name": spec.name, "namespace": spec.namespace},
            "spec": {"parentRefs": parents, "rules": rules}}
    if spec.hostnames:
        body["spec"]["hostnames"] = list(spec.hostnames)
    return body


def rules_patch(route, rules):
    """The one write on an existing route: its rules, conditional on the version read."""
    return {"metadata": {"resourceVersion": route["metadata"]["resourceVersion"]},
            "spec": {"rules": rules}}


# --- views ---------------------------------------------------------------------
def describe_rule(rule, home=None, kind="HTTPRoute"):
    """One readable line: 'main: / -> stable 95%, canary 5% (mirror canary 100%)' (a
    GRPCRoute's match reads service/method, '*' for any). Services outside ``home`` (the
    route's namespace) read as namespace/name."""
    parts = []
    for match in rule_matches(rule, kind):
        if kind == "HTTPRoute":
            text = match["path"]["value"]
        else:
            text = _method_text(match["method"]) if match.get("method") else "*"
        for header in match.get("headers") or []:
            op = "~" if header.get("type") == "RegularExpression" else "="
            text += " [%s%s%s]" % (header.get("name"), op, header.get("value"))
        parts.append(text)
    split = shares(rule.get("backendRefs"), home)
    line = "%s -> %s" % (" | ".join(parts), ", ".join(
        "%s %s%%" % (name, _num(p)) for name, p in split.items()) or "no backend")
    mirrors = ["mirror %s %s%%" % (
        ref_key((f.get("requestMirror") or {}).get("backendRef") or {}, home),
        _num((f.get("requestMirror") or {}).get("percent", 100)))
        for f in rule.get("filters") or [] if f.get("type") == "RequestMirror"]
    if mirrors:
        line += " (%s)" % ", ".join(mirrors)
    return ("%s: %s" % (rule["name"], line)) if rule.get("name") else line


def _num(value):
    return int(value) if float(value).is_integer() else value


def route_view(route):
    """What the diff shows: hostnames, parents and one line per rule."""
    if not route:
        return None
    spec = route.get("spec") or {}
    return {"hostnames": list(spec.get("hostnames") or []),
            "parents": ["%s/%s%s" % (p.get("namespace") or route["metadata"].get("namespace"),
                                     p.get("name"),
                                     ("#" + p["sectionName"]) if p.get("sectionName") else "")
                        for p in spec.get("parentRefs") or []],
            "rules": [describe_rule(r, route["metadata"].get("namespace"),
                                    route.get("kind") or "HTTPRoute")
                      for r in spec.get("rules") or []]}
