# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure planning for the ``spec.traffic`` block of a Knative Service or Route.

``validate(params)`` checks the request on its own (percents, tags, duplicates);
``plan(spec, observed)`` resolves it against what the runner read (the Service or Route,
its Configurations, the namespace's Revisions), checks what only the cluster can tell
(does the revision exist, whose is it, is it Ready) and returns the traffic block to
write. Every problem of both kinds is reported at once, each with its field path.
Nothing here talks to the API server.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from collections import namedtuple

from ansible_collections.progressive.delivery.plugins.module_utils.knative import common as kn
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    FieldErrors,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import Check

# Revision references a target may use instead of a revision name.
LATEST = "@latest"                  # latestRevision: true, follows the latest Ready revision
LATEST_CREATED = "@latest_created"  # pinned, now, to status.latestCreatedRevisionName
LATEST_READY = "@latest_ready"      # pinned, now, to status.latestReadyRevisionName
SPECIAL_REVISIONS = (LATEST, LATEST_CREATED, LATEST_READY)

DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
MAX_LABEL = 63
# The knative.dev/client wording, so users meet the message they know from `kn`.
SUM_MESSAGE = "given traffic percents sum to %d, want 100"
RANGE_MESSAGE = "invalid value for traffic percent %s, expected 0 <= percent <= 100"


class Target(namedtuple("Target", "path revision percent tag configuration")):
    """One requested traffic target. ``path`` names it in messages (``traffic[1]``);
    ``percent`` is an int, or None when the input was not a valid percent."""


class TagRequest(namedtuple("TagRequest", "path revision tag configuration")):
    """``tags`` entry: put ``tag`` on ``revision`` without changing the split."""


class Spec(namedtuple(
    "Spec", "namespace kind name configuration targets tags untag force input_errors"
)):
    """Validated input. ``kind`` is Service or Route; ``targets`` is the declarative list
    (None when the call only tags/untags); ``input_errors`` the problems found so far."""

    @property
    def field(self):
        return "service" if self.kind == "Service" else "route"


Observed = namedtuple("Observed", "owner configurations revisions")
"""owner: the Service or Route (None if missing); configurations: {name: object or None};
revisions: {name: Revision} of the namespace."""


class Resolved(namedtuple("Resolved", "target entry revision_name")):
    """A target turned into a Knative TrafficTarget (``entry``) plus the concrete revision
    it sends traffic to now (None when it cannot be resolved)."""


class Plan(namedtuple("Plan", "traffic before changed resolved create")):
    """traffic: the spec.traffic to write; before: the one read; resolved: Resolved list;
    create: the standalone Route does not exist yet and is created with this block."""


# ---------------------------------------------------------------------------
# validation of the request alone
# ---------------------------------------------------------------------------
def parse_percent(value):
    """(int, None) or (None, message). Accepts ints, integral floats and digit strings
    (what templating produces); refuses booleans, fractions and anything else."""
    if value is None:
        return 0, None
    if isinstance(value, bool):
        return None, "must be an integer from 0 to 100, got %r" % (value,)
    number = None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and re.match(r"^\s*-?\d+\s*$", value):
        number = int(value)
    if number is None:
        return None, "must be an integer from 0 to 100, got %r" % (value,)
    if number < 0 or number > 100:
        return None, RANGE_MESSAGE % number
    return number, None


def check_tag(errs, path, tag, route_name):
    """A tag becomes the first label of the tag's host name (``<tag>-<route>``), so it
    must be a DNS-1035 label and leave that host label at most 63 characters long."""
    if not isinstance(tag, str) or len(tag) > MAX_LABEL or not DNS1035_LABEL.match(tag):
        errs.add(path, "%r is not a valid tag: it must be a DNS-1035 label (lower-case "
                 "letters, digits and '-', starting with a letter and ending with a letter "
                 "or digit, at most 63 characters)", tag)
        return False
    if route_name and len(tag) + 1 + len(route_name) > MAX_LABEL:
        errs.add(path, "tag %r makes the host label %r longer than %d characters",
                 tag, "%s-%s" % (tag, route_name), MAX_LABEL)
        return False
    return True


def _check_revision_ref(errs, path, revision):
    if not isinstance(revision, str) or not revision:
        errs.add(path, "is required: a revision name or one of %s", ", ".join(SPECIAL_REVISIONS))
        return False
    if revision.startswith("@"):
        if revision not in SPECIAL_REVISIONS:
            errs.add(path, "%r is not a revision name nor one of %s",
                     revision, ", ".join(SPECIAL_REVISIONS))
            return False
        return True
    return errs.check_dns_subdomain(path, revision)


def _target_configuration(errs, path, item, kind):
    configuration = item.get("configuration")
    if configuration is None:
        return None
    if kind == "Service":
        errs.add(path, "is only for a standalone Route: the targets of a Service always "
                 "belong to the Service's own Configuration")
        return None
    errs.check_dns_subdomain(path, configuration)
    return configuration


def _parse_targets(errs, items, kind, route_name):
    if not isinstance(items, list):
        errs.add("traffic", "must be a list of targets")
        return []
    if not items:
        errs.add("traffic", SUM_MESSAGE, 0)
        return []
    targets = []
    for index, item in enumerate(items):
        path = "traffic[%d]" % index
        if not isinstance(item, dict):
            errs.add(path, "must be a dictionary with revision, percent and tag, got %r", item)
            continue
        revision = item.get("revision")
        _check_revision_ref(errs, path + ".revision", revision)
        percent, problem = parse_percent(item.get("percent"))
        if problem:
            errs.add(path + ".percent", problem)
        tag = item.get("tag") or None
        if tag is not None:
            check_tag(errs, path + ".tag", tag, route_name)
        configuration = _target_configuration(errs, path + ".configuration", item, kind)
        targets.append(Target(path, revision, percent, tag, configuration))
    return targets


def _check_duplicates(errs, targets, key_of):
    """Tags must be unique; a revision may appear twice only under different tags
    (Knative would otherwise merge the two untagged targets into one)."""
    tag_paths = {}
    untagged_paths = {}
    for target in targets:
        if target.tag is not None:
            if target.tag in tag_paths:
                errs.add(target.path + ".tag", "duplicate tag %r (also on %s): every tag names "
                         "one target", target.tag, tag_paths[target.tag])
            else:
                tag_paths[target.tag] = target.path
            continue
        key = key_of(target)
        if key is None:
            continue
        if key in untagged_paths:
            errs.add(target.path + ".revision",
                     "%s already receives traffic without a tag from %s: give one of the two "
                     "targets a tag, or add their percents up", _key_text(key),
                     untagged_paths[key])
        else:
            untagged_paths[key] = target.path


def _key_text(key):
    kind, name = key
    if kind == "latest":
        return "%s (configuration %s)" % (LATEST, name) if name else LATEST
    return "revision %s" % name


def _check_sum(errs, targets):
    if targets and all(t.percent is not None for t in targets):
        total = sum(t.percent for t in targets)
        if total != 100:
            errs.add("traffic", SUM_MESSAGE, total)


def _parse_tags(errs, items, kind, route_name):
    requests = []
    seen = {}
    for index, item in enumerate(items or []):
        path = "tags[%d]" % index
        if not isinstance(item, dict):
            errs.add(path, "must be a dictionary with revision and tag, got %r", item)
            continue
        _check_revision_ref(errs, path + ".revision", item.get("revision"))
        tag = item.get("tag")
        if not tag:
            errs.add(path + ".tag", "is required")
        elif check_tag(errs, path + ".tag", tag, route_name):
            if tag in seen:
                errs.add(path + ".tag", "duplicate tag %r (also in %s)", tag, seen[tag])
            seen[tag] = path
        configuration = _target_configuration(errs, path + ".configuration", item, kind)
        requests.append(TagRequest(path, item.get("revision"), tag, configuration))
    return requests


def _parse_untag(errs, items, tags):
    names = []
    tagged = set(t.tag for t in tags)
    for index, tag in enumerate(items or []):
        path = "untag[%d]" % index
        if not isinstance(tag, str) or not tag:
            errs.add(path, "must be a tag name, got %r", tag)
            continue
        if tag in tagged:
            errs.add(path, "tag %r is both added (tags) and removed (untag)", tag)
        names.append(tag)
    return names


def validate(params, strict=True):
    """Module params -> Spec. With ``strict`` raise a ValidationError listing every input
    problem; otherwise keep them in ``spec.input_errors`` so that ``plan`` reports them
    together with what it finds in the cluster."""
    errs = FieldErrors()
    namespace = params.get("namespace")
    errs.check_dns_label("namespace", namespace)
    service, route = params.get("service"), params.get("route")
    if bool(service) == bool(route):
        errs.add("service", "give exactly one of service (a Knative Service) or route "
                 "(a standalone Route)")
    kind = "Service" if service else "Route"
    name = service or route
    if name:
        errs.check_dns_label(kind.lower(), name)
    configuration = params.get("configuration")
    if configuration and service:
        errs.add("configuration", "is only for a standalone Route: a Service's Configuration "
                 "is the Service's own")
    if route:
        configuration = configuration or route
        errs.check_dns_subdomain("configuration", configuration)
    elif service:
        configuration = service

    traffic, tags, untag = params.get("traffic"), params.get("tags"), params.get("untag")
    targets = None
    tag_requests, untag_names = [], []
    if traffic is not None and (tags or untag):
        errs.add("traffic", "give either the whole traffic block (traffic) or tag changes "
                 "(tags, untag), not both: put the tags in the traffic targets")
    if traffic is not None:
        targets = _parse_targets(errs, traffic, kind, name)
        _check_duplicates(errs, targets, _static_key(configuration))
        _check_sum(errs, targets)
    elif tags or untag:
        tag_requests = _parse_tags(errs, tags, kind, name)
        untag_names = _parse_untag(errs, untag, tag_requests)
    else:
        errs.add("traffic", "nothing to do: give traffic (the whole block), or tags / untag")

    spec = Spec(
        namespace=namespace,
        kind=kind,
        name=name,
        configuration=configuration,
        targets=targets,
        tags=tag_requests,
        untag=untag_names,
        force=bool(params.get("force")),
        input_errors=list(errs.errors),
    )
    if strict:
        errs.raise_if_any()
    return spec


def _static_key(default_configuration):
    """Duplicate key before resolution: named revisions and @latest only (the pinned
    @latest_* references are compared once resolved)."""
    def key_of(target):
        if target.revision == LATEST:
            return ("latest", target.configuration or default_configuration)
        if isinstance(target.revision, str) and target.revision and \
                not target.revision.startswith("@"):
            return ("revision", target.revision)
        return None
    return key_of


def identity_errors(spec):
    """Input problems that make reading the cluster pointless (which object, where)."""
    return [e for e in spec.input_errors
            if e.path in ("namespace", "service", "route", "configuration")]


# ---------------------------------------------------------------------------
# the traffic block as Knative stores it
# ---------------------------------------------------------------------------
def current_traffic(owner):
    return list(((owner or {}).get("spec") or {}).get("traffic") or [])


def normal_entry(entry):
    """What a TrafficTarget means, with Knative's defaults applied (latestRevision is
    true exactly when no revisionName is given; a missing percent is 0)."""
    latest = entry.get("latestRevision")
    if latest is None:
        latest = not entry.get("revisionName")
    return (
        None if latest else entry.get("revisionName"),
        bool(latest),
        entry.get("configurationName") if latest else None,
        int(entry.get("percent") or 0),
        entry.get("tag") or None,
    )


def same_traffic(left, right):
    return [normal_entry(e) for e in left or []] == [normal_entry(e) for e in right or []]


def make_entry(kind, configuration, revision_name, percent, tag):
    """A TrafficTarget for the spec: pinned to ``revision_name``, or following the latest
    Ready revision when it is None (with configurationName on a standalone Route)."""
    entry = {}
    if tag:
        entry["tag"] = tag
    if revision_name is None:
        if kind == "Route":
            entry["configurationName"] = configuration
        entry["latestRevision"] = True
    else:
        entry["revisionName"] = revision_name
        entry["latestRevision"] = False
    entry["percent"] = percent
    return entry


def describe_traffic(traffic):
    """'blue-green-demo-00001 100%, blue-green-demo-00002 0% (tag v2)' for messages."""
    if not traffic:
        return "(empty)"
    parts = []
    for entry in traffic:
        revision, latest, configuration, percent, tag = normal_entry(entry)
        name = LATEST if latest else revision
        if latest and entry.get("revisionName"):  # status entries carry the resolved name
            name = "%s=%s" % (LATEST, entry["revisionName"])
        text = "%s %d%%" % (name, percent)
        if tag:
            text += " (tag %s)" % tag
        parts.append(text)
    return ", ".join(parts)


# ---------------------------------------------------------------------------
# planning against the cluster
# ---------------------------------------------------------------------------
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
                         _key_text(key), target.revision, first[key].path)
        else:
            first[key] = target


