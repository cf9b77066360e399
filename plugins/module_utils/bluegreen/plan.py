# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure planning for Deployment blue/green releases (k8s_bluegreen).

Two versions of an app run side by side, each its own Deployment whose pod template
carries ``<version_label>: <version>``. Live traffic reaches exactly one version through
the live Service selector (seed 001) and/or an Ingress path whose backend is the
version's own Service (seed 003). Nothing here talks to the API server: functions take
the objects read by the runner and return the writes to make, so every rule that decides
where traffic goes is unit-tested.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import re
from collections import namedtuple

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    FieldErrors,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import (
    deployment_rollout,
)

PREFIX = "progressive.delivery/"
LIVE_VERSION = PREFIX + "live-version"
PREVIOUS_VERSION = PREFIX + "previous-version"
ROLLED_BACK_FROM = PREFIX + "rolled-back-from"
SCALED_DOWN_FROM = PREFIX + "scaled-down-from"
MANAGED_BY = ("app.kubernetes.io/managed-by", "progressive.delivery")
NGINX = "nginx.ingress.kubernetes.io/"

STATES = ("deployed", "previewed", "promoted", "rolled_back", "scaled_down")
# States that make sure the version's Deployment exists (from the definition) first.
DEPLOYING_STATES = ("deployed", "previewed", "promoted")

Write = namedtuple("Write", "verb kind name body description")
"""verb: create | patch | delete; kind: Deployment | Service | Ingress; body: the manifest
for create, a JSON merge patch (carrying metadata.resourceVersion as precondition) for
patch, None for delete."""


class Spec(namedtuple(
    "Spec",
    "name namespace version state app_labels version_label definition pod_template "
    "replicas service service_ports service_type preview_service ingress "
    "deployment_format service_format force scale_down_replicas",
)):
    """Validated module input."""


class PlanError(Exception):
    """The request is valid but the cluster's state forbids it (nothing was written)."""


# ---------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------
def _regex_groups(pattern):
    return re.compile(pattern).groups


def validate(params):
    """Turn module params into a Spec, reporting every problem at once."""
    errs = FieldErrors()
    state = params.get("state") or "deployed"
    version = params.get("version")
    errs.check_dns_label("namespace", params.get("namespace"))
    errs.check_dns_label("name", params.get("name"))
    if version is not None:
        errs.check_label_value("version", version)
    elif state in DEPLOYING_STATES:
        errs.add("version", "is required when state=%s", state)

    version_label = params.get("version_label") or "version"
    app_labels = dict(params.get("app_labels") or {"app": params.get("name")})
    for key, value in sorted(app_labels.items()):
        errs.check_label_value("app_labels.%s" % key, str(value))
    if version_label in app_labels:
        errs.add("app_labels.%s" % version_label,
                 "conflicts with version_label %r: the version label must vary between "
                 "versions, app_labels must not", version_label)

    definition = params.get("definition")
    if definition is not None:
        _validate_definition(errs, definition, params.get("namespace"), app_labels,
                             version_label, version)
    if params.get("pod_template") is not None:
        template_labels = ((params["pod_template"].get("metadata") or {}).get("labels") or {})
        _check_label_conflicts(errs, "pod_template.metadata.labels", template_labels,
                               app_labels, version_label, version)
        if not (params["pod_template"].get("spec") or {}).get("containers"):
            errs.add("pod_template.spec.containers", "is required (at least one container)")

    replicas = params.get("replicas")
    if replicas is not None and replicas < 0:
        errs.add("replicas", "must be 0 or more, got %d", replicas)
    scale_down = params.get("scale_down_replicas") or 0
    if scale_down < 0:
        errs.add("scale_down_replicas", "must be 0 or more, got %d", scale_down)

    service = params.get("service")
    ingress = _validate_ingress(errs, params.get("ingress"))
    if state in ("previewed", "promoted", "rolled_back") and not service and not ingress:
        errs.add("service", "state=%s needs a live Service (service) or an Ingress (ingress) "
                 "to route traffic with", state)
    for index, port in enumerate(params.get("service_ports") or []):
        if not isinstance(port, dict) or "port" not in port:
            errs.add("service_ports[%d]" % index, "needs at least 'port', got %r", port)
    preview_service = params.get("preview_service")
    if preview_service is None and service:
        preview_service = service + "-preview"
    if preview_service and service and preview_service == service:
        errs.add("preview_service", "%r is the live Service; the preview needs its own",
                 preview_service)
    if preview_service:
        errs.check_dns_label("preview_service", preview_service)
    errs.raise_if_any()

    return Spec(
        name=params["name"],
        namespace=params["namespace"],
        version=version,
        state=state,
        app_labels=dict((k, str(v)) for k, v in app_labels.items()),
        version_label=version_label,
        definition=definition,
        pod_template=params.get("pod_template"),
        replicas=replicas,
        service=service,
        service_ports=params.get("service_ports"),
        service_type=params.get("service_type") or "ClusterIP",
        preview_service=preview_service or None,
        ingress=ingress,
        deployment_format=params.get("deployment_name_format") or "{name}-{version}",
        service_format=params.get("version_service_name_format") or "{name}-{version}",
        force=bool(params.get("force")),
        scale_down_replicas=scale_down,
    )


