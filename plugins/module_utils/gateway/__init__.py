# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Gateway API HTTPRoute and GRPCRoute traffic: validation, plan (pure), status predicates,
backend."""
