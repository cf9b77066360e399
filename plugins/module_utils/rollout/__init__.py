# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rolling updates as ``kubectl rollout`` does them (k8s_rollout): input checks in
validation.py, surge/unavailable rounding in strategy.py, revision history and undo targets
in history.py, the writes of each action in plan.py (all pure), and the engine backend
(reads, writes, waits, report) in backend.py."""
