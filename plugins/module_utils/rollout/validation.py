# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""k8s_rollout's input, checked before anything is read: every problem at once, each with
the option's name and the value given."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections import namedtuple

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    FieldErrors,
)
from ansible_collections.progressive.delivery.plugins.module_utils.rollout import (
    strategy as st,
)

KINDS = ("Deployment", "StatefulSet", "DaemonSet")
STATES = ("present", "paused", "resumed", "undone")
UPDATE_OPTIONS = ("images", "env", "pod_template")
# What each kind's API has (kubectl rollout pause/resume exist for Deployments only).
KIND_OPTIONS = {
    "Deployment": ("max_surge", "max_unavailable", "revision_history_limit",
                   "min_ready_seconds", "progress_deadline_seconds", "pause_after"),
    "DaemonSet": ("max_surge", "max_unavailable", "revision_history_limit",
                  "min_ready_seconds"),
    "StatefulSet": ("revision_history_limit", "min_ready_seconds"),
}
COUNTS = ("revision_history_limit", "min_ready_seconds", "progress_deadline_seconds")


class Spec(namedtuple("Spec", "kind name namespace state max_surge max_unavailable "
                      "revision_history_limit min_ready_seconds progress_deadline_seconds "
                      "images env pod_template change_cause pause_after to_revision "
                      "to_image revision")):
    """Validated input; max_surge, max_unavailable, pause_after are IntOrPercent or None."""

    @property
    def updates_template(self):
        return bool(self.images or self.env or self.pod_template)


def validate(params):
    errors = FieldErrors()
    kind = params.get("kind") or "Deployment"
    state = params.get("state") or "present"
    errors.check_dns_subdomain("name", params.get("name"))
    errors.check_dns_label("namespace", params.get("namespace"))

    parsed = {}
    for option in ("max_surge", "max_unavailable", "pause_after"):
        value = params.get(option)
        if value is None:
            parsed[option] = None
            continue
        try:
            parsed[option] = st.parse(value)
        except ValueError as exc:
            errors.add(option, str(exc))
            parsed[option] = None
    for option in COUNTS + ("to_revision", "revision"):
        value = params.get(option)
        if value is not None and value < 0:
            errors.add(option, "%r must be 0 or more", value)

    for option in sorted(set(KIND_OPTIONS["Deployment"]) - set(KIND_OPTIONS[kind])):
        if params.get(option) is not None:
            errors.add(option, "%r: a %s has no such setting (only a Deployment has it)",
                       params[option], kind)
    if state in ("paused", "resumed") and kind != "Deployment":
        errors.add("state", "%r: only a Deployment can be paused and resumed (as with "
                   "kubectl rollout pause/resume); a %s rolls out as soon as its template "
                   "changes", state, kind)

    pause_after = parsed["pause_after"]
    if pause_after is not None:
        if state != "present":
            errors.add("pause_after", "%s: only with state=present (got state=%s)",
                       pause_after, state)
        if pause_after.value == 0:
            errors.add("pause_after", "%s: hold after at least one pod; to stop a rollout "
                       "where it is, use state=paused", pause_after)
        elif pause_after.percent and pause_after.value > 100:
            errors.add("pause_after", "%s must not be greater than 100%%", pause_after)

    surge, unavailable = parsed["max_surge"], parsed["max_unavailable"]
    if surge is not None and unavailable is not None:
        check = st.check_daemonset if kind == "DaemonSet" else st.check_deployment
        for field, message in check(surge, unavailable):
            errors.add(field, message)
    elif unavailable is not None and unavailable.percent and unavailable.value > 100:
        errors.add("max_unavailable", "%s must not be greater than 100%%", unavailable)

    minimum, deadline = params.get("min_ready_seconds"), params.get("progress_deadline_seconds")
    if minimum is not None and deadline is not None and deadline <= minimum:
        errors.add("progress_deadline_seconds", "%d must be greater than min_ready_seconds "
                   "(%d)", deadline, minimum)

    images = params.get("images") or {}
    for container, image in sorted(images.items()):
        if not isinstance(image, str) or not image.strip():
            errors.add("images.%s" % container, "%r is not an image reference", image)
    env = params.get("env") or {}
    for var, value in sorted(env.items()):
        if value is not None and not isinstance(value, (str, int, float)):
            errors.add("env.%s" % var, "%r: a value is a string (or null to remove the "
                       "variable)", value)
    template = params.get("pod_template")
    if template is not None and not isinstance((template or {}).get("spec", {}), dict):
        errors.add("pod_template.spec", "must be a mapping")

    if state == "undone":
        for option in UPDATE_OPTIONS:
            if params.get(option):
                errors.add(option, "cannot change the template while undoing (state=undone "
                           "goes back to a recorded template)")
        if params.get("to_revision") and params.get("to_image"):
            errors.add("to_image", "%r: give to_revision or to_image, not both",
                       params["to_image"])
    else:
        for option in ("to_revision", "to_image"):
            if params.get(option):
                errors.add(option, "%r: only with state=undone (got state=%s)",
                           params[option], state)

    errors.raise_if_any()
    return Spec(
        kind=kind, name=params["name"], namespace=params["namespace"], state=state,
        max_surge=surge, max_unavailable=unavailable,
        revision_history_limit=params.get("revision_history_limit"),
        min_ready_seconds=minimum, progress_deadline_seconds=deadline,
        images=dict(images), env=dict(env), pod_template=template or None,
        change_cause=params.get("change_cause"), pause_after=pause_after,
        to_revision=params.get("to_revision") or None, to_image=params.get("to_image"),
        revision=params.get("revision"))
