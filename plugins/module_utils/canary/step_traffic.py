# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One canary weight through the traffic backend it names, in the calling process.

``traffic_call`` turns the canary role's settings of a backend and a weight into the
parameters the backend's own module takes (k8s_canary, contour_delegate, knative_traffic,
gateway_traffic, k8s_rollout): pure, so each mapping is unit-tested. ``move_traffic`` then
validates them with that module's validator and runs that module's runner on the given
client: the backends' logic (plan, write, wait, proof, restore) is theirs, not copied here.
Each package is imported when its backend is used, so a call only loads what it needs.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections import namedtuple

from ansible_collections.progressive.delivery.plugins.module_utils.canary import (
    release_record as rr,
)
from ansible_collections.progressive.delivery.plugins.module_utils.canary.settings import (
    BACKENDS,
    REQUIRED,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    FieldErrors,
)

TrafficCall = namedtuple("TrafficCall", "module params")
"""module: the module whose runner moves the traffic; params: its parameters as the module
would have them (sub-options filled with their defaults, as AnsibleModule does)."""


def _options(value, defaults):
    """A sub-option dict as AnsibleModule leaves it: every declared key present."""
    out = dict(defaults)
    out.update(value or {})
    return out


def _service(name, weight, port):
    return _options({"name": name, "weight": int(weight)}, {"port": port or None})


def check_settings(backend, settings, record=None):
    """Every missing setting at once, by field path (``settings.canary_service``); with a
    ``record``, also what a weight needs from it."""
    errs = FieldErrors()
    if backend not in BACKENDS:
        errs.add("backend", "%r is not one of %s", backend, ", ".join(BACKENDS))
        errs.raise_if_any()
    for key in REQUIRED[backend]:
        if not settings.get(key):
            errs.add("settings.%s" % key, "is required with backend=%s", backend)
    if backend == "knative" and record is not None:
        for key in ("stable_revision", "canary_revision"):
            if not (record or {}).get(key):
                errs.add("record.%s" % key, "is not in the release record: the knative "
                         "backend needs the release started by the canary role's prepare")
    errs.raise_if_any()


def check_step_settings(backend, settings, steps):
    """ValidationError when header or mirror steps meet the setting of the same name
    (``settings.header``/``settings.mirror`` of the gateway backend, ``settings.header`` of
    nginx): one of them would undo the other from step to step, so a release gives either."""
    errs = FieldErrors()
    kinds = set(s.kind for s in steps)
    for kind in ("header", "mirror"):
        if kind in kinds and (settings or {}).get(kind) and (
                backend == "gateway" or (backend == "nginx" and kind == "header")):
            first = next(s.index for s in steps if s.kind == kind)
            errs.add("settings.%s" % kind, "is set and steps[%d] is a %s step: give the %s "
                     "either as steps or as the setting, not both", first, kind, kind)
    errs.raise_if_any()


def step_routing(steps, index):
    """What a call asks of the header rule and the mirror because of header and mirror
    steps (pure): ``(header, mirror)``, each None (the steps say nothing: leave it to the
    settings), "absent" (remove it) or what is in force (the header's match, the mirror's
    percent). ``index`` None is the promotion: both removed if a step set them."""
    steps = steps or []
    if index is None:
        return (("absent" if any(s.kind == "header" for s in steps) else None),
                ("absent" if any(s.kind == "mirror" for s in steps) else None))
    header, mirror = rr.routing_at(steps, index)
    done = [s for s in steps if s.index <= index]
    if header is None and any(s.kind == "header" and s.value == "absent" and s.index == index
                              for s in done):
        header = "absent"
    if mirror is None and any(s.kind == "mirror" for s in done):
        # a weight above 0 took over: the copy goes (again after a resume: a no-op)
        mirror = "absent"
    return header, mirror


