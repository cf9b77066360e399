# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Release reports: collect the events of a release from task results (collect.py)
and render them as JSON and a self-contained HTML page (render.py)."""
