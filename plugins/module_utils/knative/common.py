# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Knative Serving resources, label keys and small readers shared by the knative_* modules.

Everything here is pure (dicts in, values out); the backends do the I/O.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import Resource

KSERVICE = Resource("serving.knative.dev/v1", "Service", "services", True)
ROUTE = Resource("serving.knative.dev/v1", "Route", "routes", True)
CONFIGURATION = Resource("serving.knative.dev/v1", "Configuration", "configurations", True)
REVISION = Resource("serving.knative.dev/v1", "Revision", "revisions", True)
PODAUTOSCALER = Resource("autoscaling.internal.knative.dev/v1alpha1", "PodAutoscaler",
                         "podautoscalers", True)

GROUP = "serving.knative.dev/"
SERVICE_LABEL = GROUP + "service"
CONFIGURATION_LABEL = GROUP + "configuration"
CONFIGURATION_GENERATION_LABEL = GROUP + "configurationGeneration"
ROUTE_LABEL = GROUP + "route"
REVISION_LABEL = GROUP + "revision"
ROUTING_STATE_LABEL = GROUP + "routingState"


def meta(obj, key, default=None):
    return ((obj or {}).get("metadata") or {}).get(key, default)


def labels(obj):
    return meta(obj, "labels") or {}


def status(obj):
    return (obj or {}).get("status") or {}


def condition(obj, cond_type):
    """The status condition of that type (a dict) or None."""
    for cond in status(obj).get("conditions") or []:
        if cond.get("type") == cond_type:
            return cond
    return None


def condition_status(obj, cond_type):
    """'True', 'False' or 'Unknown' (a missing condition counts as Unknown)."""
    cond = condition(obj, cond_type)
    return str(cond.get("status")) if cond and cond.get("status") is not None else "Unknown"


def describe_condition(cond, cond_type="Ready"):
    """'Ready=False (RevisionFailed: the message)' for messages to the user."""
    if not cond:
        return "%s not reported yet" % cond_type
    text = "%s=%s" % (cond.get("type", cond_type), cond.get("status"))
    detail = ": ".join(x for x in (cond.get("reason"), cond.get("message")) if x)
    return "%s (%s)" % (text, detail) if detail else text


def generation_observed(obj):
    """The controller has seen the object's latest spec (status.observedGeneration)."""
    generation = meta(obj, "generation")
    observed = status(obj).get("observedGeneration")
    if generation is None:
        return True
    return observed is not None and observed >= generation


def is_ready(obj):
    return generation_observed(obj) and condition_status(obj, "Ready") == "True"


def revision_configuration(revision):
    return labels(revision).get(CONFIGURATION_LABEL)


def revision_service(revision):
    return labels(revision).get(SERVICE_LABEL)


def revision_generation(revision):
    """The configurationGeneration label as an int (None when missing or not a number)."""
    value = labels(revision).get(CONFIGURATION_GENERATION_LABEL)
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
