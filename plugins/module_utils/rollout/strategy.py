# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""maxSurge / maxUnavailable: what the API accepts and the pod counts the controller uses.

A value is an integer >= 0 or a percent string ("25%"). The controller turns a percent of
the replica count into pods with two different roundings: surge rounds up, unavailable
rounds down (so 25% of 10 replicas is 3 extra pods but 2 missing ones), and when both come
out 0 it lets one pod be unavailable, else the rollout could not move.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from collections import namedtuple

PERCENT = re.compile(r"^([0-9]+)%$")


class IntOrPercent(namedtuple("IntOrPercent", "value percent")):
    """``value`` pods, or ``value`` percent of the replicas when ``percent``."""

    def __str__(self):
        return "%d%%" % self.value if self.percent else str(self.value)

    def api(self):
        """The value as the API stores it (an int, or the percent string)."""
        return str(self) if self.percent else self.value

    def scaled(self, total, round_up):
        """Pods for ``total`` replicas (percent: ceil with round_up, else floor)."""
        if not self.percent:
            return self.value
        product = self.value * total
        return -(-product // 100) if round_up else product // 100


def parse(value):
    """An IntOrPercent from an int, a digit string or a percent string; ValueError with
    the rule otherwise. Digit strings are taken as numbers because Jinja templating turns
    numbers into strings."""
    if isinstance(value, bool):
        raise ValueError("%r is neither an integer nor a percent string like '25%%'" % (value,))
    if isinstance(value, int):
        if value < 0:
            raise ValueError("%d must be 0 or more" % value)
        return IntOrPercent(value, False)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return IntOrPercent(int(text), False)
        match = PERCENT.match(text)
        if match:
            return IntOrPercent(int(match.group(1)), True)
    raise ValueError("%r is neither an integer >= 0 nor a percent string like '25%%' "
                     "(digits followed by '%%')" % (value,))


def from_api(value, default):
    """The stored value of a field (None when unset: ``default``)."""
    return parse(default if value is None else value)


DEFAULT_SURGE = "25%"
DEFAULT_UNAVAILABLE = "25%"


class PodCounts(namedtuple("PodCounts", "replicas max_surge max_unavailable max_pods "
                           "min_available adjusted")):
    """What a rolling update of ``replicas`` pods may do: create up to ``max_surge`` pods
    above the count (``max_pods`` in all) and have up to ``max_unavailable`` missing
    (``min_available`` at least). ``adjusted``: both came out 0 and the controller
    allows one unavailable pod instead."""

    def as_dict(self):
        return self._asdict()


def pod_counts(replicas, max_surge, max_unavailable):
    """The controller's resolution of the two values for ``replicas`` pods (its
    ResolveFenceposts): surge rounds up, unavailable rounds down, both 0 -> 1 unavailable."""
    surge = max_surge.scaled(replicas, True)
    unavailable = max_unavailable.scaled(replicas, False)
    adjusted = surge == 0 and unavailable == 0
    if adjusted:
        unavailable = 1
    return PodCounts(replicas, surge, unavailable, replicas + surge,
                     max(replicas - unavailable, 0), adjusted)


def batch_size(pause_after, replicas):
    """Pods in a held batch: a number as given, a percent of the replicas rounded up (like
    maxSurge: 10% of 4 is 1 pod, a non-zero percent always moves at least one), never
    more than the replicas."""
    return max(0, min(pause_after.scaled(replicas, True), replicas))


def check_deployment(max_surge, max_unavailable):
    """The API's rules for a Deployment's rollingUpdate: a list of (field, message)."""
    problems = []
    if max_unavailable.percent and max_unavailable.value > 100:
        problems.append(("max_unavailable", "%s must not be greater than 100%%" % (max_unavailable,)))
    if max_surge.value == 0 and max_unavailable.value == 0:
        problems.append(("max_unavailable", "may not be 0 when max_surge is 0 (maxSurge=%s, "
                         "maxUnavailable=%s): the rollout could never replace a pod"
                         % (max_surge, max_unavailable)))
    return problems


def check_daemonset(max_surge, max_unavailable):
    """The API's rules for a DaemonSet's rollingUpdate: at most 100% each, exactly one of
    the two non-zero."""
    problems = []
    for field, value in (("max_surge", max_surge), ("max_unavailable", max_unavailable)):
        if value.percent and value.value > 100:
            problems.append((field, "%s must not be greater than 100%%" % (value,)))
    if max_surge.value and max_unavailable.value:
        problems.append(("max_surge", "a DaemonSet takes either maxSurge or maxUnavailable, "
                         "not both (maxSurge=%s, maxUnavailable=%s); set the other to 0"
                         % (max_surge, max_unavailable)))
    elif not max_surge.value and not max_unavailable.value:
        problems.append(("max_unavailable", "may not be 0 when max_surge is 0"))
    return problems
