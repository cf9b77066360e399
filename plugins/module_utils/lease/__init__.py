# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One release of an app at a time (release_lease): a coordination.k8s.io/v1 Lease named
for the app. holding.py reads a Lease (who holds it, since when, until when), decide.py
says what a call does with it and builds the write (both pure, the clock is a parameter),
holder.py makes the default holder identity (the AWX job, or the ansible-playbook process),
backend.py validates the input and runs the call on the release engine."""
