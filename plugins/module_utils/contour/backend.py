# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs one contour_delegate call: read, plan (contour_plan), write, wait for Contour's
verdict, put the previous state back if Contour rejects the change, report."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.progressive.delivery.plugins.module_utils.contour import plan as cp
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    NAMESPACE,
    SERVICE,
    KubeError,
    Resource,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import (
    WaitError,
    WaitTimeout,
    wait_for,
)

SECRET = Resource("v1", "Secret", "secrets", True)
CONFLICT_RETRIES = 3


class ContourRejected(WaitError):
    """Contour reported the change invalid (or never confirmed it); what was put back is
    in the message."""


class ContourRun(object):
    def __init__(self, kube, spec, check_mode, wait, wait_timeout, clock=time.monotonic):
        self.kube = kube
        self.spec = spec
        self.check_mode = check_mode
        self.wait = wait and not check_mode
        self.wait_timeout = wait_timeout
        self.clock = clock
        self.actions = []
        self.changed = False
        self.before = {}   # role -> object before our first write to it
        self.written = {}  # role -> object as our last write left it (None: deleted)
        self.created_root = False

    # --- reading ---------------------------------------------------------
    def observe(self):
        spec, kube = self.spec, self.kube
        root = kube.get_or_none(spec.resource, spec.namespace, spec.name)
        child_ref = cp.target_child(spec, root)
        child = None
        if child_ref is not None:
            child = kube.get_or_none(spec.resource, child_ref.namespace, child_ref.name)
        services = {}
        if spec.services and child is not None:
            for backend in spec.services:
                services[backend.name] = kube.get_or_none(SERVICE, child_ref.namespace,
                                                          backend.name)
        tls_secret, tls_delegations = self._observe_tls(root)
        return cp.Observed(
            root=root,
            root_namespace_exists=root is not None or self._namespace_exists(spec.namespace),
            child=child,
            child_namespace_exists=child is not None or (
                child_ref is not None and self._namespace_exists(child_ref.namespace)),
            services=services,
            tls_secret=tls_secret,
            tls_delegations=tls_delegations,
        )

    def _namespace_exists(self, name):
        return self.kube.get_or_none(NAMESPACE, None, name) is not None

    def _observe_tls(self, root):
        """The Secret (and the delegations that may grant it) only when the call sets a
        new TLS secret: an unchanged one was accepted before."""
        spec = self.spec
        if (spec.state != "present" or not spec.tls_secret or spec.force
                or (root is not None and cp.tls_secret_of(root) == spec.tls_secret)):
            return cp.UNCHECKED, []
        secret_ns, _slash, name = spec.tls_secret.rpartition("/")
        secret_ns = secret_ns or spec.namespace
        secret = self.kube.get_or_none(SECRET, secret_ns, name)
        delegations = []
        if secret is not None and secret_ns != spec.namespace and spec.api == "httpproxy":
            try:
                delegations = self.kube.list(cp.TLS_DELEGATION, secret_ns).get("items") or []
            except KubeError as exc:
                if not exc.not_found:  # no TLSCertificateDelegation CRD: nothing is granted
                    raise
        # Only the type is kept: key material never leaves this function.
        return (None if secret is None else {"type": secret.get("type")}), delegations

    # --- writing ---------------------------------------------------------
    def plan_and_write(self):
        """Plan on fresh reads and write; a 409 (someone else wrote in between) means
        read and plan again, never overwrite blindly."""
        first = None
        for attempt in range(CONFLICT_RETRIES):
            observed = self.observe()
            first = first or observed
            the_plan = cp.plan(self.spec, observed)
            try:
                self.apply(the_plan, observed)
                return first, observed, the_plan
            except KubeError as exc:
                if not exc.conflict or attempt == CONFLICT_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def apply(self, the_plan, observed):
        spec, kube, dry = self.spec, self.kube, self.check_mode
        for write in the_plan.writes:
            current = observed.root if write.role == "root" else observed.child
            self.before.setdefault(write.role, current)
            if write.verb == "create":
                result = kube.create(spec.resource, write.namespace, write.body, dry_run=dry)
                self.created_root = True
            elif write.verb == "patch":
                result = kube.patch(spec.resource, write.namespace, write.name, write.body,
                                    dry_run=dry)
            else:
                result = None
                if not dry:
                    kube.delete(spec.resource, write.namespace, write.name)
            self.written[write.role] = result
            self.actions.append(write.description)
            self.changed = True

    # --- Contour's verdict -------------------------------------------------
    def wait_valid(self, the_plan, observed):
        """Root, then child, valid for the generations now in place. Contour writes
        both from one pass over its cache, so the child is checked once the root
        shows that pass."""
        spec = self.spec
        deadline = self.clock() + self.wait_timeout
        targets = [("root", cp.ChildRef(spec.name, spec.namespace), observed.root)]
        if spec.state == "present" and the_plan.child is not None:
            targets.append(("child", the_plan.child, observed.child))
        for role, ref, read in targets:
            obj = self.written.get(role, read)
            if obj is None:
                continue  # deleted (state=absent) or a missing child left to Contour (force)
            generation = (obj.get("metadata") or {}).get("generation") or 1
            remaining = max(deadline - self.clock(), 1)
            wait_for(self.kube, spec.resource, ref.namespace, ref.name,
                     cp.proxy_valid(generation), remaining)

    def restore(self):
        """Put back what this run wrote, one write per object, root first (traffic goes
        back to the previous child at once). Returns what was done, for the message."""
        spec, notes = self.spec, []
        for role in ("root", "child"):
            if role not in self.written:
                continue
            before = self.before[role]
            ref = (cp.ChildRef(spec.name, spec.namespace) if role == "root" else
                   cp.ChildRef(before["metadata"]["name"], before["metadata"]["namespace"]))
            where = "%s %s/%s" % (spec.kind, ref.namespace, ref.name)
            try:
                if role == "root" and self.created_root:
                    self.kube.delete(spec.resource, ref.namespace, ref.name)
                    notes.append("deleted %s, which this run had created" % where)
                    continue
                live = self.kube.get_or_none(spec.resource, ref.namespace, ref.name)
                if live is None:
                    notes.append("%s is gone; nothing to put back" % where)
                elif self.written[role] is not None and cp.changed_since(
                        spec, role, self.written[role], live):
                    notes.append("left %s alone: someone else changed it since" % where)
                else:
                    patch = cp.restore_patch(spec, role, before, live)
                    if patch is not None:
                        self.kube.patch(spec.resource, ref.namespace, ref.name, patch)
                    notes.append("put back %s as it was (%s)"
                                 % (where, _summary(spec, role, before)))
            except KubeError as exc:
                notes.append("could not put back %s: %s" % (where, exc))
        return notes


