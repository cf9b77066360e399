# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Conditions: small pure predicates over an object (a dict), each returning a ``Check``.

Planners and status reports use them directly; ``wait.py`` only decides *when* to
evaluate them (on a fresh read, then on every watch event).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections import namedtuple


class Check(namedtuple("Check", "done message failed")):
    """done: the condition holds; failed: it can no longer hold (stop waiting)."""

    def __new__(cls, done, message, failed=False):
        return super(Check, cls).__new__(cls, done, message, failed)


def meta_value(obj, key, default=None):
    return (obj.get("metadata") or {}).get(key, default)


def deployment_rollout(obj):
    """A Deployment's rollout is complete, as ``kubectl rollout status`` defines it."""
    if obj is None:
        return Check(False, "the Deployment does not exist")
    name = meta_value(obj, "name")
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    if meta_value(obj, "generation", 0) > status.get("observedGeneration", 0):
        return Check(False, "waiting for the Deployment spec update to be observed")
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return Check(False, 'deployment "%s" exceeded its progress deadline' % name, True)
    want = spec.get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    total = status.get("replicas", 0)
    ready = status.get("readyReplicas", 0)
    available = status.get("availableReplicas", 0)
    if updated < want:
        return Check(False, "%d out of %d new replicas have been updated" % (updated, want))
    if total > updated:
        return Check(False, "%d old replicas are pending termination" % (total - updated))
    if ready < updated:
        return Check(False, "%d of %d updated replicas are ready" % (ready, updated))
    if available < updated:
        return Check(False, "%d of %d updated replicas are available" % (available, updated))
    return Check(True, 'deployment "%s" successfully rolled out' % name)


def condition_is(cond_type, status="True", reason=None):
    """Predicate: status condition ``cond_type`` has ``status`` (and ``reason``) for the
    current generation of the object."""
    status = str(status)

    def predicate(obj):
        if obj is None:
            return Check(False, "the object does not exist")
        generation = meta_value(obj, "generation")
        obj_status = obj.get("status") or {}
        observed = obj_status.get("observedGeneration")
        if generation is not None and observed is not None and observed < generation:
            return Check(False, "generation %s not observed yet (at %s)" % (generation, observed))
        for cond in obj_status.get("conditions") or []:
            if cond.get("type") != cond_type:
                continue
            cond_gen = cond.get("observedGeneration")
            if generation is not None and cond_gen is not None and cond_gen < generation:
                return Check(False, "condition %s is for generation %s" % (cond_type, cond_gen))
            matches = str(cond.get("status")) == status and (
                reason is None or cond.get("reason") == reason
            )
            text = "condition %s=%s reason=%s: %s" % (
                cond_type, cond.get("status"), cond.get("reason"), cond.get("message", "")
            )
            return Check(matches, text.rstrip(": "))
        return Check(False, "condition %s not reported yet" % cond_type)

    return predicate


def pod_is_ready(pod):
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def describe_unready_pod(pod):
    """One line saying why a pod is not ready: phase, Ready reason, container states."""
    status = pod.get("status") or {}
    parts = ["phase=%s" % status.get("phase", "Unknown")]
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Ready" and cond.get("status") != "True":
            detail = cond.get("reason") or "NotReady"
            if cond.get("message"):
                detail += " (%s)" % cond["message"]
            parts.append("Ready=False: " + detail)
    if status.get("phase") == "Pending":
        for cond in status.get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("status") != "True":
                parts.append("unschedulable: %s" % cond.get("message", cond.get("reason")))
    for container in status.get("containerStatuses") or []:
        state = container.get("state") or {}
        waiting = state.get("waiting")
        if waiting:
            parts.append("container %s waiting: %s" % (container.get("name"), waiting.get("reason")))
        elif not container.get("ready"):
            parts.append("container %s not ready" % container.get("name"))
        if container.get("restartCount"):
            parts.append("restarts=%d" % container["restartCount"])
    node = (pod.get("spec") or {}).get("nodeName") or "unscheduled"
    return "pod %s on %s: %s" % (meta_value(pod, "name"), node, "; ".join(parts))


