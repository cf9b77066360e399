# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs one k8s_bluegreen call on the release engine.

A blue/green call has phases, each built from the engine's blocks: make sure the
version's Deployment runs (one server-side apply, then its rollout), check the traffic
objects before anything is written, switch traffic (``engine.reconcile``: one write per
object with the read resourceVersion, a 409 re-plans), then prove the switch on the
Service's EndpointSlices. A rollback to a scaled-down version scales it up and waits for
it before switching. Check mode runs the same sequence on the engine's simulated writes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.progressive.delivery.plugins.module_utils.bluegreen import (
    plan,
    status,
)
from ansible_collections.progressive.delivery.plugins.module_utils.bluegreen.validation import (
    DEPLOYING_STATES,
)
from ansible_collections.progressive.delivery.plugins.module_utils.engine import Engine
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import (
    deployment_rollout,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    DEPLOYMENT,
    INGRESS,
    SERVICE,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import (
    WaitError,
    WaitFailed,
    ready_pod_names,
    wait_for_rollout,
    wait_for_service_endpoints,
)


class BlueGreen(object):
    """The reads and proofs of one call; the decisions are plan.py's."""

    def __init__(self, engine, spec):
        self.engine = engine
        self.spec = spec

    def observe(self, names=None):
        """Every Deployment of the namespace and the traffic objects the spec names (in
        check mode as the simulated writes left them). ``names``: read just these
        Deployments, one GET each, instead of listing them all; the report needs the
        app's own versions, while the plan's checks (a Deployment of the same name, a
        selector reaching another app's pods) need every one."""
        spec, get = self.spec, self.engine.get
        ns = spec.namespace
        if names is None:
            # read, never changed: planning builds new bodies (plan.py), the engine
            # copies what it keeps of an object it writes
            deployments = self.engine.list(DEPLOYMENT, ns, shared=True)
        else:
            deployments = [dep for dep in (get(DEPLOYMENT, ns, name) for name in sorted(names))
                           if dep is not None]
        version_services = {}
        if spec.ingress:
            versions = set(status.versions_by_label(spec, deployments))
            for version in versions | set([spec.version] if spec.version else []):
                version_services[version] = get(SERVICE, ns,
                                                status.service_name_for(spec, version))
        return status.Observed(
            deployments=deployments,
            service=get(SERVICE, ns, spec.service) if spec.service else None,
            preview_service=get(SERVICE, ns, spec.preview_service)
            if spec.preview_service else None,
            ingress=get(INGRESS, ns, spec.ingress["name"]) if spec.ingress else None,
            preview_ingress=get(INGRESS, ns, spec.ingress["preview_ingress"])
            if spec.ingress else None,
            version_services=version_services,
        )

    def switch(self, planner):
        """Plan on fresh reads and write; returns the writes made."""
        return self.engine.reconcile(self.observe, planner)[2]

    # --- phases ------------------------------------------------------------
    def deploy(self, observed):
        """The version's Deployment is applied (or adopted) and, when waiting, rolled out."""
        write, current = plan.deployment_write(self.spec, observed)
        if write is not None:
            answer = self.engine.write(write, current=current, changed=plan.deployment_changed)
            self.rolled_out(write.name, answer)
        elif self.spec.state == "deployed":
            self.rolled_out(current["metadata"]["name"], current)

    def roll_back(self, observed):
        target, leaving = plan.rollback_target(self.spec, observed)
        if target is None:
            return
        # a scaled-down target is scaled up, and ready, before traffic goes to it
        for write in self.switch(lambda o: _listed(plan.scale_up_for_rollback(
                self.spec, o, target))):
            self.rolled_out(write.name)
        self.switch(lambda o: plan.plan_rollback(self.spec, o, target, leaving))
        if self.spec.service:
            self.serves(self.spec.service, target)

    # --- proofs (watches; skipped in check mode and with wait=false) -------
    def rolled_out(self, name, known=None):
        """Wait for the Deployment's rollout, unless ``known`` (the object as this call
        last read or wrote it) shows it complete already: nothing to watch for."""
        engine = self.engine
        if known is not None and deployment_rollout(known).done:
            return
        engine.prove(lambda: wait_for_rollout(engine.kube, self.spec.namespace, name,
                                              engine.wait_timeout))

    def serves(self, service_name, version):
        """The Service's EndpointSlices list ready pods of ``version`` and no other, and
        the selector this call wrote is still in place when that is seen (another writer
        reverting it must not leave a success reported)."""
        engine, spec = self.engine, self.spec

        def still_ours():
            engine.still_written(SERVICE, spec.namespace, service_name, ("spec", "selector"))

        def proof():
            selector = dict(spec.app_labels)
            selector[spec.version_label] = version
            wanted = ready_pod_names(engine.kube, spec.namespace, selector)
            wait_for_service_endpoints(engine.kube, spec.namespace, service_name, wanted,
                                       engine.wait_timeout)
            still_ours()

        def rejected(exc):
            if not isinstance(exc, WaitFailed):
                try:
                    still_ours()  # a timeout caused by someone undoing the switch says so
                except WaitFailed as undone:
                    exc = undone
            raise WaitError("after switching Service %s to %s: %s"
                            % (service_name, version, exc))

        engine.prove(proof, rejected)


def _listed(write):
    return [] if write is None else [write]


def run_bluegreen(kube, spec, check_mode=False, wait=True, wait_timeout=300,
                  deployments=None):
    """Carry out ``spec.state``; return the module result. A failure midway (a missing
    permission, a timeout) says what this call wrote and what is live (``live_now``).
    ``deployments(namespace)``: the namespace's Deployments as the apps of one call share
    them (batch.NamespaceDeployments), or None to list them here."""
    engine = Engine(kube, check_mode=check_mode, wait=wait, wait_timeout=wait_timeout,
                    diff_view=status.diff_view)
    shared = deployments(spec.namespace) if deployments is not None else None
    if shared is not None:
        engine.reads.put_list(DEPLOYMENT, spec.namespace, None, shared)
    read = {}
    with engine.accounting(lambda: live_now(engine, spec, read)):
        return _run(engine, spec, read)


def live_now(engine, spec, read):
    """What is live, from what was read and this call's writes (no request)."""
    observed = read.get("observed")
    if observed is None:
        return None
    ns = spec.namespace
    now = observed._replace(
        service=engine.latest(SERVICE, ns, spec.service, observed.service)
        if spec.service else observed.service,
        ingress=engine.latest(INGRESS, ns, spec.ingress["name"], observed.ingress)
        if spec.ingress else observed.ingress)
    before, version = read["live_before"], status.current_live(spec, now)
    if version == before:
        return "live traffic is still on %s (not switched by this call)" % (
            version or "nothing")
    return "live traffic is on %s (switched by this call from %s)" % (
        version or "nothing", before or "nothing")


def _run(engine, spec, read):
    release = BlueGreen(engine, spec)
    observed = release.observe()
    live_before = status.current_live(spec, observed)
    read.update(observed=observed, live_before=live_before)

    if spec.state in ("previewed", "promoted"):
        plan.preflight(spec, observed)  # refuse bad traffic targets before any write
    if spec.state in DEPLOYING_STATES:
        release.deploy(observed)

    if spec.state == "previewed":
        release.switch(lambda o: plan.plan_preview(spec, o))
        if spec.service and spec.preview_service and engine.get(
                SERVICE, spec.namespace, spec.preview_service) is not None:
            release.serves(spec.preview_service, spec.version)
    elif spec.state == "promoted":
        release.switch(lambda o: plan.plan_promote(spec, o))
        if spec.service:
            release.serves(spec.service, spec.version)
    elif spec.state == "rolled_back":
        release.roll_back(observed)
    elif spec.state == "scaled_down":
        for write in release.switch(lambda o: plan.plan_scale_down(spec, o)):
            release.rolled_out(write.name)

    return engine.result(**status.report(spec, release.observe(app_deployments(
        engine, spec, observed)), live_before))


def app_deployments(engine, spec, observed):
    """The names of the app's Deployments: its versions when the call began and those
    the call wrote. A namespace of many apps is then not listed again for the report."""
    names = set(dep["metadata"]["name"]
                for dep in status.versions_by_label(spec, observed.deployments).values())
    names.update(key[2] for key in engine.written if key[0] == DEPLOYMENT.kind)
    return names
