# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nginx backend of k8s_canary (pure): a second Ingress beside the main one with the
ingress-nginx canary annotations; the percent is its ``canary-weight``. Promotion switches
the main Ingress's paths to the canary Service, then deletes the canary Ingress."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
from collections import namedtuple

from ansible_collections.progressive.delivery.plugins.module_utils.canary.objects import (
    MANAGED_BY,
    NGINX,
    PREVIOUS_SERVICE,
    ROLE,
    PlanError,
    annotations,
    patch_at,
)
from ansible_collections.progressive.delivery.plugins.module_utils.engine import Write
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import INGRESS

CANARY_ANNOTATIONS = ("canary", "canary-weight", "canary-by-header", "canary-by-header-value",
                      "canary-by-header-pattern", "canary-by-cookie")


NginxObserved = namedtuple("NginxObserved", "ingress canary_ingress canary_service")


def backend_service(entry):
    return ((entry.get("backend") or {}).get("service") or {})


def routed_services(ingress):
    """Names of the Services the Ingress's paths route to, in order of appearance."""
    names = []
    for rule in (ingress.get("spec") or {}).get("rules") or []:
        for entry in (rule.get("http") or {}).get("paths") or []:
            name = backend_service(entry).get("name")
            if name and name not in names:
                names.append(name)
    return names


def stable_service_of(spec, ingress):
    if spec.nginx.get("stable_service"):
        return spec.nginx["stable_service"]
    names = routed_services(ingress)
    if spec.nginx.get("canary_service") in names and len(names) > 1:
        names = [n for n in names if n != spec.nginx["canary_service"]]
    if len(names) != 1:
        raise PlanError("Ingress %s/%s routes to %s; set nginx.stable_service to the one the "
                        "canary shares traffic with"
                        % (spec.namespace, spec.nginx["ingress"],
                           ", ".join(names) if names else "no Service"))
    return names[0]


def _service_port_for(spec, canary_service, stable_port):
    """The port of the canary Service the canary Ingress uses."""
    wanted = spec.nginx.get("canary_service_port")
    ports = ((canary_service or {}).get("spec") or {}).get("ports") or []
    if wanted is not None:
        key = "number" if isinstance(wanted, int) else "name"
        field = "port" if key == "number" else "name"
        if ports and not any(p.get(field) == wanted for p in ports):
            raise PlanError("Service %s/%s has no port %r (nginx.canary_service_port)"
                            % (spec.namespace, spec.nginx["canary_service"], wanted))
        return {key: wanted}
    if "number" in stable_port and any(p.get("port") == stable_port["number"] for p in ports):
        return dict(stable_port)
    if "name" in stable_port and any(p.get("name") == stable_port["name"] for p in ports):
        return dict(stable_port)
    if len(ports) == 1:
        return {"number": ports[0]["port"]}
    raise PlanError("cannot tell which port of Service %s/%s the canary Ingress should use "
                    "(the stable backend uses %s); set nginx.canary_service_port"
                    % (spec.namespace, spec.nginx["canary_service"], stable_port))


def canary_rules(spec, ingress, stable_service, canary_service):
    """The main Ingress's rules reduced to the paths that reach the stable Service, each
    sent to the canary Service: ingress-nginx pairs a canary Ingress with the main one by
    host and path."""
    rules = []
    for rule in (ingress.get("spec") or {}).get("rules") or []:
        paths = []
        for entry in (rule.get("http") or {}).get("paths") or []:
            backend = backend_service(entry)
            if backend.get("name") != stable_service:
                continue
            port = _service_port_for(spec, canary_service, backend.get("port") or {})
            new = {"path": entry.get("path", "/"), "pathType": entry.get("pathType", "Prefix"),
                   "backend": {"service": {"name": spec.nginx["canary_service"], "port": port}}}
            paths.append(new)
        if paths:
            new_rule = {"http": {"paths": paths}}
            if rule.get("host"):
                new_rule["host"] = rule["host"]
            rules.append(new_rule)
    if not rules:
        raise PlanError("Ingress %s/%s has no path that routes to Service %s (the stable "
                        "Service): nothing for a canary to share"
                        % (spec.namespace, spec.nginx["ingress"], stable_service))
    return rules


