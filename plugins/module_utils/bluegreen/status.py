# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a blue/green release looks like in the cluster, read from the objects: which
Deployment runs which version, which version is live (the live Service's selector or the
Ingress's live path), the record kept in annotations, and the views the module reports
(versions, Services, Ingresses, URLs, --diff). Pure functions of objects already read."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections import namedtuple

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.objects import (
    labels_match,
    template_labels,
    view_head,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import (
    deployment_rollout,
)

# The record, in annotations of the live Service (or the Ingress in Ingress mode) and,
# for a scale-down, of the Deployment: what makes rolled_back need no input.
PREFIX = "progressive.delivery/"
LIVE_VERSION = PREFIX + "live-version"
PREVIOUS_VERSION = PREFIX + "previous-version"
ROLLED_BACK_FROM = PREFIX + "rolled-back-from"
SCALED_DOWN_FROM = PREFIX + "scaled-down-from"
NGINX = "nginx.ingress.kubernetes.io/"


class PlanError(Exception):
    """The request is valid but the cluster's state forbids it (nothing was written)."""


Observed = namedtuple(
    "Observed",
    "deployments service preview_service ingress preview_ingress version_services",
)
"""deployments: every Deployment in the namespace (list); service / preview_service /
ingress / preview_ingress: the object or None; version_services: {version: Service|None}."""


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


def annotations_of(obj):
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
    return annotations_of(ingress_obj).get(LIVE_VERSION)


def service_name_for(spec, version):
    """Service names are DNS-1035 labels (no dots): v1.22.0 becomes v1-22-0, because the
    API server rejects a Service named nginx-v1.22.0."""
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
    """Per version: its Deployment and replica counts."""
    by_version = {}
    for version, dep in sorted(versions.items()):
        status = dep.get("status") or {}
        by_version[version] = dict(
            deployment=dep["metadata"]["name"],
            replicas=(dep.get("spec") or {}).get("replicas", 1),
            ready_replicas=status.get("readyReplicas", 0),
            updated_replicas=status.get("updatedReplicas", 0),
            available_replicas=status.get("availableReplicas", 0),
        )
    return by_version


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
    annotations = annotations_of(obj or {})
    return annotations.get(PREVIOUS_VERSION), annotations.get(ROLLED_BACK_FROM)


def diff_view(obj):
    """The parts of an object a reviewer needs in --diff output."""
    if obj is None:
        return {}
    view = view_head(obj, (PREFIX, NGINX))
    spec = obj.get("spec") or {}
    for key in ("selector", "rules", "replicas", "ports", "type"):
        if key in spec:
            view[key] = spec[key]
    if obj.get("kind") == "Deployment":
        containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
        view["images"] = dict((c.get("name"), c.get("image")) for c in containers)
        view.pop("selector", None)
    return view


# ---------------------------------------------------------------------------
# the module's report
# ---------------------------------------------------------------------------
def report(spec, observed, live_before):
    """The module result's own keys, from the objects as the call left them."""
    versions = versions_by_label(spec, observed.deployments)
    previous, rolled_back_from = record_of(spec, observed)
    result = dict(
        live_version_before=live_before,
        live_version=current_live(spec, observed),
        previous_version=previous,
        rolled_back_from=rolled_back_from,
        preview_version=None,
        versions=version_report(spec, versions),
    )
    if spec.service:
        result["service"] = service_report(observed.service, spec.service)
    if spec.preview_service:
        result["preview_service"] = service_report(observed.preview_service,
                                                   spec.preview_service)
        if observed.preview_service is not None:
            result["preview_version"] = live_version_of_service(spec, observed.preview_service)
    if spec.ingress:
        result["ingress"] = ingress_report(observed.ingress)
        result["preview_ingress"] = ingress_report(observed.preview_ingress)
        if observed.preview_ingress is not None and result["preview_version"] is None:
            backends = set(p["service"] for p in result["preview_ingress"]["paths"])
            for version in versions:
                if service_name_for(spec, version) in backends:
                    result["preview_version"] = version
        result["urls"] = urls(result["ingress"]) + urls(result["preview_ingress"])
    return result


def service_report(service, name):
    if service is None:
        return dict(name=name, exists=False)
    spec = service.get("spec") or {}
    return dict(name=name, exists=True, selector=spec.get("selector") or {},
                type=spec.get("type"), ports=spec.get("ports") or [])


def ingress_report(ingress):
    if ingress is None:
        return None
    paths = []
    for rule in (ingress.get("spec") or {}).get("rules") or []:
        for entry in (rule.get("http") or {}).get("paths") or []:
            service = (entry.get("backend") or {}).get("service") or {}
            paths.append(dict(host=rule.get("host"), path=entry.get("path"),
                              service=service.get("name")))
    return dict(name=ingress["metadata"]["name"], paths=paths,
                annotations=(ingress["metadata"].get("annotations") or {}))


def urls(ingress_summary):
    """The URLs an Ingress routes, as http://<host><path> (the path may be a regex)."""
    if not ingress_summary:
        return []
    return ["http://%s%s" % (p["host"] or "<any-host>", p["path"])
            for p in ingress_summary["paths"]]
