"""Gate validation and verdicts (pure): what passes, what fails, with which values."""

import json

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.gates import checks as g
from ansible_collections.progressive.delivery.plugins.module_utils.gates.validation import (
    VALIDATORS,
    validate_gates,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    ValidationError,
)


def test_every_bad_field_is_reported_with_its_path():
    with pytest.raises(ValidationError) as err:
        validate_gates([
            {"type": "http", "url": "ftp://x", "requests": 0, "success_rate": 120,
             "expect_body": "(", "max_latency_ms": -1},
            {"type": "nope"},
            {"type": "pods_ready", "name": "p"},
            {"type": "prometheus", "name": "p", "url": "http://p", "comparison": "~",
             "threshold": "high"},
        ])
    paths = [e.path for e in err.value.errors]
    assert paths == ["gates[0].url", "gates[0].requests", "gates[0].success_rate",
                     "gates[0].expect_body", "gates[0].max_latency_ms", "gates[1].type",
                     "gates[2].namespace", "gates[2].selector", "gates[3].name",
                     "gates[3].query", "gates[3].comparison", "gates[3].threshold"]
    assert "'nope' is not one of http, pods_ready, prometheus" in str(err.value)


def test_http_verdict_success_rate_and_latency():
    gate = {"url": "http://127.0.0.1/", "success_rate": 90, "max_latency_ms": 50}
    samples = [(200, "ok", 0.010, None)] * 9 + [(500, "boom", 0.002, None)]
    passed, message, values = g.http_verdict(gate, samples)
    assert passed and values["success_rate"] == 90.0 and values["latency_ms_p95"] == 10.0
    samples = [(200, "ok", 0.010, None)] * 8 + [(503, "", 0.002, None), (None, "", 1, "refused")]
    passed, message, values = g.http_verdict(gate, samples)
    assert not passed
    assert message == "8/10 requests to http://127.0.0.1/ succeeded: success rate 80.0% < 90%"
    assert values["failures"] == ["refused", "status 503"]


def test_http_verdict_latency_bound_and_body():
    gate = {"url": "http://x/", "max_latency_ms": 100, "expect_body": "^v2"}
    passed, message = g.http_verdict(gate, [(200, "v2 here", 0.3, None)])[:2]
    assert not passed and "p95 latency 300.0 ms > 100 ms" in message
    passed, message = g.http_verdict(gate, [(200, "v1 here", 0.01, None)])[:2]
    assert not passed and "success rate 0.0% < 100%" in message


def test_percentile_nearest_rank():
    assert g.percentile([5, 1, 3, 2, 4], 50) == 3
    assert g.percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95) == 10
    assert g.percentile([7], 99) == 7


def test_prometheus_value_shapes():
    vector = {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {}, "value": [1700000000, "0.25"]}]}}
    assert g.prometheus_value(vector) == 0.25
    scalar = {"status": "success", "data": {"resultType": "scalar", "result": [1, "3"]}}
    assert g.prometheus_value(scalar) == 3.0
    empty = {"status": "success", "data": {"resultType": "vector", "result": []}}
    assert g.prometheus_value(empty) is None
    with pytest.raises(ValueError, match="bad_data"):
        g.prometheus_value({"status": "error", "error": "bad_data"})


def test_prometheus_gate_compares_with_threshold():
    answer = json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {}, "value": [0, "0.5"]}]}})
    gate = {"type": "prometheus", "url": "http://127.0.0.1:9090", "query": "up",
            "comparison": "<", "threshold": 0.1}
    seen = []

    def fetch(url, method, headers, timeout):
        seen.append(url)
        return 200, answer, 0.01, None

    result = g.evaluate_gates([gate], None, fetch)[0]
    assert not result.passed and result.message == "up = 0.5, want < 0.1"
    assert seen == ["http://127.0.0.1:9090/api/v1/query?query=up"]


def pod(name, ready=True, restarts=0, deleting=False):
    meta = {"name": name}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "status": {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        "containerStatuses": [{"name": "c", "ready": ready, "restartCount": restarts}]}}


