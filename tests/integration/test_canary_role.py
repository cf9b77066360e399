"""The canary role run by ansible-playbook against the testbed: whole releases, rollbacks on
a bad canary and on a failing HTTP gate, a killed job resumed from its recorded step, the
nginx and Contour backends."""

import http.server
import threading
import time

import pytest

from canary_objects import (
    NEVER_READY,
    create_ingress,
    create_service,
    create_stable,
    endpoint_tracks,
    image,
    pod_template,
    ready,
    record,
    replicas,
    wait_record,
)
from playbooks import kill_playbook, role_play, run_playbook, start_playbook, write_playbook

from ansible_collections.progressive.delivery.plugins.module_utils.contour.proxies import (
    HTTPPROXY,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    CONFIGMAP,
    DEPLOYMENT,
    INGRESS,
    SERVICE,
)

NGINX = "nginx.ingress.kubernetes.io/"
V2 = pod_template("ikubernetes/myapp:v2")


def release_vars(namespace, **extra):
    base = dict(canary_app="myapp", canary_namespace=namespace, canary_version="v2",
                canary_service="myapp", canary_pod_template=V2, canary_gate_interval="1s",
                canary_wait_timeout=60,
                canary_steps=[{"weight": 1}, {"pause": "2s"}, {"weight": 10}, {"pause": "1s"},
                              {"weight": 50}, {"pause": "1s"}, {"weight": 100}])
    base.update(extra)
    return base


def play(tmp_path, namespace, **extra):
    return write_playbook(tmp_path, role_play("progressive.delivery.canary",
                                              release_vars(namespace, **extra)))


def traffic_results(result):
    """The backend's result of every weight step that ran (canary_step's traffic_result)."""
    return [r["traffic_result"] for r in result.results_of(" send ")
            if r.get("traffic_result")]


def weight_steps(result):
    """(weight asked, stable replicas, canary replicas) of every traffic shift that ran."""
    return [(r["weight_requested"], r["stable"]["replicas"], r["canary"]["replicas"])
            for r in traffic_results(result) if "weight_requested" in r]


# ---------------------------------------------------------------------------
# replicas backend
# ---------------------------------------------------------------------------
def test_release_1_10_50_100_completes_and_a_rerun_changes_nothing(kube, namespace, tmp_path):
    create_stable(kube, namespace, replicas=10)
    path = play(tmp_path, namespace)
    result = run_playbook(path)
    assert not result.failed, result.summary()
    assert weight_steps(result) == [(1, 9, 1), (10, 9, 1), (50, 5, 5), (100, 0, 10)]
    ran = result.ran()
    # one task per step names it (the canary_step call)
    order = [n for n in ran if n.startswith("Canary | step ")]
    assert order == [
        "Canary | step 1/7 send 1% to the canary (replicas) | myapp v2",
        "Canary | step 2/7 pause 2s, gates every 1s | myapp v2",
        "Canary | step 3/7 send 10% to the canary (replicas) | myapp v2",
        "Canary | step 4/7 pause 1s, gates every 1s | myapp v2",
        "Canary | step 5/7 send 50% to the canary (replicas) | myapp v2",
        "Canary | step 6/7 pause 1s, gates every 1s | myapp v2",
        "Canary | step 7/7 send 100% to the canary (replicas) | myapp v2"]
    # gates ran after every weight step and during pauses (every second), and all passed
    gate_runs = [e for r in result.results_of("Canary | step ") for e in r.get("evaluations", [])]
    assert len(gate_runs) >= 7 and all(g["passed"] for e in gate_runs for g in e["results"])
    assert all(e["results"][0]["name"] == "canary-pods" for e in gate_runs)
    assert result.custom_stats["canary_outcome"] == "promoted"
    assert result.custom_stats["canary_stable_version"] == "v1"
    assert result.custom_stats["canary_live_version"] == "v2"
    assert image(kube, namespace, "myapp") == "ikubernetes/myapp:v2"
    assert ready(kube, namespace, "myapp") == 10 and replicas(kube, namespace,
                                                              "myapp-canary") == 0
    rec = record(kube, namespace)
    assert rec["phase"] == "promoted" and rec["version"] == "v2" and rec["weight"] == 100
    assert rec["total_replicas"] == 10
    assert [h["step"] for h in rec["history"]] == [1, 2, 3, 4, 5, 6, 6, 6]
    assert [h["phase"] for h in rec["history"]][-2:] == ["promoting", "promoted"]

    again = run_playbook(path)
    assert not again.failed, again.summary()
    assert again.stats["changed"] == 0, again.summary()
    assert "Canary | decision | myapp v2 was already promoted: nothing to do" in again.ran()
    assert again.custom_stats["canary_outcome"] == "promoted"


