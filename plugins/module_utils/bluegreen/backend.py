# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs one k8s_bluegreen call: read, plan (bluegreen_plan), write once, wait, report."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.progressive.delivery.plugins.module_utils.bluegreen import plan as bg
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    DEPLOYMENT,
    INGRESS,
    SERVICE,
    KubeError,
    merge_patch,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import (
    WaitError,
    ready_pod_names,
    wait_for_rollout,
    wait_for_service_endpoints,
)

FIELD_MANAGER = "progressive.delivery"
RESOURCES = {"Deployment": DEPLOYMENT, "Service": SERVICE, "Ingress": INGRESS}
CONFLICT_RETRIES = 3


class BlueGreenRun(object):
    def __init__(self, kube, spec, check_mode, wait, wait_timeout):
        self.kube = kube
        self.spec = spec
        self.check_mode = check_mode
        self.wait = wait and not check_mode
        self.wait_timeout = wait_timeout
        self.actions = []
        self.before = {}
        self.after = {}
        self.changed = False
        self.simulated = {}  # check mode: objects as the writes would leave them

    # --- reading ---------------------------------------------------------
    def observe(self):
        spec, ns = self.spec, self.spec.namespace
        deployments = self.kube.list(DEPLOYMENT, ns).get("items") or []
        deployments = [self.simulated.get(("Deployment", d["metadata"]["name"]), d)
                       for d in deployments]
        for (kind, name), obj in self.simulated.items():
            if kind == "Deployment" and all(d["metadata"]["name"] != name for d in deployments):
                deployments.append(obj)
        get = self._get
        version_services = {}
        if spec.ingress:
            versions = bg.versions_by_label(spec, deployments)
            for version in set(versions) | set([spec.version] if spec.version else []):
                version_services[version] = get(SERVICE, bg.service_name_for(spec, version))
        return bg.Observed(
            deployments=deployments,
            service=get(SERVICE, spec.service) if spec.service else None,
            preview_service=get(SERVICE, spec.preview_service) if spec.preview_service else None,
            ingress=get(INGRESS, spec.ingress["name"]) if spec.ingress else None,
            preview_ingress=get(INGRESS, spec.ingress["preview_ingress"]) if spec.ingress
            else None,
            version_services=version_services,
        )

    def _get(self, resource, name):
        key = (resource.kind, name)
        if key in self.simulated:
            return self.simulated[key]
        return self.kube.get_or_none(resource, self.spec.namespace, name)

    # --- writing ---------------------------------------------------------
    def apply_writes(self, writes):
        for write in writes:
            resource = RESOURCES[write.kind]
            key = "%s/%s" % (write.kind, write.name)
            current = self._get(resource, write.name)
            self.before.setdefault(key, bg.diff_view(current))
            if write.verb == "create":
                result = write.body if self.check_mode else self.kube.create(
                    resource, self.spec.namespace, write.body)
            elif write.verb == "patch":
                result = merge_patch(current, write.body) if self.check_mode else \
                    self.kube.patch(resource, self.spec.namespace, write.name, write.body)
            else:
                result = None
                if not self.check_mode:
                    self.kube.delete(resource, self.spec.namespace, write.name)
            if self.check_mode:
                self.simulated[(write.kind, write.name)] = result
            self.after[key] = bg.diff_view(result)
            self.actions.append(write.description)
            self.changed = True

    def plan_and_write(self, planner):
        """Plan on fresh reads and write; a 409 (someone else wrote in between) means
        read and plan again, never overwrite blindly."""
        for attempt in range(CONFLICT_RETRIES):
            observed = self.observe()
            writes = planner(observed)
            try:
                self.apply_writes(writes)
                return writes
            except KubeError as exc:
                if not exc.conflict or attempt == CONFLICT_RETRIES - 1:
                    raise
        return []

    # --- the candidate Deployment ---------------------------------------
    def ensure_deployment(self):
        spec = self.spec
        observed = self.observe()
        existing = bg.versions_by_label(spec, observed.deployments).get(spec.version)
        body = bg.desired_deployment(spec, existing["metadata"]["name"] if existing else None)
        name = body["metadata"]["name"]
        if existing is not None and existing["metadata"]["name"] != name:
            raise bg.PlanError("version %s already runs as Deployment %s, not %s"
                               % (spec.version, existing["metadata"]["name"], name))
        if existing is None:
            existing = self.kube.get_or_none(DEPLOYMENT, spec.namespace, name)
        result = self.kube.apply(DEPLOYMENT, spec.namespace, name, body, FIELD_MANAGER,
                                 dry_run=self.check_mode)
        key = "Deployment/%s" % name
        if existing is None or _deployment_changed(existing, result):
            self.before[key] = bg.diff_view(existing)
            self.after[key] = bg.diff_view(result)
            self.actions.append("%s Deployment %s (version %s)" % (
                "create" if existing is None else "update", name, spec.version))
            self.changed = True
            if self.check_mode:
                # the rollout cannot be known in check mode; plan as if it completed
                result.setdefault("status", {}).update(_status_as_rolled_out(result))
                self.simulated[("Deployment", name)] = result
        if self.wait:
            wait_for_rollout(self.kube, spec.namespace, name, self.wait_timeout)
        return name

    def wait_rollout(self, name):
        if self.wait:
            wait_for_rollout(self.kube, self.spec.namespace, name, self.wait_timeout)

    # --- proving a switch took effect -----------------------------------
    def wait_service_serves(self, service_name, version):
        """The Service's EndpointSlices list ready pods of ``version`` and no other."""
        if not self.wait:
            return
        selector = dict(self.spec.app_labels)
        selector[self.spec.version_label] = version
        wanted = ready_pod_names(self.kube, self.spec.namespace, selector)
        try:
            wait_for_service_endpoints(self.kube, self.spec.namespace, service_name, wanted,
                                       self.wait_timeout)
        except WaitError as exc:
            raise WaitError("after switching Service %s to %s: %s" % (service_name, version, exc))


