"""maxSurge / maxUnavailable: parsing as the API accepts it and the controller's rounding
(surge up, unavailable down, both 0 -> one unavailable) for many counts and percents."""

import math

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.rollout import (
    strategy as st,
)


@pytest.mark.parametrize("value, parsed", [
    (0, (0, False)), (3, (3, False)), ("3", (3, False)), ("25%", (25, True)),
    ("0%", (0, True)), ("100%", (100, True)), (" 10% ", (10, True)), ("150%", (150, True)),
])
def test_parse_accepts_ints_digit_strings_and_percents(value, parsed):
    assert tuple(st.parse(value)) == parsed


@pytest.mark.parametrize("value", [-1, "-1", "25 %", "%", "1.5", "ten", "25%%", True, None, 2.5,
                                   "0x10", ""])
def test_parse_refuses_what_the_api_refuses(value):
    with pytest.raises(ValueError) as err:
        st.parse(value)
    assert repr(value) in str(err.value) or str(value) in str(err.value)


def test_api_form_round_trips():
    assert st.parse("25%").api() == "25%" and st.parse("7").api() == 7
    assert str(st.parse(4)) == "4"


# The seed's examples: 10 replicas at 25%/25% may run 13 pods with 8 available; 3 replicas
# at 25%/25% give surge 1 (0.75 up) and unavailable 0 (0.75 down).
@pytest.mark.parametrize("replicas, surge, unavailable, expected", [
    (10, "25%", "25%", (3, 2, 13, 8, False)),
    (3, "25%", "25%", (1, 0, 4, 3, False)),
    (4, "25%", "25%", (1, 1, 5, 3, False)),
    (1, "25%", "25%", (1, 0, 2, 1, False)),
    (5, "10%", "10%", (1, 0, 6, 5, False)),
    (5, 0, "10%", (0, 1, 5, 4, True)),
    (10, 1, 0, (1, 0, 11, 10, False)),
    (10, "0%", "30%", (0, 3, 10, 7, False)),
    (0, "25%", "25%", (0, 1, 0, 0, True)),
    (7, "100%", "100%", (7, 7, 14, 0, False)),
    (100, "33%", "33%", (33, 33, 133, 67, False)),
    (101, "33%", "33%", (34, 33, 135, 68, False)),
])
def test_pod_counts_examples(replicas, surge, unavailable, expected):
    counts = st.pod_counts(replicas, st.parse(surge), st.parse(unavailable))
    assert (counts.max_surge, counts.max_unavailable, counts.max_pods, counts.min_available,
            counts.adjusted) == expected
    assert counts.replicas == replicas


@pytest.mark.parametrize("replicas", list(range(0, 41)) + [99, 100, 101, 333, 1000])
@pytest.mark.parametrize("percent", [0, 1, 5, 10, 25, 33, 50, 66, 75, 99, 100])
def test_rounding_matches_ceil_and_floor_for_every_count(replicas, percent):
    exact = replicas * percent / 100.0
    counts = st.pod_counts(replicas, st.parse("%d%%" % percent), st.parse("%d%%" % percent))
    surge, unavailable = int(math.ceil(exact - 1e-9)), int(math.floor(exact + 1e-9))
    if surge == 0 and unavailable == 0:
        unavailable = 1
    assert (counts.max_surge, counts.max_unavailable) == (surge, unavailable)
    assert counts.max_pods == replicas + counts.max_surge
    assert counts.min_available == max(replicas - counts.max_unavailable, 0)


@pytest.mark.parametrize("pause_after, replicas, batch", [
    (1, 10, 1), ("10%", 10, 1), ("10%", 20, 2), ("10%", 4, 1), ("1%", 10, 1), ("50%", 10, 5),
    ("50%", 5, 3), ("100%", 7, 7), (12, 10, 10), ("33%", 3, 1), ("34%", 3, 2),
])
def test_batch_size_rounds_up_and_is_capped(pause_after, replicas, batch):
    assert st.batch_size(st.parse(pause_after), replicas) == batch


def test_deployment_rules():
    assert st.check_deployment(st.parse(0), st.parse("0%"))[0][0] == "max_unavailable"
    assert st.check_deployment(st.parse(0), st.parse(1)) == []
    assert st.check_deployment(st.parse("200%"), st.parse(1)) == []  # surge may pass 100%
    assert "greater than 100%" in st.check_deployment(st.parse(1), st.parse("101%"))[0][1]


def test_daemonset_rules_take_exactly_one_of_the_two():
    assert st.check_daemonset(st.parse(1), st.parse(0)) == []
    assert st.check_daemonset(st.parse(0), st.parse("10%")) == []
    assert st.check_daemonset(st.parse(1), st.parse(1))[0][0] == "max_surge"
    assert st.check_daemonset(st.parse(0), st.parse(0))[0][0] == "max_unavailable"
    assert [f for f, m in st.check_daemonset(st.parse("101%"), st.parse(0))] == ["max_surge"]
