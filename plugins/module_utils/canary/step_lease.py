# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""canary_step's part of the release lease: before a step's first write, renew the lease
the release took (release_lease), so a release that runs longer than planned keeps it,
and stop with a clear failure when another job took it over in the meantime (one request
per step; lease/renew.py). After a promotion, with ``lease.give_back``, it gives the lease
back in the same call. Without the ``lease`` option nothing is done."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import KubeError
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    FieldErrors,
)
from ansible_collections.progressive.delivery.plugins.module_utils.lease import (
    backend as lb,
    renew as rn,
)


def lease_of(params):
    """(lease name, holder) from the ``lease`` option, or None; bad input raises
    ValidationError naming the field, before anything is sent."""
    lease = params.get("lease")
    if not lease:
        return None
    errs = FieldErrors()
    name, holder = lease.get("name"), lease.get("holder")
    errs.check_dns_subdomain("lease.name", name)
    if not isinstance(holder, str) or not holder.strip():
        errs.add("lease.holder", "%r: give the holder the release_lease call returned", holder)
    unknown = sorted(set(lease) - set(("name", "holder", "give_back")))
    if unknown:
        errs.add("lease", "unknown key(s) %s (name, holder and give_back are known)",
                 ", ".join(unknown))
    if not isinstance(lease.get("give_back", False), bool):
        errs.add("lease.give_back", "%r is not true or false", lease.get("give_back"))
    elif lease.get("give_back") and params.get("action") != "promote":
        errs.add("lease.give_back", "only a promotion (action=promote) gives the lease back, "
                 "not action=%s", params.get("action"))
    errs.raise_if_any()
    return name, holder


def keep(run):
    """Renew the release's lease for the StepRun ``run``; a lost lease, or a renewal the
    API server refuses, fails the step (StepFailed) before it writes anything."""
    found = lease_of(run.params)
    if found is None:
        return
    name, holder = found
    try:
        rn.renew(run.kube, run.params["namespace"], name, holder, run.clock(), run.check_mode)
    except rn.LeaseLost as exc:
        run.fail(str(exc), lease_lost=True, lease=exc.lease)
    except KubeError as exc:
        run.fail("could not renew the release lease %s in %s for %s: Kubernetes API error: %s"
                 % (name, run.params["namespace"], holder, exc))


def give_back(run):
    """After the promotion was recorded: give the lease back when ``lease.give_back`` asks,
    so the release needs no release_lease call of its own. Returns (given back, warning).
    The promotion stands whatever happens here: a lease this job no longer holds is left
    alone, and a refused write leaves it to expire (or to the caller's own give-back)."""
    found = lease_of(run.params)
    if found is None or not run.params["lease"].get("give_back") or run.check_mode:
        return False, None
    name, holder = found
    call = dict(name=run.params["name"], namespace=run.params["namespace"], lease_name=name,
                state="released", holder=holder, duration=1)
    try:
        result = lb.run_lease(call, lambda: run.kube, None, False, clock=run.clock)
    except KubeError as exc:
        return False, ("%s promoted, but the release lease %s could not be given back: "
                       "Kubernetes API error: %s" % (run.params["version"], name, exc))
    if result["decision"] != "release":
        return False, result["message"]
    return True, None
