# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What k8s_canary reports (pure): the Deployments and Ingresses as the module returns
them, the views of the objects in --diff output, and the module result's own keys."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.objects import (
    template_labels,
    view_head,
)
from ansible_collections.progressive.delivery.plugins.module_utils.canary.nginx import (
    backend_service,
    nginx_weight,
    routed_services,
)
from ansible_collections.progressive.delivery.plugins.module_utils.canary.objects import (
    NGINX,
    PREFIX,
    annotations,
    images,
    match_labels,
    replicas_of,
    version_of,
)
from ansible_collections.progressive.delivery.plugins.module_utils.canary.replicas import (
    canary_selector,
    effective_weight,
    service_selector,
    total_replicas,
)


def deployment_report(spec, deployment, name):
    if deployment is None:
        return dict(deployment=name, exists=False, replicas=0, ready_replicas=0,
                    updated_replicas=0, available_replicas=0, version=None, images={},
                    selector={})
    status = deployment.get("status") or {}
    return dict(
        deployment=name,
        exists=True,
        replicas=replicas_of(deployment),
        ready_replicas=status.get("readyReplicas", 0),
        updated_replicas=status.get("updatedReplicas", 0),
        available_replicas=status.get("availableReplicas", 0),
        version=version_of(spec, deployment),
        images=images(deployment),
        selector=match_labels(deployment),
    )


def ingress_report(ingress):
    if ingress is None:
        return None
    paths = []
    for rule in (ingress.get("spec") or {}).get("rules") or []:
        for entry in (rule.get("http") or {}).get("paths") or []:
            backend = backend_service(entry)
            paths.append(dict(host=rule.get("host"), path=entry.get("path"),
                              service=backend.get("name"), port=backend.get("port")))
    return dict(name=ingress["metadata"]["name"], paths=paths,
                class_name=(ingress.get("spec") or {}).get("ingressClassName"),
                annotations=dict((k, v) for k, v in annotations(ingress).items()
                                 if k.startswith(NGINX) or k.startswith(PREFIX)))


def diff_view(obj):
    """The parts of an object a reviewer needs in --diff output."""
    if obj is None:
        return {}
    view = view_head(obj, (PREFIX, NGINX))
    spec = obj.get("spec") or {}
    if obj.get("kind") == "Deployment":
        view["replicas"] = spec.get("replicas", 1)
        view["images"] = images(obj)
        view["pod_labels"] = template_labels(obj)
    else:
        for key in ("rules", "ingressClassName"):
            if key in spec:
                view[key] = spec[key]
    return view


def canary_weight(spec, observed):
    """The canary's share as the call found it or left it (the same measure both ways)."""
    if spec.backend == "replicas":
        return effective_weight(replicas_of(observed.stable), replicas_of(observed.canary))
    return nginx_weight(observed.canary_ingress)


def report(spec, observed):
    """The module result's own keys for what is live now."""
    result = dict(backend=spec.backend, state=spec.state, weight_requested=spec.weight,
                  weight=canary_weight(spec, observed))
    if spec.backend == "replicas":
        stable = deployment_report(spec, observed.stable, spec.stable_deployment)
        canary = deployment_report(spec, observed.canary, spec.canary_deployment)
        result.update(
            total_replicas=total_replicas(spec, observed) if observed.stable else None,
            stable=stable,
            canary=canary,
            canary_selector=canary_selector(spec, observed.service)
            if observed.service else {},
            service=dict(name=spec.service, selector=service_selector(observed.service)),
        )
    else:
        result.update(
            ingress=ingress_report(observed.ingress),
            canary_ingress=ingress_report(observed.canary_ingress),
            live_services=routed_services(observed.ingress) if observed.ingress else [],
        )
    return result
