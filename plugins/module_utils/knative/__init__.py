# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Knative Serving traffic (knative_traffic, knative_revision_info): shared object helpers
in common.py, the spec.traffic planner in traffic_plan.py, its engine backend in
traffic_backend.py, and the revision report in revision_info.py."""
