#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: release_lease
short_description: Take or give back the lease that lets one job at a time release an app
version_added: 0.1.0
author:
  - progressive.delivery maintainers (@progressive-delivery)
description:
  - Two jobs releasing the same app at once would both write the app's Services,
    Deployments and release record, and the last writer would win. A release takes this
    lease first, so a second job is refused at once with a message naming the job that holds
    it, since when, and when the lease expires.
  - The lease is a C(coordination.k8s.io/v1) Lease named O(lease_name) (C(<name>-release)) in
    the app's namespace. C(spec.holderIdentity) names the holder, C(acquireTime) when it took
    the lease, C(renewTime) when it last renewed it, and C(leaseDurationSeconds) how long
    after C(renewTime) the lease expires if it is not renewed (a killed job never gives its
    lease back; expiry is what frees it).
  - O(state=acquired) takes the lease. When no Lease exists it is created; when nobody holds
    it, or its holder let it expire, it is taken; when this holder already holds it, it is
    renewed (a take by the same holder is a renew, so the call can be repeated). When another
    holder holds it and it has not expired, the call fails and writes nothing, unless
    O(takeover=true).
  - A killed job never gives its lease back. The lease records where the holder's
    ansible-playbook process runs (kernel boot id, process namespace, pid and start time, in
    the C(progressive.delivery/holder-process) annotation). When a later call runs on the
    same machine and in the same process namespace, and that process no longer runs, the
    holder is known to be dead and the lease is taken at once (RV(decision=take_abandoned)).
    Where that cannot be seen (the holder ran in another AWX job's pod, another container,
    another machine), the lease is taken once it expired, or with O(takeover=true).
  - O(state=released) gives the lease back when this holder holds it. The holder is cleared
    (the Lease stays, with the last holder in the C(progressive.delivery/last-holder)
    annotation). When another holder holds it (it was taken over from this job), it is left
    alone with a warning; when nobody holds it, nothing is done.
  - Every write is conditional. A create carries no resourceVersion, so if another job
    created the Lease first the API server answers 409 AlreadyExists; an update carries the
    resourceVersion read, so if another job changed the Lease in between the API server
    answers 409 Conflict. Either way the module reads the Lease again and decides again;
    of two jobs taking a free or expired lease at once, exactly one gets it.
  - The bluegreen and canary roles take this lease before their first write and give it
    back at the end of the release, whether it succeeded, failed or rolled back.