def module_calls(task_result):
    """The module calls of one task's result (a loop's items each count)."""
    items = task_result.get("results") if isinstance(task_result.get("results"), list) and \
        task_result["results"] and isinstance(task_result["results"][0], dict) and \
        "invocation" in task_result["results"][0] else [task_result]
    return [item["invocation"]["module_args"] for item in items if "invocation" in item]


def test_a_weight_step_is_one_module_call_and_one_task(kube, namespace, tmp_path):
    """The bound the canary role keeps (issue 16): a weight step is one module process
    (weight, wait, gates, record) and one task; prepare and promote one call each."""
    create_stable(kube, namespace, replicas=4)
    weights = [5, 25, 50, 100]
    result = run_playbook(play(tmp_path, namespace, canary_steps=[{"weight": w} for w in weights]))
    assert not result.failed, result.summary()
    ran = [(name, res) for name, res in result.tasks() if not res.get("skipped")]
    for index, weight in enumerate(weights):
        title = "step %d/4 send %d%% to the canary (replicas)" % (index + 1, weight)
        step_tasks = [(name, res) for name, res in ran if title in name]
        assert len(step_tasks) == 1, [name for name, res in step_tasks]
        calls = [args for name, res in step_tasks for args in module_calls(res)]
        assert len(calls) == 1 and calls[0]["step"] == index, calls
        # the one call moved the weight, evaluated the pods gate and recorded both
        (res,) = [res for name, res in step_tasks if module_calls(res)]
        assert res["traffic_result"]["weight_requested"] == weight
        assert [g["name"] for g in res["gate_results"]] == ["canary-pods"]
        assert res["record"]["weight"] == weight and res["record"]["step"] == index
    calls = [(name, args) for name, res in ran for args in module_calls(res)
             if "release lease" not in name]
    # the record's query, prepare, 4 steps, promote (and the release lease, taken and given
    # back); nothing else runs a module
    assert [args.get("action", "query") for name, args in calls] == [
        "query", "prepare", "step", "step", "step", "step", "promote"], calls
    # 14 tasks of the role run (5 more are skipped), and the play's include of it (the
    # bound was 30 before the role's checks, start, steps and promotion lost their own tasks)
    assert len(ran) <= 15, [name for name, res in ran]
    assert result.custom_stats["canary_outcome"] == "promoted"
    assert weight_steps(result) == [(5, 3, 1), (25, 3, 1), (50, 2, 2), (100, 0, 4)]


