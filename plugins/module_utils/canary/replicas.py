# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The replicas backend of k8s_canary (pure): a stable and a canary Deployment behind one
Service whose selector holds only the labels both share, so the Service spreads requests
over the pods of both and the percent becomes replica counts (``split_replicas``, the
rounding rule). Each planner returns the next writes in the order that never lowers
capacity; the backend makes the first, waits for it, reads again and asks again."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
from collections import namedtuple

from ansible_collections.progressive.delivery.plugins.module_utils.canary.objects import (
    CANARY_TRACK,
    MANAGED_BY,
    ROLE,
    TOTAL_REPLICAS,
    PlanError,
    annotations,
    images,
    match_labels,
    patch_at,
    replicas_of,
    template_of,
)
from ansible_collections.progressive.delivery.plugins.module_utils.engine import Write
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import DEPLOYMENT
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import (
    deployment_rollout,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.objects import (
    deployment_body,
    deployments_selected,
    labels_match,
    template_labels,
)


def split_replicas(total, weight):
    """(stable, canary) replica counts for ``weight`` percent of ``total`` pods.

    * 0 -> (total, 0) and 100 -> (0, total);
    * otherwise canary = total * weight / 100 rounded half up, but at least 1 (a non-zero
      weight always runs a canary pod) and at most total - 1 (the stable version keeps a
      pod until 100), so stable + canary == total;
    * with total == 1 there is no such split: one pod of each (2 pods while it lasts).
    """
    if not isinstance(total, int) or isinstance(total, bool) or total < 1:
        raise ValueError("total replicas must be an integer >= 1, got %r" % (total,))
    if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= 100:
        raise ValueError("weight must be an integer from 0 to 100, got %r" % (weight,))
    if weight == 0:
        return total, 0
    if weight == 100:
        return 0, total
    if total == 1:
        return 1, 1
    canary = (total * weight * 2 + 100) // 200  # round half up, in integers
    canary = min(max(canary, 1), total - 1)
    return total - canary, canary


def effective_weight(stable, canary):
    """The percent of requests the canary gets when a Service spreads them over pods."""
    if stable + canary == 0:
        return 0.0
    return round(100.0 * canary / (stable + canary), 2)


ReplicasObserved = namedtuple("ReplicasObserved", "stable canary service deployments")
ReplicasObserved.__new__.__defaults__ = (None,)
"""stable, canary, service: the object or None; deployments: every Deployment in the
namespace (None when not read: the selector's reach is then not checked)."""


def service_selector(service):
    return ((service or {}).get("spec") or {}).get("selector") or {}


def check_replicas_targets(spec, observed):
    """The Service and the stable Deployment must be there and fit; refuse otherwise."""
    ns = spec.namespace
    if observed.stable is None:
        raise PlanError("stable Deployment %s/%s not found (stable_deployment=%r): the canary "
                        "is released beside a running stable version"
                        % (ns, spec.stable_deployment, spec.stable_deployment))
    if observed.service is None:
        raise PlanError("Service %s/%s not found (service=%r): create the Service that selects "
                        "the pods of both versions first" % (ns, spec.service, spec.service))
    selector = service_selector(observed.service)
    if not selector:
        raise PlanError("Service %s/%s has no selector; the replicas backend needs one that "
                        "selects the stable and the canary pods" % (ns, spec.service))
    if spec.track_label in selector:
        raise PlanError("Service %s/%s selects %s=%s, so only one track gets traffic; its "
                        "selector must hold only labels both versions share (remove %r)"
                        % (ns, spec.service, spec.track_label, selector[spec.track_label],
                           spec.track_label))
    if spec.version is not None and spec.version_label in selector:
        raise PlanError("Service %s/%s selects %s=%s, so the canary (version %s) would get no "
                        "traffic; remove %r from its selector"
                        % (ns, spec.service, spec.version_label, selector[spec.version_label],
                           spec.version, spec.version_label))
    if not labels_match(selector, template_labels(observed.stable)):
        raise PlanError("Service %s/%s selector %s does not select the pods of the stable "
                        "Deployment %s (labels %s)"
                        % (ns, spec.service, selector, spec.stable_deployment,
                           template_labels(observed.stable)))
    if observed.canary is not None and spec.definition is None and spec.pod_template is None:
        if not labels_match(selector, template_labels(observed.canary)):
            raise PlanError("Service %s/%s selector %s does not select the pods of the canary "
                            "Deployment %s (labels %s)"
                            % (ns, spec.service, selector, spec.canary_deployment,
                               template_labels(observed.canary)))


def check_service_reach(spec, observed):
    """The Service must select no pods but the stable's and the canary's: another
    Deployment's pods would take a share of the requests, so the canary would not get the
    percent asked for (and scaling would not move it). Checked before a weight change or a
    promotion; an abort, which only hands traffic back to the stable version, goes on."""
    if observed.deployments is None:
        return
    ns, selector = spec.namespace, service_selector(observed.service)
    others = deployments_selected(selector, observed.deployments,
                                  besides=(spec.stable_deployment, spec.canary_deployment))
    if others:
        raise PlanError("Service %s/%s selector %s also selects the pods of Deployment %s, "
                        "which is neither the stable Deployment %s nor the canary %s: the "
                        "canary would not get the share asked for; give the Service a "
                        "selector that only the stable and the canary pods match"
                        % (ns, spec.service, selector, ", ".join(others),
                           spec.stable_deployment, spec.canary_deployment))


def canary_selector(spec, service):
    selector = dict(service_selector(service))
    selector[spec.track_label] = CANARY_TRACK
    return selector


def desired_canary(spec, service, replicas, total):
    """The server-side apply body of the canary Deployment (from definition or pod_template):
    its pods carry the Service's selector labels, track=canary and the version label."""
    body = deployment_body(spec.definition, spec.pod_template)
    meta = body["metadata"]
    meta["name"] = spec.canary_deployment
    meta["namespace"] = spec.namespace
    selector = canary_selector(spec, service)
    labels = dict(selector)
    if spec.version is not None:
        labels[spec.version_label] = spec.version
    template = body["spec"].setdefault("template", {})
    template_meta = template.setdefault("metadata", {})
    current = template_meta.get("labels") or {}
    for key, value in sorted(selector.items()):
        if key in current and str(current[key]) != value:
            raise PlanError("the canary's pod label %s=%s conflicts with Service %s, which "
                            "selects %s=%s; the canary's pods must carry it"
                            % (key, current[key], spec.service, key, value))
    template_meta["labels"] = dict(current, **labels)
    meta["labels"] = dict(meta.get("labels") or {}, **labels)
    meta["labels"][MANAGED_BY[0]] = MANAGED_BY[1]
    meta["annotations"] = dict(meta.get("annotations") or {}, **{
        TOTAL_REPLICAS: str(total), ROLE: "canary"})
    body["spec"]["replicas"] = replicas
    body["spec"]["selector"] = {"matchLabels": selector}
    return body


def total_replicas(spec, observed):
    """The capacity to keep: the replicas option, else what the canary recorded while it
    runs, else stable + canary now (a canary at 0 means no release is under way)."""
    if spec.replicas is not None:
        return spec.replicas
    canary = replicas_of(observed.canary)
    recorded = annotations(observed.canary).get(TOTAL_REPLICAS)
    if canary > 0 and recorded:
        try:
            return max(int(recorded), 1)
        except ValueError:
            pass
    return max(replicas_of(observed.stable) + canary, 1)


def scale_write(spec, deployment, replicas, role, extra_annotations=None):
    name = deployment["metadata"]["name"]
    changes = {"spec": {"replicas": replicas}}
    if extra_annotations:
        changes["metadata"] = {"annotations": dict(extra_annotations)}
    return Write("patch", DEPLOYMENT, spec.namespace, name, patch_at(deployment, changes),
                 "scale %s Deployment %s %d -> %d" % (role, name, replicas_of(deployment),
                                                      replicas))


def _canary_apply_needed(existing, body):
    """Whether applying ``body`` would change the canary (compared on what we send)."""
    if existing is None:
        return True
    if replicas_of(existing) != body["spec"]["replicas"]:
        return True
    if match_labels(existing) != body["spec"]["selector"]["matchLabels"]:
        return True
    for key, value in body["metadata"].get("annotations", {}).items():
        if annotations(existing).get(key) != value:
            return True
    return not _template_contains(template_of(existing), body["spec"]["template"])


def _template_contains(live, wanted):
    """True when every field of ``wanted`` is in ``live`` with the same value (the API
    server adds defaults to the live template, so equality would never hold)."""
    if isinstance(wanted, dict):
        if not isinstance(live, dict):
            return False
        return all(_template_contains(live.get(k), v) for k, v in wanted.items())
    if isinstance(wanted, list):
        if not isinstance(live, list) or len(live) != len(wanted):
            return False
        return all(_template_contains(a, b) for a, b in zip(live, wanted))
    if isinstance(wanted, (int, float)) and not isinstance(wanted, bool) and isinstance(
            live, str):
        return str(wanted) == live
    return live == wanted


def canary_write(spec, observed, replicas, total):
    """The write that gives the canary ``replicas`` pods (None when it already has them)."""
    if spec.definition is not None or spec.pod_template is not None:
        body = desired_canary(spec, observed.service, replicas, total)
        existing = observed.canary
        if existing is not None and match_labels(existing) != body["spec"]["selector"][
                "matchLabels"]:
            raise PlanError("canary Deployment %s/%s selects %s, but the canary needs %s; "
                            "Deployment selectors cannot change: delete it or name another "
                            "canary_deployment" % (spec.namespace, spec.canary_deployment,
                                                   match_labels(existing),
                                                   body["spec"]["selector"]["matchLabels"]))
        if not _canary_apply_needed(existing, body):
            return None
        if existing is not None:
            body["metadata"]["resourceVersion"] = existing["metadata"]["resourceVersion"]
        verb = "create" if existing is None else "update"
        return Write("apply", DEPLOYMENT, spec.namespace, spec.canary_deployment, body,
                     "%s canary Deployment %s (%s) with %d replica(s)"
                     % (verb, spec.canary_deployment,
                        ", ".join(sorted(set(images({"spec": body["spec"]}).values()))),
                        replicas))
    if observed.canary is None:
        if replicas == 0:
            return None
        raise PlanError("canary Deployment %s/%s not found: give definition or pod_template to "
                        "create it" % (spec.namespace, spec.canary_deployment))
    wanted_annotation = {TOTAL_REPLICAS: str(total)} if replicas > 0 else None
    if replicas_of(observed.canary) == replicas and (
            wanted_annotation is None
            or annotations(observed.canary).get(TOTAL_REPLICAS) == str(total)):
        return None
    return scale_write(spec, observed.canary, replicas, "canary", wanted_annotation)


def plan_weight(spec, observed):
    """The next write towards stable/canary counts for spec.weight, in the order that
    never lowers capacity: a growing canary first (so a canary that never gets ready
    leaves the stable version untouched), a growing stable version first otherwise."""
    check_replicas_targets(spec, observed)
    check_service_reach(spec, observed)
    total = total_replicas(spec, observed)
    stable_want, canary_want = split_replicas(total, spec.weight)
    canary_now = replicas_of(observed.canary)
    stable_w = None
    if replicas_of(observed.stable) != stable_want:
        stable_w = scale_write(spec, observed.stable, stable_want, "stable")
    canary_w = canary_write(spec, observed, canary_want, total)
    if canary_want >= canary_now:
        ordered = [canary_w, stable_w]
    else:
        ordered = [stable_w, canary_w]
    return [w for w in ordered if w is not None]


def promoted_template(spec, stable, canary_template):
    """The canary's pod template as the stable Deployment will run it: the track label
    becomes the stable's (its selector is immutable and must keep matching)."""
    template = copy.deepcopy(canary_template)
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    labels.pop(spec.track_label, None)
    stable_selector = match_labels(stable)
    for key, value in sorted(stable_selector.items()):
        if key in labels and labels[key] != value:
            raise PlanError("cannot promote: the stable Deployment %s selects %s=%s (selectors "
                            "cannot change) but the canary's pods have %s=%s; the stable "
                            "Deployment's selector must not pin a per-version label"
                            % (spec.stable_deployment, key, value, key, labels[key]))
        labels[key] = value
    template.setdefault("metadata", {})["labels"] = labels
    return template


def _strip_template(template):
    """A template without the fields the API server fills in, for comparison."""
    template = copy.deepcopy(template)
    (template.get("metadata") or {}).pop("creationTimestamp", None)
    return template


def plan_promote(spec, observed):
    """Stable runs the canary's template at full capacity (rolled out), then the canary
    goes to zero. Idempotent: done when the stable runs that template and the canary has
    no pods."""
    check_replicas_targets(spec, observed)
    check_service_reach(spec, observed)
    total = total_replicas(spec, observed)
    canary = observed.canary
    if spec.definition is not None or spec.pod_template is not None:
        source = desired_canary(spec, observed.service, 1, total)["spec"]["template"]
    elif canary is not None:
        source = template_of(canary)
    else:
        raise PlanError("nothing to promote: canary Deployment %s/%s not found"
                        % (spec.namespace, spec.canary_deployment))
    wanted = promoted_template(spec, observed.stable, source)
    stable_done = _template_contains(template_of(observed.stable), _strip_template(wanted)) \
        and replicas_of(observed.stable) == total
    if not stable_done:
        if canary is None or replicas_of(canary) == 0:
            raise PlanError("nothing to promote: canary Deployment %s/%s has no pods (it was "
                            "aborted or never started); the stable version stays"
                            % (spec.namespace, spec.canary_deployment))
        ready, text = readiness(canary)
        if not ready and not spec.force:
            raise PlanError("refusing to promote: canary Deployment %s is not ready: %s; set "
                            "force=true to do it anyway" % (spec.canary_deployment, text))
        body = copy.deepcopy(observed.stable)
        body.pop("status", None)
        body["metadata"].pop("managedFields", None)
        body["spec"]["template"] = _strip_template(wanted)
        body["spec"]["replicas"] = total
        return [Write("replace", DEPLOYMENT, spec.namespace, spec.stable_deployment, body,
                      "promote: stable Deployment %s runs the canary's template (%s) with %d "
                      "replica(s)" % (spec.stable_deployment,
                                      ", ".join(sorted(set(images(body).values()))), total))]
    if canary is not None and replicas_of(canary) != 0:
        return [scale_write(spec, canary, 0, "canary")]
    return []


def plan_abort(spec, observed):
    """All traffic back to stable in one step: stable to full capacity first (ready pods
    never drop below what there was), then the canary to zero."""
    check_replicas_targets(spec, observed)
    total = total_replicas(spec, observed)
    if replicas_of(observed.stable) < total:
        return [scale_write(spec, observed.stable, total, "stable")]
    if observed.canary is not None and replicas_of(observed.canary) != 0:
        return [scale_write(spec, observed.canary, 0, "canary")]
    return []


def readiness(deployment):
    """(ready?, text): rolled out and every desired replica ready."""
    want = replicas_of(deployment)
    ready = (deployment.get("status") or {}).get("readyReplicas", 0)
    check = deployment_rollout(deployment)
    text = "%d of %d replicas ready" % (ready, want)
    if not check.done:
        return False, "%s (%s)" % (text, check.message)
    return ready >= want, text


def plan_replicas(spec, observed):
    if spec.state == "present":
        return plan_weight(spec, observed)
    if spec.state == "promoted":
        return plan_promote(spec, observed)
    return plan_abort(spec, observed)