def _validate_definition(errs, definition, namespace, app_labels, version_label, version):
    if not isinstance(definition, dict):
        errs.add("definition", "must be a Deployment manifest (a dictionary)")
        return
    kind = definition.get("kind", "Deployment")
    if kind != "Deployment":
        errs.add("definition.kind", "must be Deployment, got %r", kind)
    meta = definition.get("metadata") or {}
    if meta.get("namespace") not in (None, namespace):
        errs.add("definition.metadata.namespace",
                 "%r does not match namespace %r", meta["namespace"], namespace)
    spec = definition.get("spec") or {}
    template = spec.get("template") or {}
    if not (template.get("spec") or {}).get("containers"):
        errs.add("definition.spec.template.spec.containers", "is required (at least one)")
    _check_label_conflicts(errs, "definition.spec.template.metadata.labels",
                           (template.get("metadata") or {}).get("labels") or {},
                           app_labels, version_label, version)
    match = (spec.get("selector") or {}).get("matchLabels") or {}
    _check_label_conflicts(errs, "definition.spec.selector.matchLabels", match,
                           app_labels, version_label, version)


def _check_label_conflicts(errs, path, labels, app_labels, version_label, version):
    for key, value in sorted(app_labels.items()):
        if key in labels and str(labels[key]) != str(value):
            errs.add("%s.%s" % (path, key), "is %r but app_labels says %r", labels[key], value)
    if version is not None and version_label in labels and str(labels[version_label]) != version:
        errs.add("%s.%s" % (path, version_label), "is %r but version is %r",
                 labels[version_label], version)


def _validate_ingress(errs, ingress):
    if not ingress:
        return None
    ingress = dict(ingress)
    if not ingress.get("name"):
        errs.add("ingress.name", "is required")
    else:
        errs.check_dns_subdomain("ingress.name", ingress["name"])
    ingress.setdefault("path", "/")
    ingress.setdefault("path_type", "Prefix")
    if ingress.get("path_type") not in ("Prefix", "Exact", "ImplementationSpecific"):
        errs.add("ingress.path_type", "%r is not one of Prefix, Exact, ImplementationSpecific",
                 ingress.get("path_type"))
    if not ingress.get("preview_ingress") and ingress.get("name"):
        ingress["preview_ingress"] = ingress["name"] + "-preview"
    preview_path = ingress.get("preview_path")
    if preview_path:
        if not preview_path.startswith("/"):
            errs.add("ingress.preview_path", "%r must start with '/'", preview_path)
        try:
            groups = _regex_groups(preview_path)
        except re.error as exc:
            errs.add("ingress.preview_path", "%r is not a valid regular expression: %s",
                     preview_path, exc)
            groups = None
        target = ingress.get("preview_rewrite_target")
        if target is None:
            target = "/$%d" % groups if groups else None
            ingress["preview_rewrite_target"] = target
        wanted = [int(n) for n in re.findall(r"\$(\d+)", target or "")]
        if groups is not None and wanted and max(wanted) > groups:
            errs.add("ingress.preview_rewrite_target",
                     "%r uses $%d but preview_path %r has only %d capture group(s)",
                     target, max(wanted), preview_path, groups)
    if ingress.get("preview_host"):
        errs.check_dns_subdomain("ingress.preview_host", ingress["preview_host"])
    return ingress


