# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet releases: the pure parts of the fleet role (waves split as serial splits
hosts, what each cluster does next, the wave verdict, rollback targets, the plan lines)."""