def label_selector_string(selector):
    """metav1.LabelSelector (dict) -> the string form the API's labelSelector takes."""
    terms = ["%s=%s" % item for item in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        op = expr.get("operator")
        values = ",".join(expr.get("values") or [])
        if op == "In":
            terms.append("%s in (%s)" % (expr["key"], values))
        elif op == "NotIn":
            terms.append("%s notin (%s)" % (expr["key"], values))
        elif op == "Exists":
            terms.append(expr["key"])
        elif op == "DoesNotExist":
            terms.append("!" + expr["key"])
    return ",".join(terms)


def service_slice_selector(service):
    """The label selector of a Service's EndpointSlices."""
    return "kubernetes.io/service-name=" + service


def serving_pod_names(slices):
    """Names of the pods a Service sends traffic to, from its EndpointSlices: endpoints whose
    ``ready`` condition is not false (unset means ready, as the API defines it). An endpoint
    without a pod behind it is named by its addresses, so it counts as a stray."""
    names = set()
    for endpoint_slice in slices or []:
        for endpoint in endpoint_slice.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            ref = endpoint.get("targetRef") or {}
            names.add(ref.get("name") if ref.get("kind", "Pod") == "Pod" and ref.get("name")
                      else ",".join(endpoint.get("addresses") or []))
    return names


def _some(names, limit=5):
    names = sorted(n for n in names if n)
    more = len(names) - limit
    return ", ".join(names[:limit]) + (" and %d more" % more if more > 0 else "")


def service_serves(service, wanted, exact=False):
    """Predicate on a Service's EndpointSlices (a list): traffic goes to ``wanted`` pods and
    no others (and, with ``exact``, to every one of them)."""

    def predicate(slices):
        if not slices:
            return Check(False, "no EndpointSlices for Service %s yet" % service)
        ready = serving_pod_names(slices)
        strays, missing = ready - wanted, wanted - ready
        if not ready:
            return Check(False, "Service %s has no ready endpoints" % service)
        if strays:
            return Check(False, "Service %s still sends traffic to %s" % (service, _some(strays)))
        if exact and missing:
            return Check(False, "Service %s does not send traffic to %s yet" % (
                service, _some(missing)))
        return Check(True, "Service %s sends traffic to %d pods" % (service, len(ready)))

    return predicate


def statefulset_rollout(obj):
    """A StatefulSet's rollout is complete, as ``kubectl rollout status`` defines it
    (RollingUpdate strategy; with a partition, the pods at or above it)."""
    if obj is None:
        return Check(False, "the StatefulSet does not exist")
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return Check(False, "rollout status is only available for the RollingUpdate strategy "
                     "(this StatefulSet uses %s)" % strategy.get("type"), True)
    if meta_value(obj, "generation", 0) > status.get("observedGeneration", 0):
        return Check(False, "waiting for the StatefulSet spec update to be observed")
    want = spec.get("replicas", 1)
    if status.get("readyReplicas", 0) < want:
        return Check(False, "waiting for %d pods to be ready (%d ready)" % (
            want, status.get("readyReplicas", 0)))
    partition = (strategy.get("rollingUpdate") or {}).get("partition") or 0
    if partition:
        if status.get("updatedReplicas", 0) < want - partition:
            return Check(False, "waiting for partitioned roll out to finish: %d out of %d new "
                         "pods have been updated" % (status.get("updatedReplicas", 0),
                                                     want - partition))
        return Check(True, "partitioned roll out complete: %d new pods have been updated"
                     % status.get("updatedReplicas", 0))
    if status.get("updateRevision") != status.get("currentRevision"):
        return Check(False, "waiting for statefulset rolling update to complete %d pods at "
                     "revision %s" % (status.get("updatedReplicas", 0),
                                      status.get("updateRevision")))
    return Check(True, "statefulset rolling update complete %d pods at revision %s" % (
        status.get("currentReplicas", 0), status.get("currentRevision")))


def daemonset_rollout(obj):
    """A DaemonSet's rollout is complete, as ``kubectl rollout status`` defines it."""
    if obj is None:
        return Check(False, "the DaemonSet does not exist")
    strategy = (obj.get("spec") or {}).get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return Check(False, "rollout status is only available for the RollingUpdate strategy "
                     "(this DaemonSet uses %s)" % strategy.get("type"), True)
    status = obj.get("status") or {}
    name = meta_value(obj, "name")
    if meta_value(obj, "generation", 0) > status.get("observedGeneration", 0):
        return Check(False, "waiting for the DaemonSet spec update to be observed")
    want = status.get("desiredNumberScheduled", 0)
    updated = status.get("updatedNumberScheduled", 0)
    if updated < want:
        return Check(False, 'waiting for daemon set "%s" rollout to finish: %d out of %d new '
                     "pods have been updated" % (name, updated, want))
    if status.get("numberAvailable", 0) < want:
        return Check(False, 'waiting for daemon set "%s" rollout to finish: %d of %d updated '
                     "pods are available" % (name, status.get("numberAvailable", 0), want))
    return Check(True, 'daemon set "%s" successfully rolled out' % name)


ROLLOUT_STATUS = {
    "Deployment": deployment_rollout,
    "StatefulSet": statefulset_rollout,
    "DaemonSet": daemonset_rollout,
}


def deployment_batch(batch, generation, ready=False):
    """Predicate: the Deployment (of at least ``generation``) runs ``batch`` pods of its
    template (``updatedReplicas``), all ready with ``ready``."""

    def predicate(obj):
        if obj is None:
            return Check(False, "the Deployment does not exist", True)
        status = obj.get("status") or {}
        if status.get("observedGeneration", 0) < max(generation, meta_value(obj, "generation", 0)):
            return Check(False, "waiting for the Deployment spec update to be observed")
        updated = status.get("updatedReplicas", 0)
        if updated < batch:
            return Check(False, "%d of %d new pods created" % (updated, batch))
        if ready and status.get("readyReplicas", 0) < status.get("replicas", 0):
            return Check(False, "%d of %d pods ready (%d of them new)" % (
                status.get("readyReplicas", 0), status.get("replicas", 0), updated))
        return Check(True, "%d new pods%s" % (updated, " ready" if ready else ""))

    return predicate
