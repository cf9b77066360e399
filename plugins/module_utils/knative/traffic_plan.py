# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure planning for the ``spec.traffic`` block of a Knative Service or Route.

``plan(spec, observed)`` resolves the validated request against what the backend read
(the Service or Route, its Configurations, the namespace's Revisions), checks what only
the cluster can tell (does the revision exist, whose is it, is it Ready) and returns the
traffic block to write; input problems and cluster problems are reported together, each
with its field path. ``configurations_to_settle`` / ``revisions_to_settle`` name what the
backend lets settle before planning. Nothing here talks to the API server.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections import namedtuple

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    FieldErrors,
)
from ansible_collections.progressive.delivery.plugins.module_utils.knative import common as kn
from ansible_collections.progressive.delivery.plugins.module_utils.knative.traffic_block import (
    LATEST,
    LATEST_CREATED,
    LATEST_READY,
    SPECIAL_REVISIONS,
    current_traffic,
    make_entry,
    normal_entry,
    same_traffic,
)
from ansible_collections.progressive.delivery.plugins.module_utils.knative.traffic_validation import (
    Target,
    key_text,
)

Observed = namedtuple("Observed", "owner configurations revisions")
"""owner: the Service or Route (None if missing); configurations: {name: object or None};
revisions: {name: Revision} of the revisions the plan looks up (revisions_to_read)."""


class Resolved(namedtuple("Resolved", "target entry revision_name")):
    """A target turned into a Knative TrafficTarget (``entry``) plus the concrete revision
    it sends traffic to now (None when it cannot be resolved)."""


class Plan(namedtuple("Plan", "traffic before changed resolved create")):
    """traffic: the spec.traffic to write; before: the one read; resolved: Resolved list;
    create: the standalone Route does not exist yet and is created with this block."""


def configuration_of(spec, observed, target_configuration=None):
    name = target_configuration or spec.configuration
    return name, (observed.configurations or {}).get(name)


def _config_status(spec, observed, config_name, config):
    """Status of the Configuration; in Service mode the Service's own status is the
    fallback (it mirrors latestCreated/ReadyRevisionName)."""
    if config is not None:
        return kn.status(config)
    if spec.kind == "Service" and config_name == spec.name:
        return kn.status(observed.owner)
    return None


def resolve_revision(errs, spec, observed, path, revision, target_configuration):
    """Concrete revision name for a reference (None for @latest when nothing is Ready,
    or when it cannot be resolved, in which case the problem is added to ``errs``)."""
    if revision not in SPECIAL_REVISIONS:
        return revision
    config_name, config = configuration_of(spec, observed, target_configuration)
    config_status = _config_status(spec, observed, config_name, config)
    if config_status is None:
        errs.add(path, "%s needs Configuration %s, which does not exist in namespace %s",
                 revision, config_name, spec.namespace)
        return None
    if revision == LATEST_CREATED:
        name = config_status.get("latestCreatedRevisionName")
        if not name:
            errs.add(path, "%s: Configuration %s has not created a revision yet",
                     revision, config_name)
        return name or None
    name = config_status.get("latestReadyRevisionName")
    if revision == LATEST_READY and not name:
        errs.add(path, "%s: Configuration %s has no Ready revision yet (%s)", revision,
                 config_name, kn.describe_condition(kn.condition(config, "Ready")))
    return name or None


def _desired_targets(spec, observed, errs):
    """The declarative list as given, or the current block edited by tags/untag."""
    if spec.targets is not None:
        return list(spec.targets)
    targets = []
    for index, entry in enumerate(current_traffic(observed.owner)):
        revision, latest, configuration, percent, tag = normal_entry(entry)
        targets.append(Target("spec.traffic[%d]" % index, LATEST if latest else revision,
                              percent, tag, configuration if spec.kind == "Route" else None))
    for tag in spec.untag:
        targets = _remove_tag(targets, tag)
    for request in spec.tags:
        targets = _apply_tag(spec, observed, errs, targets, request)
    return targets


