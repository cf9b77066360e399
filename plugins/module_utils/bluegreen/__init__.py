# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Blue/green of Deployments behind a Service or an Ingress (k8s_bluegreen): the input in
validation.py, what is live and what the module reports in status.py, the writes that point
traffic at a version in traffic.py, the decisions of each state in plan.py (all pure), and
the reads, writes and proofs on the release engine in backend.py."""
