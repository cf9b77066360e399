"""The prometheus gate against a real Prometheus server (Debian's `prometheus` package).

The fixture starts Prometheus on 127.0.0.1 with a configuration that scrapes one target: a
metrics endpoint this test serves on 127.0.0.1 with values it sets. Nothing else is
configured (no Alertmanager, no remote write, no service discovery), so the server talks
to nothing beyond loopback. The gate is evaluated by the gate_check module, and by the
canary role during a release that then has to roll back.
"""

import http.server
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request

import pytest

from canary_objects import create_stable, image, pod_template, ready, record, replicas
from modules import run_module
from playbooks import role_play, run_playbook, write_playbook


PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
SCRAPE_SECONDS = 1


class Metrics(object):
    """A /metrics endpoint on 127.0.0.1 whose values the test sets."""

    def __init__(self):
        self.values = {'canary_errors{app="myapp"}': 0.0}
        self.started = time.monotonic()
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                with outer.lock:
                    # 10 requests a second of wall time, whenever Prometheus scrapes (a
                    # scrape delayed by a busy machine must not change the rate)
                    values = dict(outer.values)
                    values['canary_requests_total{app="myapp"}'] = round(
                        10 * (time.monotonic() - outer.started), 3)
                    lines = ["# TYPE canary_errors gauge", "# TYPE canary_requests_total counter"]
                    lines += ["%s %s" % item for item in sorted(values.items())]
                body = ("\n".join(lines) + "\n").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = "127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def set(self, name, value):
        with self.lock:
            self.values[name] = value

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def query(url, promql):
    with urllib.request.urlopen("%s/api/v1/query?%s" % (
            url, urllib.parse.urlencode({"query": promql})), timeout=5) as answer:
        return json.loads(answer.read())["data"]["result"]


def wait_for_value(url, promql, wanted, timeout=30):
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        result = query(url, promql)
        seen = float(result[0]["value"][1]) if result else None
        if seen == wanted:
            return
        time.sleep(0.2)
    raise AssertionError("Prometheus never answered %s = %s (last %s)" % (promql, wanted, seen))


@pytest.fixture(scope="module")
def metrics():
    server = Metrics()
    yield server
    server.close()


