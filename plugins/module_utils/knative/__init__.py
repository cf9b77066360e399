# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Knative Serving traffic (knative_traffic, knative_revision_info): shared object helpers
in common.py; the spec.traffic block in traffic_block.py; checks of the request in
traffic_validation.py; the planner in traffic_plan.py; the proof and the reported split in
traffic_status.py; the engine backend in traffic_backend.py; the revision report in
revision_info.py."""