def test_bad_canary_is_rolled_back_with_stable_untouched(kube, namespace, tmp_path):
    create_stable(kube, namespace, replicas=10)
    stable_rv = kube.get(DEPLOYMENT, namespace, "myapp")["metadata"]["resourceVersion"]
    bad = pod_template("ikubernetes/myapp:v2", NEVER_READY)
    result = run_playbook(play(tmp_path, namespace, canary_pod_template=bad,
                               canary_wait_timeout=5))
    assert result.failed, result.summary()
    message = result.failure_messages()[-1]
    assert "Canary release of myapp v2 in %s failed" % namespace in message
    assert "step 1/7 (weight 1%)" in message
    assert "rollout timed out after 5s" in message
    assert "Rolled back: all traffic is on the stable version v1 again" in message
    # stable was never written to: the canary is scaled up (and waited for) first
    assert kube.get(DEPLOYMENT, namespace, "myapp")["metadata"]["resourceVersion"] == stable_rv
    assert ready(kube, namespace, "myapp") == 10
    assert replicas(kube, namespace, "myapp-canary") == 0
    assert endpoint_tracks(kube, namespace) == {"stable": 10}
    assert result.custom_stats["canary_outcome"] == "rolled_back"
    assert result.custom_stats["canary_live_version"] == "v1"
    rec = record(kube, namespace)
    assert rec["phase"] == "aborted" and rec["weight"] == 0
    assert "rollout timed out" in rec["message"]


class FlakyServer(object):
    """An HTTP server on 127.0.0.1 that answers 200 until told to fail, then 500."""

    def __init__(self):
        self.failing = threading.Event()
        self.requests = 0
        self.paths = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                outer.requests += 1
                outer.paths.append(self.path)
                status = 500 if outer.failing.is_set() else 200
                body = b"boom" if status == 500 else b"ok"
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/healthz" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def flaky_server():
    server = FlakyServer()
    yield server
    server.close()


def test_http_gate_that_starts_failing_rolls_back(kube, namespace, tmp_path, flaky_server):
    create_stable(kube, namespace, replicas=10)
    gates = [{"name": "smoke", "type": "http", "url": flaky_server.url, "requests": 4,
              "success_rate": 75, "timeout": 2}]
    path = play(tmp_path, namespace, canary_gates=gates,
                canary_steps=[{"weight": 10}, {"pause": "4s"}, {"weight": 50}, {"pause": "4s"},
                              {"weight": 100}])

    def break_at_step_3():
        try:
            wait_record(kube, namespace, lambda rec: rec.get("step", 0) >= 2, timeout=120)
        except AssertionError:
            return
        flaky_server.failing.set()

    trigger = threading.Thread(target=break_at_step_3, daemon=True)
    trigger.start()
    result = run_playbook(path)
    trigger.join(timeout=5)
    assert result.failed, result.summary()
    assert flaky_server.failing.is_set()
    message = result.failure_messages()[-1]
    assert "Gate smoke (http) failed: 0/4 requests to %s succeeded: success rate 0.0%% < 75%%" \
        % flaky_server.url in message
    assert '"success_rate": 0.0' in message and '"failures": ["status 500"]' in message
    assert "Rolled back" in message
    assert result.custom_stats["canary_outcome"] == "rolled_back"
    assert result.custom_stats["canary_failed_gates"] == ["smoke"]
    assert ready(kube, namespace, "myapp") == 10
    assert replicas(kube, namespace, "myapp-canary") == 0
    assert image(kube, namespace, "myapp") == "ikubernetes/myapp:v1"
    rec = record(kube, namespace)
    assert rec["phase"] == "aborted"
    assert [g["name"] for g in rec["gates"] if not g["passed"]] == ["smoke"]
    # the weight reached 50% before the gate failed and went straight back to 0
    shifts = weight_steps(result)
    assert shifts[:2] == [(10, 9, 1), (50, 5, 5)]


RESUME_STEPS = [{"weight": 10}, {"pause": "20s"}, {"weight": 50}, {"pause": "1s"},
                {"weight": 100}]


def kill_during_the_pause(kube, namespace, tmp_path, path):
    proc = start_playbook(path, tmp_path / "first-run.log")
    try:
        wait_record(kube, namespace, lambda rec: rec.get("step") == 1, timeout=120)
        time.sleep(3)
    finally:
        kill_playbook(proc)
    rec = record(kube, namespace)
    assert rec["phase"] == "progressing" and rec["step"] == 1, rec
    assert (replicas(kube, namespace, "myapp"), replicas(kube, namespace, "myapp-canary")) == \
        (9, 1)
    return rec