def _is_pinned_reference(target):
    return target.revision in (LATEST_CREATED, LATEST_READY)


# ---------------------------------------------------------------------------
# what to wait for
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


def revisions_to_settle(spec, observed):
    """Revisions a target would reference whose Ready condition is still Unknown: waiting
    for them before deciding turns 'not Ready yet' into a real answer."""
    errs = FieldErrors()
    names = set()
    for target in _desired_targets(spec, observed, errs):
        if not isinstance(target.revision, str) or not target.revision:
            continue
        name = resolve_revision(errs, spec, observed, target.path, target.revision,
                                target.configuration)
        revision = (observed.revisions or {}).get(name) if name else None
        if revision is None:
            continue
        if kn.condition_status(revision, "Ready") == "Unknown":
            names.add(name)
    return sorted(names)


# ---------------------------------------------------------------------------
# proving the change took effect
# ---------------------------------------------------------------------------
def expected_status(traffic):
    """status.traffic as Knative will report it for this spec: one entry per target, in
    order, pinned entries with their revision, latest ones with whatever is latest."""
    return [normal_entry(e) for e in traffic]


def status_matches(obj, traffic):
    """(matches?, text): status.traffic reports exactly the requested targets."""
    reported = kn.status(obj).get("traffic") or []
    if len(reported) != len(traffic):
        return False, "status.traffic is [%s], want [%s]" % (
            describe_traffic(reported), describe_traffic(traffic))
    for want, got in zip(expected_status(traffic), reported):
        revision, latest, _config, percent, tag = want
        got_latest = bool(got.get("latestRevision"))
        if got_latest != latest or int(got.get("percent") or 0) != percent or \
                (got.get("tag") or None) != tag or \
                (not latest and got.get("revisionName") != revision):
            return False, "status.traffic is [%s], want [%s]" % (
                describe_traffic(reported), describe_traffic(traffic))
    return True, "status.traffic is [%s]" % describe_traffic(reported)


