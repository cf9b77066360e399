# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure planning for Contour delegation and weights (contour_delegate).

Blue/green switches which child proxy a path is delegated to; a canary sets the weights of
the services in the child's route that serves the path. Nothing here talks to the API
server: the backend reads the objects, ``plan`` checks the request against them and
returns the writes (each a merge patch of whole spec fields carrying the read
resourceVersion), so every rule deciding where traffic goes is unit-tested. The restore
patch that puts a rejected change back is planned here too.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
from collections import namedtuple

from ansible_collections.progressive.delivery.plugins.module_utils.contour.proxies import (
    find_delegation,
    find_route,
    meta_of,
    spec_of,
    tls_secret_of,
)
from ansible_collections.progressive.delivery.plugins.module_utils.contour.validation import (
    check_against_cluster,
)

Write = namedtuple("Write", "verb role name namespace body description")
"""verb: create | patch | delete; role: root | child; body: the manifest for create, a JSON
merge patch carrying metadata.resourceVersion (the precondition) for patch."""

Plan = namedtuple(
    "Plan", "writes child root_after child_after delegation_before delegation_after route_index")
"""child: the ChildRef whose route is managed (None when there is none); *_after: objects as
the writes leave them (None: absent); route_index: index in the child's spec.routes of the
route serving route_path (None without services)."""


def target_child(spec, root):
    """The child the call is about: the one given, else the one delegated now."""
    if spec.child is not None:
        return spec.child
    return find_delegation(spec, root)[1] if root is not None else None


def plan(spec, observed):
    """Check the request against the cluster and return the Plan (writes may be empty)."""
    root = observed.root
    before_ref = find_delegation(spec, root)[1] if root is not None else None
    child_ref = spec.child or before_ref
    check_against_cluster(spec, observed, child_ref)
    if spec.state == "absent":
        return _plan_absent(spec, root, before_ref)

    writes = []
    child_after, route_index = observed.child, None
    if spec.services is not None:
        route_index, route = find_route(spec, observed.child)
        new_services = desired_services(spec, route, observed.services or {})
        if new_services != route.get("services"):
            routes = copy.deepcopy(spec_of(observed.child).get("routes"))
            routes[route_index] = dict(routes[route_index], services=new_services)
            child_after = _with_spec(observed.child, routes=routes)
            writes.append(Write(
                "patch", "child", child_ref.name, child_ref.namespace,
                _merge_patch(observed.child, {"routes": routes}),
                "%s %s/%s route %s weights %s -> %s" % (
                    spec.kind, child_ref.namespace, child_ref.name, spec.route_path,
                    _weights_text(route.get("services")), _weights_text(new_services))))

    root_after = desired_root(spec, root, child_ref)
    if root is None:
        writes.append(Write("create", "root", spec.name, spec.namespace, root_after,
                            "create %s %s/%s for %s with %s -> %s/%s" % (
                                spec.kind, spec.namespace, spec.name, spec.fqdn, spec.path,
                                child_ref.namespace, child_ref.name)))
    elif spec_of(root_after) != spec_of(root):
        changed = dict((k, v) for k, v in spec_of(root_after).items() if spec_of(root).get(k) != v)
        writes.append(Write("patch", "root", spec.name, spec.namespace,
                            _merge_patch(root, changed),
                            _root_change_text(spec, root, before_ref, child_ref)))
    return Plan(writes, child_ref, root_after, child_after, before_ref, child_ref, route_index)


def _plan_absent(spec, root, before_ref):
    if root is None or before_ref is None or (spec.child and spec.child != before_ref):
        return Plan([], before_ref, root, None, before_ref, before_ref, None)
    index = find_delegation(spec, root)[0]
    field = "includes" if spec.api == "httpproxy" else "routes"
    remaining = [d for i, d in enumerate(spec_of(root).get(field) or []) if i != index]
    root_spec = spec_of(root)
    what = "remove %s -> %s/%s from %s %s/%s" % (spec.path, before_ref.namespace,
                                                 before_ref.name, spec.kind, spec.namespace,
                                                 spec.name)
    others = [k for k in ("includes", "routes", "tcpproxy") if k != field and root_spec.get(k)]
    if not remaining and not others:
        write = Write("delete", "root", spec.name, spec.namespace, None,
                      what + " (it routes nothing else: delete it)")
        return Plan([write], before_ref, None, None, before_ref, None, None)
    root_after = _with_spec(root, **{field: remaining})
    write = Write("patch", "root", spec.name, spec.namespace,
                  _merge_patch(root, {field: remaining}), what)
    return Plan([write], before_ref, root_after, None, before_ref, None, None)