def test_killed_release_resumes_from_the_recorded_step(kube, namespace, tmp_path):
    create_stable(kube, namespace, replicas=10)
    path = play(tmp_path, namespace, canary_steps=RESUME_STEPS, canary_gate_interval="5s")
    killed = kill_during_the_pause(kube, namespace, tmp_path, path)
    time.sleep(2)

    result = run_playbook(path)
    assert not result.failed, result.summary()
    ran = result.ran()
    assert any("continuing at step 2 (pause 20s)" in n for n in ran), ran
    # step 1 (weight 10%) was not done again; the rerun started with the pause
    assert not [n for n in ran if "step 1/5" in n]
    assert weight_steps(result) == [(50, 5, 5), (100, 0, 10)]
    pause_record = result.results_of("step 2/5 pause 20s, gates every 5s | myapp v2")[0]
    assert pause_record["record"]["step_started"] == killed["step_started"]
    # Only what was left of the pause is waited (the kill came >= 5 s into it). On a busy
    # machine the rerun may reach the step after the pause ran out: 0 left, not 20 again.
    assert 0 <= pause_record["remaining"] <= 20 - 5, pause_record["remaining"]
    assert result.custom_stats["canary_outcome"] == "promoted"
    rec = record(kube, namespace)
    assert rec["phase"] == "promoted" and rec["attempt"] == 1
    assert image(kube, namespace, "myapp") == "ikubernetes/myapp:v2"


def test_killed_release_rolls_back_on_resume_when_asked(kube, namespace, tmp_path):
    create_stable(kube, namespace, replicas=10)
    path = play(tmp_path, namespace, canary_steps=RESUME_STEPS)
    kill_during_the_pause(kube, namespace, tmp_path, path)

    result = run_playbook(path, extra_vars={"canary_on_resume": "rollback"})
    assert result.failed, result.summary()
    assert "rolling it back (on_resume=rollback)" in result.failure_messages()[-1]
    assert not [n for n in result.ran() if n.startswith("Canary | step ")]
    assert result.custom_stats["canary_outcome"] == "rolled_back"
    assert (replicas(kube, namespace, "myapp"), replicas(kube, namespace, "myapp-canary")) == \
        (10, 0)
    assert record(kube, namespace)["phase"] == "aborted"


def test_bad_step_list_is_rejected_before_anything_changes(kube, namespace, tmp_path):
    create_stable(kube, namespace, replicas=4)
    before = kube.get(DEPLOYMENT, namespace, "myapp")["metadata"]["resourceVersion"]
    result = run_playbook(play(tmp_path, namespace, canary_steps=[
        {"weight": 10}, {"pause": None}, {"weight": 5}, {"setWeight": 20}, {"pause": "soon"}]))
    assert result.failed
    failed = [(n, r) for n, r in result.tasks() if r.get("failed")]
    assert failed[0][0] == ("Canary | check the steps and gates, read the release record | "
                            "myapp v2")
    message = failed[0][1]["msg"]
    for text in ("steps[1].pause: needs a duration", "steps[2].weight: 5 does not increase",
                 "steps[3].setWeight: is not a step key; a step has weight, pause, mirror or "
                 "header (did you mean 'weight'?)", "steps[4].pause: 'soon' is not a duration"):
        assert text in message, message
    assert kube.get_or_none(DEPLOYMENT, namespace, "myapp-canary") is None
    assert kube.get_or_none(CONFIGMAP, namespace, "myapp-release") is None
    assert kube.get(DEPLOYMENT, namespace, "myapp")["metadata"]["resourceVersion"] == before


