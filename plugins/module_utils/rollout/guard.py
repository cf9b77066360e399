# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a held Deployment moving on to its next batch waits for between the guard write
(a long ``minReadySeconds`` while still paused) and the batch write.

On the batch write the Deployment controller scales the new ReplicaSet up to the batch,
then scales the old ones down by as many pods as its cache of the ReplicaSets counts
available beyond ``replicas - maxUnavailable`` (0 during a hold). Pods held through a pause
are available under the Deployment's own ``minReadySeconds``; they stop counting only once

1. the Deployment controller has copied the long ``minReadySeconds`` to the new
   ReplicaSet (``spec.minReadySeconds``; it does so while paused too), and the ReplicaSet
   controller has recomputed that ReplicaSet's ``status.availableReplicas`` with it
   (``observedGeneration`` caught up with the spec change): 0;
2. the Deployment controller's own cache has that status: shown by the Deployment status
   it writes from that cache (its ``availableReplicas`` no longer counts the held pods).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import Check


def held_pods_unavailable(min_ready_seconds):
    """Predicate on the held ReplicaSet: step 1 above."""

    def predicate(rs):
        if rs is None:
            return Check(False, "the ReplicaSet of the held pods was deleted", True)
        spec, status = rs.get("spec") or {}, rs.get("status") or {}
        if spec.get("minReadySeconds", 0) != min_ready_seconds:
            return Check(False, "waiting for the Deployment controller to copy "
                         "minReadySeconds %d to the ReplicaSet (it has %d)" % (
                             min_ready_seconds, spec.get("minReadySeconds", 0)))
        generation = (rs.get("metadata") or {}).get("generation", 0)
        if status.get("observedGeneration", 0) < generation:
            return Check(False, "waiting for the ReplicaSet controller to observe "
                         "generation %d (it saw %d)" % (
                             generation, status.get("observedGeneration", 0)))
        available = status.get("availableReplicas", 0)
        if available:
            return Check(False, "%d held pod(s) still counted as available" % available)
        return Check(True, "none of the %d held pod(s) counts as available" % (
            status.get("replicas", 0)))

    return predicate


def deployment_counts_held_unavailable(generation):
    """Predicate on the Deployment: step 2 above, once its status is of at least
    ``generation`` (the guard write's). The held pods are the updated ones: available at
    most the pods that are not updated. (With old pods unavailable too this can hold on a
    status that still counts held ones; step 1 has then proved them unavailable at the API
    server already, and the controller's cache is behind it by its watch latency only.)"""

    def predicate(obj):
        if obj is None:
            return Check(False, "the Deployment was deleted", True)
        status = obj.get("status") or {}
        wanted = max(generation, (obj.get("metadata") or {}).get("generation", 0))
        if status.get("observedGeneration", 0) < wanted:
            return Check(False, "waiting for the Deployment controller to observe "
                         "generation %d" % wanted)
        available, updated = status.get("availableReplicas", 0), status.get("updatedReplicas", 0)
        others = status.get("replicas", 0) - updated
        if available > others:
            return Check(False, "the Deployment status still counts %d available pod(s), "
                         "more than its %d pod(s) not updated" % (available, others))
        return Check(True, "the Deployment status counts none of its %d updated pod(s) as "
                     "available" % updated)

    return predicate
