"""The fleet role on three clusters (the shared testbed and two more, conftest.py), through
the example playbook playbooks/fleet.yml: waves, a halt that rolls back, a resumed run."""
import http.server
import json
import os
import subprocess
import threading
import time
import uuid

import pytest
import yaml

import browser
from canary_objects import create_stable, image, pod_template, record
from playbooks import PlaybookResult, _env

from ansible_collections.progressive.delivery.plugins.module_utils.fleet.plan import (
    RECORD_ANNOTATION,
)
from ansible_collections.progressive.delivery.plugins.module_utils.gateway import plan as gp
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    CONFIGMAP,
    DEPLOYMENT,
    NAMESPACE,
    SERVICE,
    Kube,
    KubeError,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.connection import (
    build_api_client,
)
from ansible_collections.progressive.delivery.plugins.module_utils.lease import holding as hd

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PLAYBOOK = os.path.join(REPO, "playbooks", "fleet.yml")
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(os.sys.executable), "ansible-playbook")
STATS_KEY = "fleet_myapp_v2"


SWITCHES = {}       # /switch/<key>: healthy while SWITCHES[key] is true (the test flips it)
COUNTS = {}         # /first/<n>/<key>: healthy for the first n requests, then broken


class Smoke(http.server.BaseHTTPRequestHandler):
    """/ok answers 200, /bad 500; /switch/<key> and /first/<n>/<key> as above: the smoke
    gates of good clusters, bad ones, and ones that go bad later."""

    def do_GET(self):  # noqa: N802 (the stdlib's name)
        parts = self.path.strip("/").split("/")
        if parts[0] == "switch":
            healthy = SWITCHES.get(parts[1], True)
        elif parts[0] == "first":
            COUNTS[self.path] = COUNTS.get(self.path, 0) + 1
            healthy = COUNTS[self.path] <= int(parts[1])
        else:
            healthy = self.path == "/ok"
        self.send_response(200 if healthy else 500)
        self.end_headers()
        self.wfile.write(b"ok" if healthy else b"broken")

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def smoke_url():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Smoke)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield "http://127.0.0.1:%d" % server.server_address[1]
    server.shutdown()


@pytest.fixture
def fleet(fleet_clusters, tmp_path, smoke_url):
    """Three clusters, a namespace of this test on each (deleted afterwards), and a runner
    of the example playbook over an inventory of them."""
    namespace = "fleet-" + uuid.uuid4().hex[:6]
    kubes = {name: Kube(build_api_client({"kubeconfig": path})) for name, path in fleet_clusters}

    def run(smoke=None, background_log=None, check=False, playbook=PLAYBOOK, host_vars=None,
            **extra_vars):
        hosts = {}
        for name, path in fleet_clusters:
            hosts[name] = dict({"cluster_kubeconfig": path,
                                "smoke_url": "%s/%s" % (smoke_url, (smoke or {}).get(name, "ok"))},
                               **(host_vars or {}).get(name, {}))
        inventory = tmp_path / "inventory.yml"
        inventory.write_text(yaml.safe_dump({"clusters": {
            "vars": {"ansible_connection": "local", "ansible_python_interpreter": os.sys.executable,
                     "fleet_demo_namespace": namespace},
            "hosts": hosts}}))
        extra_vars.setdefault("release_report_dir", str(tmp_path / "reports"))
        argv = [ANSIBLE_PLAYBOOK, "-i", str(inventory), playbook, "-e", json.dumps(extra_vars)]
        if check:
            argv += ["--check", "--diff"]
        env = _env(background_log is None)
        env.pop("KUBECONFIG", None)        # every cluster through its own inventory variable
        env.pop("K8S_AUTH_KUBECONFIG", None)
        env["ANSIBLE_CALLBACKS_ENABLED"] = "progressive.delivery.release_report"
        if background_log:
            log = open(str(background_log), "w")
            return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True)
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900,
                              check=False)
        return PlaybookResult(proc.returncode, proc.stdout, proc.stderr)

    run.kubes = kubes
    run.namespace = namespace
    run.reports = tmp_path / "reports"
    run.tmp_path = tmp_path
    yield run
    for kube in kubes.values():
        try:
            kube.delete(NAMESPACE, None, namespace)
        except KubeError:
            pass


