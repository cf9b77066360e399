# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Durations as release steps and roles write them: 30, '90s', '10m', '1h30m'."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h)")


def parse_duration(value):
    """Seconds (int when whole) for 30, '90s', '10m', '1h30m', '2m 30s', '500ms'; a
    ValueError naming the value otherwise. The duration_seconds filter uses it too."""
    if isinstance(value, bool) or value is None:
        raise ValueError("%r is not a duration" % (value,))
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError("duration %r is negative" % (value,))
        return value
    text = str(value).strip().lower()
    if re.match(r"^\d+(\.\d+)?$", text):
        return parse_duration(float(text) if "." in text else int(text))
    if not text or PART.sub("", text).strip():
        raise ValueError("%r is not a duration (use e.g. 30s, 10m, 1h, 1h30m)" % (value,))
    total = sum(float(n) * UNITS[unit] for n, unit in PART.findall(text))
    return int(total) if total == int(total) else total