# ---------------------------------------------------------------------------
# reading what is there
# ---------------------------------------------------------------------------
def labels_match(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


def template_labels(deployment):
    return (((deployment.get("spec") or {}).get("template") or {}).get("metadata") or {}).get(
        "labels") or {}


def versions_by_label(spec, deployments):
    """{version: Deployment} for Deployments of this app; error on two with one version."""
    found = {}
    for dep in deployments:
        labels = template_labels(dep)
        if not labels_match(spec.app_labels, labels) or spec.version_label not in labels:
            continue
        version = labels[spec.version_label]
        if version in found:
            raise PlanError(
                "Deployments %s and %s both run %s=%s; each version needs exactly one"
                % (found[version]["metadata"]["name"], dep["metadata"]["name"],
                   spec.version_label, version))
        found[version] = dep
    return found


def _annotations(obj):
    return (obj.get("metadata") or {}).get("annotations") or {}


def live_version_of_service(spec, service):
    selector = (service.get("spec") or {}).get("selector") or {}
    return selector.get(spec.version_label)


def _find_rule(ingress_obj, host):
    for rule in (ingress_obj.get("spec") or {}).get("rules") or []:
        if rule.get("host") == host:
            return rule
    return None


def _path_backend(rule, path):
    for entry in ((rule or {}).get("http") or {}).get("paths") or []:
        if entry.get("path") == path:
            return ((entry.get("backend") or {}).get("service") or {}).get("name")
    return None


def live_version_of_ingress(spec, ingress_obj, version_services):
    """The version whose Service backs the Ingress's live path (None if unknown)."""
    service = _path_backend(_find_rule(ingress_obj, spec.ingress.get("host")),
                            spec.ingress["path"])
    for version, name in version_services.items():
        if name == service:
            return version
    return _annotations(ingress_obj).get(LIVE_VERSION)


def service_name_for(spec, version):
    """Service names are DNS-1035 labels (no dots): v1.22.0 becomes v1-22-0. The seed's
    `nginx-v1.22.0` Service name is rejected by the API server for that reason."""
    return spec.service_format.format(name=spec.name, version=version).replace(".", "-").lower()


def readiness(deployment):
    """(ready?, text) for promotion: rolled out and every desired replica ready."""
    if deployment is None:
        return False, "the Deployment does not exist"
    want = (deployment.get("spec") or {}).get("replicas", 1)
    status = deployment.get("status") or {}
    ready = status.get("readyReplicas", 0)
    check = deployment_rollout(deployment)
    text = "%d of %d replicas ready" % (ready, want)
    if want == 0:
        return False, text + " (scaled to zero)"
    if not check.done:
        return False, "%s (%s)" % (text, check.message)
    return ready >= want, text


def version_report(spec, versions):
    report = {}
    for version, dep in sorted(versions.items()):
        status = dep.get("status") or {}
        report[version] = dict(
            deployment=dep["metadata"]["name"],
            replicas=(dep.get("spec") or {}).get("replicas", 1),
            ready_replicas=status.get("readyReplicas", 0),
            updated_replicas=status.get("updatedReplicas", 0),
            available_replicas=status.get("availableReplicas", 0),
        )
    return report


# ---------------------------------------------------------------------------
# the candidate's Deployment
# ---------------------------------------------------------------------------
def desired_deployment(spec, existing_name=None):
    """The apply body for the version's Deployment, with the app/version labels put on
    the object, its selector and its pod template."""
    if spec.definition is not None:
        body = copy.deepcopy(spec.definition)
    else:
        body = {"spec": {"template": copy.deepcopy(spec.pod_template)}}
    body["apiVersion"] = "apps/v1"
    body["kind"] = "Deployment"
    meta = body.setdefault("metadata", {})
    meta["name"] = meta.get("name") or existing_name or spec.deployment_format.format(
        name=spec.name, version=spec.version)
    meta["namespace"] = spec.namespace
    version_labels = dict(spec.app_labels)
    version_labels[spec.version_label] = spec.version
    meta.setdefault("labels", {}).update(version_labels)
    body_spec = body.setdefault("spec", {})
    if spec.replicas is not None:
        body_spec["replicas"] = spec.replicas
    selector = body_spec.setdefault("selector", {})
    selector.setdefault("matchLabels", {}).update(version_labels)
    template = body_spec.setdefault("template", {})
    template.setdefault("metadata", {}).setdefault("labels", {}).update(version_labels)
    return body


# ---------------------------------------------------------------------------
# traffic: Service mode
# ---------------------------------------------------------------------------
def _patch(obj, changes):
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
    matched = [d["metadata"]["name"] for d in deployments
               if labels_match(selector, template_labels(d))]
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
                        % (object_desc, selector, ", ".join(sorted(matched))))


