# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure planning for canary releases (k8s_canary).

Two backends turn "N percent of traffic to the canary" into objects:

* ``replicas``: a stable and a canary Deployment behind one Service whose selector holds
  only the labels both share, so the Service spreads requests over the pods of both and
  the percent becomes replica counts (``split_replicas``).
* ``nginx``: a second Ingress beside the main one with the ingress-nginx canary
  annotations; the percent is its ``canary-weight``.

Nothing here talks to the API server: the runner reads, these functions return the next
write, the runner writes it, waits, reads again and asks for the next one until nothing is
left. Every rule that decides where traffic goes is unit-tested.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
from collections import namedtuple

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    FieldErrors,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import (
    deployment_rollout,
)

PREFIX = "progressive.delivery/"
TOTAL_REPLICAS = PREFIX + "canary-total-replicas"
ROLE = PREFIX + "role"
PREVIOUS_SERVICE = PREFIX + "previous-service"
MANAGED_BY = ("app.kubernetes.io/managed-by", "progressive.delivery")
NGINX = "nginx.ingress.kubernetes.io/"
CANARY_ANNOTATIONS = ("canary", "canary-weight", "canary-by-header", "canary-by-header-value",
                      "canary-by-header-pattern", "canary-by-cookie")

BACKENDS = ("replicas", "nginx")
STATES = ("present", "promoted", "aborted")
CANARY_TRACK = "canary"

Write = namedtuple("Write", "verb kind name body description")
"""verb: apply | create | patch | replace | delete; kind: Deployment | Ingress; body: the
server-side apply body, the manifest (create, replace: carries resourceVersion), a JSON
merge patch carrying metadata.resourceVersion as precondition, or None (delete)."""


class Spec(namedtuple(
    "Spec",
    "name namespace backend state weight stable_deployment canary_deployment definition "
    "pod_template replicas service track_label version version_label nginx force",
)):
    """Validated module input."""


class PlanError(Exception):
    """The request is valid but the cluster's state forbids it (nothing was written)."""


# ---------------------------------------------------------------------------
# the rounding rule
# ---------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------
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
    if port is not None and not (isinstance(port, int) and not isinstance(port, bool)
                                 and 0 < port < 65536) and not isinstance(port, str):
        errs.add("nginx.canary_service_port", "must be a port number or name, got %r", port)
    return nginx


# ---------------------------------------------------------------------------
# reading what is there
# ---------------------------------------------------------------------------
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


def template_labels(deployment):
    return (template_of(deployment).get("metadata") or {}).get("labels") or {}


