# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validation of k8s_canary's input: every problem at once, each with its field path;
the result is a Spec the planners take (pure)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections import namedtuple

from ansible_collections.progressive.delivery.plugins.module_utils.canary.objects import (
    CANARY_TRACK,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    FieldErrors,
)

BACKENDS = ("replicas", "nginx")
STATES = ("present", "promoted", "aborted")


class Spec(namedtuple(
    "Spec",
    "name namespace backend state weight stable_deployment canary_deployment definition "
    "pod_template replicas service track_label version version_label nginx force",
)):
    """Validated module input."""


def validate(params):
    """Turn module params into a Spec, reporting every problem at once."""
    errs = FieldErrors()
    backend = params.get("backend") or "replicas"
    state = params.get("state") or "present"
    errs.check_dns_label("namespace", params.get("namespace"))
    errs.check_dns_subdomain("name", params.get("name"))
    if backend not in BACKENDS:
        errs.add("backend", "%r is not one of %s", backend, ", ".join(BACKENDS))
    if state not in STATES:
        errs.add("state", "%r is not one of %s", state, ", ".join(STATES))

    weight = params.get("weight")
    if state == "present":
        if weight is None:
            errs.add("weight", "is required when state=present (a percent from 0 to 100)")
        elif isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 100:
            errs.add("weight", "must be a percent from 0 to 100, got %r", weight)
    elif weight is not None and (isinstance(weight, bool) or not isinstance(weight, int)
                                 or not 0 <= weight <= 100):
        errs.add("weight", "must be a percent from 0 to 100, got %r", weight)

    stable = params.get("stable_deployment") or params.get("name")
    canary = params.get("canary_deployment") or "%s-canary" % stable
    errs.check_dns_subdomain("stable_deployment", stable)
    errs.check_dns_subdomain("canary_deployment", canary)
    if stable == canary:
        errs.add("canary_deployment", "%r is the stable Deployment; the canary needs its own",
                 canary)

    track_label = params.get("track_label") or "track"
    version_label = params.get("version_label") or "version"
    version = params.get("version")
    if version is not None:
        errs.check_label_value("version", version)
        if version_label == track_label:
            errs.add("version_label", "%r is also the track_label", version_label)

    definition = params.get("definition")
    pod_template = params.get("pod_template")
    if definition is not None and pod_template is not None:
        errs.add("pod_template", "give either definition or pod_template, not both")
    template_labels_path = None
    template = None
    if definition is not None:
        template = _validate_definition(errs, definition, params.get("namespace"), canary)
        template_labels_path = "definition.spec.template.metadata.labels"
    elif pod_template is not None:
        template = pod_template
        template_labels_path = "pod_template.metadata.labels"
        if not isinstance(pod_template, dict) or not (
                pod_template.get("spec") or {}).get("containers"):
            errs.add("pod_template.spec.containers", "is required (at least one container)")
    if isinstance(template, dict):
        labels = (template.get("metadata") or {}).get("labels") or {}
        if track_label in labels and labels[track_label] != CANARY_TRACK:
            errs.add("%s.%s" % (template_labels_path, track_label),
                     "is %r; the canary's pods carry %s=%s (set by the module)",
                     labels[track_label], track_label, CANARY_TRACK)
        if version is not None and version_label in labels and labels[version_label] != version:
            errs.add("%s.%s" % (template_labels_path, version_label), "is %r but version is %r",
                     labels[version_label], version)

    replicas = params.get("replicas")
    if replicas is not None and (isinstance(replicas, bool) or not isinstance(replicas, int)
                                 or replicas < 1):
        errs.add("replicas", "the total of stable and canary pods must be 1 or more, got %r",
                 replicas)

    service = params.get("service")
    nginx = None
    if backend == "replicas":
        if not service:
            errs.add("service", "is required with backend=replicas (the Service in front of "
                     "the stable and the canary pods)")
        else:
            errs.check_dns_label("service", service)
        if params.get("nginx"):
            errs.add("nginx", "is only used with backend=nginx")
    elif backend == "nginx":
        nginx = _validate_nginx(errs, params.get("nginx"), state)
        for key in ("definition", "pod_template", "replicas"):
            if params.get(key) is not None:
                errs.add(key, "is only used with backend=replicas (with nginx, deploy the "
                         "canary's Deployment and Service first)")
    errs.raise_if_any()

    return Spec(
        name=params["name"],
        namespace=params["namespace"],
        backend=backend,
        state=state,
        weight=weight,
        stable_deployment=stable,
        canary_deployment=canary,
        definition=definition,
        pod_template=pod_template,
        replicas=replicas,
        service=service,
        track_label=track_label,
        version=version,
        version_label=version_label,
        nginx=nginx,
        force=bool(params.get("force")),
    )