def traffic_call(backend, settings, weight, app, namespace, version, record, action="weight",
                 routing=(None, None)):
    """The backend module call that puts ``weight`` percent on the canary, or (``action``
    promote) makes the canary the stable version (pure).

    ``settings``: the role's canary_<backend> dictionary (for the replicas backend, the
    role's replicas variables); ``record``: the release record, which holds what the
    release prepared (total replicas, the Knative revisions); ``routing``: the header and
    mirror the steps ask for (``step_routing``)."""
    promote = action == "promote"
    step_header, step_mirror = routing
    weight = 100 if promote else int(weight)
    record = record or {}
    canary_state = "promoted" if promote else "present"
    canary_weight = None if promote else weight
    if backend == "replicas":
        total = settings.get("total_replicas") or record.get("total_replicas") or None
        return TrafficCall("k8s_canary", dict(
            name=app, namespace=namespace, backend="replicas", state=canary_state,
            weight=canary_weight,
            service=settings.get("service"),
            stable_deployment=settings.get("stable_deployment") or None,
            canary_deployment=settings.get("canary_deployment") or None,
            pod_template=settings.get("pod_template") or None,
            definition=settings.get("definition") or None,
            replicas=int(total) if total else None, version=version,
            version_label=settings.get("version_label") or "version",
            track_label=settings.get("track_label") or "track", force=False))
    if backend == "nginx":
        if isinstance(step_header, dict):
            # ingress-nginx's canary-by-header: the matching requests go to the canary, the
            # others follow the weight (as the Gateway API's header rule does)
            exact = step_header["type"] == "Exact"
            settings = dict(settings, header=step_header["name"],
                            header_value=step_header["value"] if exact else None,
                            header_pattern=None if exact else step_header["value"])
        return TrafficCall("k8s_canary", dict(
            name=app, namespace=namespace, backend="nginx", state=canary_state,
            weight=canary_weight,
            nginx=_options(settings, dict.fromkeys((
                "ingress", "canary_ingress", "canary_service", "stable_service",
                "canary_service_port", "header", "header_value", "header_pattern",
                "cookie"))),
            track_label="track", version_label="version", force=False))
    if backend == "contour":
        port = settings.get("port") or None
        return TrafficCall("contour_delegate", dict(
            name=settings["name"], namespace=settings.get("namespace") or namespace,
            api="httpproxy", state="present", path=settings["path"],
            route_path=settings.get("route_path") or None,
            services=[_service(settings["canary_service"], weight, port),
                      _service(settings["stable_service"], 100 - weight, port)],
            force=False))
    if backend == "knative":
        tag = settings.get("tag") or "canary"
        if promote:
            # the old revision keeps a tag at 0%, to roll back to by hand
            traffic = [
                _options({"revision": record.get("canary_revision"), "percent": 100},
                         {"tag": None, "configuration": None}),
                _options({"revision": record.get("stable_revision"), "percent": 0,
                          "tag": settings.get("rollback_tag") or "previous"},
                         {"configuration": None})]
            return TrafficCall("knative_traffic", dict(
                namespace=namespace, service=settings["service"], force=False,
                traffic=traffic))
        return TrafficCall("knative_traffic", dict(
            namespace=namespace, service=settings["service"], force=False,
            traffic=[
                _options({"revision": record.get("stable_revision"), "percent": 100 - weight},
                         {"tag": None, "configuration": None}),
                _options({"revision": record.get("canary_revision"), "percent": weight,
                          "tag": tag}, {"configuration": None})]))
    if backend == "gateway":
        # the header rule stays until the promotion; the mirror while the canary has 0%
        header = settings.get("header") or None
        if header:
            header = _options(dict(header, backend=settings["canary_service"]),
                              {"type": "Exact", "state": "present"}) if not promote else {
                                  "name": None, "value": None, "type": "Exact",
                                  "backend": None, "state": "absent"}
        mirror = settings.get("mirror") or None
        if mirror:
            mirror = {"backend": settings["canary_service"], "percent": int(mirror),
                      "state": "present"} if weight == 0 else {
                          "backend": None, "percent": 100, "state": "absent"}
        header, mirror = _gateway_steps(settings["canary_service"], step_header, step_mirror,
                                        header, mirror)
        refs = [_options(ref, {"namespace": None, "section_name": None})
                for ref in settings.get("parent_refs") or []] or None
        return TrafficCall("gateway_traffic", dict(
            name=settings["route"], namespace=settings.get("namespace") or namespace,
            parent_refs=refs, hostnames=settings.get("hostnames") or None,
            rule_name=settings.get("rule_name") or None, path=settings.get("path") or "/",
            port=settings.get("port") or None, validate_refs=True,
            weights={settings["stable_service"]: 100 - weight,
                     settings["canary_service"]: weight},
            header=header, mirror=mirror))
    # rolling: a batch of the rolling update held at this percent of the pods; 100 finishes
    # it (and puts the Deployment's own strategy back); 0 changes nothing yet
    update = weight > 0
    return TrafficCall("k8s_rollout", dict(
        kind="Deployment", name=settings.get("deployment") or app, namespace=namespace,
        state="resumed" if weight >= 100 else "present",
        images=(settings.get("images") or None) if update else None,
        pod_template=(settings.get("pod_template") or None) if update else None,
        change_cause=(settings.get("change_cause") or "%s %s" % (app, version))
        if update else None,
        pause_after="%d%%" % weight if update and weight < 100 else None))