def desired_root(spec, root, child_ref):
    """The root as it should be: the delegation of spec.path points at child_ref, TLS
    secret as asked; every other include, route and field kept as it is."""
    if root is None:
        virtualhost = {"fqdn": spec.fqdn}
        if spec.tls_secret:
            virtualhost["tls"] = {"secretName": spec.tls_secret}
        field = "includes" if spec.api == "httpproxy" else "routes"
        return {
            "apiVersion": spec.resource.api_version,
            "kind": spec.kind,
            "metadata": {"name": spec.name, "namespace": spec.namespace,
                         "labels": {"app.kubernetes.io/managed-by": "progressive.delivery"}},
            "spec": {"virtualhost": virtualhost,
                     field: [delegation_entry(spec, None, child_ref)]},
        }
    new_spec = copy.deepcopy(spec_of(root))
    if spec.tls_secret and tls_secret_of(root) != spec.tls_secret:
        tls = dict(new_spec["virtualhost"].get("tls") or {}, secretName=spec.tls_secret)
        new_spec["virtualhost"] = dict(new_spec["virtualhost"], tls=tls)
    field = "includes" if spec.api == "httpproxy" else "routes"
    entries = new_spec.get(field) or []
    index, current = find_delegation(spec, root)
    if index is None:
        entries.append(delegation_entry(spec, None, child_ref))
    elif current != child_ref:
        entries[index] = delegation_entry(spec, entries[index], child_ref)
    new_spec[field] = entries
    return dict(root, spec=new_spec)


def delegation_entry(spec, existing, child_ref):
    """An include (HTTPProxy) or a delegating route (IngressRoute) for spec.path; an
    existing entry keeps its other fields."""
    entry = copy.deepcopy(existing) if existing else {}
    if spec.api == "httpproxy":
        entry["name"] = child_ref.name
        entry["namespace"] = child_ref.namespace
        if existing is None:
            entry["conditions"] = [{"prefix": spec.path}]
    else:
        entry.setdefault("match", spec.path)
        entry["delegate"] = {"name": child_ref.name, "namespace": child_ref.namespace}
    return entry


def desired_services(spec, route, services):
    """The route's services list: exactly spec.services, in that order. An entry already in
    the route keeps its other fields (protocol, health port...); mirrors are kept."""
    current = dict((s.get("name"), s) for s in route.get("services") or [] if not s.get("mirror"))
    result = []
    for backend in spec.services:
        entry = copy.deepcopy(current.get(backend.name) or {"name": backend.name})
        if backend.port is not None:
            entry["port"] = backend.port
        elif "port" not in entry:
            ports = ((services.get(backend.name) or {}).get("spec") or {}).get("ports") or []
            entry["port"] = ports[0].get("port")
        entry["weight"] = backend.weight
        result.append(entry)
    result.extend(copy.deepcopy(s) for s in route.get("services") or [] if s.get("mirror"))
    return result


def _with_spec(obj, **fields):
    new = copy.deepcopy(obj)
    new.setdefault("spec", {}).update(copy.deepcopy(fields))
    return new


def _merge_patch(obj, spec_fields):
    """A merge patch of whole spec fields, with the read resourceVersion: the API server
    refuses it (409) if the object changed since it was read."""
    return {"metadata": {"resourceVersion": meta_of(obj, "resourceVersion")},
            "spec": copy.deepcopy(spec_fields)}


def _weights_text(services):
    return "/".join("%s=%s" % (s.get("name"), s.get("weight", "-"))
                    for s in services or [] if not s.get("mirror")) or "none"


def _root_change_text(spec, root, before_ref, child_ref):
    parts = []
    if spec.tls_secret and tls_secret_of(root) != spec.tls_secret:
        parts.append("TLS secret %s -> %s" % (tls_secret_of(root), spec.tls_secret))
    if before_ref is None:
        parts.append("add %s -> %s/%s" % (spec.path, child_ref.namespace, child_ref.name))
    elif before_ref != child_ref:
        parts.append("%s -> %s/%s (was %s/%s)" % (
            spec.path, child_ref.namespace, child_ref.name, before_ref.namespace,
            before_ref.name))
    return "%s %s/%s: %s" % (spec.kind, spec.namespace, spec.name, "; ".join(parts))


def managed_fields(spec, role):
    """The spec fields a write of ``role`` may change (and a restore puts back)."""
    if role == "child":
        return ["routes"]
    return ["includes" if spec.api == "httpproxy" else "routes", "virtualhost"]


def restore_patch(spec, role, before, live):
    """The merge patch that puts the managed fields of ``before`` back on ``live`` (with
    live's resourceVersion), or None when they are already equal."""
    fields = managed_fields(spec, role)
    if all(spec_of(live).get(f) == spec_of(before).get(f) for f in fields):
        return None
    return _merge_patch(live, dict((f, spec_of(before).get(f)) for f in fields))


def changed_since(spec, role, written, live):
    """Another writer changed the managed fields after our write: do not undo theirs."""
    return any(spec_of(live).get(f) != spec_of(written).get(f) for f in managed_fields(spec, role))
