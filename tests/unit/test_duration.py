import pytest

from ansible_collections.progressive.delivery.plugins.filter.duration import parse_duration


@pytest.mark.parametrize("value, seconds", [
    (30, 30), ("30", 30), ("90s", 90), ("10m", 600), ("1h", 3600), ("1h30m", 5400),
    ("2m 30s", 150), ("500ms", 0.5), ("1.5m", 90), (0, 0), ("0s", 0),
])
def test_durations(value, seconds):
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["", "10x", "m", "-5s", -1, "10 minutes", True, "5m!"])
def test_bad_durations_name_the_value(value):
    with pytest.raises(ValueError) as err:
        parse_duration(value)
    assert repr(value) in str(err.value) or "negative" in str(err.value)
