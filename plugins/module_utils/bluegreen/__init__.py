# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Blue/green of Deployments behind a Service or an Ingress (k8s_bluegreen): validation and
pure planning in plan.py, the reads, writes and proofs on the release engine in backend.py."""