def live_version(kube, namespace):
    return kube.get(SERVICE, namespace, "myapp-lan")["spec"]["selector"]["version"]


def fleet_record(kube, namespace):
    cm = kube.get_or_none(CONFIGMAP, namespace, "myapp-fleet")
    if cm is None:
        return None
    return json.loads(cm["metadata"]["annotations"][RECORD_ANNOTATION])


def first_task_index(result, host, name_part):
    for index, (name, res) in enumerate(result.tasks(host)):
        if name_part in name and not res.get("skipped"):
            return index
    return None


PROMOTE = "switch live traffic to the candidate"
ROLLBACK_LEASE = "take the release lease for the rollback"


def assert_lease_given_back(result, kube, namespace, host):
    """The fleet's rollback of ``host`` took the app's release lease there and gave it back."""
    (taken,) = result.results_of(ROLLBACK_LEASE, host)
    assert "(%s)" % host in taken["holder"], taken
    lease = kube.get(hd.LEASE, namespace, "myapp-release")
    assert hd.holding_of(lease) is None, lease
    assert lease["metadata"]["annotations"][hd.LAST_HOLDER] == taken["holder"], lease


BLUEGREEN_STATES = ("previewed", "promoted", "rolled_back", "scaled_down")


def fleet_report(reports_dir):
    """The one fleet report of a run: its JSON and the path of its HTML page."""
    found = sorted(reports_dir.glob("fleet-myapp-v2-*.json"))
    assert len(found) == 1, list(reports_dir.iterdir()) if reports_dir.exists() else "no reports"
    return json.loads(found[0].read_text()), found[0].with_suffix(".html")


def check_report_against_run(report, result, host):
    """The cluster's release in the report is the one the run made: every gate evaluation
    (name and verdict, in order) and every traffic change of the run is there, times are
    ordered, and the traffic after the last step is what the cluster serves."""
    (release,) = [r for r in report["releases"] if r["cluster"] == host]
    ran_gates, ran_switches = [], []
    for name, res in result.tasks(host):
        if res.get("skipped"):
            continue
        if "Gates | evaluate pod, HTTP and Prometheus gates" in name:
            ran_gates += [(g["name"], g["passed"]) for g in res["results"]]
        args = (res.get("invocation") or {}).get("module_args") or {}
        if args.get("state") in BLUEGREEN_STATES and "myapp" == args.get("name") and (
                args.get("version") == "v2" or args.get("state") == "scaled_down"):
            ran_switches.append(args["state"])
    assert [(g["name"], g["passed"]) for g in release["gates"]] == ran_gates
    steps = [s["name"] for s in release["steps"]]
    words = {"previewed": "deploy and preview", "promoted": "promote", "rolled_back": "roll back",
             "scaled_down": "scale down v1"}
    assert [s for s in steps if not s.startswith(("gates", "hold"))] == [words[s] for s in ran_switches]
    for step in release["steps"]:
        assert step["start"] <= step["end"] and step["start_iso"] <= step["end_iso"]
    assert [s["start"] for s in release["steps"]] == sorted(s["start"] for s in release["steps"])
    assert [t["time"] for t in release["traffic"]] == sorted(t["time"] for t in release["traffic"])
    assert report["started"] <= release["started"] <= release["ended"] <= report["ended"]
    return release


def test_waves_of_one_release_the_clusters_one_after_the_other(fleet):
    result = fleet(fleet_demo_waves=[1, 1, 1], fleet_demo_bake="1s")
    assert not result.failed, result.summary()
    for name, kube in fleet.kubes.items():
        assert live_version(kube, fleet.namespace) == "v2", name
        record = fleet_record(kube, fleet.namespace)
        assert record["phase"] == "baked" and record["version"] == "v2", record
    stats = result.custom_stats[STATS_KEY]
    assert stats["outcome"] == "released" and stats["waves"] == [["cluster-a"], ["cluster-b"], ["cluster-c"]]
    assert {h: (c["wave"], c["outcome"]) for h, c in stats["clusters"].items()} == {
        "cluster-a": (1, "released"), "cluster-b": (2, "released"), "cluster-c": (3, "released")}
    assert result.custom_stats["fleet_outcome"] == "released"
    # one wave at a time: each cluster's promotion comes after the previous wave's bake
    plays = result.data["plays"][-1]["tasks"]
    order = [next(i for i, t in enumerate(plays) if PROMOTE in t["task"]["name"]
                  and not t["hosts"].get(h, {"skipped": True}).get("skipped"))
             for h in ("cluster-a", "cluster-b", "cluster-c")]
    bakes = [i for i, t in enumerate(plays) if "Fleet | bake |" in t["task"]["name"]]
    assert order[0] < bakes[0] < order[1] < bakes[1] < order[2] < bakes[2], (order, bakes)
    report, unused_page = fleet_report(fleet.reports)
    assert report["outcome"] == "released" and len(report["bakes"]) == 3
    for host in ("cluster-a", "cluster-b", "cluster-c"):
        release = check_report_against_run(report, result, host)
        assert release["traffic"][-1]["split"] == {"v1": 0, "v2": 100}
        assert release["decisions"][-1]["decision"] == "promote"