def _validate_definition(errs, definition, namespace, canary_name):
    if not isinstance(definition, dict):
        errs.add("definition", "must be a Deployment manifest (a dictionary)")
        return None
    kind = definition.get("kind", "Deployment")
    if kind != "Deployment":
        errs.add("definition.kind", "must be Deployment, got %r", kind)
    meta = definition.get("metadata") or {}
    if meta.get("namespace") not in (None, namespace):
        errs.add("definition.metadata.namespace", "%r does not match namespace %r",
                 meta["namespace"], namespace)
    if meta.get("name") not in (None, canary_name):
        errs.add("definition.metadata.name", "%r does not match canary_deployment %r",
                 meta["name"], canary_name)
    template = (definition.get("spec") or {}).get("template") or {}
    if not (template.get("spec") or {}).get("containers"):
        errs.add("definition.spec.template.spec.containers", "is required (at least one)")
    return template


def _validate_nginx(errs, nginx, state):
    if not nginx:
        errs.add("nginx", "is required with backend=nginx (at least nginx.ingress and "
                 "nginx.canary_service)")
        return None
    nginx = dict((k, v) for k, v in nginx.items() if v is not None)
    if not nginx.get("ingress"):
        errs.add("nginx.ingress", "is required (the main Ingress)")
    else:
        errs.check_dns_subdomain("nginx.ingress", nginx["ingress"])
        nginx.setdefault("canary_ingress", nginx["ingress"] + "-canary")
    if nginx.get("canary_ingress"):
        errs.check_dns_subdomain("nginx.canary_ingress", nginx["canary_ingress"])
        if nginx["canary_ingress"] == nginx.get("ingress"):
            errs.add("nginx.canary_ingress", "%r is the main Ingress; the canary needs its own",
                     nginx["canary_ingress"])
    if not nginx.get("canary_service") and state != "aborted":
        errs.add("nginx.canary_service", "is required (the Service of the canary's pods)")
    for key in ("canary_service", "stable_service"):
        if nginx.get(key):
            errs.check_dns_label("nginx." + key, nginx[key])
    if nginx.get("canary_service") and nginx.get("canary_service") == nginx.get("stable_service"):
        errs.add("nginx.canary_service", "%r is also the stable_service", nginx["canary_service"])
    if nginx.get("header_value") is not None and not nginx.get("header"):
        errs.add("nginx.header_value", "needs nginx.header (the request header to match)")
    if nginx.get("header_pattern") is not None and not nginx.get("header"):
        errs.add("nginx.header_pattern", "needs nginx.header (the request header to match)")
    if nginx.get("header_value") is not None and nginx.get("header_pattern") is not None:
        errs.add("nginx.header_pattern", "give either header_value or header_pattern")
    port = nginx.get("canary_service_port")
    if isinstance(port, str) and port.isdigit():  # the option is raw: "8080" means a number
        port = nginx["canary_service_port"] = int(port)
    if port is not None and not (isinstance(port, int) and not isinstance(port, bool)
                                 and 0 < port < 65536) and not isinstance(port, str):
        errs.add("nginx.canary_service_port", "must be a port number or name, got %r", port)
    return nginx
