# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Canary releases. k8s_canary: input in validation.py, the two ways of splitting traffic in
replicas.py and nginx.py (on the object readers of objects.py), its report in status.py,
its engine backend in backend.py. canary_release_state: the release record (steps, pause,
gates) in release_record.py, one call's meaning in release_call.py, the record's ConfigMap
on the engine in record_backend.py."""