def test_a_failed_gate_on_the_second_cluster_halts_and_rolls_back(fleet):
    result = fleet(smoke={"cluster-b": "bad"}, fleet_demo_waves=[1, 1, 1],
                   fleet_demo_bake="1s", fleet_demo_rollback_released=True)
    assert result.failed, result.summary()
    kubes, ns = fleet.kubes, fleet.namespace
    # the failing cluster rolled back (by its bluegreen role), the first one because asked
    assert live_version(kubes["cluster-b"], ns) == "v1", result.summary()
    assert live_version(kubes["cluster-a"], ns) == "v1", result.summary()
    # the third never saw v2
    assert live_version(kubes["cluster-c"], ns) == "v1", result.summary()
    assert kubes["cluster-c"].get_or_none(DEPLOYMENT, ns, "myapp-v2") is None
    assert fleet_record(kubes["cluster-c"], ns) is None
    assert fleet_record(kubes["cluster-b"], ns)["phase"] == "rolled_back"
    assert fleet_record(kubes["cluster-a"], ns)["phase"] == "rolled_back"
    stats = result.custom_stats[STATS_KEY]
    assert stats["outcome"] == "halted" and stats["halted_wave"] == 2, stats
    clusters = stats["clusters"]
    assert clusters["cluster-a"]["outcome"] == "rolled_back"
    assert "the fleet halted" in clusters["cluster-a"]["reason"]
    assert clusters["cluster-b"]["outcome"] == "rolled_back"
    assert clusters["cluster-c"]["outcome"] == "untouched"
    gate = clusters["cluster-b"]["failed_gates"][0]
    assert gate["name"] == "smoke" and gate["values"]["succeeded"] == 0, gate
    assert first_task_index(result, "cluster-c", PROMOTE) is None
    # the fleet rolled cluster-a back under its release lease, given back after
    assert_lease_given_back(result, kubes["cluster-a"], ns, "cluster-a")
    assert not result.results_of(ROLLBACK_LEASE, "cluster-c")
    message = [r.get("msg", "") for unused, r in result.tasks("cluster-a") if r.get("failed")]
    assert any("halted at wave 2/3" in m and "cluster-c: untouched" in m for m in message), message

    # the report: the failed gate with its values, the rollbacks, the untouched cluster
    report, page = fleet_report(fleet.reports)
    assert report["outcome"] == "halted"
    assert {h: c["outcome"] for h, c in report["clusters"].items()} == {
        "cluster-a": "rolled_back", "cluster-b": "rolled_back", "cluster-c": "untouched"}
    b = check_report_against_run(report, result, "cluster-b")
    failed = [g for g in b["gates"] if not g["passed"]]
    assert [g["name"] for g in failed] == ["smoke"] and failed[0]["values"] == gate["values"]
    assert b["decisions"][-1]["decision"] == "rollback" and "smoke" in b["decisions"][-1]["why"]
    assert b["traffic"][-1]["split"] == {"v1": 100, "v2": 0}
    a = check_report_against_run(report, result, "cluster-a")
    assert a["traffic"][-1]["split"] == {"v1": 100, "v2": 0}
    assert [v["halt"] for v in report["verdicts"]] == [False, True]

    # the page, in a real browser: a chart row per cluster, the failed gate and its values
    text, png = browser.open_page(page, fleet.reports / "fleet-halted.png")
    width, height = browser.png_size(png)
    assert width == 1100 and height > 600, (width, height)
    for words in ("Fleet release myapp-v2", "halted", "v1", "v2", "cluster-c (untouched)",
                  "smoke (http)", "0/3 requests", '"succeeded": 0', "wave 2: 1 cluster(s) failed"):
        assert words in text, (words, text[:3000])
    if os.environ.get("PD_REPORT_SCREENSHOT_DIR"):   # docs/: the example picture
        target = os.path.join(os.environ["PD_REPORT_SCREENSHOT_DIR"], "release-report-fleet.png")
        with open(target, "wb") as handle:
            handle.write(png)

    # check mode now: the wave plan (all three would be released again), nothing written
    before = snapshot(kubes, ns)
    plan = fleet(check=True, fleet_demo_waves=[1, 1, 1], fleet_demo_bake="1s")
    assert not plan.failed, plan.summary()
    assert snapshot(kubes, ns) == before
    (lines,) = [r["msg"] for unused, r in plan.tasks("cluster-a")
                if "check mode, the wave plan (nothing is written)" in unused and not r.get("skipped")]
    assert lines[1:] == ["wave 1: cluster-a - release v2", "wave 2: cluster-b - release v2",
                         "wave 3: cluster-c - release v2"], lines
    assert "3 cluster(s) in 3 wave(s)" in lines[0]
    assert plan.custom_stats[STATS_KEY]["outcome"] == "check_mode"
    assert first_task_index(plan, "cluster-b", "check mode, the plan") is not None  # the role's own plan


