# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Preparing a canary release in one process (canary_step ``action: prepare``): the canary
at 0% through the backend, then the release recorded as started with what the backend
prepared (the stable version, the replica total, the canary's pod labels, the Knative
revisions). Every backend call is the backend module's own runner (step_traffic.py);
the canary's manifests (nginx, contour, gateway) are applied by the role before.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections import namedtuple

from ansible_collections.progressive.delivery.plugins.module_utils.canary import (
    step_traffic as st,
)

Prepared = namedtuple("Prepared", "stable_version data")
"""What the record of a started release keeps from the preparation: the stable version
(a version, a Service, a revision) and the backend's keys (``record_data``)."""

FIELD_MANAGER = "progressive.delivery-canary"


class PrepareRefused(Exception):
    """The preparation cannot go on (nothing to adopt, no stable revision); says why."""


def prepared_replicas(settings, result):
    """(pure) The replicas backend after k8s_canary at 0%: what the record keeps; a canary
    that neither exists nor can be created is refused."""
    canary = result.get("canary") or {}
    if not canary.get("exists") and not settings.get("pod_template") and \
            not settings.get("definition"):
        raise PrepareRefused("there is no canary Deployment %s to adopt: give "
                             "canary_pod_template or canary_definition"
                             % canary.get("deployment"))
    return Prepared((result.get("stable") or {}).get("version"),
                    {"total_replicas": result.get("total_replicas"),
                     "canary_selector": result.get("canary_selector") or {}})


def prepared_rolling(result):
    """(pure) The rolling backend before its update: the revision to undo to on abort and
    the image it runs."""
    images = [image for entry in result.get("history") or [] if entry.get("current")
              for image in (entry.get("images") or {}).values()]
    return Prepared(images[0] if images else "",
                    {"stable_revision": str(result.get("current_revision")),
                     "canary_selector": {}})


def stable_revision_of(revisions):
    """(pure) The revision with all the traffic, from knative_revision_info's report."""
    for revision in revisions or []:
        if revision.get("traffic_percent") == 100:
            return revision.get("name")
    return None


def prepared_knative(settings, stable, result):
    """(pure) After the canary revision joined at 0%: its name (by tag) and the tag's URL."""
    tag = settings.get("tag") or "canary"
    canary = [t.get("revision") for t in result.get("traffic") or [] if t.get("tag") == tag]
    url = (result.get("tag_urls") or {}).get(tag) or ""
    return Prepared(stable, {"stable_revision": stable,
                             "canary_revision": canary[0] if canary else "",
                             "canary_selector": {}, "canary_tag_url": url})


def knative_traffic(namespace, service, targets):
    """A knative_traffic call with its sub-options filled as the module fills them."""
    return st.TrafficCall("knative_traffic", dict(
        namespace=namespace, service=service, force=False,
        traffic=[dict({"revision": None, "percent": None, "tag": None, "configuration": None},
                      **t) for t in targets]))


class Preparation(object):
    """The backend's part of ``action: prepare`` for a StepRun (``run``)."""

    def __init__(self, run):
        self.run = run
        self.params = run.params
        self.settings = self.params.get("settings") or {}
        self.results = []

    def move(self, call):
        result = self.run.call_backend(call)
        self.results.append(result)
        return result

    def prepare(self):
        backend = self.params["backend"]
        if backend == "knative":
            return self.knative()
        if backend == "rolling":
            return self.rolling()
        st.check_settings(backend, self.settings)
        call = st.traffic_call(backend, self.settings, 0, self.params["name"],
                               self.params["namespace"], self.params["version"], {})
        result = self.move(call)
        if backend == "replicas":
            return prepared_replicas(self.settings, result)
        selector = {"canary_selector": self.params.get("canary_selector") or {}}
        if backend == "nginx":
            stable = self.settings.get("stable_service") or \
                (result.get("live_services") or [""])[0]
            return Prepared(stable, selector)
        return Prepared(self.settings["stable_service"], selector)

    def rolling(self):
        if not self.settings.get("images") and not self.settings.get("pod_template"):
            raise PrepareRefused("canary_backend=rolling needs canary_rolling.images or "
                                 "canary_rolling.pod_template (or canary_pod_template)")
        call = st.traffic_call("rolling", self.settings, 0, self.params["name"],
                               self.params["namespace"], self.params["version"], {})
        return prepared_rolling(self.move(call))

    def knative(self):
        """Pin all traffic to the stable revision by name, write the new template (which
        creates the canary revision), add the canary at 0% with its tag."""
        from ansible_collections.progressive.delivery.plugins.module_utils.knative import (
            common as kn,
            revision_info,
        )
        namespace, settings = self.params["namespace"], self.settings
        st.check_settings("knative", settings)
        service = settings["service"]
        stable = settings.get("stable_revision")
        if not stable:
            spec = revision_info.validate({"namespace": namespace, "service": service})
            report = revision_info.build_report(
                spec, revision_info.read_revisions(self.run.kube, spec))
            stable = stable_revision_of(report["revisions"])
        if not stable:
            raise PrepareRefused("no revision of Knative Service %s has 100%% of the traffic; "
                                 "set canary_knative.stable_revision" % service)
        self.move(knative_traffic(namespace, service, [{"revision": stable, "percent": 100}]))
        if settings.get("template"):
            body = {"apiVersion": kn.KSERVICE.api_version, "kind": "Service",
                    "metadata": {"name": service, "namespace": namespace},
                    "spec": {"template": settings["template"]}}
            before = self.run.kube.get(kn.KSERVICE, namespace, service)
            after = self.run.kube.apply(kn.KSERVICE, namespace, service, body, FIELD_MANAGER,
                                        dry_run=self.run.check_mode)
            if (after.get("metadata") or {}).get("generation") != \
                    (before.get("metadata") or {}).get("generation"):
                self.run.changed = True
        tag = settings.get("tag") or "canary"
        result = self.move(knative_traffic(namespace, service, [
            {"revision": stable, "percent": 100},
            {"revision": settings.get("canary_revision") or "@latest_created", "percent": 0,
             "tag": tag}]))
        return prepared_knative(settings, stable, result)
