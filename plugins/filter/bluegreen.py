# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bluegreen role's decisions, kept out of its Jinja so they can be unit-tested:

* `bluegreen_pods_gate`: the built-in pods_ready gate on the candidate's pods (or none);
* `bluegreen_plan`: the check-mode sentence saying what a run would do;
* `bluegreen_result`: what the release ended as (the set_stats values) and the sentence on
  where live traffic is, which ends the failure summary.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def bluegreen_pods_gate(version, namespace, app, app_labels=None, version_label="version",
                        max_restarts=0, enabled=True):
    """[] when disabled, else [a pods_ready gate selecting the candidate's pods]: the app's
    labels (default app=<app>) plus <version_label>=<version>."""
    if not enabled:
        return []
    selector = dict(app_labels or {"app": app})
    selector[version_label] = version
    return [{"name": "candidate-pods", "type": "pods_ready", "namespace": namespace,
             "max_restarts": max_restarts, "selector": selector}]


def bluegreen_plan(live_before, already_live=False, preview_gates=(), post_gates=(),
                   pause_seconds=0, scale_down=False):
    """What a run would do after the preview check mode has just shown."""
    if already_live:
        return "already live: a run changes nothing"
    return (
        "a run would deploy and preview it (the diff above), run %d preview gate(s), hold %d s, "
        "switch live traffic from %s to the candidate, run %d gate(s) on live traffic "
        "(rolling back if one fails)%s"
        % (len(preview_gates), int(float(pause_seconds or 0)), live_before or "nothing",
           len(post_gates), ", then scale the old version down" if scale_down else ""))


def bluegreen_result(version, check_mode=False, failed=False, promoted=False, live_before=None,
                     live_now=None, rolled_back_to=None, previous=None, failed_gates=None,
                     live_known=True):
    """The outcome of a release and what is live after it.

    failed: rolled_back when live traffic had been switched (it is back on rolled_back_to),
    aborted when it had not (still live_before); previous_version is what was live before.
    check mode: nothing was switched, live_before is still live. Otherwise promoted: live_now
    (what the backend reports as live) or the candidate, previous_version what it replaced
    (none when the candidate was already live).

    live_known: false when the release stopped before the backend read what is live (while
    deploying the candidate): live traffic was not touched, but what it is on is not known
    here, so the summary does not claim "none"."""
    if failed:
        if promoted:
            outcome, live = "rolled_back", rolled_back_to
            summary = "Rolled back: live traffic is on %s again." % rolled_back_to
        else:
            outcome, live = "aborted", live_before
            summary = "Live traffic was not touched (%s)." % (live_before or "none")
            if not live_known:
                summary = ("Live traffic was not touched: the release stopped while deploying "
                           "the candidate %s, before the role had recorded what is live, so "
                           "whatever was live before the release still is (the error above "
                           "says what the step wrote and what is live)." % version)
        return _result(outcome, live, live_before, version, failed_gates or [], summary)
    if check_mode:
        return _result("check_mode", live_before, previous, version, [],
                       "Check mode: live traffic stays on %s." % (live_before or "nothing"))
    live = version if live_now is None else live_now
    return _result("promoted", live, previous, version, [],
                   "Live traffic is on %s." % live)


def _result(outcome, live, previous, candidate, failed_gates, summary):
    return {"outcome": outcome, "live_version": live, "previous_version": previous,
            "candidate_version": candidate, "failed_gates": list(failed_gates),
            "summary": summary}


class FilterModule(object):
    def filters(self):
        return {
            "bluegreen_pods_gate": bluegreen_pods_gate,
            "bluegreen_plan": bluegreen_plan,
            "bluegreen_result": bluegreen_result,
        }
