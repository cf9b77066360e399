# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""canary_release_state on the release engine: the release record lives in a ConfigMap;
a call reads it, plans at most one write (create, a patch conditional on the read
resourceVersion, or delete) and reports. A 409 (another job wrote the record in between)
is the engine's: it reads again and applies this call's event to the fresh record."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import time

from ansible_collections.progressive.delivery.plugins.module_utils.canary import (
    record_lease,
    release_call as rc,
    release_record as rr,
)
from ansible_collections.progressive.delivery.plugins.module_utils.engine import Engine, Write
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import CONFIGMAP

RELEASE_OF = "progressive.delivery/release-of"
MANAGED_BY = ("app.kubernetes.io/managed-by", "progressive.delivery")


def record_writes(namespace, name, app, configmap, record):
    """The write that leaves ``record`` on the ConfigMap (pure): create it, or patch it
    with the resourceVersion it was read at; delete it when ``record`` is None."""
    if record is None:
        return [Write("delete", CONFIGMAP, namespace, name, None,
                      "delete release record %s" % name)] if configmap is not None else []
    text = json.dumps(record, sort_keys=True)
    summary = rr.describe(record)
    if configmap is None:
        body = {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {MANAGED_BY[0]: MANAGED_BY[1], RELEASE_OF: app},
                         "annotations": {rr.RECORD_ANNOTATION: text}},
            "data": {"summary": summary},
        }
        return [Write("create", CONFIGMAP, namespace, name, body,
                      "create release record %s: %s" % (name, summary))]
    patch = {"metadata": {"annotations": {rr.RECORD_ANNOTATION: text},
                          "resourceVersion": configmap["metadata"]["resourceVersion"]},
             "data": {"summary": summary}}
    return [Write("patch", CONFIGMAP, namespace, name, patch,
                  "update release record %s: %s" % (name, summary))]


class RecordBackend(object):
    """Plans the record write of one call (state started, present or absent).

    ``known``: the ConfigMap as this process last wrote it (a second write of the record in
    one canary_step call), used instead of reading it again. Safe because the patch carries
    that resourceVersion: if anyone wrote the record since, the API server answers 409 and
    the engine reads it again (only the first observation uses ``known``)."""

    def __init__(self, params, record_name, steps, now, known=None):
        self.params = params
        self.record_name = record_name
        self.steps = steps
        self.now = now
        self.known = known

    def observe(self, engine):
        if self.known is not None:
            # as if just read: the write that follows finds it in the engine's reads too
            engine.reads.put(CONFIGMAP, self.params["namespace"], self.record_name,
                             copy.deepcopy(self.known))
            self.known = None
        return engine.get(CONFIGMAP, self.params["namespace"], self.record_name)

    def after(self, configmap):
        """The record this call leaves (None: no record), for the ConfigMap as read."""
        state = self.params["state"]
        record = rr.read_record(configmap)
        if state == "absent":
            return None
        if state == "query":
            return record
        return rc.record_after(self.params, self.steps, record, self.now)

    def plan(self, configmap):
        after = self.after(configmap)
        # absent deletes the ConfigMap even when it holds no readable record
        if after == rr.read_record(configmap) and self.params["state"] != "absent":
            return []
        return record_writes(self.params["namespace"], self.record_name, self.params["name"],
                             configmap, after)


def run_release_state(params, kube_for, check_mode=False, clock=time.time, holder_of=None,
                      machine=None, memo=None):
    """One canary_release_state call: validate (nothing is read on bad input), read the
    record, decide or write the event, report. ``kube_for()`` makes the client;
    ``holder_of`` and ``machine`` are release_lease's, for a query that takes the lease.
    ``memo`` (a dict, for several writes in one process): its ``configmap`` is used as the
    record's first read (RecordBackend.known) and is left as the ConfigMap after this call."""
    record_name, steps = rc.validate(params)
    record_lease.validate(params)
    kube = kube_for()
    engine = Engine(kube, check_mode=check_mode, wait=False)
    now = round(clock(), 3)
    memo = {} if memo is None or check_mode else memo
    backend = RecordBackend(params, record_name, steps, now, known=memo.get("configmap"))
    unused_first, configmap, writes = engine.reconcile(
        lambda: backend.observe(engine), backend.plan)
    # the ConfigMap as the server answered the write (or as read, when nothing was written;
    # none once deleted)
    memo["configmap"] = engine.written.get((CONFIGMAP.kind, params["namespace"], record_name),
                                           configmap) if writes else configmap
    if params["state"] == "absent":
        memo["configmap"] = None
    before = rr.read_record(configmap)
    after = backend.after(configmap)
    result = dict(changed=engine.changed, now=now, record=after)
    if steps is not None:
        result["steps"] = rr.steps_report(steps)
    if params["state"] == "query":
        result.update(rc.query(params, steps, before))
        lease = record_lease.take(params, kube, steps, result, check_mode, holder_of, machine,
                                  clock)
        if lease is not None:
            result["lease"] = lease
            result["changed"] = result["changed"] or lease["changed"]
            if lease.get("warnings"):
                result["warnings"] = lease.pop("warnings")
    elif params["state"] == "absent":
        result["message"] = "record %s deleted" % record_name if configmap else "no record"
    else:
        result["message"] = rr.describe(after)
    result.update(rc.timings(params, steps, after, now))
    result["diff"] = dict(before=rc.diff_view(before), after=rc.diff_view(after))
    return result