@pytest.fixture(scope="module")
def prometheus(metrics, tmp_path_factory):
    """http://127.0.0.1:<port> of a Prometheus scraping ``metrics`` every second."""
    if not os.path.exists(PROMETHEUS):
        pytest.skip("the prometheus binary is missing: apt-get install prometheus (Debian "
                    "package; .ci/run should install it)")
    workdir = tmp_path_factory.mktemp("prometheus")
    config = workdir / "prometheus.yml"
    config.write_text(
        "global:\n"
        "  scrape_interval: %ds\n"
        "  evaluation_interval: %ds\n"
        "scrape_configs:\n"
        "  - job_name: canary\n"
        "    static_configs:\n"
        "      - targets: ['%s']\n" % (SCRAPE_SECONDS, SCRAPE_SECONDS, metrics.address))
    port = free_port()
    url = "http://127.0.0.1:%d" % port
    log = open(str(workdir / "prometheus.log"), "w")
    proc = subprocess.Popen(
        [PROMETHEUS, "--config.file=%s" % config, "--storage.tsdb.path=%s" % (workdir / "data"),
         "--web.listen-address=127.0.0.1:%d" % port, "--storage.tsdb.retention.time=1h",
         "--query.lookback-delta=5s", "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT, cwd=str(workdir))
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise AssertionError("prometheus exited with %s:\n%s" % (
                    proc.returncode, (workdir / "prometheus.log").read_text()[-3000:]))
            try:
                with urllib.request.urlopen(url + "/-/ready", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("prometheus not ready after 60 s")
            time.sleep(0.2)
        wait_for_value(url, 'up{job="canary"}', 1.0)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def gate(url, promql, comparison, threshold, **extra):
    spec = dict(name="errors", type="prometheus", url=url, query=promql,
                comparison=comparison, threshold=threshold)
    spec.update(extra)
    return spec


def test_gate_passes_then_fails_when_the_metric_rises(prometheus, metrics):
    metrics.set('canary_errors{app="myapp"}', 0)
    wait_for_value(prometheus, 'canary_errors{app="myapp"}', 0.0)
    promql = 'max(canary_errors{app="myapp"})'
    result = run_module("gate_check", gates=[gate(prometheus, promql, "<=", 0.5)])
    assert not result.get("failed"), result
    assert result["passed"] is True
    assert result["results"][0]["values"] == {"value": 0.0, "threshold": 0.5,
                                              "comparison": "<="}

    metrics.set('canary_errors{app="myapp"}', 3)
    wait_for_value(prometheus, promql, 3.0)
    result = run_module("gate_check", gates=[gate(prometheus, promql, "<=", 0.5)])
    assert result["passed"] is False
    assert result["failed_gates"] == ["errors"]
    assert result["summary"] == ('errors (prometheus): max(canary_errors{app="myapp"}) = 3.0, '
                                 'want <= 0.5')
    metrics.set('canary_errors{app="myapp"}', 0)


def test_rate_query_and_comparisons(prometheus, metrics):
    # the counter grows by 10 a second: a rate near 10/s, taken over 15 samples or more (a
    # busy machine delays scrapes) so that Prometheus's extrapolation at the edges of the
    # window stays small next to the rate
    promql = 'sum(rate(canary_requests_total{app="myapp"}[20s]))'
    samples = 'sum(count_over_time(canary_requests_total{app="myapp"}[20s]))'
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (
            query(prometheus, promql) and int(query(prometheus, samples)[0]["value"][1]) >= 15):
        time.sleep(0.5)
    result = run_module("gate_check", gates=[
        gate(prometheus, promql, ">", 1, name="traffic-flows"),
        gate(prometheus, promql, "<", 1, name="too-quiet")])
    by_name = dict((r["name"], r) for r in result["results"])
    assert by_name["traffic-flows"]["passed"] is True, by_name
    assert by_name["too-quiet"]["passed"] is False
    assert 5 < by_name["traffic-flows"]["values"]["value"] < 20


def test_empty_answer_and_bad_query(prometheus):
    absent = 'canary_errors{app="nobody"}'
    result = run_module("gate_check", gates=[
        gate(prometheus, absent, "<=", 0, name="strict"),
        gate(prometheus, absent, "<=", 0, name="lenient", pass_on_empty=True)])
    by_name = dict((r["name"], r) for r in result["results"])
    assert by_name["strict"]["passed"] is False
    assert by_name["strict"]["message"] == "query %r returned no sample" % absent
    assert by_name["lenient"]["passed"] is True
    result = run_module("gate_check", gates=[gate(prometheus, "sum(", "<=", 0)])
    assert result["passed"] is False
    assert result["results"][0]["message"].startswith("Prometheus query failed: status 400")


def test_unreachable_prometheus_fails_the_gate():
    result = run_module("gate_check", gates=[gate("http://127.0.0.1:9", "up", "==", 1,
                                                  timeout=2)])
    assert result["passed"] is False
    assert result["results"][0]["message"].startswith("Prometheus query failed:")


def test_canary_release_rolls_back_when_prometheus_reports_errors(
        prometheus, metrics, kube, namespace, tmp_path):
    metrics.set('canary_errors{app="myapp"}', 0)
    wait_for_value(prometheus, 'canary_errors{app="myapp"}', 0.0)
    create_stable(kube, namespace, replicas=4)
    promql = 'max(canary_errors{app="myapp"})'
    path = write_playbook(tmp_path, role_play("progressive.delivery.canary", dict(
        canary_app="myapp", canary_namespace=namespace, canary_version="v2",
        canary_service="myapp", canary_pod_template=pod_template("ikubernetes/myapp:v2"),
        canary_gate_interval="1s", canary_wait_timeout=60,
        canary_gates=[gate(prometheus, promql, "<=", 0.5, name="error-rate")],
        canary_steps=[{"weight": 25}, {"pause": "30s"}, {"weight": 100}])))

    def errors_during_the_pause():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            rec = record(kube, namespace)
            if rec and rec.get("step") == 1 and rec.get("gates"):
                metrics.set('canary_errors{app="myapp"}', 7)
                return
            time.sleep(0.3)

    trigger = threading.Thread(target=errors_during_the_pause, daemon=True)
    trigger.start()
    try:
        result = run_playbook(path)
    finally:
        trigger.join(timeout=5)
        metrics.set('canary_errors{app="myapp"}', 0)
    assert result.failed, result.summary()
    message = result.failure_messages()[-1]
    assert "step 2/3 (pause 30s)" in message
    assert ("Gate error-rate (prometheus) failed: %s = 7.0, want <= 0.5" % promql) in message
    assert '"value": 7.0' in message
    assert result.custom_stats["canary_failed_gates"] == ["error-rate"]
    assert (replicas(kube, namespace, "myapp"), replicas(kube, namespace, "myapp-canary")) == \
        (4, 0)
    assert ready(kube, namespace, "myapp") == 4
    assert image(kube, namespace, "myapp") == "ikubernetes/myapp:v1"
    assert record(kube, namespace)["phase"] == "aborted"


def test_a_query_prometheus_refuses_fails_with_prometheus_own_words(prometheus):
    result = run_module("gate_check", gates=[
        {"name": "typo", "type": "prometheus", "url": prometheus,
         "query": "sum(rate(http_requests_total[1m]", "threshold": 1}])
    assert not result.get("failed"), result
    assert result["failed_gates"] == ["typo"]
    message = result["results"][0]["message"]
    assert "status 400, bad_data" in message and "parse error" in message, message