def _gateway_steps(canary, step_header, step_mirror, header, mirror):
    """gateway_traffic's header and mirror options once the steps' asks are applied on
    those of the settings (a release has one or the other: check_step_settings)."""
    if step_header == "absent":
        header = {"name": None, "value": None, "type": "Exact", "backend": None,
                  "state": "absent"}
    elif step_header:
        header = dict(step_header, backend=canary, state="present")
    if step_mirror == "absent":
        # only the copy to the canary: another mirror on the rule is someone else's
        mirror = {"backend": canary, "percent": 100, "state": "absent"}
    elif step_mirror:
        mirror = {"backend": canary, "percent": int(step_mirror), "state": "present"}
    return header, mirror


# What the calls of this module, step_prepare's and step_run's import only when a step needs
# them (a module process then loads just its backend's): the canary_step action plugin
# preloads them all in ansible-playbook's process, before it forks the tasks' workers.
LAZY_IMPORTS = tuple("ansible_collections.progressive.delivery.plugins.module_utils." + name
                     for name in ("canary.objects", "canary.backend", "contour.backend",
                                  "contour.proxies", "contour.validation", "gateway.backend",
                                  "gateway.plan", "gateway.validation", "knative.common",
                                  "knative.revision_info", "knative.traffic_backend",
                                  "knative.traffic_validation", "rollout.backend",
                                  "rollout.history", "rollout.plan", "rollout.validation"))


def refusals():
    """The exceptions by which the backends refuse a call (message, what is live now)."""
    from ansible_collections.progressive.delivery.plugins.module_utils.canary.objects import (
        PlanError as CanaryRefused,
    )
    from ansible_collections.progressive.delivery.plugins.module_utils.contour.proxies import (
        PlanError as ContourRefused,
    )
    from ansible_collections.progressive.delivery.plugins.module_utils.gateway.plan import (
        PlanError as GatewayRefused,
    )
    from ansible_collections.progressive.delivery.plugins.module_utils.knative.traffic_backend import (
        TrafficFailed,
    )
    from ansible_collections.progressive.delivery.plugins.module_utils.rollout.history import (
        UndoRefused,
    )
    from ansible_collections.progressive.delivery.plugins.module_utils.rollout.plan import (
        PlanError as RolloutRefused,
    )
    return (CanaryRefused, ContourRefused, GatewayRefused, TrafficFailed, UndoRefused,
            RolloutRefused)


def move_traffic(kube, call, check_mode=False, wait=True, wait_timeout=300):
    """Run ``call`` as its module would, on ``kube``; return the module's result."""
    options = dict(check_mode=check_mode, wait=wait, wait_timeout=wait_timeout)
    if call.module == "k8s_canary":
        from ansible_collections.progressive.delivery.plugins.module_utils.canary import (
            backend as canary_backend,
        )
        return canary_backend.run(dict(call.params, wait=wait, wait_timeout=wait_timeout),
                                  lambda: kube, check_mode)
    if call.module == "contour_delegate":
        from ansible_collections.progressive.delivery.plugins.module_utils.contour import (
            backend as contour_backend,
            validation as contour_validation,
        )
        return contour_backend.run_contour_delegate(
            kube, contour_validation.validate(call.params), **options)
    if call.module == "knative_traffic":
        from ansible_collections.progressive.delivery.plugins.module_utils.knative import (
            traffic_backend,
            traffic_validation,
        )
        return traffic_backend.run_traffic(
            kube, traffic_validation.validate(call.params, strict=False), rollback=True,
            **options)
    if call.module == "gateway_traffic":
        from ansible_collections.progressive.delivery.plugins.module_utils.gateway import (
            backend as gateway_backend,
            validation as gateway_validation,
        )
        return gateway_backend.run_gateway_traffic(
            kube, gateway_validation.spec_from_params(call.params), **options)
    from ansible_collections.progressive.delivery.plugins.module_utils.rollout import (
        backend as rollout_backend,
        validation as rollout_validation,
    )
    return rollout_backend.run_rollout(kube, rollout_validation.validate(call.params), **options)


def canary_pods_selector(backend, record, traffic_result):
    """The labels of the canary's pods, for the built-in pods gate: the rolling backend's
    new pods are the rollout's (this weight's result, else what the record kept); the other
    backends' were recorded when the release started."""
    if backend == "rolling" and traffic_result and traffic_result.get("pod_selector"):
        return dict(traffic_result["pod_selector"])
    return dict((record or {}).get("canary_selector") or {})