def _deployment_changed(before, after):
    def view(obj):
        meta = obj.get("metadata") or {}
        return (obj.get("spec"), meta.get("labels"), meta.get("annotations"))

    return view(before) != view(after)


def _status_as_rolled_out(deployment):
    replicas = (deployment.get("spec") or {}).get("replicas", 1)
    return dict(observedGeneration=deployment["metadata"].get("generation", 1),
                replicas=replicas, updatedReplicas=replicas, readyReplicas=replicas,
                availableReplicas=replicas)


# ---------------------------------------------------------------------------
# the states
# ---------------------------------------------------------------------------
def run_bluegreen(kube, spec, check_mode=False, wait=True, wait_timeout=300):
    """Carry out ``spec.state``; return the module result (without 'diff' wrapping)."""
    run = BlueGreenRun(kube, spec, check_mode, wait, wait_timeout)
    live_before = bg.current_live(spec, run.observe())

    if spec.state in ("previewed", "promoted"):
        bg.preflight(spec, run.observe())  # refuse bad traffic targets before any write
    if spec.state in bg.DEPLOYING_STATES:
        if spec.definition is not None or spec.pod_template is not None:
            run.ensure_deployment()
        else:
            existing = bg.versions_by_label(spec, run.observe().deployments).get(spec.version)
            if existing is None:
                raise bg.PlanError(
                    "no Deployment runs version %s (pods labelled %s=%s and %s) in namespace "
                    "%s; give definition or pod_template to create it"
                    % (spec.version, spec.version_label, spec.version, spec.app_labels,
                       spec.namespace))
            if spec.state == "deployed":
                run.wait_rollout(existing["metadata"]["name"])

    if spec.state == "previewed":
        run.plan_and_write(lambda observed: bg.plan_preview(spec, observed))
        if spec.service and spec.preview_service and run.observe().preview_service is not None:
            run.wait_service_serves(spec.preview_service, spec.version)
    elif spec.state == "promoted":
        run.plan_and_write(lambda observed: bg.plan_promote(spec, observed))
        if spec.service:
            run.wait_service_serves(spec.service, spec.version)
    elif spec.state == "rolled_back":
        target, leaving = bg.rollback_target(spec, run.observe())
        if target is not None:
            scale_up = bg.scale_up_for_rollback(spec, run.observe(), target)
            if scale_up is not None:
                run.apply_writes([scale_up])
                run.wait_rollout(scale_up.name)
            run.plan_and_write(lambda observed: bg.plan_rollback(spec, observed, target, leaving))
            if spec.service:
                run.wait_service_serves(spec.service, target)
    elif spec.state == "scaled_down":
        writes = run.plan_and_write(lambda observed: bg.plan_scale_down(spec, observed))
        for write in writes:
            run.wait_rollout(write.name)

    return report(run, live_before)


def report(run, live_before):
    spec = run.spec
    observed = run.observe()
    versions = bg.versions_by_label(spec, observed.deployments)
    previous, rolled_back_from = bg.record_of(spec, observed)
    result = dict(
        changed=run.changed,
        actions=run.actions,
        live_version_before=live_before,
        live_version=bg.current_live(spec, observed),
        previous_version=previous,
        rolled_back_from=rolled_back_from,
        preview_version=None,
        versions=bg.version_report(spec, versions),
        diff=dict(before=run.before, after=run.after),
    )
    if spec.service:
        result["service"] = _service_report(observed.service, spec.service)
    if spec.preview_service:
        result["preview_service"] = _service_report(observed.preview_service,
                                                    spec.preview_service)
        if observed.preview_service is not None:
            result["preview_version"] = bg.live_version_of_service(spec,
                                                                   observed.preview_service)
    if spec.ingress:
        result["ingress"] = _ingress_report(observed.ingress)
        result["preview_ingress"] = _ingress_report(observed.preview_ingress)
        if observed.preview_ingress is not None and result["preview_version"] is None:
            backends = set(p["service"] for p in result["preview_ingress"]["paths"])
            for version in versions:
                if bg.service_name_for(spec, version) in backends:
                    result["preview_version"] = version
        result["urls"] = _urls(result["ingress"]) + _urls(result["preview_ingress"])
    return result


def _service_report(service, name):
    if service is None:
        return dict(name=name, exists=False)
    spec = service.get("spec") or {}
    return dict(name=name, exists=True, selector=spec.get("selector") or {},
                type=spec.get("type"), ports=spec.get("ports") or [])


def _ingress_report(ingress):
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


def _urls(ingress_report):
    if not ingress_report:
        return []
    return ["http://%s%s" % (p["host"] or "<any-host>", p["path"]) for p in ingress_report["paths"]]