def snapshot(kubes, namespace):
    """What a writer could have changed in the namespace on every cluster."""
    return {(name, r.kind, o["metadata"]["name"]): o["metadata"]["resourceVersion"]
            for name, kube in kubes.items() for r in (DEPLOYMENT, SERVICE, CONFIGMAP)
            for o in kube.list(r, namespace)["items"]}


GATEWAY_PARENT = {"name": "testbed", "namespace": "testbed-gateway"}
GATEWAY_ACCESS = {"testbed.progressive.delivery/gateway-access": "granted"}


def gateway_cluster(kube, namespace):
    """cluster-a (the shared testbed, which runs Contour's Gateway API controller) releases
    through the gateway backend: v1 (Service myapp-lan, made by the playbook's first play)
    behind the HTTPRoute myapp, v2 its own Deployment and Service. Its inventory variables."""
    kube.create(NAMESPACE, None, {"metadata": {"name": namespace, "labels": GATEWAY_ACCESS}})
    kube.create(gp.HTTPROUTE, namespace, {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "myapp"},
        "spec": {"parentRefs": [GATEWAY_PARENT], "hostnames": ["%s.example.com" % namespace],
                 "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                            "backendRefs": [{"name": "myapp-lan", "port": 80, "weight": 100}]}]}})
    labels = {"app": "myapp", "version": "v2"}
    return {
        "bluegreen_backend": "gateway",
        "bluegreen_gateway": {"route": "myapp", "parent_refs": [GATEWAY_PARENT],
                              "stable_service": "myapp-lan", "candidate_service": "myapp-v2"},
        "bluegreen_manifests": [
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "myapp-v2"},
             "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                      "template": pod_template("janakiramm/myapp:v2", labels)}},
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "myapp-v2"},
             "spec": {"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": 80}]}}],
    }


def route_weights(kube, namespace):
    rules = kube.get(gp.HTTPROUTE, namespace, "myapp")["spec"]["rules"]
    return [{b["name"]: b.get("weight", 1) for b in rule["backendRefs"]} for rule in rules]


