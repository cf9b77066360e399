# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The writes that point traffic at a version: the live and preview Services (Service
mode), each version's own Service and the live and preview Ingresses (Ingress mode). Each
function takes objects already read and returns ``engine.Write``s; a patch carries the
resourceVersion it was planned on, so a concurrent change makes it fail (409) instead of
being overwritten."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.progressive.delivery.plugins.module_utils.bluegreen.status import (
    LIVE_VERSION,
    NGINX,
    PREFIX,
    PREVIOUS_VERSION,
    ROLLED_BACK_FROM,
    PlanError,
    annotations_of,
    service_name_for,
)
from ansible_collections.progressive.delivery.plugins.module_utils.engine import Write
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.objects import (
    deployments_selected,
    labels_match,
    template_labels,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    INGRESS,
    SERVICE,
)

MANAGED_BY = ("app.kubernetes.io/managed-by", "progressive.delivery")


def conditional_patch(obj, changes):
    """A merge patch carrying the read resourceVersion as an optimistic-lock precondition."""
    patch = copy.deepcopy(changes)
    patch.setdefault("metadata", {})["resourceVersion"] = obj["metadata"]["resourceVersion"]
    return patch


def _selector_for(spec, base_selector, version):
    selector = dict(base_selector or {})
    selector.update(spec.app_labels)
    selector[spec.version_label] = version
    return selector


def check_selector_targets_one(spec, selector, version, deployments, object_desc):
    """The selector must match the version's pods and no other Deployment's pods."""
    matched = deployments_selected(selector, deployments)
    target = None
    for dep in deployments:
        if template_labels(dep).get(spec.version_label) == version and labels_match(
                spec.app_labels, template_labels(dep)):
            target = dep["metadata"]["name"]
    if target not in matched:
        raise PlanError("%s selector %s would not match the pods of version %s"
                        % (object_desc, selector, version))
    if len(matched) > 1:
        raise PlanError("%s selector %s would match the pods of several Deployments (%s); "
                        "it must select exactly one version"
                        % (object_desc, selector, ", ".join(matched)))


def service_switch(spec, service, version, deployments, previous, rolled_back_from=None):
    """The patch pointing the live Service at ``version`` (None when already there)."""
    selector = _selector_for(spec, (service.get("spec") or {}).get("selector"), version)
    check_selector_targets_one(spec, selector, version, deployments,
                               "Service %s" % service["metadata"]["name"])
    annotations = annotations_of(service)
    wanted = {LIVE_VERSION: version, PREVIOUS_VERSION: previous,
              ROLLED_BACK_FROM: rolled_back_from}
    annotation_changes = dict((k, v) for k, v in wanted.items() if annotations.get(k) != v)
    current_selector = (service.get("spec") or {}).get("selector") or {}
    if current_selector == selector and not annotation_changes:
        return None
    changes = {"metadata": {"annotations": annotation_changes}}
    if current_selector != selector:
        # merge patch: keys dropped from the selector must be sent as null
        changes["spec"] = {"selector": dict(selector, **dict(
            (k, None) for k in current_selector if k not in selector))}
    return Write("patch", SERVICE, spec.namespace, service["metadata"]["name"],
                 conditional_patch(service, changes), "Service %s selector %s=%s -> %s" % (
                     service["metadata"]["name"], spec.version_label,
                     current_selector.get(spec.version_label), version))


def service_manifest(spec, name, version, ports, service_type="ClusterIP", role="preview"):
    labels = dict(spec.app_labels)
    labels[MANAGED_BY[0]] = MANAGED_BY[1]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": spec.namespace, "labels": labels,
                     "annotations": {PREFIX + "role": role}},
        "spec": {"type": service_type, "selector": _selector_for(spec, {}, version),
                 "ports": copy.deepcopy(ports)},
    }


def ports_for_preview(service_ports, live_service):
    """Preview ports mirror the live Service's (without nodePorts, which must be unique)."""
    if service_ports:
        return service_ports
    ports = []
    for port in ((live_service or {}).get("spec") or {}).get("ports") or []:
        ports.append(dict((k, v) for k, v in port.items() if k != "nodePort"))
    return ports or [{"name": "http", "port": 80, "targetPort": 80}]


# ---------------------------------------------------------------------------
# Service mode
# ---------------------------------------------------------------------------
def preview_service_writes(spec, preview, live_service, version, deployments):
    """Create or re-point the preview Service at the candidate."""
    if preview is None:
        body = service_manifest(spec, spec.preview_service, version,
                                ports_for_preview(spec.service_ports, live_service))
        # the annotation a re-point writes, so that a second identical run writes nothing
        body["metadata"]["annotations"][LIVE_VERSION] = version
        check_selector_targets_one(spec, body["spec"]["selector"], version, deployments,
                                   "Service %s" % spec.preview_service)
        return [Write("create", SERVICE, spec.namespace, spec.preview_service, body,
                      "create preview Service %s -> %s" % (spec.preview_service, version))]
    write = service_switch(spec, preview, version, deployments,
                           previous=annotations_of(preview).get(PREVIOUS_VERSION))
    if write is None:
        return []
    return [write._replace(description="preview Service %s -> %s"
                           % (spec.preview_service, version))]