def service_switch(spec, service, version, deployments, previous, rolled_back_from=None):
    """The patch pointing the live Service at ``version`` (None when already there)."""
    selector = _selector_for(spec, (service.get("spec") or {}).get("selector"), version)
    check_selector_targets_one(spec, selector, version, deployments,
                               "Service %s" % service["metadata"]["name"])
    annotations = _annotations(service)
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
    return Write("patch", "Service", service["metadata"]["name"], _patch(service, changes),
                 "Service %s selector %s=%s -> %s" % (
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


def preview_service_writes(spec, preview, live_service, version, deployments):
    """Create or re-point the preview Service at the candidate."""
    if preview is None:
        body = service_manifest(spec, spec.preview_service, version,
                                ports_for_preview(spec.service_ports, live_service))
        check_selector_targets_one(spec, body["spec"]["selector"], version, deployments,
                                   "Service %s" % spec.preview_service)
        return [Write("create", "Service", spec.preview_service, body,
                      "create preview Service %s -> %s" % (spec.preview_service, version))]
    write = service_switch(spec, preview, version, deployments,
                           previous=_annotations(preview).get(PREVIOUS_VERSION))
    if write is None:
        return []
    return [write._replace(description="preview Service %s -> %s"
                           % (spec.preview_service, version))]


# ---------------------------------------------------------------------------
# traffic: Ingress mode (seed 003)
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
    (seed 003 keeps both paths in one Ingress). Creates the Ingress if it is missing."""
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
        return [Write("create", "Ingress", ing["name"], body,
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
    replaced = False
    for entry in paths:
        if entry.get("path") == ing["path"]:
            new_paths.append(dict(entry, backend=live_entry["backend"]))
            replaced = True
        elif ing.get("preview_path") and entry.get("path") == ing["preview_path"]:
            continue  # the preview route goes away on promotion
        else:
            new_paths.append(entry)
    if not replaced:
        new_paths.insert(0, live_entry)
    rule["http"]["paths"] = new_paths
    annotations = _annotations(ingress_obj)
    annotation_changes = dict((k, v) for k, v in wanted_annotations.items()
                              if annotations.get(k) != v)
    old_rules = (ingress_obj.get("spec") or {}).get("rules") or []
    if rules == old_rules and not annotation_changes:
        return []
    changes = {"metadata": {"annotations": annotation_changes}}
    if rules != old_rules:
        changes["spec"] = {"rules": rules}
    return [Write("patch", "Ingress", ing["name"], _patch(ingress_obj, changes),
                  "Ingress %s %s -> %s" % (ing["name"], ing["path"], live_service_name))]


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
        return [Write("create", "Ingress", ing["preview_ingress"], body,
                      "create preview Ingress %s -> %s" % (ing["preview_ingress"],
                                                           service_name))]
    current = preview_obj.get("spec") or {}
    wanted_ann = body["metadata"]["annotations"]
    ann = _annotations(preview_obj)
    if current.get("rules") == body["spec"]["rules"] and all(
            ann.get(k) == v for k, v in wanted_ann.items()):
        return []
    changes = {"metadata": {"annotations": wanted_ann}, "spec": {"rules": body["spec"]["rules"]}}
    return [Write("patch", "Ingress", ing["preview_ingress"], _patch(preview_obj, changes),
                  "preview Ingress %s -> %s" % (ing["preview_ingress"], service_name))]


def version_service_writes(spec, version, existing):
    """Ingress mode gives each version its own Service (seed 003: nginx-v1.22.0)."""
    if existing is not None:
        return []
    name = service_name_for(spec, version)
    port = spec.ingress.get("port") or 80
    ports = spec.service_ports or [{"name": "http", "port": port, "targetPort": port}]
    body = service_manifest(spec, name, version, ports, role="version")
    return [Write("create", "Service", name, body, "create Service %s -> %s" % (name, version))]


# ---------------------------------------------------------------------------
# the decisions
# ---------------------------------------------------------------------------
Observed = namedtuple(
    "Observed",
    "deployments service preview_service ingress preview_ingress version_services",
)
"""deployments: every Deployment in the namespace (list); service / preview_service /
ingress / preview_ingress: the object or None; version_services: {version: Service|None}."""


def current_live(spec, observed):
    """Which version is live now, read from the Service selector or the Ingress path."""
    if spec.service and observed.service is not None:
        return live_version_of_service(spec, observed.service)
    if spec.ingress and observed.ingress is not None:
        names = dict((v, service_name_for(spec, v)) for v in observed.version_services)
        return live_version_of_ingress(spec, observed.ingress, names)
    return None


def record_of(spec, observed):
    """(previous version, rolled-back-from) as recorded on the live object."""
    obj = observed.service if spec.service else observed.ingress
    annotations = _annotations(obj or {})
    return annotations.get(PREVIOUS_VERSION), annotations.get(ROLLED_BACK_FROM)


def require_ready(spec, version, versions, action):
    dep = versions.get(version)
    if dep is None:
        raise PlanError("cannot %s version %s: no Deployment in namespace %s has pod labels "
                        "%s=%s and %s" % (action, version, spec.namespace, spec.version_label,
                                          version, spec.app_labels))
    ready, text = readiness(dep)
    if not ready and not spec.force:
        raise PlanError("refusing to %s version %s: Deployment %s is not ready: %s; "
                        "set force=true to do it anyway"
                        % (action, version, dep["metadata"]["name"], text))


def preflight(spec, observed):
    """Checks on the traffic objects that must pass before the Deployment is touched, so a
    call that would fail later writes nothing at all."""
    _require_live_object(spec, observed)
    versions_by_label(spec, observed.deployments)
    if spec.ingress:
        name = service_name_for(spec, spec.version)
        if len(name) > 63 or not re.match(r"^[a-z]([-a-z0-9]*[a-z0-9])?$", name):
            raise PlanError("version Service name %r (from version_service_name_format) is not "
                            "a valid DNS-1035 label" % name)


def _require_live_object(spec, observed):
    if spec.service and observed.service is None and not spec.service_ports:
        raise PlanError("Service %s/%s not found; create it first or give service_ports so "
                        "the module creates it" % (spec.namespace, spec.service))


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
            writes.append(Write("create", "Service", spec.service, body,
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


def plan_preview(spec, observed):
    versions = versions_by_label(spec, observed.deployments)
    live = current_live(spec, observed)
    if live == spec.version:
        return []  # already live (a re-run after promotion): nothing to preview
    require_ready(spec, spec.version, versions, "preview")
    writes = []
    if spec.service and spec.preview_service:
        writes += preview_service_writes(spec, observed.preview_service, observed.service,
                                         spec.version, observed.deployments)
    if spec.ingress:
        writes += version_service_writes(spec, spec.version,
                                         observed.version_services.get(spec.version))
        port = ingress_port(spec, observed.version_services.get(spec.version))
        writes += preview_ingress_writes(spec, observed.preview_ingress,
                                         service_name_for(spec, spec.version), port)
    return writes


def plan_promote(spec, observed):
    versions = versions_by_label(spec, observed.deployments)
    _require_live_object(spec, observed)
    live = current_live(spec, observed)
    previous = record_of(spec, observed)[0]
    if live != spec.version:
        require_ready(spec, spec.version, versions, "promote")
        previous = live
    writes = route_writes(spec, observed, spec.version, previous)
    writes += drop_preview_writes(spec, observed)
    return writes


def drop_preview_writes(spec, observed):
    writes = []
    if spec.service and observed.preview_service is not None:
        writes.append(Write("delete", "Service", spec.preview_service, None,
                            "delete preview Service %s" % spec.preview_service))
    if spec.ingress and observed.preview_ingress is not None:
        name = spec.ingress["preview_ingress"]
        writes.append(Write("delete", "Ingress", name, None, "delete preview Ingress %s" % name))
    return writes


def rollback_target(spec, observed):
    """(target version or None when already rolled back, version being left)."""
    live = current_live(spec, observed)
    previous, rolled_back_from = record_of(spec, observed)
    if spec.version is not None and live != spec.version:
        return None, live  # the named version is not live: nothing to roll back
    if rolled_back_from is not None and rolled_back_from == previous and spec.version is None:
        return None, live  # the last action already was this rollback
    if not previous:
        raise PlanError("no previous version is recorded on %s; nothing to roll back to"
                        % (("Service %s" % spec.service) if spec.service
                           else ("Ingress %s" % spec.ingress["name"])))
    return previous, live


def plan_rollback(spec, observed, target, leaving):
    versions = versions_by_label(spec, observed.deployments)
    require_ready(spec, target, versions, "roll back to")
    return route_writes(spec, observed, target, previous=leaving, rolled_back_from=leaving)


def scale_up_for_rollback(spec, observed, target):
    """A scaled-down previous version is brought back to its recorded size first, so a
    rollback never points traffic at a version with no ready pods."""
    dep = versions_by_label(spec, observed.deployments).get(target)
    if dep is None:
        return None
    recorded = _annotations(dep).get(SCALED_DOWN_FROM)
    if (dep.get("spec") or {}).get("replicas", 1) == 0 and recorded:
        return scale_write(dep, int(recorded), record=None)
    return None


def scale_write(deployment, replicas, record):
    annotations = {SCALED_DOWN_FROM: record}
    changes = {"metadata": {"annotations": annotations}, "spec": {"replicas": replicas}}
    name = deployment["metadata"]["name"]
    return Write("patch", "Deployment", name, _patch(deployment, changes),
                 "scale Deployment %s %s -> %d" % (
                     name, (deployment.get("spec") or {}).get("replicas", 1), replicas))


def plan_scale_down(spec, observed):
    versions = versions_by_label(spec, observed.deployments)
    live = current_live(spec, observed)
    version = spec.version
    if version is None:
        version = record_of(spec, observed)[0]
        if version is None:
            raise PlanError("no version given and no previous version recorded to scale down")
    if version == live:
        raise PlanError("refusing to scale down version %s: it is live" % version)
    dep = versions.get(version)
    if dep is None:
        raise PlanError("cannot scale down version %s: no Deployment found for it" % version)
    current = (dep.get("spec") or {}).get("replicas", 1)
    if current == spec.scale_down_replicas:
        return []
    record = _annotations(dep).get(SCALED_DOWN_FROM) or str(current)
    return [scale_write(dep, spec.scale_down_replicas, record)]


def diff_view(obj):
    """The parts of an object a reviewer needs in --diff output."""
    if obj is None:
        return {}
    meta = obj.get("metadata") or {}
    view = {"kind": obj.get("kind"), "name": meta.get("name")}
    annotations = dict((k, v) for k, v in (meta.get("annotations") or {}).items()
                       if k.startswith(PREFIX) or k.startswith(NGINX))
    if annotations:
        view["annotations"] = annotations
    spec = obj.get("spec") or {}
    for key in ("selector", "rules", "replicas", "ports", "type"):
        if key in spec:
            view[key] = spec[key]
    if obj.get("kind") == "Deployment":
        containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
        view["images"] = dict((c.get("name"), c.get("image")) for c in containers)
        view.pop("selector", None)
    return view