def traffic_settled(kind, name, traffic):
    """Predicate for wait_for: Ready for the current generation with the requested
    status.traffic. Ready=False for the current generation is a failure."""
    def predicate(obj):
        if obj is None:
            return Check(False, "%s %s was deleted" % (kind, name), True)
        if not kn.generation_observed(obj):
            return Check(False, "%s %s: generation %s not observed yet (at %s)" % (
                kind, name, kn.meta(obj, "generation"), kn.status(obj).get("observedGeneration")))
        ready = kn.condition(obj, "Ready")
        text = kn.describe_condition(ready)
        if kn.condition_status(obj, "Ready") == "False":
            return Check(False, "%s %s is not Ready: %s%s" % (
                kind, name, text, _failing_conditions(obj)), True)
        if kn.condition_status(obj, "Ready") != "True":
            return Check(False, "%s %s is not Ready yet: %s%s" % (
                kind, name, text, _failing_conditions(obj)))
        matches, detail = status_matches(obj, traffic)
        if not matches:
            return Check(False, "%s %s is Ready but %s" % (kind, name, detail))
        return Check(True, "%s %s is Ready: %s" % (kind, name, detail))

    return predicate


def _failing_conditions(obj):
    others = [kn.describe_condition(c) for c in kn.status(obj).get("conditions") or []
              if c.get("type") != "Ready" and str(c.get("status")) != "True"]
    return "; " + "; ".join(others) if others else ""