def _summary(spec, role, obj):
    view = cp.proxy_view(spec, obj, role)
    if role == "root":
        return ", ".join("%s -> %s/%s" % (d["path"], d["namespace"], d["name"])
                         for d in view["delegations"]) or "no delegation"
    return "; ".join("%s: %s" % (r["path"], _weights(r["services"]))
                     for r in view["routes"]) or "no routes"


def _weights(services):
    return "/".join("%s=%s" % (s["name"], s["weight"]) for s in services)


# ---------------------------------------------------------------------------
def run_contour_delegate(kube, spec, check_mode=False, wait=True, wait_timeout=300):
    """Carry out the call; return the module result (with 'diff')."""
    run = ContourRun(kube, spec, check_mode, wait, wait_timeout)
    first, observed, the_plan = run.plan_and_write()
    if run.wait and spec.api == "httpproxy":
        try:
            run.wait_valid(the_plan, observed)
        except WaitError as exc:
            notes = run.restore() if run.changed else []
            if not run.changed:
                verdict = "does not confirm the state in force (nothing was changed)"
            elif isinstance(exc, WaitTimeout):
                verdict = "did not confirm the change in %ss" % wait_timeout
            else:
                verdict = "rejected the change"
            message = "Contour %s: %s" % (verdict, exc)
            if notes:
                message += ". Then: " + "; ".join(notes)
            raise ContourRejected(message, exc.obj)
    return report(run, first, the_plan)


def report(run, first, the_plan):
    spec, kube = run.spec, run.kube
    if run.check_mode:
        root, child = the_plan.root_after, the_plan.child_after
    else:
        root = kube.get_or_none(spec.resource, spec.namespace, spec.name)
        ref = the_plan.child
        child = kube.get_or_none(spec.resource, ref.namespace, ref.name) if ref else None
    route = None
    if child is not None:
        try:
            route = cp.find_route(spec, child)[1]
        except cp.PlanError:
            route = None
    services = cp.weighted_services(route)
    shares = cp.traffic_shares(services)
    for service in services:
        service["share"] = shares.get(service["name"])

    def as_dict(ref):
        return None if ref is None else dict(name=ref.name, namespace=ref.namespace)

    result = dict(
        changed=run.changed,
        actions=run.actions,
        api=spec.api,
        path=spec.path,
        route_path=spec.route_path,
        delegation=as_dict(the_plan.delegation_after),
        previous_delegation=as_dict(the_plan.delegation_before),
        services=services,
        root=_with_status(cp.proxy_view(spec, root, "root"), root),
        child=_with_status(cp.proxy_view(spec, child, "child"), child),
        diff=dict(
            before=dict(root=cp.diff_view(spec, first.root, "root"),
                        child=cp.diff_view(spec, first.child, "child")),
            after=dict(root=cp.diff_view(spec, root, "root"),
                       child=cp.diff_view(spec, child, "child")),
        ),
    )
    if spec.api == "ingressroute":
        result["warnings"] = [
            "IngressRoute (contour.heptio.com/v1beta1) is not served by any current Contour: "
            "the change was written but no controller reports whether it is valid"]
    return result


def _with_status(view, obj):
    if view is not None:
        view["status"] = cp.status_report(obj)
    return view
