# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""knative_traffic's checks of the request on its own: percents, tags, duplicates, the
shape of the call. ``validate(params)`` returns the Spec; every problem is reported at once,
each with its field path (``traffic[1].percent``), nothing read or written."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from collections import namedtuple

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    FieldErrors,
)
from ansible_collections.progressive.delivery.plugins.module_utils.knative.traffic_block import (
    LATEST,
    SPECIAL_REVISIONS,
)

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
                     "targets a tag, or add their percents up", key_text(key),
                     untagged_paths[key])
        else:
            untagged_paths[key] = target.path


def key_text(key):
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