def test_a_killed_fleet_release_resumes_and_a_recheck_within_max_failed_goes_on(
        fleet, tmp_path, require_crd):
    """The first cluster releases through the gateway backend; the job is killed after its
    wave baked. Its smoke gate then goes bad: the rerun re-checks it (not released again),
    the re-check fails, fleet_max_failed=1 lets the fleet go on, and the fleet rolls that
    cluster back through the HTTPRoute to the split the killed run recorded."""
    require_crd("httproutes.gateway.networking.k8s.io")
    kube_a, ns = fleet.kubes["cluster-a"], fleet.namespace
    switch = "a-" + ns
    SWITCHES[switch] = True
    hosts = {"cluster-a": gateway_cluster(kube_a, ns)}
    smoke = {"cluster-a": "switch/" + switch}
    proc = fleet(background_log=tmp_path / "killed.log", fleet_demo_waves=[1, 1, 1],
                 fleet_demo_bake="1s", smoke=smoke, host_vars=hosts)
    deadline = time.monotonic() + 300
    try:
        # killed as soon as the first wave has baked (the second is starting)
        while (fleet_record(kube_a, ns) or {}).get("phase") != "baked":
            assert proc.poll() is None, (tmp_path / "killed.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the first wave never baked"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, 9)
        proc.wait(timeout=30)
    assert route_weights(kube_a, ns) == [{"myapp-lan": 0, "myapp-v2": 100}]
    # the way back, recorded by the killed run when the release finished
    assert fleet_record(kube_a, ns)["rollback_to"] == {"weights": {"myapp-lan": 100}}
    assert fleet_record(fleet.kubes["cluster-c"], ns) is None

    SWITCHES[switch] = False
    result = fleet(fleet_demo_waves=[1, 1, 1], fleet_demo_bake="1s", fleet_max_failed=1,
                   smoke=smoke, host_vars=hosts)
    assert not result.failed, result.summary()
    stats = result.custom_stats[STATS_KEY]
    clusters = stats["clusters"]
    assert clusters["cluster-a"]["action"] == "recheck", clusters
    assert clusters["cluster-b"]["action"] == "release" and clusters["cluster-c"]["action"] == "release"
    assert clusters["cluster-a"]["outcome"] == "rolled_back", clusters
    assert "gate(s) failed after wave 1/3" in clusters["cluster-a"]["reason"], clusters
    assert clusters["cluster-a"]["failed_gates"][0]["name"] == "smoke"
    assert clusters["cluster-b"]["outcome"] == clusters["cluster-c"]["outcome"] == "released"
    assert stats["outcome"] == "partially_released" and stats["halted_wave"] is None, stats
    assert result.custom_stats["fleet_outcome"] == "partially_released"
    # cluster-a was re-checked (its gates ran), not released again, then rolled back
    assert first_task_index(result, "cluster-a", "the rule to 100% candidate") is None
    assert first_task_index(result, "cluster-a", "Gates | evaluate") is not None
    assert route_weights(kube_a, ns) == [{"myapp-lan": 100}]
    assert fleet_record(kube_a, ns)["phase"] == "rolled_back"
    assert_lease_given_back(result, kube_a, ns, "cluster-a")
    for name in ("cluster-b", "cluster-c"):
        assert live_version(fleet.kubes[name], ns) == "v2", name
        assert fleet_record(fleet.kubes[name], ns)["phase"] == "baked", name
    # the verdicts: the fleet went on after each wave, one failure allowed
    report, unused_page = fleet_report(fleet.reports)
    assert report["outcome"] == "partially_released"
    assert [(v["halt"], v["failed"]) for v in report["verdicts"]] == [
        (False, ["cluster-a"]), (False, ["cluster-a"]), (False, ["cluster-a"])], report["verdicts"]
    # cluster-a's traffic line: the HTTPRoute's rule from v2 (its Service myapp-v2) back to
    # myapp-lan, rolled back by the fleet with the re-check's reason
    (a,) = [r for r in report["releases"] if r["cluster"] == "cluster-a"]
    assert [t["split"] for t in a["traffic"]] == [{"myapp-lan": 0, "v2": 100}, {"myapp-lan": 100, "v2": 0}]
    assert a["targets"] == {"v2": "myapp-v2"} and a["outcome"] == "rolled_back"
    assert a["decisions"][-1]["decision"] == "rollback"
    assert "gate(s) failed after wave 1/3" in a["decisions"][-1]["why"], a["decisions"]


CANARY_PLAY = {
    "name": "a canary release across the clusters, a cluster first, then the rest at once",
    "hosts": "clusters", "gather_facts": False,
    "module_defaults": {
        "group/progressive.delivery.k8s": {"kubeconfig": "{{ cluster_kubeconfig }}"},
        "group/kubernetes.core.k8s": {"kubeconfig": "{{ cluster_kubeconfig }}"}},
    "vars": {"fleet_strategy": "canary", "fleet_waves": [1, "100%"], "fleet_bake": "1s",
             "canary_app": "myapp", "canary_namespace": "{{ fleet_demo_namespace }}",
             "canary_version": "v2", "canary_service": "myapp",
             "canary_pod_template": pod_template("ikubernetes/myapp:v2"),
             "canary_steps": [{"weight": 50}, {"weight": 100}], "canary_gate_interval": "1s",
             "canary_wait_timeout": 120},
    "roles": ["progressive.delivery.fleet"],
}