options:
  name:
    description: Name of the app the release is for.
    type: str
    required: true
  namespace:
    description: Namespace of the Lease (the app's namespace).
    type: str
    required: true
  lease_name:
    description: Name of the Lease. Default C(<name>-release).
    type: str
  state:
    description: V(acquired) takes (or renews) the lease, V(released) gives it back.
    type: str
    choices: [acquired, released]
    default: acquired
  holder:
    description:
      - Who holds the lease, as the refused job's message shows it.
      - "Default: in an AWX or Automation Controller job, C(AWX job <JOB_ID> on <AWX_HOST>)
        (from the job's environment); otherwise C(<user>@<host> ansible-playbook pid <pid>
        started <time>), the ansible-playbook process the module runs under, so that every
        task of one run has the same identity and two runs never share one. Followed by
        C( (<holder_context>)) when O(holder_context) is given."
      - The default needs the module to run where ansible-playbook runs (C(localhost), as the
        roles do). On a remote host, pass O(holder), and pass the RV(holder) an
        O(state=acquired) call returned to the O(state=released) call.
    type: str
  holder_context:
    description:
      - Added to the default O(holder) in parentheses, to tell apart two releases of one job
        (the roles pass the inventory host, so two hosts of one play that release the same
        app on the same cluster do not share the lease). Not used with O(holder).
    type: str
  duration:
    description:
      - How long the lease lasts after it is taken or renewed, unless renewed again, as a
        duration (C(90s), C(10m), C(1h30m)) or seconds. It must outlast the longest stretch
        of the release between two renewals, or another job could take the lease while this
        one still releases; it is also how long a killed job keeps others out.
    type: raw
    default: 10m
  takeover:
    description:
      - With O(state=acquired), take the lease even though another holder holds it and it
        has not expired. Use it only when you know that job is dead (killed, its pod gone);
        taking the lease from a live job lets both write. The holder it was taken from is
        named in the result's warning and in the C(progressive.delivery/last-holder)
        annotation.
      - An expired lease is taken without this option.
    type: bool
    default: false
    aliases: [force]
  purpose:
    description:
      - What the holder is doing (for example C(blue/green release of web v2)); kept in the
        C(progressive.delivery/lease-purpose) annotation and shown to a refused job.
    type: str
extends_documentation_fragment:
  - progressive.delivery.k8s_auth
attributes:
  check_mode:
    support: full
    description: Reads the Lease and says what the call would do (RV(decision)); a lease held by
      another job fails the call as a real run would. Nothing is written.
  diff_mode:
    support: full
    description: Shows the Lease's spec and annotations before and after.
notes:
  - Expiry is judged on the clock of the host the module runs on; jobs whose hosts' clocks
    disagree judge it differently by that much.
  - Needs C(get), C(create) and C(update) on C(leases) in the C(coordination.k8s.io) group
    (see the Roles in C(deploy/rbac)).
"""

EXAMPLES = r"""
- name: Take the release lease of myapp (fails at once if another job holds it)
  progressive.delivery.release_lease:
    name: myapp
    namespace: shop
    duration: 20m
    purpose: release of myapp v2
  register: lease

- name: Release under the lease, give it back whatever happens
  block:
    - name: Switch live traffic to v2
      progressive.delivery.k8s_bluegreen:
        name: myapp
        namespace: shop
        version: v2
        service: myapp
        state: promoted
  always:
    - name: Give the release lease back
      progressive.delivery.release_lease:
        name: myapp
        namespace: shop
        holder: "{{ lease.holder }}"
        state: released

- name: The last job was killed and its lease has not expired yet; take it over
  progressive.delivery.release_lease:
    name: myapp
    namespace: shop
    takeover: true
"""

RETURN = r"""
decision:
  description:
    - What the call did (or, in check mode, would do). O(state=acquired) C(create),
      C(take) (nobody held it), C(renew) (this holder held it), C(take_expired) (its
      holder let it expire), C(take_abandoned) (its holder's process is gone from this
      machine), C(take_over) (O(takeover)). O(state=released) C(release),
      C(none) (nobody held it), C(other) (another holder holds it; left alone).
  returned: success
  type: str
  sample: create
holder:
  description: This call's holder identity (pass it to the O(state=released) call).
  returned: always
  type: str
  sample: alice@build-1 ansible-playbook pid 4242 started 2026-12-06T03:05:12Z (localhost)
lease_name:
  description: Name of the Lease.
  returned: success
  type: str
  sample: myapp-release
lease:
  description:
    - The Lease after the call (C(null) when there is none). C(held), C(holder),
      C(purpose), C(acquired), C(renewed), C(expires) (UTC), C(expires_in) (seconds),
      C(expired), C(duration_seconds), C(last_holder), C(transitions); a free lease has
      C(held=false), C(last_holder) and C(released).
  returned: always
  type: dict
  sample: {"held": true, "holder": "AWX job 42 on https://awx.example.com", "expires": "2026-12-06T03:25:12Z"}
previous:
  description: The Lease as read before the call, in the same form as RV(lease).
  returned: success
  type: dict
expires:
  description: With O(state=acquired), when the lease expires unless renewed (UTC).
  returned: when state=acquired
  type: str
  sample: "2026-12-06T03:25:12Z"
duration_seconds:
  description: With O(state=acquired), the lease duration in seconds.
  returned: when state=acquired
  type: int
message:
  description: What the call did, in words.
  returned: always
  type: str
  sample: took the release lease myapp-release in shop for AWX job 42, until 2026-12-06T03:25:12Z unless renewed
now:
  description: The clock the call judged expiry by (UTC).
  returned: success
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

# First of the collection's imports: the others are then compiled once (see zip_import).
from ansible_collections.progressive.delivery.plugins.module_utils import zip_import  # noqa: F401 pylint: disable=unused-import
from ansible_collections.progressive.delivery.plugins.module_utils.lease.backend import (
    STATES,
    run_lease,
)
from ansible_collections.progressive.delivery.plugins.module_utils.lease.decide import LeaseHeld
from ansible_collections.progressive.delivery.plugins.module_utils.lease.holder import (
    ThisMachine,
    this_holder,
)
from ansible_collections.progressive.delivery.plugins.module_utils.module_entry import (
    argument_spec,
    kube_for,
    run_module,
)

OWN_SPEC = dict(
    name=dict(type="str", required=True),
    namespace=dict(type="str", required=True),
    lease_name=dict(type="str"),
    state=dict(type="str", default="acquired", choices=list(STATES)),
    holder=dict(type="str"),
    holder_context=dict(type="str"),
    duration=dict(type="raw", default="10m"),
    takeover=dict(type="bool", default=False, aliases=["force"]),
    purpose=dict(type="str"),
)


def main():
    spec = argument_spec(OWN_SPEC)
    spec.pop("wait")  # the lease is written and read back; there is nothing to wait for
    spec.pop("wait_timeout")
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    run_module(module, lambda: run_lease(module.params, lambda: kube_for(module), this_holder,
                                         module.check_mode, machine=ThisMachine()),
               refusal_types=(LeaseHeld,))


if __name__ == "__main__":
    main()
