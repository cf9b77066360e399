# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Canary releases (k8s_canary, canary_release_state): weights by replicas or ingress-nginx
annotations in plan.py, the release record (step, pause, gates) in release_record.py, and
the engine backend in backend.py."""
