# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""contour_delegate on the release engine: what to read, the plan as engine writes,
Contour's verdict as the proof, putting the previous state back when Contour rejects the
change, and the module's own result keys."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools

from ansible_collections.progressive.delivery.plugins.module_utils import engine as eng
from ansible_collections.progressive.delivery.plugins.module_utils.contour import (
    plan as cp,
    proxies as px,
    status as cs,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    NAMESPACE,
    SERVICE,
    KubeError,
    Resource,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import (
    WaitError,
    WaitTimeout,
    wait_for_verdict,
)

SECRET = Resource("v1", "Secret", "secrets", True)


class ContourRejected(WaitError):
    """Contour reported the change invalid (or never confirmed it); what was put back is
    in the message."""


class ContourBackend(object):
    """One contour_delegate call, for ``Engine.run``."""

    # An unchanged HTTPProxy is still checked: the module confirms the state in force.
    prove_unchanged = True

    def __init__(self, spec):
        self.spec = spec
        self.plan_made = None  # the last cp.Plan, for the report

    def _root_key(self):
        return (self.spec.kind, self.spec.namespace, self.spec.name)

    def _role(self, key):
        return "root" if key == self._root_key() else "child"

    # --- reading ---------------------------------------------------------
    def observe(self, engine):
        spec = self.spec
        root = engine.get(spec.resource, spec.namespace, spec.name)
        child_ref = cp.target_child(spec, root)
        child = None
        if child_ref is not None:
            child = engine.get(spec.resource, child_ref.namespace, child_ref.name)
        services = {}
        if spec.services and child is not None:
            for backend in spec.services:
                services[backend.name] = engine.get(SERVICE, child_ref.namespace, backend.name)
        tls_secret, tls_delegations = self._observe_tls(engine, root)

        def namespace_exists(name):
            return engine.get(NAMESPACE, None, name) is not None

        return px.Observed(
            root=root,
            root_namespace_exists=root is not None or namespace_exists(spec.namespace),
            child=child,
            child_namespace_exists=child is not None or (
                child_ref is not None and namespace_exists(child_ref.namespace)),
            services=services,
            tls_secret=tls_secret,
            tls_delegations=tls_delegations,
        )

    def _observe_tls(self, engine, root):
        """The Secret (and the delegations that may grant it) only when the call sets a
        new TLS secret: an unchanged one was accepted before."""
        spec = self.spec
        if (spec.state != "present" or not spec.tls_secret or spec.force
                or (root is not None and px.tls_secret_of(root) == spec.tls_secret)):
            return px.UNCHECKED, []
        secret_ns, _slash, name = spec.tls_secret.rpartition("/")
        secret_ns = secret_ns or spec.namespace
        secret = engine.get(SECRET, secret_ns, name)
        delegations = []
        if secret is not None and secret_ns != spec.namespace and spec.api == "httpproxy":
            try:
                delegations = engine.list(px.TLS_DELEGATION, secret_ns)
            except KubeError as exc:
                if not exc.not_found:  # no TLSCertificateDelegation CRD: nothing is granted
                    raise
        # Only the type is kept: key material never leaves this function.
        return (None if secret is None else {"type": secret.get("type")}), delegations

    # --- planning --------------------------------------------------------
    def plan(self, observed):
        self.plan_made = cp.plan(self.spec, observed)
        resource = self.spec.resource
        return [eng.Write(w.verb, resource, w.namespace, w.name, w.body, w.description)
                for w in self.plan_made.writes]

    # --- Contour's verdict -----------------------------------------------
    def prove(self, engine, observed, writes):
        """Root, then child, valid for the generations now in place. Contour writes
        both from one pass over its cache, so the child is checked once the root
        shows that pass. The legacy IngressRoute has no controller to ask."""
        spec = self.spec
        if spec.api != "httpproxy":
            return
        targets = [(px.ChildRef(spec.name, spec.namespace), observed.root)]
        if spec.state == "present" and self.plan_made.child is not None:
            targets.append((self.plan_made.child, observed.child))
        for ref, read in targets:
            obj = engine.written.get((spec.kind, ref.namespace, ref.name), read)
            if obj is None:
                continue  # deleted (state=absent) or a missing child left to Contour (force)
            generation = (obj.get("metadata") or {}).get("generation") or 1
            valid = cs.proxy_valid(generation)
            if valid(obj).done:
                continue  # the object as read (unchanged) already shows the verdict
            # A Service created just before this call (the role deploys the candidate's
            # Service, then includes its proxy) can be missing from Contour's cache for a
            # moment under load: then Contour's next verdict is the one that counts.
            engine.saw(spec.resource, ref.namespace, ref.name, wait_for_verdict(
                engine.kube, spec.resource, ref.namespace, ref.name, valid, engine.remaining,
                cs.unresolved_services, functools.partial(cs.proxy_valid, generation)))

    def rejected(self, engine, observed, writes, error):
        notes = self.restore(engine) if engine.changed else []
        if not engine.changed:
            verdict = "does not confirm the state in force (nothing was changed)"
        elif isinstance(error, WaitTimeout):
            verdict = "did not confirm the change in %ss" % engine.wait_timeout
        else:
            verdict = "rejected the change"
        message = "Contour %s: %s" % (verdict, error)
        if notes:
            message += ". Then: " + "; ".join(notes)
        raise ContourRejected(message, error.obj)

    def restore(self, engine):
        """Put back what this call wrote, one write per object, root first (traffic goes
        back to the previous child at once). Returns what was done, for the message."""
        spec, kube, notes = self.spec, engine.kube, []
        keys = sorted(engine.written, key=lambda k: self._role(k) != "root")
        for key in keys:
            role, before = self._role(key), engine.originals[key]
            where = "%s %s/%s" % (spec.kind, key[1], key[2])
            try:
                if before is None:  # this call created it
                    kube.delete(spec.resource, key[1], key[2])
                    notes.append("deleted %s, which this run had created" % where)
                    continue
                live = kube.get_or_none(spec.resource, key[1], key[2])
                if live is None:
                    notes.append("%s is gone; nothing to put back" % where)
                elif engine.written[key] is not None and cp.changed_since(
                        spec, role, engine.written[key], live):
                    notes.append("left %s alone: someone else changed it since" % where)
                else:
                    patch = cp.restore_patch(spec, role, before, live)
                    if patch is not None:
                        kube.patch(spec.resource, key[1], key[2], patch)
                    notes.append("put back %s as it was (%s)"
                                 % (where, cs.summary(spec, role, before)))
            except KubeError as exc:
                notes.append("could not put back %s: %s" % (where, exc))
        return notes

    # --- the result ------------------------------------------------------
    def report(self, engine, first, observed, writes):
        spec, the_plan = self.spec, self.plan_made
        if engine.check_mode:
            root, child = the_plan.root_after, the_plan.child_after
        else:  # read again only what was written or waited for since (the engine's cache)
            root = engine.get(spec.resource, spec.namespace, spec.name)
            ref = the_plan.child
            child = engine.get(spec.resource, ref.namespace, ref.name) if ref else None
        if spec.api == "ingressroute":
            engine.warnings.append(
                "IngressRoute (contour.heptio.com/v1beta1) is not served by any current "
                "Contour: the change was written but no controller reports whether it is "
                "valid")
        return dict(
            api=spec.api,
            path=spec.path,
            route_path=spec.route_path,
            delegation=_as_dict(the_plan.delegation_after),
            previous_delegation=_as_dict(the_plan.delegation_before),
            services=cs.services_with_shares(spec, child),
            root=cs.proxy_report(spec, root, "root"),
            child=cs.proxy_report(spec, child, "child"),
            diff=dict(
                before=dict(root=cs.diff_view(spec, first.root, "root"),
                            child=cs.diff_view(spec, first.child, "child")),
                after=dict(root=cs.diff_view(spec, root, "root"),
                           child=cs.diff_view(spec, child, "child")),
            ),
        )


def _as_dict(ref):
    return None if ref is None else dict(name=ref.name, namespace=ref.namespace)


def run_contour_delegate(kube, spec, check_mode=False, wait=True, wait_timeout=300):
    """Carry out the call; return the module result (with 'diff')."""
    engine = eng.Engine(kube, check_mode=check_mode, wait=wait, wait_timeout=wait_timeout)
    return engine.run(ContourBackend(spec))
