# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The `duration_seconds` filter: '90s', '10m', '1h30m', '2m 30s' or a number -> seconds."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.duration import (
    parse_duration,
)


def duration_seconds(value):
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule(object):
    def filters(self):
        return {"duration_seconds": duration_seconds}