def _remove_tag(targets, tag):
    """Take ``tag`` off its target; a target left with 0% and no tag serves nothing and
    is dropped (as kn does)."""
    result = []
    for target in targets:
        if target.tag == tag:
            if not target.percent:
                continue
            target = target._replace(tag=None)
        result.append(target)
    return result


def _apply_tag(spec, observed, errs, targets, request):
    key = _resolved_key(spec, observed, errs, request.path + ".revision", request.revision,
                        request.configuration)
    if key is None:
        return targets
    for target in targets:
        if target.tag == request.tag:
            if _resolved_key(spec, observed, FieldErrors(), target.path, target.revision,
                             target.configuration) == key:
                return targets  # already there
            targets = _remove_tag(targets, request.tag)  # the tag moves to this revision
            break
    for index, target in enumerate(targets):
        if target.tag is None and _resolved_key(spec, observed, FieldErrors(), target.path,
                                                target.revision, target.configuration) == key:
            targets[index] = target._replace(tag=request.tag, path=request.path)
            return targets
    kind, name = key
    revision = LATEST if kind == "latest" else name
    configuration = request.configuration if kind == "latest" else None
    return targets + [Target(request.path, revision, 0, request.tag, configuration)]


def _resolved_key(spec, observed, errs, path, revision, target_configuration):
    """('latest', configuration) or ('revision', name) once @latest_created/@latest_ready
    are pinned to names; None if that fails (the problem is added to errs)."""
    if revision == LATEST:
        return ("latest", target_configuration or spec.configuration)
    name = resolve_revision(errs, spec, observed, path, revision, target_configuration)
    return ("revision", name) if name else None


def _check_target(errs, spec, observed, target, revision_name):
    """Existence, ownership and readiness of the revision a target sends traffic to."""
    path = target.path + ".revision"
    percent = target.percent or 0
    config_name = target.configuration or spec.configuration
    if target.revision == LATEST:
        if revision_name is None:
            config_name, config = configuration_of(spec, observed, target.configuration)
            if config is not None or spec.kind == "Service":
                if not spec.force:
                    errs.add(path, "%s: Configuration %s has no Ready revision yet, and "
                             "Knative does not program a Route while a target has nothing "
                             "to point at (%s; force: true to write it anyway)", LATEST,
                             config_name, kn.describe_condition(kn.condition(config, "Ready")))
        return
    revision = (observed.revisions or {}).get(revision_name)
    if revision is None:
        errs.add(path, "revision %r not found in namespace %s", revision_name, spec.namespace)
        return
    if kn.revision_configuration(revision) != config_name:
        expected = "Service %s" % spec.name if spec.kind == "Service" else \
            "Configuration %s" % config_name
        errs.add(path, "revision %r belongs to %s, not to %s", revision_name,
                 _owner_text(revision), expected)
        return
    if spec.force:
        return
    ready = kn.condition_status(revision, "Ready")
    text = kn.describe_condition(kn.condition(revision, "Ready"))
    if ready == "False":
        errs.add(path, "revision %r failed (%s): Knative does not program a Route that "
                 "references a failed revision, even at 0%% (force: true to write it anyway)",
                 revision_name, text)
    elif ready != "True" and percent > 0:
        errs.add(path, "revision %r is not Ready (%s) and cannot receive %d%% (wait for it, "
                 "or force: true)", revision_name, text, percent)


def _owner_text(revision):
    config = kn.revision_configuration(revision)
    service = kn.revision_service(revision)
    if service:
        return "Service %s (Configuration %s)" % (service, config)
    return "Configuration %s" % config if config else "no Configuration (no %s label)" % (
        kn.CONFIGURATION_LABEL)


