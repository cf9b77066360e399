# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The canary role's check of its own input, kept out of its Jinja so it can be
unit-tested and costs the release no task of its own:

* `canary_input_errors`: every problem with the role's variables at once (the backend's
  settings, the knative canary source, the gates, a header or mirror given both as a step
  and as a setting), each naming the user's variable; [] when there is none. The steps
  themselves are checked by canary_release_state, which the role calls next.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.progressive.delivery.plugins.module_utils.canary.settings import (
    REQUIRED as SETTINGS_REQUIRED,
)
from ansible_collections.progressive.delivery.plugins.module_utils.gates.validation import (
    validate_gates,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    ValidationError,
)
from ansible_collections.progressive.delivery.plugins.module_utils.secrets import (
    gate_secrets,
    masked,
)

# What each backend cannot do without (canary_step's own list), as the role's user gives
# it: the replicas backend's Service is the role variable canary_service, the other
# backends' settings are canary_<backend> under the module's names.
REQUIRED = dict(SETTINGS_REQUIRED, replicas=("canary_service",))
SETTINGS_NAME = {"replicas": "role variables", "nginx": "canary_nginx",
                 "contour": "canary_contour", "knative": "canary_knative",
                 "gateway": "canary_gateway", "rolling": "canary_rolling"}


def _settings(role_vars, backend):
    if backend == "replicas":
        return {"canary_service": role_vars.get("canary_service")}
    return role_vars.get("canary_" + backend) or {}


def _missing(role_vars, backend):
    settings = _settings(role_vars, backend)
    missing = [key for key in REQUIRED.get(backend, ()) if not settings.get(key)]
    if not missing:
        return []
    return ["canary_backend=%s needs %s (%s); missing: %s" % (
        backend, ", ".join(REQUIRED[backend]), SETTINGS_NAME[backend], ", ".join(missing))]


def _knative_source(role_vars, backend):
    knative = role_vars.get("canary_knative") or {}
    if backend != "knative" or knative.get("template") or knative.get("canary_revision"):
        return []
    return ["canary_backend=knative needs canary_knative.template (creates the canary "
            "revision) or canary_knative.canary_revision"]


def _gates(gates):
    """The gates as written (tasks gates too), named as the user's variable; secret values
    (URL passwords, secret headers) masked as gate_check masks them."""
    try:
        validate_gates(gates, field="canary_gates", allow_tasks=True)
    except ValidationError as exc:
        secrets = gate_secrets(gates if isinstance(gates, list) else [])
        return [masked(str(error), secrets) for error in exc.errors]
    return []


def _routing_clash(role_vars, backend, steps):
    """Header and mirror steps, or the settings of the same name, not both: from step to
    step one would undo the other (canary_step refuses it too)."""
    if backend == "gateway":
        settings = role_vars.get("canary_gateway") or {}
    elif backend == "nginx":
        settings = {"header": (role_vars.get("canary_nginx") or {}).get("header")}
    else:
        return []
    first = {}
    for index, step in enumerate(steps if isinstance(steps, list) else []):
        if isinstance(step, dict):  # another step is reported by the steps' own check
            for key in step:
                first.setdefault(key, index)
    mixed = [kind for kind in ("header", "mirror") if kind in first and settings.get(kind)]
    if not mixed:
        return []
    return ["".join("canary_%s.%s is set and canary_steps[%d] is a %s step; " % (
        backend, kind, first[kind], kind) for kind in mixed)
        + "give the header and the mirror either as steps or as settings, not both"]


def canary_input_errors(role_vars):
    """Every problem with the canary role's input (a dict of its variables: canary_backend,
    canary_service, canary_<backend>, canary_steps, canary_gates), each a sentence naming
    the user's variable; [] when there is none."""
    backend = role_vars.get("canary_backend") or "replicas"
    return (_missing(role_vars, backend) + _knative_source(role_vars, backend)
            + _gates(role_vars.get("canary_gates") or [])
            + _routing_clash(role_vars, backend, role_vars.get("canary_steps")))


class FilterModule(object):
    def filters(self):
        return {"canary_input_errors": canary_input_errors}
