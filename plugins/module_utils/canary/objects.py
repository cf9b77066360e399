# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The objects a canary release touches: the label and annotation names the collection
sets, small readers of Deployments and Ingresses, the conditional merge patch, and the
refusal raised when the cluster's objects do not allow a request (pure)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.objects import (
    template_labels,
)

PREFIX = "progressive.delivery/"
TOTAL_REPLICAS = PREFIX + "canary-total-replicas"
ROLE = PREFIX + "role"
PREVIOUS_SERVICE = PREFIX + "previous-service"
MANAGED_BY = ("app.kubernetes.io/managed-by", "progressive.delivery")
NGINX = "nginx.ingress.kubernetes.io/"
CANARY_TRACK = "canary"


class PlanError(Exception):
    """The request is valid but the cluster's state forbids it (nothing was written)."""


def _meta(obj, key, default=None):
    return ((obj or {}).get("metadata") or {}).get(key, default)


def annotations(obj):
    return _meta(obj, "annotations") or {}


def replicas_of(deployment):
    if deployment is None:
        return 0
    return (deployment.get("spec") or {}).get("replicas", 1)


def template_of(deployment):
    return (deployment.get("spec") or {}).get("template") or {}


def match_labels(deployment):
    return (((deployment or {}).get("spec") or {}).get("selector") or {}).get("matchLabels") or {}


def images(deployment):
    containers = (template_of(deployment).get("spec") or {}).get("containers") or []
    return dict((c.get("name"), c.get("image")) for c in containers)


def version_of(spec, deployment):
    """A Deployment's version: its pods' version label, else its first container's image."""
    if deployment is None:
        return None
    labels = template_labels(deployment)
    if spec.version_label in labels:
        return labels[spec.version_label]
    containers = (template_of(deployment).get("spec") or {}).get("containers") or []
    return containers[0].get("image") if containers else None


def patch_at(obj, changes):
    """A merge patch carrying the read resourceVersion as an optimistic-lock precondition."""
    patch = copy.deepcopy(changes)
    patch.setdefault("metadata", {})["resourceVersion"] = obj["metadata"]["resourceVersion"]
    return patch