def plan(spec, observed):
    """Resolve and check every target, return the Plan; raise ValidationError (all input
    and cluster problems at once) when anything is wrong."""
    errs = FieldErrors()
    errs.errors.extend(spec.input_errors)
    owner = observed.owner
    create = owner is None and spec.kind == "Route" and spec.targets is not None
    if owner is None and not create:
        errs.add(spec.field, "%s %s not found in namespace %s%s", spec.kind, spec.name,
                 spec.namespace, "" if spec.kind == "Service" else
                 " (a missing Route is created only from a whole traffic block)")
        errs.raise_if_any()
    service_label = kn.labels(owner).get(kn.SERVICE_LABEL)
    if spec.kind == "Route" and service_label:
        errs.add("route", "Route %s is managed by Knative Service %s, which would overwrite "
                 "its traffic: use service: %s", spec.name, service_label, service_label)
        errs.raise_if_any()

    targets = _desired_targets(spec, observed, errs)
    resolved = []
    for target in targets:
        revision_name = None
        if isinstance(target.revision, str) and target.revision:
            revision_name = resolve_revision(errs, spec, observed, target.path + ".revision",
                                             target.revision, target.configuration)
        if revision_name or target.revision == LATEST:
            _check_target(errs, spec, observed, target, revision_name)
        entry = None
        if target.percent is not None and target.revision:
            entry = make_entry(spec.kind, target.configuration or spec.configuration,
                               None if target.revision == LATEST else revision_name,
                               target.percent, target.tag)
        resolved.append(Resolved(target, entry, revision_name))

    if spec.targets is not None:
        _check_pinned_duplicates(errs, spec, resolved)
    errs.raise_if_any()

    before = current_traffic(owner)
    traffic = [r.entry for r in resolved]
    return Plan(traffic=traffic, before=before,
                changed=create or not same_traffic(before, traffic),
                resolved=resolved, create=create)


def _check_pinned_duplicates(errs, spec, resolved):
    """Once @latest_created / @latest_ready are pinned to names they may collide with a
    named untagged target of the same revision (the named ones were checked already)."""
    first = {}
    for item in resolved:
        target = item.target
        if target.tag is not None or target.revision == LATEST or not item.revision_name:
            continue
        key = ("revision", item.revision_name)
        if key in first:
            if _is_pinned_reference(target) or _is_pinned_reference(first[key]):
                errs.add(target.path + ".revision",
                         "%s (%s) already receives traffic without a tag from %s: give one "
                         "of the two targets a tag, or add their percents up",
                         key_text(key), target.revision, first[key].path)
        else:
            first[key] = target


def _is_pinned_reference(target):
    return target.revision in (LATEST_CREATED, LATEST_READY)


# ---------------------------------------------------------------------------
# what to let settle before planning
# ---------------------------------------------------------------------------
def configurations_to_settle(spec, observed):
    """Configurations whose latest*RevisionName a target reads but whose controller has
    not caught up with their latest spec yet (a template change just made)."""
    names = set()
    references = [(t.revision, t.configuration) for t in spec.targets or []]
    references += [(t.revision, t.configuration) for t in spec.tags]
    for revision, configuration in references:
        if revision in (LATEST_CREATED, LATEST_READY):
            name, config = configuration_of(spec, observed, configuration)
            if config is not None and not kn.generation_observed(config):
                names.add(name)
    if spec.kind == "Service" and names and observed.owner is not None and \
            not kn.generation_observed(observed.owner):
        names.add(spec.configuration)
    return sorted(names)


def revisions_to_read(spec, observed):
    """The revisions the plan looks up (pure; ``observed`` without revisions): those the
    desired targets name once @latest_created/@latest_ready/@latest are pinned to names.
    A call reads these few rather than listing the namespace's Revisions, which a
    Configuration can keep by the hundred."""
    names = set()
    for target in _desired_targets(spec, observed, FieldErrors()):
        if isinstance(target.revision, str) and target.revision:
            name = resolve_revision(FieldErrors(), spec, observed, target.path,
                                    target.revision, target.configuration)
            if name:
                names.add(name)
    return sorted(names)


def revisions_to_settle(spec, observed):
    """Revisions a target would reference whose Ready condition is still Unknown: waiting
    for them before deciding turns 'not Ready yet' into a real answer."""
    revisions = observed.revisions or {}
    return [name for name in revisions_to_read(spec, observed)
            if name in revisions and kn.condition_status(revisions[name], "Ready") == "Unknown"]