def test_check_mode_shows_the_plan_and_writes_nothing(kube, namespace, tmp_path):
    create_stable(kube, namespace, replicas=4)
    before = kube.get(DEPLOYMENT, namespace, "myapp")["metadata"]["resourceVersion"]
    path = play(tmp_path, namespace)
    result = run_playbook(path, check=True)
    assert not result.failed, result.summary()
    assert result.stats["changed"] == 0, result.summary()
    plan = result.results_of("check mode, the plan")[0]["msg"]
    assert plan[0] == "check mode: no release in flight: start at step 1"
    assert plan[2] == ["weight 1%", "pause 2s", "weight 10%", "pause 1s", "weight 50%",
                       "pause 1s", "weight 100%"]
    assert plan[3].startswith("then promote v2")
    assert not [n for n in result.ran() if n.startswith("Canary | traffic")]
    assert result.custom_stats["canary_outcome"] == "check_mode"
    assert result.custom_stats["canary_decision"] == "start"
    assert kube.get_or_none(DEPLOYMENT, namespace, "myapp-canary") is None
    assert kube.get_or_none(CONFIGMAP, namespace, "myapp-release") is None
    assert kube.get(DEPLOYMENT, namespace, "myapp")["metadata"]["resourceVersion"] == before


def test_missing_backend_settings_are_rejected(kube, namespace, tmp_path):
    result = run_playbook(play(tmp_path, namespace, canary_backend="nginx",
                               canary_nginx={"ingress": "myapp"}))
    assert result.failed
    assert ("canary_backend=nginx needs ingress, canary_service (canary_nginx); missing: "
            "canary_service") in result.failure_messages()[0]


# ---------------------------------------------------------------------------
# nginx backend: objects only (no ingress controller on the testbed)
# ---------------------------------------------------------------------------
def workload(name, version, selector_extra=None):
    labels = {"app": "myapp", "version": version}
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
         "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                  "template": pod_template("ikubernetes/myapp:%s" % version, labels)}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
         "spec": {"selector": labels, "ports": [{"name": "http", "port": 80,
                                                 "targetPort": 80}]}},
    ]