def test_a_canary_fleet_halted_by_its_fleet_gate_releases_the_previous_version_again(
        fleet, smoke_url):
    """A canary fleet in waves [1, "100%"] promotes everywhere; its fleet gate passes after
    the first wave and fails after the second: the fleet halts, the second wave (the one the
    gate judged) rolls back, and the first because fleet_rollback_released asks for it. A
    promoted canary rolls back by releasing the previous version (its release record's
    stable version) again, with the definition fleet_canary_rollback gives."""
    for kube in fleet.kubes.values():
        kube.create(NAMESPACE, None, {"metadata": {"name": fleet.namespace}})
        create_stable(kube, fleet.namespace, replicas=2)
    play = dict(CANARY_PLAY, vars=dict(
        CANARY_PLAY["vars"], fleet_rollback_released=True,
        fleet_canary_rollback={"canary_pod_template": pod_template("ikubernetes/myapp:v1")},
        # a fleet-level gate, evaluated once after each wave (here: a health URL that
        # answers its first two requests, the first wave's gate, and fails after)
        fleet_gates=[{"name": "fleet-health", "type": "http", "requests": 2,
                      "url": "%s/first/2/%s" % (smoke_url, fleet.namespace)}]))
    playbook = fleet.tmp_path / "canary-fleet.yml"
    playbook.write_text(yaml.safe_dump([play], sort_keys=False))
    result = fleet(playbook=str(playbook))
    assert result.failed, result.summary()
    stats = result.custom_stats[STATS_KEY]
    assert stats["waves"] == [["cluster-a"], ["cluster-b", "cluster-c"]]
    assert stats["outcome"] == "halted" and stats["halted_wave"] == 2, stats
    assert "wave 2: the fleet gate failed (fleet-health" in stats["reason"], stats
    assert {h: c["outcome"] for h, c in stats["clusters"].items()} == {
        "cluster-a": "rolled_back", "cluster-b": "rolled_back", "cluster-c": "rolled_back"}, stats
    assert all("the fleet halted" in c["reason"] for c in stats["clusters"].values()), stats
    for name, kube in fleet.kubes.items():
        # v2 was promoted, then v1 released again: the stable Deployment runs v1
        assert image(kube, fleet.namespace, "myapp") == "ikubernetes/myapp:v1", name
        canary = record(kube, fleet.namespace)
        assert (canary["version"], canary["phase"], canary["stable_version"]) == (
            "v1", "promoted", "v2"), name
        assert fleet_record(kube, fleet.namespace)["phase"] == "rolled_back", name
        assert fleet_record(kube, fleet.namespace)["rollback_to"] == {"version": "v1"}, name
    report, unused_page = fleet_report(fleet.reports)
    assert report["strategy"] == "canary" and report["outcome"] == "halted"
    # the fleet gate ran once per wave, on the controller: passed, then failed
    assert [(g["name"], g["passed"], g["values"]["requests"]) for g in report["gates"]] == [
        ("fleet-health", True, 2), ("fleet-health", False, 2)]
    assert [v["halt"] for v in report["verdicts"]] == [False, True]
    assert len(report["releases"]) == 3
    for release in report["releases"]:
        assert release["kind"] == "canary" and release["outcome"] == "rolled_back", release
        steps = [s["name"] for s in release["steps"]]
        assert steps[:2] == ["step 1/2: weight 50%", "step 2/2: weight 100%"], steps
        assert steps[-1] == "roll back: release v1 again", steps
        assert release["steps"][0]["traffic"] == {"v1": 50, "v2": 50}
        assert {"v1": 0, "v2": 100} in [t["split"] for t in release["traffic"]]
        assert release["traffic"][-1]["split"] == {"v1": 100, "v2": 0}
        assert [d["decision"] for d in release["decisions"]] == ["start", "promote", "rollback"]
        assert "the fleet halted: wave 2: the fleet gate failed" in release["decisions"][-1]["why"]
