# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What ``kn revision list`` / ``kn revision describe`` show, as data (knative_revision_info).

``read_revisions`` does the reads; everything else turns objects into the report and is
pure, with the current time passed in.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import time
from collections import namedtuple

from ansible_collections.progressive.delivery.plugins.module_utils.knative import common as kn
from ansible_collections.progressive.delivery.plugins.module_utils.knative.traffic_status import (
    split_from_status,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    FieldErrors,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    DEPLOYMENT,
    KubeError,
)

Snapshot = namedtuple("Snapshot", "owner_kind owner revisions routes autoscalers deployments")
"""owner: the Service or Configuration (None if missing); routes: Routes whose traffic
counts; autoscalers / deployments: {revision name: object}."""


class InfoSpec(namedtuple("InfoSpec", "namespace kind name revision route")):
    """kind: Service or Configuration (name may be None when only ``revision`` is given)."""


def validate(params):
    errs = FieldErrors()
    errs.check_dns_label("namespace", params.get("namespace"))
    service, configuration = params.get("service"), params.get("configuration")
    revision, route = params.get("revision"), params.get("route")
    if service and configuration:
        errs.add("service", "give service or configuration, not both")
    if not (service or configuration or revision):
        errs.add("service", "give service, configuration or revision")
    if route and service:
        errs.add("route", "is for a Configuration behind a standalone Route; a Service's "
                 "traffic comes from the Service")
    for field, value in (("service", service), ("configuration", configuration),
                         ("revision", revision), ("route", route)):
        if value:
            errs.check_dns_subdomain(field, value)
    errs.raise_if_any()
    return InfoSpec(params["namespace"], "Service" if service else "Configuration",
                    service or configuration, revision, route)


# ---------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------
def read_revisions(kube, spec):
    ns = spec.namespace
    owner_kind, name = spec.kind, spec.name
    single = None
    if spec.revision:
        single = kube.get_or_none(kn.REVISION, ns, spec.revision)
        if single is None:
            raise LookupError("revision %s not found in namespace %s" % (spec.revision, ns))
        if name is None:
            service = kn.revision_service(single)
            owner_kind = "Service" if service else "Configuration"
            name = service or kn.revision_configuration(single)
    owner = None
    if name:
        owner = kube.get_or_none(kn.KSERVICE if owner_kind == "Service" else kn.CONFIGURATION,
                                 ns, name)
        if owner is None and not single:
            raise LookupError("%s %s not found in namespace %s" % (owner_kind, name, ns))
    if single is not None:
        revisions = [single]
    else:
        label = kn.SERVICE_LABEL if owner_kind == "Service" else kn.CONFIGURATION_LABEL
        revisions = kube.list(kn.REVISION, ns, label_selector="%s=%s" % (label, name)).get(
            "items") or []
    routes = []
    if owner_kind == "Service":
        routes = [owner] if owner else []
    elif spec.route:
        route = kube.get_or_none(kn.ROUTE, ns, spec.route)
        if route is None:
            raise LookupError("Route %s not found in namespace %s" % (spec.route, ns))
        routes = [route]
    else:
        routes = kube.list(kn.ROUTE, ns).get("items") or []
    return Snapshot(owner_kind, owner, revisions, routes, _autoscalers(kube, ns),
                    _deployments(kube, ns, revisions))


def _autoscalers(kube, ns):
    try:
        items = kube.list(kn.PODAUTOSCALER, ns).get("items") or []
    except KubeError as exc:
        if exc.not_found:  # no autoscaler CRD installed
            return {}
        raise
    return dict((kn.meta(pa, "name"), pa) for pa in items)


def _deployments(kube, ns, revisions):
    if not revisions:
        return {}
    items = kube.list(DEPLOYMENT, ns, label_selector=kn.REVISION_LABEL).get("items") or []
    return dict((kn.labels(d).get(kn.REVISION_LABEL), d) for d in items)


