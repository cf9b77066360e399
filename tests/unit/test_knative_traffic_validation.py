"""knative_traffic's checks of the request on its own: percents, tags, duplicates and the
shape of the call, every problem reported at once with its field path."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.knative import (
    traffic_validation as ktv,
)

from knative_objects import (
    errors_of,
    params,
    split,
)


# --- percents --------------------------------------------------------------------
@pytest.mark.parametrize("percents,total", [((50, 60), 110), ((50, 40), 90)])
def test_sum_is_stated_in_knatives_own_words(percents, total):
    request = split(("hello-00004", percents[0]), ("hello-00002", percents[1]))
    errs = errors_of(ktv.validate, params(request))
    assert errs == [("traffic", "given traffic percents sum to %d, want 100" % total)]


def test_empty_traffic_sums_to_zero():
    assert errors_of(ktv.validate, params([])) == [
        ("traffic", "given traffic percents sum to 0, want 100")]


@pytest.mark.parametrize("value", [-5, 101, 250])
def test_out_of_range_percent(value):
    request = split(("hello-00001", value), ("hello-00002", 100 - value))
    errs = errors_of(ktv.validate, params(request))
    assert ("traffic[0].percent",
            "invalid value for traffic percent %d, expected 0 <= percent <= 100" % value) in errs


@pytest.mark.parametrize("value", [50.5, "50%", "half", True, [50], {"p": 50}])
def test_non_integer_percent(value):
    errs = errors_of(ktv.validate, params(split(("hello-00001", value), ("hello-00002", 50))))
    assert errs == [("traffic[0].percent",
                     "must be an integer from 0 to 100, got %r" % (value,))]


def test_a_bad_percent_does_not_also_produce_a_sum_error():
    errs = errors_of(ktv.validate, params(split(("hello-00001", "x"), ("hello-00002", 10))))
    assert [error[0] for error in errs] == ["traffic[0].percent"]


@pytest.mark.parametrize("value", ["50", " 50 ", 50.0, 50])
def test_integral_percents_from_templates_are_accepted(value):
    spec = ktv.validate(params(split(("hello-00001", value), ("hello-00002", 50))))
    assert spec.targets[0].percent == 50


def test_missing_percent_means_zero():
    spec = ktv.validate(params([{"revision": "hello-00001", "percent": 100},
                                {"revision": "hello-00002", "tag": "v2"}]))
    assert spec.targets[1].percent == 0


# --- tags and duplicates ---------------------------------------------------------
def test_duplicate_tag():
    request = split(("hello-00001", 50, "v2"), ("hello-00002", 50, "v2"))
    errs = errors_of(ktv.validate, params(request))
    assert errs == [("traffic[1].tag", "duplicate tag 'v2' (also on traffic[0]): every tag "
                     "names one target")]


@pytest.mark.parametrize("tag", ["V2", "2v", "v_2", "v2-", "-v2", "a" * 64, "v.2"])
def test_bad_tags(tag):
    errs = errors_of(ktv.validate, params(split(("hello-00001", 100), ("hello-00002", 0, tag))))
    assert errs[0][0] == "traffic[1].tag"
    assert "is not a valid tag: it must be a DNS-1035 label" in errs[0][1]


def test_tag_that_makes_the_host_label_too_long():
    errs = errors_of(ktv.validate, params(split(("hello-00001", 100), ("hello-00002", 0,
                                                                       "t" * 60))))
    assert errs == [("traffic[1].tag", "tag %r makes the host label %r longer than 63 "
                     "characters" % ("t" * 60, "t" * 60 + "-hello"))]


def test_same_revision_twice_needs_different_tags():
    errs = errors_of(ktv.validate, params(split(("hello-00001", 50), ("hello-00001", 50))))
    assert errs == [("traffic[1].revision", "revision hello-00001 already receives traffic "
                     "without a tag from traffic[0]: give one of the two targets a tag, or "
                     "add their percents up")]
    spec = ktv.validate(params(split(("hello-00001", 50), ("hello-00001", 0, "v1"),
                                     ("hello-00002", 50, "v2"))))
    assert len(spec.targets) == 3


def test_two_untagged_latest_targets_are_duplicates():
    errs = errors_of(ktv.validate, params(split(("@latest", 50), ("@latest", 50))))
    assert errs[0][0] == "traffic[1].revision"
    assert "@latest" in errs[0][1]


# --- shape of the request --------------------------------------------------------
def test_revision_reference_must_be_known():
    errs = errors_of(ktv.validate, params(split(("@newest", 100))))
    assert errs == [("traffic[0].revision", "'@newest' is not a revision name nor one of "
                     "@latest, @latest_created, @latest_ready")]


def test_revision_is_required():
    errs = errors_of(ktv.validate, params([{"percent": 100}]))
    assert errs == [("traffic[0].revision", "is required: a revision name or one of "
                     "@latest, @latest_created, @latest_ready")]


def test_exactly_one_of_service_and_route():
    assert errors_of(ktv.validate, params(split(("x", 100)), route="r"))[0][0] == "service"
    assert errors_of(ktv.validate, params(split(("x", 100)), service=None))[0][0] == "service"


def test_configuration_is_for_routes_only():
    errs = errors_of(ktv.validate, params([{"revision": "@latest", "percent": 100,
                                            "configuration": "x"}], configuration="x"))
    assert [error[0] for error in errs] == ["configuration", "traffic[0].configuration"]


def test_traffic_and_tag_changes_are_exclusive_and_one_is_needed():
    errs = errors_of(ktv.validate, params(split(("hello-00001", 100)), untag=["v1"]))
    assert errs[0][0] == "traffic"
    errs = errors_of(ktv.validate, params(None))
    assert errs == [("traffic", "nothing to do: give traffic (the whole block), or tags / "
                     "untag")]


def test_every_input_problem_is_reported_at_once():
    errs = errors_of(ktv.validate, dict(namespace="Bad_NS", service="hello", traffic=[
        {"revision": "hello-00001", "percent": -1, "tag": "V1"},
        {"revision": "@nope", "percent": "x"},
        {"revision": "hello-00002", "percent": 50, "tag": "ok"},
        {"revision": "hello-00003", "percent": 50, "tag": "ok"},
    ]))
    assert [error[0] for error in errs] == [
        "namespace", "traffic[0].percent", "traffic[0].tag", "traffic[1].revision",
        "traffic[1].percent", "traffic[3].tag"]


def test_tags_and_untag_are_validated():
    errs = errors_of(ktv.validate, params(None, tags=[{"revision": "hello-00001", "tag": "v1"},
                                                      {"revision": "hello-00002", "tag": "v1"},
                                                      {"revision": "hello-00002", "tag": "B"}],
                                          untag=["v1", ""]))
    assert [error[0] for error in errs] == ["tags[1].tag", "tags[2].tag", "untag[0]", "untag[1]"]
