# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Many apps in one k8s_bluegreen call (the ``apps`` option).

One Ansible task per app costs a module process each (start-up, module transfer, a worker
process on the controller): for 50 apps that, not the API, is the bound. Here one call
takes a list of apps and runs each app's ordinary release (``backend.run_bluegreen``, its
own engine: its read cache, its 409 re-plan, its proofs) in a bounded pool of threads
sharing one client, so their waits (watches) run together.

- ``app_params``: an element's options over the top-level ones (pure);
- ``validate_all``: every element validated (validation.validate) before anything is
  written; errors carry the element's path (``apps[3].service``); two elements that would
  act on the same objects are refused;
- ``run_apps``: the releases, each independent: one that fails is reported and the others
  finish (no cross-app rollback);
- ``aggregate``: the per-app outcomes as one module result (pure).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading
import time
import traceback

from ansible_collections.progressive.delivery.plugins.module_utils.bluegreen import (
    backend,
    status,
    validation,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    DEPLOYMENT,
    KubeError,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    FieldError,
    ValidationError,
)
from ansible_collections.progressive.delivery.plugins.module_utils.module_entry import failure

# The options an element of ``apps`` may set; the top-level value is the default of each.
PER_APP = ("name", "namespace", "version", "state", "app_labels", "version_label",
           "definition", "pod_template", "replicas", "service", "service_ports",
           "service_type", "preview_service", "ingress", "deployment_name_format",
           "version_service_name_format", "force", "scale_down_replicas")
# An element that says what its Deployment is replaces both top-level ones.
DEPLOYMENT_SOURCE = ("definition", "pod_template")


def app_params(params, element):
    """The options of one app: the element's where it sets them (not None), the top-level
    ones otherwise. ``ingress`` is taken whole (an element's Ingress is its own), and an
    element's ``definition`` or ``pod_template`` replaces both top-level ones."""
    merged = dict((key, params.get(key)) for key in PER_APP)
    if any(element.get(key) is not None for key in DEPLOYMENT_SOURCE):
        for key in DEPLOYMENT_SOURCE:
            merged[key] = None
    for key in PER_APP:
        if element.get(key) is not None:
            merged[key] = element[key]
    return merged


def _traffic_objects(spec):
    """What an app acts on that no other app of the call may: its Deployments (found by
    its labels), its live and preview Services, its Ingresses."""
    keys = [("app_labels", tuple(sorted(spec.app_labels.items())))]
    for kind, name in (("Service", spec.service), ("Service", spec.preview_service)):
        if name:
            keys.append((kind, name))
    if spec.ingress:
        keys += [("Ingress", spec.ingress["name"]), ("Ingress", spec.ingress["preview_ingress"])]
    return [(spec.namespace, kind, name) for kind, name in keys]


def _describe(key):
    namespace, kind, name = key
    if kind == "app_labels":
        return "app_labels %s in namespace %s" % (dict(name), namespace)
    return "%s %s/%s" % (kind, namespace, name)


def validate_all(params, elements):
    """Every element's Spec, in order; or one ValidationError with every problem of every
    element, each path prefixed with the element (``apps[3].service``)."""
    errors, specs, owners = [], [], {}
    if not elements:
        errors.append(FieldError("apps", "needs at least one app"))
    parallel = params.get("apps_parallel")
    if parallel is not None and parallel < 1:
        errors.append(FieldError("apps_parallel", "must be 1 or more, got %d" % parallel))
    for index, element in enumerate(elements or []):
        where = "apps[%d]" % index
        merged = app_params(params, element)
        if not merged.get("namespace"):
            errors.append(FieldError(where + ".namespace", "is required, in the element or "
                                     "at the top level"))
            continue
        app = (merged["namespace"], "app", merged.get("name"))
        if app in owners:
            errors.append(FieldError(where, "app %s/%s is already apps[%d]" % (
                app[0], app[2], owners[app][0])))
            continue
        owners[app] = (index, app[::2])
        try:
            spec = validation.validate(merged)
        except ValidationError as exc:
            errors += [FieldError("%s.%s" % (where, e.path) if e.path else where, e.message)
                       for e in exc.errors]
            continue
        specs.append(spec)
        for key in _traffic_objects(spec):
            if key in owners and owners[key][0] != index:
                other = owners[key]
                errors.append(FieldError(where, "%s is already apps[%d]'s (%s); each app "
                                         "needs its own" % (_describe(key), other[0],
                                                            other[1][1])))
                break
            owners.setdefault(key, (index, (spec.namespace, spec.name)))
    if errors:
        raise ValidationError(errors)
    return specs


