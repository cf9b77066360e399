# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Contour HTTPProxy delegation and weights (contour_delegate): proxy objects and their
readers in proxies.py; checks of the request in validation.py; the planner in plan.py;
Contour's verdict and the reported views in status.py; the engine backend in backend.py."""