def canary_annotations(spec, weight):
    nginx = spec.nginx
    wanted = {NGINX + "canary": "true", NGINX + "canary-weight": str(weight)}
    if nginx.get("header"):
        wanted[NGINX + "canary-by-header"] = nginx["header"]
    if nginx.get("header_value") is not None:
        wanted[NGINX + "canary-by-header-value"] = str(nginx["header_value"])
    if nginx.get("header_pattern") is not None:
        wanted[NGINX + "canary-by-header-pattern"] = str(nginx["header_pattern"])
    if nginx.get("cookie"):
        wanted[NGINX + "canary-by-cookie"] = nginx["cookie"]
    return wanted


def canary_ingress_manifest(spec, ingress, stable_service, canary_service, weight):
    annotations_ = canary_annotations(spec, weight)
    annotations_[ROLE] = "canary"
    annotations_[PREVIOUS_SERVICE] = stable_service
    body = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": spec.nginx["canary_ingress"], "namespace": spec.namespace,
                     "labels": {MANAGED_BY[0]: MANAGED_BY[1]},
                     "annotations": annotations_},
        "spec": {"rules": canary_rules(spec, ingress, stable_service, canary_service)},
    }
    class_name = (ingress.get("spec") or {}).get("ingressClassName")
    if class_name:
        body["spec"]["ingressClassName"] = class_name
    legacy_class = annotations(ingress).get("kubernetes.io/ingress.class")
    if legacy_class:
        body["metadata"]["annotations"]["kubernetes.io/ingress.class"] = legacy_class
    return body


def check_nginx_targets(spec, observed):
    ns = spec.namespace
    if observed.ingress is None:
        raise PlanError("Ingress %s/%s not found (nginx.ingress=%r): the canary Ingress is "
                        "added beside an existing main Ingress"
                        % (ns, spec.nginx["ingress"], spec.nginx["ingress"]))
    if spec.state != "aborted" and observed.canary_service is None:
        raise PlanError("Service %s/%s not found (nginx.canary_service=%r): deploy the canary "
                        "and its Service first" % (ns, spec.nginx["canary_service"],
                                                   spec.nginx["canary_service"]))
    if annotations(observed.ingress).get(NGINX + "canary") == "true":
        raise PlanError("Ingress %s/%s is itself a canary Ingress (%scanary=true); "
                        "nginx.ingress names the main one" % (ns, spec.nginx["ingress"], NGINX))


def nginx_promoted(spec, observed):
    """Promotion is done: the main Ingress routes the canary Service, no canary Ingress."""
    return (observed.canary_ingress is None and spec.nginx.get("canary_service") in
            routed_services(observed.ingress))


