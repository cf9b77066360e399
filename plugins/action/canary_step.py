# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs the canary_step module (in the task's worker process when the task runs on the
controller with its own Python; see plugin_utils/module_action.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Imported here so ansible-playbook loads the module once, before it forks a task's worker.
from ansible_collections.progressive.delivery.plugins.modules import canary_step as module
from ansible_collections.progressive.delivery.plugins.module_utils.canary.step_traffic import (
    LAZY_IMPORTS,
)
from ansible_collections.progressive.delivery.plugins.plugin_utils.module_action import (
    ModuleAction,
    preload,
)

preload(LAZY_IMPORTS)


class ActionModule(ModuleAction):
    MODULE = "canary_step"
    MAIN = staticmethod(module.main)
