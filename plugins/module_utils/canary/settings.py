# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The canary backends and the settings each cannot do without: plain data, light to
import (the canary role's input check loads it in a task of its own)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

BACKENDS = ("replicas", "nginx", "contour", "knative", "gateway", "rolling")

# The settings each backend cannot do without (the role checks them first; the module says
# the same when called directly).
REQUIRED = {
    "replicas": ("service",),
    "nginx": ("ingress", "canary_service"),
    "contour": ("name", "path", "stable_service", "canary_service"),
    "knative": ("service",),
    "gateway": ("route", "stable_service", "canary_service"),
    "rolling": (),
}
