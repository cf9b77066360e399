# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""k8s_bluegreen's input: module parameters to a Spec, every problem reported at once with
its field path (``ingress.preview_path: '/green(' is not a valid regular expression``)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from collections import namedtuple

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    FieldErrors,
)

STATES = ("deployed", "previewed", "promoted", "rolled_back", "scaled_down")
# States that make sure the version's Deployment exists (from the definition) first.
DEPLOYING_STATES = ("deployed", "previewed", "promoted")


class Spec(namedtuple(
    "Spec",
    "name namespace version state app_labels version_label definition pod_template "
    "replicas service service_ports service_type preview_service ingress "
    "deployment_format service_format force scale_down_replicas",
)):
    """Validated module input."""


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
