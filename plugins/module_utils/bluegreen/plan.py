# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure planning for Deployment blue/green releases (k8s_bluegreen).

Two versions of an app run side by side, each its own Deployment whose pod template
carries ``<version_label>: <version>``. Live traffic reaches exactly one version through
the live Service's selector and/or an Ingress path whose backend is the version's own
Service. Nothing here talks to the API server: each function takes the objects read by the
backend (a ``status.Observed``) and returns the ``engine.Write``s to make for one state, so
every rule that decides where traffic goes is unit-tested.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.progressive.delivery.plugins.module_utils.bluegreen.status import (
    SCALED_DOWN_FROM,
    PlanError,
    annotations_of,
    current_live,
    readiness,
    record_of,
    service_name_for,
    versions_by_label,
)
from ansible_collections.progressive.delivery.plugins.module_utils.bluegreen.traffic import (
    adopt_preview_path_writes,
    conditional_patch,
    drop_preview_writes,
    ingress_port,
    preview_ingress_writes,
    preview_service_writes,
    route_writes,
    version_service_writes,
)
from ansible_collections.progressive.delivery.plugins.module_utils.engine import Write
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import DEPLOYMENT
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.objects import deployment_body


# ---------------------------------------------------------------------------
# the version's Deployment
# ---------------------------------------------------------------------------
def desired_deployment(spec, existing_name=None):
    """The apply body for the version's Deployment, with the app/version labels put on
    the object, its selector and its pod template."""
    body = deployment_body(spec.definition, spec.pod_template)
    meta = body["metadata"]
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


def deployment_write(spec, observed):
    """The version's Deployment: (the server-side apply that creates or updates it, the
    object it acts on or None); (None, the existing Deployment) when neither definition
    nor pod_template is given and the version already runs (it is adopted as it is)."""
    existing = versions_by_label(spec, observed.deployments).get(spec.version)
    if spec.definition is None and spec.pod_template is None:
        if existing is None:
            raise PlanError(
                "no Deployment runs version %s (pods labelled %s=%s and %s) in namespace "
                "%s; give definition or pod_template to create it"
                % (spec.version, spec.version_label, spec.version, spec.app_labels,
                   spec.namespace))
        return None, existing
    body = desired_deployment(spec, existing["metadata"]["name"] if existing else None)
    name = body["metadata"]["name"]
    if existing is not None and existing["metadata"]["name"] != name:
        raise PlanError("version %s already runs as Deployment %s, not %s"
                        % (spec.version, existing["metadata"]["name"], name))
    if existing is None:  # a Deployment of that name without this version's labels
        existing = next((d for d in observed.deployments
                         if d["metadata"]["name"] == name), None)
    return Write("apply", DEPLOYMENT, spec.namespace, name, body, "%s Deployment %s (version %s)"
                 % ("create" if existing is None else "update", name, spec.version)), existing


def deployment_changed(before, after):
    """Whether a server-side apply changed the Deployment (its answer is the object either
    way): spec, labels or annotations differ."""
    def view(obj):
        meta = obj.get("metadata") or {}
        return (obj.get("spec"), meta.get("labels"), meta.get("annotations"))

    return view(before) != view(after)


# ---------------------------------------------------------------------------
# the states
# ---------------------------------------------------------------------------
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
        writes += adopt_preview_path_writes(spec, observed.ingress)
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
    recorded = annotations_of(dep).get(SCALED_DOWN_FROM)
    if (dep.get("spec") or {}).get("replicas", 1) == 0 and recorded:
        return scale_write(spec, dep, int(recorded), record=None)
    return None


def scale_write(spec, deployment, replicas, record):
    """Scale a Deployment, recording (or clearing, record=None) its former size."""
    annotations = {SCALED_DOWN_FROM: record}
    changes = {"metadata": {"annotations": annotations}, "spec": {"replicas": replicas}}
    name = deployment["metadata"]["name"]
    return Write("patch", DEPLOYMENT, spec.namespace, name,
                 conditional_patch(deployment, changes), "scale Deployment %s %s -> %d" % (
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
    record = annotations_of(dep).get(SCALED_DOWN_FROM) or str(current)
    return [scale_write(spec, dep, spec.scale_down_replicas, record)]