def test_pods_verdict():
    assert g.pods_verdict({}, [pod("a"), pod("b"), pod("old", False, deleting=True)])[0]
    pods = [pod("a", restarts=2), pod("b", ready=False)]
    passed, message, values = g.pods_verdict({"max_restarts": 1}, pods)
    assert not passed
    assert message == ("1/2 pods ready, 2 restarts: 1 of 2 pods ready; "
                       "2 container restarts > max_restarts 1")
    passed, message = g.pods_verdict({}, [])[:2]
    assert not passed and "0 ready pods < min_ready 1" in message


@pytest.mark.parametrize("gate, path, words", [
    ({"type": "http", "url": "http://x", "name": ["a", "b"]}, "gates[0].name",
     "must be a non-empty string, got ['a', 'b']"),
    ({"type": "http", "url": "http://x", "interval_ms": "100ms"}, "gates[0].interval_ms",
     "got '100ms'"),
    ({"type": "http", "url": "http://x", "latency_percentile": "p95"},
     "gates[0].latency_percentile", "got 'p95'"),
    ({"type": "http", "url": "http://x", "expect_status": "ok"}, "gates[0].expect_status",
     "got 'ok'"),
    ({"type": "http", "url": "http://x", "headers": ["Authorization: x"]}, "gates[0].headers",
     "dictionary"),
    ({"url": "http://x"}, "gates[0].type", "is required: one of http, pods_ready, prometheus"),
    ({"type": ["http"]}, "gates[0].type", "['http'] is not one of"),
    ({"type": "prometheus", "url": "http://p", "query": "up", "threshold": "abc"},
     "gates[0].threshold", "must be a number, got 'abc'"),
    ({"type": "pods_ready", "namespace": 3, "selector": {"a": "b"}}, "gates[0].namespace",
     "got 3"),
    ({"type": "pods_ready", "namespace": "n", "selector": {"a": "b"}, "min_ready": True},
     "gates[0].min_ready", "got True"),
])
def test_inputs_users_get_wrong_are_named_by_field_and_value(gate, path, words):
    with pytest.raises(ValidationError) as err:
        validate_gates([gate])
    assert [e.path for e in err.value.errors] == [path]
    assert words in str(err.value)


def test_not_a_list_is_an_error_not_a_crash():
    with pytest.raises(ValidationError) as err:
        validate_gates({"type": "http"})
    assert str(err.value).startswith("gates: must be a list of gates")


def test_task_file_gates_validate_only_where_allowed():
    validate_gates([{"type": "tasks", "file": "checks.yml"}], allow_tasks=True)
    with pytest.raises(ValidationError) as err:
        validate_gates([{"type": "tasks"}], allow_tasks=True)
    assert [e.path for e in err.value.errors] == ["gates[0].file"]
    with pytest.raises(ValidationError):
        validate_gates([{"type": "tasks", "file": "checks.yml"}])


def test_a_url_password_never_reaches_an_error_or_a_message():
    with pytest.raises(ValidationError) as err:
        validate_gates([{"type": "http", "url": "ftp://me:hunter2@host/"}])
    assert "hunter2" not in str(err.value) and "ftp://me:********@host/" in str(err.value)
    gate = {"url": "https://me:hunter2@127.0.0.1/health"}
    passed, message, values = g.http_verdict(gate, [(200, "", 0.01, None)])
    assert "hunter2" not in message and "me:********@127.0.0.1" in message


def test_prometheus_refusal_is_given_in_prometheus_words():
    body = json.dumps({"status": "error", "errorType": "bad_data",
                       "error": "invalid parameter \"query\": 1:5: parse error: unexpected"})
    assert g.prometheus_error(400, body) == (
        "status 400, bad_data: invalid parameter \"query\": 1:5: parse error: unexpected")
    assert g.prometheus_error(502, "<html>bad gateway</html>") == "status 502"


def test_every_gate_type_has_a_validator_and_an_evaluator():
    assert sorted(VALIDATORS) == sorted(g.EVALUATORS) == ["http", "pods_ready", "prometheus"]
