# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Contour HTTPProxy delegation and weights (contour_delegate): pure planning in plan.py,
Contour's verdict and restore on rejection in backend.py."""