# ---------------------------------------------------------------------------
# Ingress mode
# ---------------------------------------------------------------------------
def _path_entry(path, path_type, service, port):
    backend_port = {"number": port} if isinstance(port, int) else {"name": port}
    return {"path": path, "pathType": path_type,
            "backend": {"service": {"name": service, "port": backend_port}}}


def ingress_port(spec, service_obj=None):
    if spec.ingress.get("port") is not None:
        return spec.ingress["port"]
    ports = ((service_obj or {}).get("spec") or {}).get("ports") or []
    return ports[0]["port"] if ports else 80


def main_ingress_writes(spec, ingress_obj, live_service_name, port, version, previous,
                        rolled_back_from=None):
    """Route the live path to ``live_service_name``; drop a preview path from the same rule
    (an Ingress that holds both, as in the nginx Ingress blue/green with a /green preview
    path, is adopted). Creates the Ingress if it is missing."""
    ing = spec.ingress
    live_entry = _path_entry(ing["path"], ing["path_type"], live_service_name, port)
    wanted_annotations = {LIVE_VERSION: version, PREVIOUS_VERSION: previous,
                          ROLLED_BACK_FROM: rolled_back_from}
    if ingress_obj is None:
        rule = {"http": {"paths": [live_entry]}}
        if ing.get("host"):
            rule["host"] = ing["host"]
        body = {
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": ing["name"], "namespace": spec.namespace,
                         "labels": dict(spec.app_labels),
                         "annotations": dict((k, v) for k, v in wanted_annotations.items()
                                             if v is not None)},
            "spec": {"rules": [rule]},
        }
        if ing.get("class_name"):
            body["spec"]["ingressClassName"] = ing["class_name"]
        return [Write("create", INGRESS, spec.namespace, ing["name"], body,
                      "create Ingress %s: %s -> %s" % (ing["name"], ing["path"],
                                                       live_service_name))]
    rules = copy.deepcopy((ingress_obj.get("spec") or {}).get("rules") or [])
    rule = None
    for candidate in rules:
        if candidate.get("host") == ing.get("host"):
            rule = candidate
    if rule is None:
        rule = {"http": {"paths": []}}
        if ing.get("host"):
            rule["host"] = ing["host"]
        rules.append(rule)
    paths = rule.setdefault("http", {}).setdefault("paths", [])
    new_paths = []
    replaced = dropped = False
    for entry in paths:
        if entry.get("path") == ing["path"]:
            new_paths.append(dict(entry, backend=live_entry["backend"]))
            replaced = True
        elif ing.get("preview_path") and entry.get("path") == ing["preview_path"]:
            dropped = True  # the preview route goes away on promotion
        else:
            new_paths.append(entry)
    if not replaced:
        new_paths.insert(0, live_entry)
    rule["http"]["paths"] = new_paths
    annotations = annotations_of(ingress_obj)
    if dropped:
        wanted_annotations.update(dict.fromkeys(PREVIEW_ONLY_ANNOTATIONS))
    annotation_changes = dict((k, v) for k, v in wanted_annotations.items()
                              if annotations.get(k) != v)
    old_rules = (ingress_obj.get("spec") or {}).get("rules") or []
    if rules == old_rules and not annotation_changes:
        return []
    changes = {"metadata": {"annotations": annotation_changes}}
    if rules != old_rules:
        changes["spec"] = {"rules": rules}
    return [Write("patch", INGRESS, spec.namespace, ing["name"],
                  conditional_patch(ingress_obj, changes),
                  "Ingress %s %s -> %s" % (ing["name"], ing["path"], live_service_name))]


# ingress-nginx applies these to every path of an Ingress: they belong to the preview path's
# own Ingress, and on the live Ingress they would rewrite every live request.
PREVIEW_ONLY_ANNOTATIONS = (NGINX + "rewrite-target", NGINX + "use-regex")


def adopt_preview_path_writes(spec, ingress_obj):
    """An existing live Ingress that also holds the preview path (the nginx Ingress
    blue/green with a /green preview path, written by hand) is adopted: the preview path
    and the preview-only annotations leave it, before the preview Ingress takes them over
    (two Ingresses with the same host and path are refused by ingress-nginx's admission
    webhook, or served by the oldest one without it)."""
    ing = spec.ingress
    if ingress_obj is None or not ing.get("preview_path"):
        return []
    rules = copy.deepcopy((ingress_obj.get("spec") or {}).get("rules") or [])
    found = False
    for rule in rules:
        if rule.get("host") != ing.get("host"):
            continue
        paths = (rule.get("http") or {}).get("paths") or []
        kept = [p for p in paths if p.get("path") != ing["preview_path"]]
        if len(kept) != len(paths):
            rule["http"]["paths"] = kept
            found = True
    if not found:
        return []
    annotations = annotations_of(ingress_obj)
    changes = {"spec": {"rules": rules}, "metadata": {"annotations": dict(
        (k, None) for k in PREVIEW_ONLY_ANNOTATIONS if k in annotations)}}
    return [Write("patch", INGRESS, spec.namespace, ing["name"],
                  conditional_patch(ingress_obj, changes),
                  "Ingress %s: move the preview path %s to Ingress %s" % (
                      ing["name"], ing["preview_path"], ing["preview_ingress"]))]