# ---------------------------------------------------------------------------
# the report
# ---------------------------------------------------------------------------
def parse_time(text):
    if not text:
        return None
    try:
        stamp = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None
    return (stamp - datetime.datetime(1970, 1, 1)).total_seconds()


def human_age(seconds):
    """Compact age the way kubectl and kn print it: 45s, 5m30s, 118m, 2h, 9d."""
    if seconds is None:
        return None
    seconds = int(max(0, seconds))
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 120:
        return "%ds" % seconds
    if minutes < 10:
        rest = seconds % 60
        return "%dm%ds" % (minutes, rest) if rest else "%dm" % minutes
    if minutes < 180:
        return "%dm" % minutes
    if hours < 8:
        rest = minutes % 60
        return "%dh%dm" % (hours, rest) if rest else "%dh" % hours
    if hours < 48:
        return "%dh" % hours
    if hours < 24 * 8:
        rest = hours % 24
        return "%dd%dh" % (days, rest) if rest else "%dd" % days
    if days < 365 * 2:
        return "%dd" % days
    years = days // 365
    if years < 8:
        rest = days % 365
        return "%dy%dd" % (years, rest) if rest else "%dy" % years
    return "%dy" % years


def condition_symbol(cond):
    """kn's OK column: ++ fine, I / W informational or warning, !! error, ?? unknown."""
    state = str(cond.get("status"))
    if state == "True":
        return "++"
    severity = cond.get("severity") or ""
    if severity == "Info":
        return "I"
    if severity == "Warning":
        return "W"
    return "!!" if state == "False" else "??"


def condition_report(cond, now):
    changed = parse_time(cond.get("lastTransitionTime"))
    return dict(
        type=cond.get("type"),
        status=str(cond.get("status")),
        ok=condition_symbol(cond),
        reason=cond.get("reason"),
        message=cond.get("message"),
        severity=cond.get("severity") or "Error",
        last_transition_time=cond.get("lastTransitionTime"),
        age=human_age(now - changed) if changed is not None else None,
    )


def _container(revision):
    containers = ((revision.get("spec") or {}).get("containers")) or []
    return containers[0] if containers else {}


def env_of(container):
    """(dict name -> value, kn-style list 'NAME=value'); values from refs show as [ref]."""
    values, lines = {}, []
    for var in container.get("env") or []:
        value = "[ref]" if var.get("valueFrom") is not None else var.get("value", "")
        values[var.get("name")] = value
        lines.append("%s=%s" % (var.get("name"), value))
    return values, lines


def replicas_of(revision, autoscaler, deployment):
    """Desired and actual replicas: from the Revision's status when Knative reports them,
    else from its PodAutoscaler, else from its Deployment."""
    status = kn.status(revision)
    if "actualReplicas" in status or "desiredReplicas" in status:
        return dict(desired=status.get("desiredReplicas", 0),
                    actual=status.get("actualReplicas", 0), source="Revision")
    if autoscaler is not None:
        pa_status = kn.status(autoscaler)
        if "desiredScale" in pa_status or "actualScale" in pa_status:
            return dict(desired=pa_status.get("desiredScale", 0),
                        actual=pa_status.get("actualScale", 0), source="PodAutoscaler")
    if deployment is not None:
        return dict(desired=(deployment.get("spec") or {}).get("replicas", 1),
                    actual=kn.status(deployment).get("readyReplicas", 0), source="Deployment")
    return dict(desired=None, actual=None, source=None)


def traffic_of(name, routes):
    """Every status.traffic entry (of the given Routes/Service) that serves ``name``."""
    entries = []
    for entry in routes_split(routes):
        if entry.pop("revision") == name:
            entries.append(entry)
    return entries


def routes_split(routes):
    """The split each Route (or Service) reports, as knative_traffic reports it, with the
    name of the Route."""
    return [dict(entry, route=kn.meta(route, "name"))
            for route in routes for entry in split_from_status(route)]