def plan_nginx_weight(spec, observed):
    check_nginx_targets(spec, observed)
    if spec.nginx.get("stable_service") is None and routed_services(observed.ingress) == [
            spec.nginx["canary_service"]]:
        raise PlanError("Ingress %s/%s already routes to the canary Service %s (promoted); "
                        "a new canary needs a new canary_service"
                        % (spec.namespace, spec.nginx["ingress"], spec.nginx["canary_service"]))
    stable = stable_service_of(spec, observed.ingress)
    body = canary_ingress_manifest(spec, observed.ingress, stable, observed.canary_service,
                                   spec.weight)
    current = observed.canary_ingress
    name = spec.nginx["canary_ingress"]
    if current is None:
        return [Write("create", INGRESS, spec.namespace, name, body,
                      "create canary Ingress %s: %s%% -> Service %s"
                      % (name, spec.weight, spec.nginx["canary_service"]))]
    live_ann = annotations(current)
    if live_ann.get(NGINX + "canary") != "true" and live_ann.get(ROLE) != "canary":
        raise PlanError("Ingress %s/%s exists and is not a canary Ingress; name another "
                        "nginx.canary_ingress" % (spec.namespace, name))
    wanted_ann = body["metadata"]["annotations"]
    ann_changes = dict((k, v) for k, v in wanted_ann.items() if live_ann.get(k) != v)
    for key in CANARY_ANNOTATIONS:  # drop header/cookie routing no longer asked for
        if NGINX + key in live_ann and NGINX + key not in wanted_ann:
            ann_changes[NGINX + key] = None
    spec_changes = {}
    live_spec = current.get("spec") or {}
    if live_spec.get("rules") != body["spec"]["rules"]:
        spec_changes["rules"] = body["spec"]["rules"]
    if live_spec.get("ingressClassName") != body["spec"].get("ingressClassName"):
        spec_changes["ingressClassName"] = body["spec"].get("ingressClassName")
    if not ann_changes and not spec_changes:
        return []
    changes = {"metadata": {"annotations": ann_changes}}
    if spec_changes:
        changes["spec"] = spec_changes
    before = live_ann.get(NGINX + "canary-weight", "0")
    return [Write("patch", INGRESS, spec.namespace, name, patch_at(current, changes),
                  "canary Ingress %s: weight %s -> %s" % (name, before, spec.weight)
                  if before != str(spec.weight) else
                  "canary Ingress %s: routing settings updated" % name)]


def plan_nginx_promote(spec, observed):
    """Main Ingress to the canary Service (one write), then the canary Ingress goes."""
    check_nginx_targets(spec, observed)
    if nginx_promoted(spec, observed):
        return []
    canary_service = spec.nginx["canary_service"]
    name = spec.nginx["canary_ingress"]
    if canary_service not in routed_services(observed.ingress):
        if observed.canary_ingress is None and not spec.force:
            raise PlanError("nothing to promote: there is no canary Ingress %s/%s (it was "
                            "aborted or never created); set force=true to switch anyway"
                            % (spec.namespace, name))
        stable = stable_service_of(spec, observed.ingress)
        return [main_ingress_switch(spec, observed, stable, canary_service)]
    return [Write("delete", INGRESS, spec.namespace, name, None,
                  "delete canary Ingress %s" % name)]


def main_ingress_switch(spec, observed, stable, canary_service_name):
    ingress = observed.ingress
    rules = copy.deepcopy((ingress.get("spec") or {}).get("rules") or [])
    for rule in rules:
        for entry in (rule.get("http") or {}).get("paths") or []:
            backend = backend_service(entry)
            if backend.get("name") == stable:
                port = _service_port_for(spec, observed.canary_service, backend.get("port") or {})
                entry["backend"] = {"service": {"name": canary_service_name, "port": port}}
    changes = {"metadata": {"annotations": {PREVIOUS_SERVICE: stable}}, "spec": {"rules": rules}}
    return Write("patch", INGRESS, spec.namespace, spec.nginx["ingress"],
                 patch_at(ingress, changes), "promote: Ingress %s routes %s instead of %s"
                 % (spec.nginx["ingress"], canary_service_name, stable))


def plan_nginx_abort(spec, observed):
    if observed.ingress is None:
        raise PlanError("Ingress %s/%s not found (nginx.ingress=%r)"
                        % (spec.namespace, spec.nginx["ingress"], spec.nginx["ingress"]))
    if observed.canary_ingress is None:
        return []
    name = spec.nginx["canary_ingress"]
    return [Write("delete", INGRESS, spec.namespace, name, None,
                  "abort: delete canary Ingress %s (all traffic to the stable Service)" % name)]


def plan_nginx(spec, observed):
    if spec.state == "present":
        return plan_nginx_weight(spec, observed)
    if spec.state == "promoted":
        return plan_nginx_promote(spec, observed)
    return plan_nginx_abort(spec, observed)


def nginx_weight(canary_ingress):
    """The canary weight in force (0 without a canary Ingress)."""
    if canary_ingress is None:
        return 0
    try:
        return int(annotations(canary_ingress).get(NGINX + "canary-weight", "0"))
    except ValueError:
        return 0
