# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Talking to Kubernetes: the client (auth, retries), connection options, the watch loop,
conditions (pure predicates), field errors and durations. Nothing here knows about releases."""
