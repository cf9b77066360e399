"""gate_check on the testbed: pod gates read real pods, HTTP gates hit a local server."""

import http.server
import threading

import pytest

from modules import run_module

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.connection import (
    build_api_client,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import DEPLOYMENT, Kube
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import wait_for_rollout


class Handler(http.server.BaseHTTPRequestHandler):
    """Answers 'v2 ok'; /flaky answers 500 for every third request."""
    hits = 0

    def do_GET(self):
        Handler.hits += 1
        status = 500 if self.path == "/flaky" and Handler.hits % 3 == 0 else 200
        body = b"v2 ok" if status == 200 else b"boom"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield "http://127.0.0.1:%d" % httpd.server_address[1]
    httpd.shutdown()


def test_http_gates_pass_and_fail_on_status_body_and_rate(server):
    Handler.hits = 0
    result = run_module("gate_check", gates=[
        {"name": "ok", "type": "http", "url": server + "/", "requests": 5,
         "expect_body": "^v2", "max_latency_ms": 1000},
        {"name": "wrong-body", "type": "http", "url": server + "/", "expect_body": "^v3"},
        {"name": "flaky", "type": "http", "url": server + "/flaky", "requests": 9,
         "success_rate": 90},
        {"name": "down", "type": "http", "url": "http://127.0.0.1:9/", "timeout": 1},
    ])
    assert not result.get("failed"), result
    assert not result["passed"] and not result["changed"]
    assert result["failed_gates"] == ["wrong-body", "flaky", "down"]
    flaky = result["results"][2]
    assert flaky["values"]["requests"] == 9 and flaky["values"]["success_rate"] < 90
    assert "success rate" in flaky["message"] and "< 90%" in flaky["message"]
    assert result["results"][0]["passed"] and result["results"][0]["values"]["succeeded"] == 5


def test_pods_gate_reads_real_pods(kubeconfig, namespace):
    kube = Kube(build_api_client({"kubeconfig": kubeconfig}))
    for name, labels in (("good", {}), ("bad", {"testbed.progressive.delivery/readiness": "never"})):
        kube.create(DEPLOYMENT, namespace, {"metadata": {"name": name}, "spec": {
            "replicas": 2, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": dict({"app": name}, **labels)},
                         "spec": {"containers": [{"name": "c", "image": "x:1"}]}}}})
    wait_for_rollout(kube, namespace, "good", 30)
    result = run_module("gate_check", gates=[
        {"name": "good", "type": "pods_ready", "namespace": namespace, "selector": {"app": "good"}},
        {"name": "bad", "type": "pods_ready", "namespace": namespace, "selector": {"app": "bad"}},
    ])
    assert result["failed_gates"] == ["bad"], result
    assert result["results"][0]["values"] == {"pods": 2, "ready": 2, "restarts": 0}
    assert "0 of 2 pods ready" in result["results"][1]["message"]


def test_bad_gate_definitions_fail_clearly(server):
    result = run_module("gate_check", gates=[{"type": "http", "url": "nope"}, {"type": "x"}])
    assert result["failed"]
    assert "gates[0].url: must be an http:// or https:// URL, got 'nope'" in result["msg"]
    assert "gates[1].type: 'x' is not one of http, pods_ready, prometheus" in result["msg"]
