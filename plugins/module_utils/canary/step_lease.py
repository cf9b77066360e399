# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""canary_step's part of the release lease: before a step's first write, renew the lease
the release took (release_lease), so a release that runs longer than planned keeps it,
and stop with a clear failure when another job took it over in the meantime (one request
per step; lease/renew.py). Without the ``lease`` option nothing is done."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import KubeError
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    FieldErrors,
)
from ansible_collections.progressive.delivery.plugins.module_utils.lease import renew as rn


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
    unknown = sorted(set(lease) - set(("name", "holder")))
    if unknown:
        errs.add("lease", "unknown key(s) %s (name and holder are known)", ", ".join(unknown))
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