def test_nginx_backend_release(kube, namespace, tmp_path):
    for obj in workload("myapp-v1", "v1"):
        kube.create(DEPLOYMENT if obj["kind"] == "Deployment" else
                    SERVICE, namespace, obj)
    create_ingress(kube, namespace)
    gate_file = tmp_path / "canary_ingress_gate.yml"
    gate_file.write_text(
        "- name: the canary Ingress carries the weight of this step\n"
        "  ansible.builtin.assert:\n"
        "    that: >-\n"
        "      lookup('kubernetes.core.k8s', api_version='networking.k8s.io/v1',\n"
        "      kind='Ingress', namespace='%s', resource_name='myapp-canary')\n"
        "      .metadata.annotations['nginx.ingress.kubernetes.io/canary-weight'] | int\n"
        "      == canary_gate_weight | int\n" % namespace)
    path = play(tmp_path, namespace, canary_backend="nginx", canary_service="",
                canary_pod_template={},
                canary_nginx={"ingress": "myapp", "canary_service": "myapp-v2",
                              "header": "X-Canary"},
                canary_manifests=workload("myapp-v2", "v2"),
                canary_gates=[{"name": "weight-in-force", "type": "tasks",
                               "file": str(gate_file)}],
                canary_steps=[{"weight": 10}, {"pause": "1s"}, {"weight": 50},
                              {"weight": 100}])
    result = run_playbook(path)
    assert not result.failed, result.summary()
    shifts = [(r["weight_requested"], r["canary_ingress"]["annotations"][NGINX + "canary-weight"])
              for r in traffic_results(result) if "weight_requested" in r]
    assert shifts == [(10, "10"), (50, "50"), (100, "100")]
    gate_runs = result.results_of("combine the results")
    assert gate_runs and all(r["ansible_facts"]["release_gate_result"]["passed"]
                             for r in gate_runs)
    main = kube.get(INGRESS, namespace, "myapp")
    assert main["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == \
        "myapp-v2"
    assert kube.get_or_none(INGRESS, namespace, "myapp-canary") is None
    assert result.custom_stats["canary_outcome"] == "promoted"
    assert result.custom_stats["canary_stable_version"] == "myapp-v1"
    assert run_playbook(path).stats["changed"] == 0


# ---------------------------------------------------------------------------
# contour backend: the real Contour judges every weight
# ---------------------------------------------------------------------------
def test_contour_backend_steps_through_the_weights(kube, namespace, tmp_path, require_crd):
    require_crd("httpproxies.projectcontour.io")
    for name, version in (("blog-green", "v1"), ("blog-blue", "v2")):
        create_service(kube, namespace, name, {"app": "blog", "version": version})
    fqdn = "%s.example.com" % namespace.rsplit("-", 1)[-1]
    kube.create(HTTPPROXY, namespace, {
        "apiVersion": "projectcontour.io/v1", "kind": "HTTPProxy", "metadata": {"name": "blog"},
        "spec": {"routes": [{"services": [{"name": "blog-green", "port": 80}]}]}})
    kube.create(HTTPPROXY, namespace, {
        "apiVersion": "projectcontour.io/v1", "kind": "HTTPProxy", "metadata": {"name": "root"},
        "spec": {"virtualhost": {"fqdn": fqdn},
                 "includes": [{"name": "blog", "conditions": [{"prefix": "/blog"}]}]}})
    gate_file = tmp_path / "contour_valid_gate.yml"
    gate_file.write_text(
        "- name: Contour judges the child proxy valid\n"
        "  ansible.builtin.assert:\n"
        "    that: >-\n"
        "      lookup('kubernetes.core.k8s', api_version='projectcontour.io/v1',\n"
        "      kind='HTTPProxy', namespace='%s', resource_name='blog').status.currentStatus\n"
        "      == 'valid'\n" % namespace)
    path = play(tmp_path, namespace, canary_backend="contour", canary_service="",
                canary_pod_template={}, canary_pods_gate=False,
                canary_contour={"name": "root", "path": "/blog",
                                "stable_service": "blog-green", "canary_service": "blog-blue"},
                canary_gates=[{"name": "contour-valid", "type": "tasks",
                               "file": str(gate_file)}],
                canary_steps=[{"weight": 5}, {"pause": "1s"}, {"weight": 50},
                              {"weight": 100}])
    result = run_playbook(path)
    assert not result.failed, result.summary()
    shares = [[(s["name"], s["weight"]) for s in r["services"]]
              for r in traffic_results(result) if "services" in r]
    assert shares == [[("blog-blue", 5), ("blog-green", 95)],
                      [("blog-blue", 50), ("blog-green", 50)],
                      [("blog-blue", 100), ("blog-green", 0)]]
    child = kube.get(HTTPPROXY, namespace, "blog")
    assert child["status"]["currentStatus"] == "valid"
    assert [(s["name"], s["weight"]) for s in child["spec"]["routes"][0]["services"]] == [
        ("blog-blue", 100), ("blog-green", 0)]
    assert result.custom_stats["canary_outcome"] == "promoted"


# ---------------------------------------------------------------------------
# knative backend: the real Knative Serving controller judges every split
# ---------------------------------------------------------------------------
def ksvc_ready(kube, namespace, name, timeout=120):
    from ansible_collections.progressive.delivery.plugins.module_utils.knative import common as kn
    from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import (
        condition_is,
    )
    from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import wait_for
    return wait_for(kube, kn.KSERVICE, namespace, name, condition_is("Ready"), timeout)


def test_knative_backend_steps_through_the_percents(kube, namespace, tmp_path, require_crd, flaky_server):
    require_crd("services.serving.knative.dev")
    from ansible_collections.progressive.delivery.plugins.module_utils.knative import common as kn
    kube.create(kn.KSERVICE, namespace, {
        "apiVersion": kn.KSERVICE.api_version, "kind": "Service",
        "metadata": {"name": "hello", "namespace": namespace},
        "spec": {"template": {"spec": {"containers": [
            {"image": "gcr.io/knative-samples/helloworld-go",
             "env": [{"name": "TARGET", "value": "v1"}]}]}}}})
    ksvc_ready(kube, namespace, "hello")
    gate_file = tmp_path / "knative_split_gate.yml"
    gate_file.write_text(
        "- name: Knative routes the canary's share of this step\n"
        "  ansible.builtin.assert:\n"
        "    that: >-\n"
        "      lookup('kubernetes.core.k8s', api_version='serving.knative.dev/v1',\n"
        "      kind='Service', namespace='%s', resource_name='hello').status.traffic\n"
        "      | selectattr('tag', 'defined') | selectattr('tag', 'equalto', 'canary')\n"
        "      | map(attribute='percent') | sum == canary_gate_weight | int\n" % namespace)
    path = play(tmp_path, namespace, canary_app="hello", canary_backend="knative",
                canary_service="", canary_pod_template={},
                canary_knative={"service": "hello", "template": {"spec": {"containers": [
                    {"image": "gcr.io/knative-samples/helloworld-go",
                     "env": [{"name": "TARGET", "value": "v2"}]}]}}},
                canary_gates=[{"name": "split-in-force", "type": "tasks",
                               "file": str(gate_file)},
                              # a gate naming the canary's tag URL (docs/canary.md), known once
                              # the canary is prepared; the host goes in the local server's path
                              {"name": "tag", "type": "http", "requests": 1,
                               "url": flaky_server.url + "?tag={{ canary_tag_url | urlsplit('hostname') }}"}],
                canary_steps=[{"weight": 10}, {"pause": "1s"}, {"weight": 50},
                              {"weight": 100}], canary_wait_timeout=120)
    result = run_playbook(path)
    assert not result.failed, result.summary()
    assert flaky_server.paths and set(flaky_server.paths) == {
        "/healthz?tag=canary-hello.%s.example.com" % namespace}, flaky_server.paths
    splits = [[(t["revision"], t["percent"], t["tag"]) for t in r["traffic"]]
              for r in traffic_results(result) if "traffic" in r]
    assert splits == [
        [("hello-00001", 90, None), ("hello-00002", 10, "canary")],
        [("hello-00001", 50, None), ("hello-00002", 50, "canary")],
        [("hello-00001", 0, None), ("hello-00002", 100, "canary")]]
    ksvc = kube.get(kn.KSERVICE, namespace, "hello")
    assert [(t.get("revisionName"), t["percent"], t.get("tag")) for t in ksvc["spec"]["traffic"]] \
        == [("hello-00002", 100, None), ("hello-00001", 0, "previous")]
    assert result.custom_stats["canary_outcome"] == "promoted"
    assert result.custom_stats["canary_stable_version"] == "hello-00001"
    rec = record(kube, namespace, "hello-release")
    assert rec["canary_revision"] == "hello-00002" and rec["stable_revision"] == "hello-00001"
    assert rec["canary_tag_url"] == "http://canary-hello.%s.example.com" % namespace
    assert run_playbook(path).stats["changed"] == 0


def test_knative_backend_rolls_back_to_the_stable_revision(kube, namespace, tmp_path, require_crd):
    require_crd("services.serving.knative.dev")
    from ansible_collections.progressive.delivery.plugins.module_utils.knative import common as kn
    kube.create(kn.KSERVICE, namespace, {
        "apiVersion": kn.KSERVICE.api_version, "kind": "Service",
        "metadata": {"name": "hello", "namespace": namespace},
        "spec": {"template": {"spec": {"containers": [
            {"image": "gcr.io/knative-samples/helloworld-go"}]}}}})
    ksvc_ready(kube, namespace, "hello")
    gate_file = tmp_path / "knative_gate.yml"
    gate_file.write_text(
        "- name: errors show up once half the traffic reaches the canary\n"
        "  ansible.builtin.assert:\n"
        "    that: canary_gate_weight | int < 50\n"
        "    fail_msg: error budget exhausted at {{ canary_gate_weight }}%\n")
    path = play(tmp_path, namespace, canary_app="hello", canary_backend="knative",
                canary_service="", canary_pod_template={},
                canary_knative={"service": "hello", "template": {"spec": {"containers": [
                    {"image": "gcr.io/knative-samples/helloworld-rust"}]}}},
                canary_gates=[{"name": "error-budget", "type": "tasks", "file": str(gate_file)}],
                canary_steps=[{"weight": 10}, {"weight": 50}, {"weight": 100}],
                canary_wait_timeout=120)
    result = run_playbook(path)
    assert result.failed, result.summary()
    message = result.failure_messages()[-1]
    assert "Gate error-budget (tasks) failed: error budget exhausted at 50%" in message
    assert "Rolled back: all traffic is on the stable version hello-00001 again" in message
    ksvc = kube.get(kn.KSERVICE, namespace, "hello")
    assert [(t.get("revisionName"), t["percent"]) for t in ksvc["status"]["traffic"]] == [
        ("hello-00001", 100)]
    assert record(kube, namespace, "hello-release")["phase"] == "aborted"
    assert result.custom_stats["canary_outcome"] == "rolled_back"


def test_check_mode_reads_the_objects_and_names_what_is_missing(kube, namespace, tmp_path):
    """Check mode does not print a plan that could not run: with no stable Deployment and
    no Service it says the release cannot start and names both; it writes nothing."""
    result = run_playbook(play(tmp_path, namespace), check=True)
    assert not result.failed, result.summary()
    said = result.results_of("check mode, the release cannot start")[0]["msg"]
    assert said[0] == ("check mode: the release of myapp v2 cannot start, missing: "
                       "Deployment %s/myapp, Service %s/myapp" % (namespace, namespace))
    assert not result.results_of("check mode, the plan")
    assert result.custom_stats["canary_outcome"] == "check_mode"
    assert result.custom_stats["canary_missing"] == [
        {"kind": "Deployment", "namespace": namespace, "name": "myapp"},
        {"kind": "Service", "namespace": namespace, "name": "myapp"}]
    assert kube.get_or_none(CONFIGMAP, namespace, "myapp-release") is None


def test_check_mode_names_a_missing_service_of_an_existing_app(kube, namespace, tmp_path):
    create_stable(kube, namespace, replicas=2, service=False)
    result = run_playbook(play(tmp_path, namespace), check=True)
    assert not result.failed, result.summary()
    said = result.results_of("check mode, the release cannot start")[0]["msg"]
    assert said[0].endswith("missing: Service %s/myapp" % namespace)
    assert result.custom_stats["canary_missing"] == [
        {"kind": "Service", "namespace": namespace, "name": "myapp"}]


def test_check_mode_names_the_missing_objects_of_the_gateway_backend(kube, namespace, tmp_path):
    result = run_playbook(play(tmp_path, namespace, canary_backend="gateway", canary_service="",
                               canary_pod_template={},
                               canary_gateway={"route": "myapp", "stable_service": "myapp-v1",
                                               "canary_service": "myapp-v2"}), check=True)
    assert not result.failed, result.summary()
    assert result.custom_stats["canary_missing"] == [
        {"kind": "Service", "namespace": namespace, "name": "myapp-v1"},
        {"kind": "HTTPRoute", "namespace": namespace, "name": "myapp"}]


def test_check_mode_names_the_missing_deployment_of_the_rolling_backend(kube, namespace, tmp_path):
    result = run_playbook(play(tmp_path, namespace, canary_backend="rolling", canary_service=""),
                          check=True)
    assert not result.failed, result.summary()
    assert result.custom_stats["canary_missing"] == [
        {"kind": "Deployment", "namespace": namespace, "name": "myapp"}]