def preview_ingress_manifest(spec, service_name, port):
    """The preview route lives in its own Ingress: ingress-nginx applies rewrite-target to
    every path of an Ingress, so sharing one with the live path would rewrite live URLs."""
    ing = spec.ingress
    rules = []
    annotations = {PREFIX + "role": "preview"}
    if ing.get("preview_path"):
        rule = {"http": {"paths": [_path_entry(ing["preview_path"], "ImplementationSpecific",
                                               service_name, port)]}}
        if ing.get("host"):
            rule["host"] = ing["host"]
        rules.append(rule)
        annotations[NGINX + "use-regex"] = "true"
        if ing.get("preview_rewrite_target"):
            annotations[NGINX + "rewrite-target"] = ing["preview_rewrite_target"]
    if ing.get("preview_host"):
        rules.append({"host": ing["preview_host"], "http": {"paths": [
            _path_entry("/", "Prefix", service_name, port)]}})
    body = {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": ing["preview_ingress"], "namespace": spec.namespace,
                     "labels": dict(spec.app_labels, **{MANAGED_BY[0]: MANAGED_BY[1]}),
                     "annotations": annotations},
        "spec": {"rules": rules},
    }
    if ing.get("class_name"):
        body["spec"]["ingressClassName"] = ing["class_name"]
    return body


def preview_ingress_writes(spec, preview_obj, service_name, port):
    ing = spec.ingress
    if not (ing.get("preview_path") or ing.get("preview_host")):
        return []
    body = preview_ingress_manifest(spec, service_name, port)
    if preview_obj is None:
        return [Write("create", INGRESS, spec.namespace, ing["preview_ingress"], body,
                      "create preview Ingress %s -> %s" % (ing["preview_ingress"],
                                                           service_name))]
    current = preview_obj.get("spec") or {}
    wanted_ann = body["metadata"]["annotations"]
    ann = annotations_of(preview_obj)
    if current.get("rules") == body["spec"]["rules"] and all(
            ann.get(k) == v for k, v in wanted_ann.items()):
        return []
    changes = {"metadata": {"annotations": wanted_ann}, "spec": {"rules": body["spec"]["rules"]}}
    return [Write("patch", INGRESS, spec.namespace, ing["preview_ingress"],
                  conditional_patch(preview_obj, changes),
                  "preview Ingress %s -> %s" % (ing["preview_ingress"], service_name))]


def version_service_writes(spec, version, existing):
    """Ingress mode gives each version its own Service (nginx-v1-22-0 for v1.22.0)."""
    if existing is not None:
        return []
    name = service_name_for(spec, version)
    port = spec.ingress.get("port") or 80
    ports = spec.service_ports or [{"name": "http", "port": port, "targetPort": port}]
    body = service_manifest(spec, name, version, ports, role="version")
    return [Write("create", SERVICE, spec.namespace, name, body,
                  "create Service %s -> %s" % (name, version))]


# ---------------------------------------------------------------------------
# both modes
# ---------------------------------------------------------------------------
def route_writes(spec, observed, version, previous, rolled_back_from=None):
    """Every write that makes ``version`` live (Service and/or Ingress), in order."""
    writes = []
    if spec.service:
        if observed.service is None:
            body = service_manifest(spec, spec.service, version, spec.service_ports,
                                    spec.service_type, role="live")
            body["metadata"]["annotations"].update(
                dict((k, v) for k, v in ((LIVE_VERSION, version), (PREVIOUS_VERSION, previous))
                     if v is not None))
            check_selector_targets_one(spec, body["spec"]["selector"], version,
                                       observed.deployments, "Service %s" % spec.service)
            writes.append(Write("create", SERVICE, spec.namespace, spec.service, body,
                                "create live Service %s -> %s" % (spec.service, version)))
        else:
            write = service_switch(spec, observed.service, version, observed.deployments,
                                   previous, rolled_back_from)
            if write:
                writes.append(write)
    if spec.ingress:
        svc_name = service_name_for(spec, version)
        writes += version_service_writes(spec, version, observed.version_services.get(version))
        port = ingress_port(spec, observed.version_services.get(version))
        writes += main_ingress_writes(spec, observed.ingress, svc_name, port, version, previous,
                                      rolled_back_from)
    return writes


def drop_preview_writes(spec, observed):
    """Promotion removes the preview route (Service and/or Ingress)."""
    writes = []
    if spec.service and observed.preview_service is not None:
        writes.append(Write("delete", SERVICE, spec.namespace, spec.preview_service, None,
                            "delete preview Service %s" % spec.preview_service))
    if spec.ingress and observed.preview_ingress is not None:
        name = spec.ingress["preview_ingress"]
        writes.append(Write("delete", INGRESS, spec.namespace, name, None,
                            "delete preview Ingress %s" % name))
    return writes
