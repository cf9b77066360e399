# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``spec.traffic`` block as Knative stores it: reading it, what an entry means with
Knative's defaults applied, writing an entry, and one line of text for messages."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Revision references a target may use instead of a revision name.
LATEST = "@latest"                  # latestRevision: true, follows the latest Ready revision
LATEST_CREATED = "@latest_created"  # pinned, now, to status.latestCreatedRevisionName
LATEST_READY = "@latest_ready"      # pinned, now, to status.latestReadyRevisionName
SPECIAL_REVISIONS = (LATEST, LATEST_CREATED, LATEST_READY)


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
