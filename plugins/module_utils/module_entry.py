# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every module's main() shares: argument specs, the client, and turning the
library's exceptions into a clear fail_json (validation errors list every field)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import os

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.connection import (
    AUTH_ARG_SPEC,
    HAS_KUBERNETES,
    KUBERNETES_IMPORT_ERROR,
    build_api_client,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    ValidationError,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import Kube, KubeError
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import WaitError
from ansible_collections.progressive.delivery.plugins.module_utils.engine import account, account_text

WAIT_ARG_SPEC = dict(
    wait=dict(type="bool", default=True),
    wait_timeout=dict(type="int", default=300),
)


def argument_spec(own):
    spec = copy.deepcopy(AUTH_ARG_SPEC)
    spec.update(copy.deepcopy(WAIT_ARG_SPEC))
    spec.update(own)
    return spec


def missing_kubeconfig_file(value):
    """The error for a kubeconfig option naming a file that does not exist, or None.

    Like kubectl's KUBECONFIG, the option may list several files (``a.yaml:b.yaml``);
    each must exist. The option is no_log (it may be the config itself), which would
    mask the whole value in the message, so the file is named by its folder and name."""
    if not isinstance(value, str):
        return None
    for path in (p for p in value.split(os.pathsep) if p):
        if not os.path.exists(os.path.expanduser(path)):
            folder, name = os.path.split(path)
            return "kubeconfig: there is no file %r in %s" % (name, folder or ".")
    return None


def kube_for(module):
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"),
                         exception=str(KUBERNETES_IMPORT_ERROR))
    missing = missing_kubeconfig_file(module.params.get("kubeconfig"))
    if missing:
        module.fail_json(msg=missing)
    try:
        return Kube(build_api_client(module.params))
    except Exception as exc:  # kubeconfig parse errors come in many types
        module.fail_json(msg="cannot configure the Kubernetes client: %s" % exc)


def failure(exc, refusal_types=()):
    """The fail_json arguments for one of the library's known failures, or None.

    A validation error lists every field; a failed wait or API error ends its message with
    what the call wrote and what is live (engine.account); a refusal after a write carries
    what is live now (``exc.result``)."""
    if isinstance(exc, ValidationError):
        return dict(msg="invalid input: %s" % exc,
                    errors=[dict(field=e.path, message=e.message) for e in exc.errors])
    if isinstance(exc, WaitError):
        return dict(msg=str(exc) + account_text(exc), **account(exc))
    if isinstance(exc, KubeError):
        return dict(msg="Kubernetes API error: %s%s" % (exc, account_text(exc)),
                    status=exc.status, reason=exc.reason, **account(exc))
    if refusal_types and isinstance(exc, refusal_types):
        return dict(getattr(exc, "result", {}), msg=str(exc))
    return None


def run_module(module, work, refusal_types=()):
    """Call ``work()`` and exit; known failures become fail_json with their message. A
    result that says ``failed`` (several releases in one call, some of which failed) is
    returned with fail_json as it is."""
    try:
        result = work()
    except (ValidationError, WaitError, KubeError) + tuple(refusal_types) as exc:
        module.fail_json(**failure(exc, refusal_types))
    diff = result.pop("diff", None)
    if module._diff and diff is not None:
        result["diff"] = diff
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)