def labels_match(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


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


# ---------------------------------------------------------------------------
# the replicas backend
# ---------------------------------------------------------------------------
ReplicasObserved = namedtuple("ReplicasObserved", "stable canary service")


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


def canary_selector(spec, service):
    selector = dict(service_selector(service))
    selector[spec.track_label] = CANARY_TRACK
    return selector


def desired_canary(spec, service, replicas, total):
    """The server-side apply body of the canary Deployment (from definition or pod_template):
    its pods carry the Service's selector labels, track=canary and the version label."""
    if spec.definition is not None:
        body = copy.deepcopy(spec.definition)
    else:
        body = {"spec": {"template": copy.deepcopy(spec.pod_template)}}
    body["apiVersion"] = "apps/v1"
    body["kind"] = "Deployment"
    meta = body.setdefault("metadata", {})
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


def _patch(obj, changes):
    """A merge patch carrying the read resourceVersion as an optimistic-lock precondition."""
    patch = copy.deepcopy(changes)
    patch.setdefault("metadata", {})["resourceVersion"] = obj["metadata"]["resourceVersion"]
    return patch


def scale_write(deployment, replicas, role, extra_annotations=None):
    name = deployment["metadata"]["name"]
    changes = {"spec": {"replicas": replicas}}
    if extra_annotations:
        changes["metadata"] = {"annotations": dict(extra_annotations)}
    return Write("patch", "Deployment", name, _patch(deployment, changes),
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
        return Write("apply", "Deployment", spec.canary_deployment, body,
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
    return scale_write(observed.canary, replicas, "canary", wanted_annotation)


def plan_weight(spec, observed):
    """The next write towards stable/canary counts for spec.weight, in the order that
    never lowers capacity: a growing canary first (so a canary that never gets ready
    leaves the stable version untouched), a growing stable version first otherwise."""
    check_replicas_targets(spec, observed)
    total = total_replicas(spec, observed)
    stable_want, canary_want = split_replicas(total, spec.weight)
    canary_now = replicas_of(observed.canary)
    stable_w = None
    if replicas_of(observed.stable) != stable_want:
        stable_w = scale_write(observed.stable, stable_want, "stable")
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
        return [Write("replace", "Deployment", spec.stable_deployment, body,
                      "promote: stable Deployment %s runs the canary's template (%s) with %d "
                      "replica(s)" % (spec.stable_deployment,
                                      ", ".join(sorted(set(images(body).values()))), total))]
    if canary is not None and replicas_of(canary) != 0:
        return [scale_write(canary, 0, "canary")]
    return []


def plan_abort(spec, observed):
    """All traffic back to stable in one step: stable to full capacity first (ready pods
    never drop below what there was), then the canary to zero."""
    check_replicas_targets(spec, observed)
    total = total_replicas(spec, observed)
    if replicas_of(observed.stable) < total:
        return [scale_write(observed.stable, total, "stable")]
    if observed.canary is not None and replicas_of(observed.canary) != 0:
        return [scale_write(observed.canary, 0, "canary")]
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


# ---------------------------------------------------------------------------
# the nginx backend
# ---------------------------------------------------------------------------
NginxObserved = namedtuple("NginxObserved", "ingress canary_ingress canary_service")


def _backend_service(entry):
    return ((entry.get("backend") or {}).get("service") or {})


def routed_services(ingress):
    """Names of the Services the Ingress's paths route to, in order of appearance."""
    names = []
    for rule in (ingress.get("spec") or {}).get("rules") or []:
        for entry in (rule.get("http") or {}).get("paths") or []:
            name = _backend_service(entry).get("name")
            if name and name not in names:
                names.append(name)
    return names


def stable_service_of(spec, ingress):
    if spec.nginx.get("stable_service"):
        return spec.nginx["stable_service"]
    names = routed_services(ingress)
    if spec.nginx.get("canary_service") in names and len(names) > 1:
        names = [n for n in names if n != spec.nginx["canary_service"]]
    if len(names) != 1:
        raise PlanError("Ingress %s/%s routes to %s; set nginx.stable_service to the one the "
                        "canary shares traffic with"
                        % (spec.namespace, spec.nginx["ingress"],
                           ", ".join(names) if names else "no Service"))
    return names[0]


def _service_port_for(spec, canary_service, stable_port):
    """The port of the canary Service the canary Ingress uses."""
    wanted = spec.nginx.get("canary_service_port")
    ports = ((canary_service or {}).get("spec") or {}).get("ports") or []
    if wanted is not None:
        key = "number" if isinstance(wanted, int) else "name"
        field = "port" if key == "number" else "name"
        if ports and not any(p.get(field) == wanted for p in ports):
            raise PlanError("Service %s/%s has no port %r (nginx.canary_service_port)"
                            % (spec.namespace, spec.nginx["canary_service"], wanted))
        return {key: wanted}
    if "number" in stable_port and any(p.get("port") == stable_port["number"] for p in ports):
        return dict(stable_port)
    if "name" in stable_port and any(p.get("name") == stable_port["name"] for p in ports):
        return dict(stable_port)
    if len(ports) == 1:
        return {"number": ports[0]["port"]}
    raise PlanError("cannot tell which port of Service %s/%s the canary Ingress should use "
                    "(the stable backend uses %s); set nginx.canary_service_port"
                    % (spec.namespace, spec.nginx["canary_service"], stable_port))


def canary_rules(spec, ingress, stable_service, canary_service):
    """The main Ingress's rules reduced to the paths that reach the stable Service, each
    sent to the canary Service: ingress-nginx pairs a canary Ingress with the main one by
    host and path."""
    rules = []
    for rule in (ingress.get("spec") or {}).get("rules") or []:
        paths = []
        for entry in (rule.get("http") or {}).get("paths") or []:
            backend = _backend_service(entry)
            if backend.get("name") != stable_service:
                continue
            port = _service_port_for(spec, canary_service, backend.get("port") or {})
            new = {"path": entry.get("path", "/"), "pathType": entry.get("pathType", "Prefix"),
                   "backend": {"service": {"name": spec.nginx["canary_service"], "port": port}}}
            paths.append(new)
        if paths:
            new_rule = {"http": {"paths": paths}}
            if rule.get("host"):
                new_rule["host"] = rule["host"]
            rules.append(new_rule)
    if not rules:
        raise PlanError("Ingress %s/%s has no path that routes to Service %s (the stable "
                        "Service): nothing for a canary to share"
                        % (spec.namespace, spec.nginx["ingress"], stable_service))
    return rules


def canary_annotations(spec, weight):
    nginx = spec.nginx
    wanted = {NGINX + "canary": "true", NGINX + "canary-weight": str(weight)}
    if nginx.get("header"):
        wanted[NGINX + "canary-by-header"] = nginx["header"]
    if nginx.get("header_value") is not None:
        wanted[NGINX + "canary-by-header-value"] = str(nginx["header_value"])
    if nginx.get("header_pattern") is not None:
        wanted[NGINX + "canary-by-header-pattern"] = str(nginx["header_pattern"])
    if nginx.get("cookie"):
        wanted[NGINX + "canary-by-cookie"] = nginx["cookie"]
    return wanted


def canary_ingress_manifest(spec, ingress, stable_service, canary_service, weight):
    annotations_ = canary_annotations(spec, weight)
    annotations_[ROLE] = "canary"
    annotations_[PREVIOUS_SERVICE] = stable_service
    body = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": spec.nginx["canary_ingress"], "namespace": spec.namespace,
                     "labels": {MANAGED_BY[0]: MANAGED_BY[1]},
                     "annotations": annotations_},
        "spec": {"rules": canary_rules(spec, ingress, stable_service, canary_service)},
    }
    class_name = (ingress.get("spec") or {}).get("ingressClassName")
    if class_name:
        body["spec"]["ingressClassName"] = class_name
    legacy_class = annotations(ingress).get("kubernetes.io/ingress.class")
    if legacy_class:
        body["metadata"]["annotations"]["kubernetes.io/ingress.class"] = legacy_class
    return body


def check_nginx_targets(spec, observed):
    ns = spec.namespace
    if observed.ingress is None:
        raise PlanError("Ingress %s/%s not found (nginx.ingress=%r): the canary Ingress is "
                        "added beside an existing main Ingress"
                        % (ns, spec.nginx["ingress"], spec.nginx["ingress"]))
    if spec.state != "aborted" and observed.canary_service is None:
        raise PlanError("Service %s/%s not found (nginx.canary_service=%r): deploy the canary "
                        "and its Service first" % (ns, spec.nginx["canary_service"],
                                                   spec.nginx["canary_service"]))
    if annotations(observed.ingress).get(NGINX + "canary") == "true":
        raise PlanError("Ingress %s/%s is itself a canary Ingress (%scanary=true); "
                        "nginx.ingress names the main one" % (ns, spec.nginx["ingress"], NGINX))


def nginx_promoted(spec, observed):
    """Promotion is done: the main Ingress routes the canary Service, no canary Ingress."""
    return (observed.canary_ingress is None and spec.nginx.get("canary_service") in
            routed_services(observed.ingress))


def plan_nginx_weight(spec, observed):
    check_nginx_targets(spec, observed)
    if spec.nginx.get("stable_service") is None and routed_services(observed.ingress) == [
            spec.nginx["canary_service"]]:
        raise PlanError("Ingress %s/%s already routes to the canary Service %s (promoted); "
                        "a new canary needs a new canary_service"
                        % (spec.namespace, spec.nginx["ingress"], spec.nginx["canary_service"]))
    stable = stable_service_of(spec, observed.ingress)
    body = canary_ingress_manifest(spec, observed.ingress, stable, observed.canary_service,
                                   spec.weight)
    current = observed.canary_ingress
    name = spec.nginx["canary_ingress"]
    if current is None:
        return [Write("create", "Ingress", name, body,
                      "create canary Ingress %s: %s%% -> Service %s"
                      % (name, spec.weight, spec.nginx["canary_service"]))]
    live_ann = annotations(current)
    if live_ann.get(NGINX + "canary") != "true" and live_ann.get(ROLE) != "canary":
        raise PlanError("Ingress %s/%s exists and is not a canary Ingress; name another "
                        "nginx.canary_ingress" % (spec.namespace, name))
    wanted_ann = body["metadata"]["annotations"]
    ann_changes = dict((k, v) for k, v in wanted_ann.items() if live_ann.get(k) != v)
    for key in CANARY_ANNOTATIONS:  # drop header/cookie routing no longer asked for
        if NGINX + key in live_ann and NGINX + key not in wanted_ann:
            ann_changes[NGINX + key] = None
    spec_changes = {}
    live_spec = current.get("spec") or {}
    if live_spec.get("rules") != body["spec"]["rules"]:
        spec_changes["rules"] = body["spec"]["rules"]
    if live_spec.get("ingressClassName") != body["spec"].get("ingressClassName"):
        spec_changes["ingressClassName"] = body["spec"].get("ingressClassName")
    if not ann_changes and not spec_changes:
        return []
    changes = {"metadata": {"annotations": ann_changes}}
    if spec_changes:
        changes["spec"] = spec_changes
    before = live_ann.get(NGINX + "canary-weight", "0")
    return [Write("patch", "Ingress", name, _patch(current, changes),
                  "canary Ingress %s: weight %s -> %s" % (name, before, spec.weight)
                  if before != str(spec.weight) else
                  "canary Ingress %s: routing settings updated" % name)]


def plan_nginx_promote(spec, observed):
    """Main Ingress to the canary Service (one write), then the canary Ingress goes."""
    check_nginx_targets(spec, observed)
    if nginx_promoted(spec, observed):
        return []
    canary_service = spec.nginx["canary_service"]
    name = spec.nginx["canary_ingress"]
    if canary_service not in routed_services(observed.ingress):
        if observed.canary_ingress is None and not spec.force:
            raise PlanError("nothing to promote: there is no canary Ingress %s/%s (it was "
                            "aborted or never created); set force=true to switch anyway"
                            % (spec.namespace, name))
        stable = stable_service_of(spec, observed.ingress)
        return [main_ingress_switch(spec, observed, stable, canary_service)]
    return [Write("delete", "Ingress", name, None, "delete canary Ingress %s" % name)]


def main_ingress_switch(spec, observed, stable, canary_service_name):
    ingress = observed.ingress
    rules = copy.deepcopy((ingress.get("spec") or {}).get("rules") or [])
    for rule in rules:
        for entry in (rule.get("http") or {}).get("paths") or []:
            backend = _backend_service(entry)
            if backend.get("name") == stable:
                port = _service_port_for(spec, observed.canary_service, backend.get("port") or {})
                entry["backend"] = {"service": {"name": canary_service_name, "port": port}}
    changes = {"metadata": {"annotations": {PREVIOUS_SERVICE: stable}}, "spec": {"rules": rules}}
    return Write("patch", "Ingress", spec.nginx["ingress"], _patch(ingress, changes),
                 "promote: Ingress %s routes %s instead of %s"
                 % (spec.nginx["ingress"], canary_service_name, stable))


def plan_nginx_abort(spec, observed):
    if observed.ingress is None:
        raise PlanError("Ingress %s/%s not found (nginx.ingress=%r)"
                        % (spec.namespace, spec.nginx["ingress"], spec.nginx["ingress"]))
    if observed.canary_ingress is None:
        return []
    name = spec.nginx["canary_ingress"]
    return [Write("delete", "Ingress", name, None,
                  "abort: delete canary Ingress %s (all traffic to the stable Service)" % name)]


def plan_nginx(spec, observed):
    if spec.state == "present":
        return plan_nginx_weight(spec, observed)
    if spec.state == "promoted":
        return plan_nginx_promote(spec, observed)
    return plan_nginx_abort(spec, observed)


def nginx_weight(canary_ingress):
    """The canary weight in force (0 without a canary Ingress)."""
    if canary_ingress is None:
        return 0
    try:
        return int(annotations(canary_ingress).get(NGINX + "canary-weight", "0"))
    except ValueError:
        return 0


def ingress_report(ingress):
    if ingress is None:
        return None
    paths = []
    for rule in (ingress.get("spec") or {}).get("rules") or []:
        for entry in (rule.get("http") or {}).get("paths") or []:
            backend = _backend_service(entry)
            paths.append(dict(host=rule.get("host"), path=entry.get("path"),
                              service=backend.get("name"), port=backend.get("port")))
    return dict(name=ingress["metadata"]["name"], paths=paths,
                class_name=(ingress.get("spec") or {}).get("ingressClassName"),
                annotations=dict((k, v) for k, v in annotations(ingress).items()
                                 if k.startswith(NGINX) or k.startswith(PREFIX)))


# ---------------------------------------------------------------------------
# diff and check mode
# ---------------------------------------------------------------------------
def diff_view(obj):
    """The parts of an object a reviewer needs in --diff output."""
    if obj is None:
        return {}
    meta = obj.get("metadata") or {}
    view = {"kind": obj.get("kind"), "name": meta.get("name")}
    ann = dict((k, v) for k, v in (meta.get("annotations") or {}).items()
               if k.startswith(PREFIX) or k.startswith(NGINX))
    if ann:
        view["annotations"] = ann
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