def revision_report(revision, snapshot, now):
    name = kn.meta(revision, "name")
    owner_status = kn.status(snapshot.owner)
    container = _container(revision)
    env, env_lines = env_of(container)
    created = parse_time(kn.meta(revision, "creationTimestamp"))
    conditions = [condition_report(c, now) for c in kn.status(revision).get("conditions") or []]
    ready = kn.condition(revision, "Ready") or {}
    traffic = traffic_of(name, snapshot.routes)
    tags = [e["tag"] for e in traffic if e["tag"]]
    images = [c.get("image") for c in (revision.get("spec") or {}).get("containers") or []]
    digests = [c.get("imageDigest") for c in kn.status(revision).get("containerStatuses") or []
               if c.get("imageDigest")]
    return dict(
        name=name,
        namespace=kn.meta(revision, "namespace"),
        service=kn.revision_service(revision),
        configuration=kn.revision_configuration(revision),
        generation=kn.revision_generation(revision),
        created=kn.meta(revision, "creationTimestamp"),
        age=human_age(now - created) if created is not None else None,
        traffic_percent=sum(e["percent"] for e in traffic),
        tags=tags,
        tag_urls=dict((e["tag"], e["url"]) for e in traffic if e["tag"]),
        traffic=traffic,
        latest_created=name == owner_status.get("latestCreatedRevisionName"),
        latest_ready=name == owner_status.get("latestReadyRevisionName"),
        routed_as_latest=any(e["latest_revision"] for e in traffic),
        image=container.get("image"),
        images=images,
        image_digests=digests,
        env=env,
        env_list=env_lines,
        replicas=replicas_of(revision, snapshot.autoscalers.get(name),
                             snapshot.deployments.get(name)),
        routing_state=kn.labels(revision).get(kn.ROUTING_STATE_LABEL),
        conditions=conditions,
        conditions_ok="%d OK / %d" % (sum(1 for c in conditions if c["status"] == "True"),
                                      len(conditions)),
        ready=str(ready.get("status")) == "True",
        reason=ready.get("reason"),
    )


def sort_key(report):
    """Newest first, as kn lists them (by configurationGeneration, then name)."""
    return (-(report["generation"] or 0), report["name"])


def table(reports):
    """The ``kn revision list`` columns, one string per line."""
    rows = [("NAME", "SERVICE", "TRAFFIC", "TAGS", "GENERATION", "AGE", "CONDITIONS", "READY",
             "REASON")]
    for rep in reports:
        rows.append((rep["name"], rep["service"] or "",
                     "%d%%" % rep["traffic_percent"] if rep["traffic_percent"] else "",
                     ",".join(rep["tags"]), str(rep["generation"] or ""), rep["age"] or "",
                     rep["conditions_ok"], str(rep["ready"]), rep["reason"] or ""))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["   ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
            for row in rows]


def build_report(spec, snapshot, now=None):
    now = time.time() if now is None else now
    reports = sorted((revision_report(r, snapshot, now) for r in snapshot.revisions),
                     key=sort_key)
    owner_status = kn.status(snapshot.owner)
    result = dict(
        changed=False,
        namespace=spec.namespace,
        kind=snapshot.owner_kind,
        name=kn.meta(snapshot.owner, "name"),
        revisions=reports,
        table=table(reports),
        latest_created_revision=owner_status.get("latestCreatedRevisionName"),
        latest_ready_revision=owner_status.get("latestReadyRevisionName"),
        url=owner_status.get("url") if snapshot.owner_kind == "Service" else None,
        traffic=route_traffic(snapshot),
    )
    if snapshot.owner_kind != "Service" and len(snapshot.routes) == 1:
        result["url"] = kn.status(snapshot.routes[0]).get("url")
    return result


def route_traffic(snapshot):
    """The split of the Service (or of the Routes that send traffic to these revisions),
    in the order Knative reports it."""
    names = set(kn.meta(r, "name") for r in snapshot.revisions)
    routes = [route for route in snapshot.routes
              if snapshot.owner_kind == "Service" or any(
                  e.get("revisionName") in names
                  for e in kn.status(route).get("traffic") or [])]
    return routes_split(routes)
