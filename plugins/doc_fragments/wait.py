# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  wait:
    description:
      - Wait until the change has taken effect before returning.
      - Waits watch the objects (no fixed polling interval), so they return as soon as
        the API server reports the condition.
    type: bool
    default: true
  wait_timeout:
    description:
      - How many seconds to wait. On timeout the module fails and says what was still
        missing (which pods are unready and why, or the condition's message).
    type: int
    default: 300
"""
