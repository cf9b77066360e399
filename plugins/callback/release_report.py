# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: release_report
type: aggregate
short_description: Write a report of every release the playbook runs (JSON and an HTML page)
version_added: 0.1.0
author:
  - progressive.delivery maintainers (@progressive-delivery)
description:
  - Watches the tasks of the collection's releases (the C(bluegreen), C(canary) and C(fleet)
    roles, or the modules used directly) and, at the end of the playbook, writes one JSON
    file and one self-contained HTML page per release.
  - A release is one app in one namespace on one cluster (inventory host); a fleet release
    is one report with a row per cluster on a shared time axis.
  - "Recorded: the steps with start and end times and the traffic split after each, every
    gate evaluation with its values, pauses and bakes, the decisions (promote, roll back,
    go on with the next wave, halt) and why."
  - The HTML page has no external assets (inline CSS and SVG, no script). Its chart shows
    each version's traffic percent over time, gate results as marks, and the values of the
    gates that failed.
  - Enable it with C(callbacks_enabled = progressive.delivery.release_report) in
    C(ansible.cfg) (or C(ANSIBLE_CALLBACKS_ENABLED)); in AWX, set that environment
    variable on the job template.
options:
  report_dir:
    description:
      - Where the files go. The variable C(release_report_dir) (an extra var or a play var)
        wins over this option.
      - Default C(release-reports/) beside the playbook.
    type: path
    env:
      - name: PD_RELEASE_REPORT_DIR
    ini:
      - section: progressive_delivery
        key: release_report_dir
"""

import json
import os
import re
import time

from ansible.plugins.callback import CallbackBase

from ansible_collections.progressive.delivery.plugins.module_utils.report.collect import (
    Recorder,
    iso,
)
from ansible_collections.progressive.delivery.plugins.module_utils.report.render import render


def _slug(text):
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", str(text)).strip("-") or "release"


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "progressive.delivery.release_report"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self.recorder = Recorder()
        self.task_started = {}
        self.playbook_dir = os.getcwd()
        self.dir_variable = None

    # where to write ------------------------------------------------------------
    def v2_playbook_on_start(self, playbook):
        name = getattr(playbook, "_file_name", None)
        if name:
            self.playbook_dir = os.path.dirname(os.path.abspath(name))

    def v2_playbook_on_play_start(self, play):
        try:
            manager = play.get_variable_manager()
            value = manager.extra_vars.get("release_report_dir") or \
                (play.vars or {}).get("release_report_dir")
        except Exception:  # a report location is never worth failing the play for
            value = None
        if value and "{{" not in str(value):
            self.dir_variable = str(value)

    def report_dir(self):
        directory = self.dir_variable
        if not directory:
            try:
                directory = self.get_option("report_dir")
            except KeyError:
                directory = None
        directory = directory or "release-reports"
        directory = os.path.expanduser(directory)
        if not os.path.isabs(directory):
            directory = os.path.join(self.playbook_dir, directory)
        return directory

    # events --------------------------------------------------------------------
    def v2_playbook_on_task_start(self, task, is_conditional):
        self.task_started[task._uuid] = time.time()

    def v2_playbook_on_handler_task_start(self, task):
        self.task_started[task._uuid] = time.time()

    def _record(self, result, failed):
        task = result._task
        data = result._result
        if data.get("_ansible_no_log"):
            return
        start = self.task_started.get(task._uuid, time.time())
        action = getattr(task, "resolved_action", None) or task.action
        args = (data.get("invocation") or {}).get("module_args") or {}
        try:
            self.recorder.task(result._host.get_name(), action, result.task_name, args, data,
                               start, time.time(), failed,
                               check_mode=bool(getattr(task, "check_mode", False)))
        except Exception as exc:  # the report must never break a release
            self._display.warning("release_report: could not record %r: %s" % (result.task_name, exc))

    def v2_runner_on_ok(self, result):
        self._record(result, False)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, True)

    # output --------------------------------------------------------------------
    def v2_playbook_on_stats(self, stats):
        reports = self.recorder.reports()
        if not reports:
            return
        directory = self.report_dir()
        try:
            if not os.path.isdir(directory):
                os.makedirs(directory)
        except OSError as exc:
            self._display.warning("release_report: cannot create %s: %s" % (directory, exc))
            return
        for report in reports:
            if report["kind"] == "fleet":
                base = "fleet-%s" % _slug(report["release"])
            else:
                base = "%s-%s-%s-%s" % (report["kind"], _slug(report["app"]),
                                        _slug(report.get("version")), _slug(report["cluster"]))
            base += "-" + iso(report["started"]).replace(":", "").replace("-", "")[:15]
            path = os.path.join(directory, base)
            with open(path + ".json", "w") as handle:
                json.dump(report, handle, indent=2, sort_keys=True)
            with open(path + ".html", "w") as handle:
                handle.write(render(report))
            self._display.display("release report: %s.html (and .json)" % path, stderr=True)
