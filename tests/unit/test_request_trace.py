"""The request trace (k8s/trace.py): off unless PD_TRACE_REQUESTS names a file; one line
per request with method, path and query, status (or the error's), pid, time, duration;
the parser the tests and benchmarks count with reads it back."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.k8s import trace


class Answer(object):
    status = 200


class Refused(Exception):
    status = 404


def test_without_the_variable_nothing_is_wrapped():
    def send(*args):
        return Answer()
    assert trace.traced(send, environ={}) is send


def test_each_request_appends_one_line_answer_or_error(tmp_path):
    path = tmp_path / "trace"
    calls = []

    def send(method, path_, query, headers=None, body=None, timeout=None):
        calls.append((method, path_, query))
        if path_.endswith("/missing"):
            raise Refused("not found")
        return Answer()

    send_traced = trace.traced(send, environ={trace.ENV: str(path)})
    assert send_traced("GET", "/api/v1/namespaces/web/services/app", None, {}, None, 5).status == 200
    send_traced("GET", "/api/v1/namespaces/web/pods", {"labelSelector": "app=web,v=2"}, {}, None, 5)
    with pytest.raises(Refused):
        send_traced("GET", "/api/v1/namespaces/web/services/missing", {}, {}, None, 5)
    assert len(calls) == 3
    lines = path.read_text().splitlines()
    assert [line.split()[:3] for line in lines] == [
        ["GET", "/api/v1/namespaces/web/services/app", "200"],
        ["GET", "/api/v1/namespaces/web/pods?labelSelector=app%3Dweb%2Cv%3D2", "200"],
        ["GET", "/api/v1/namespaces/web/services/missing", "404"]]
    parsed = trace.parse(path.read_text())
    assert parsed[1]["path"] == "/api/v1/namespaces/web/pods"
    assert parsed[1]["query"] == {"labelSelector": "app=web,v=2"}
    assert all(isinstance(p["pid"], int) and p["t"] > 0 and p["ms"] >= 0 for p in parsed)


def test_line_format_and_a_status_without_answer():
    text = trace.line("PATCH", "/apis/apps/v1/namespaces/a/deployments/b",
                      [("fieldManager", "progressive.delivery")], "ConnectionError", 10.0, 10.25,
                      pid=7)
    assert text == ("PATCH /apis/apps/v1/namespaces/a/deployments/b?fieldManager="
                    "progressive.delivery ConnectionError pid=7 t=10.000 ms=250")
    assert trace.parse(text + "\nnonsense\n")[0]["status"] == "ConnectionError"


def test_an_unwritable_trace_never_breaks_the_request(tmp_path):
    send_traced = trace.traced(lambda *a: Answer(),
                               environ={trace.ENV: str(tmp_path / "no" / "such" / "dir")})
    assert send_traced("GET", "/api", None).status == 200


def test_a_stream_without_a_status_is_ok(tmp_path):
    path = tmp_path / "trace"
    send_traced = trace.traced(lambda *a, **k: iter([b"{}"]), environ={trace.ENV: str(path)})
    send_traced("GET", "/api/v1/pods", {"watch": "true"}, {}, None, 5, stream=True)
    assert trace.parse(path.read_text())[0]["status"] == "ok"