def outcome(run):
    """``run()``'s result, or the failure it raised as a result (failed, msg, and what
    the app's release wrote and left live); a release never stops the others."""
    try:
        return run()
    except Exception as exc:  # every app is reported, whatever stopped it
        found = failure(exc, (status.PlanError,))
        if found is None:  # a defect: say so, with where, rather than lose the others
            found = dict(msg="unexpected error: %s: %s" % (type(exc).__name__, exc),
                         exception=traceback.format_exc())
        found["failed"] = True
        return found


class NamespaceDeployments(object):
    """The Deployments of a namespace, listed once for the apps of the call that start
    within ``max_age`` seconds of the list: each app's plan needs every Deployment of its
    namespace (50 apps in one namespace would list 100 Deployments 50 times). An app that
    starts later lists again, so no app plans on a read older than a call of its own
    might; an app for which the list fails lists for itself, and reports its own error."""

    def __init__(self, kube, max_age=1.0, clock=time.monotonic):
        self.kube = kube
        self.max_age = max_age
        self.clock = clock
        self.lock = threading.Lock()
        self.lists = {}  # namespace -> (when the read began, items)

    def __call__(self, namespace):
        with self.lock:  # the apps that need it meanwhile wait for this one read
            found = self.lists.get(namespace)
            if found is None or self.clock() - found[0] > self.max_age:
                began = self.clock()
                try:
                    items = self.kube.list(DEPLOYMENT, namespace).get("items") or []
                except KubeError:
                    return None
                found = self.lists[namespace] = (began, items)
            return found[1]


def run_apps(kube, specs, check_mode=False, wait=True, wait_timeout=300, parallel=10,
             release=backend.run_bluegreen):
    """Each app's release, ``parallel`` at a time, sharing ``kube`` (its API session is
    safe to share between threads) and the namespaces' Deployment lists
    (``NamespaceDeployments``); the module result (``aggregate``)."""
    from concurrent.futures import ThreadPoolExecutor  # only calls with apps pay for it
    listed = NamespaceDeployments(kube)

    def one(spec):
        return outcome(lambda: release(kube, spec, check_mode=check_mode, wait=wait,
                                       wait_timeout=wait_timeout, deployments=listed))

    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(specs)))) as pool:
        outcomes = list(pool.map(one, specs))
    return aggregate(specs, outcomes)


def aggregate(specs, outcomes):
    """One module result from each app's: ``apps`` in the order given (name, namespace,
    the app's own result keys, ``changed``, ``failed``, ``msg`` when it failed), ``changed``
    when any app changed, ``actions`` and ``warnings`` prefixed with the app, ``diff`` a
    list (one entry per app that changed, headed by the app), and when some app failed,
    ``failed`` with a message naming each failed app and why."""
    apps, actions, warnings, diffs, failed = [], [], [], [], []
    for spec, found in zip(specs, outcomes):
        where = "%s/%s" % (spec.namespace, spec.name)
        item = dict(name=spec.name, namespace=spec.namespace)
        item.update(found)
        item["changed"] = bool(item.get("changed"))
        item["failed"] = bool(item.get("failed"))
        diff = item.pop("diff", None)
        if diff and (diff.get("before") or diff.get("after")):
            diffs.append(dict(before_header=where, after_header=where,
                              before=diff.get("before") or {}, after=diff.get("after") or {}))
        actions += ["%s: %s" % (where, line) for line in item.get("actions") or []]
        warnings += ["%s: %s" % (where, line) for line in item.pop("warnings", None) or []]
        if item["failed"]:
            failed.append("%s: %s" % (where, item.get("msg")))
        apps.append(item)
    result = dict(changed=any(a["changed"] for a in apps), apps=apps, actions=actions,
                  diff=diffs)
    if warnings:
        result["warnings"] = warnings
    if failed:
        result["failed"] = True
        result["msg"] = ("%d of %d apps failed (each app is its own release: the others "
                         "finished, nothing was rolled back): %s"
                         % (len(failed), len(apps), " | ".join(failed)))
    return result
