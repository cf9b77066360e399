"""Benchmark (2): one canary release per backend, steps 5/25/50/100 with no pauses, run by
the canary role (ansible-playbook), against its floor: plain Python making the same
writes and watching for each one's effect (floor.py), with a release record write per
step as the role keeps one. Each run starts from fresh objects in a namespace of its own
(set up outside the timing); role and floor interleave.

Beside them, the same release with each module call run as its own Python process
(``progressive_delivery_in_process: false``, as on a remote host or with another Python),
the way every module ran before the in-worker action plugin: what that costs, in the same run.

Backends: replicas (a 4-replica app: the canary and stable Deployments' replicas),
contour (the child HTTPProxy's weights, Contour's verdict), knative (a new revision,
then spec.traffic percents, Ready), gateway (HTTPRoute backend weights, Accepted).
    python tests/bench/bench_canary.py [--runs N] [--backends replicas,contour,...]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib as bl  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
WEIGHTS = (5, 25, 50, 100)
TOTAL = 4
TITLE = "(2) canary release, steps %s, no pauses, per backend" % "/".join(map(str, WEIGHTS))
BACKENDS = ("replicas", "contour", "knative", "gateway")
KNATIVE_V1 = "gcr.io/knative-samples/helloworld-go"
KNATIVE_V2 = "gcr.io/knative-samples/helloworld-rust"
GATEWAY_ACCESS = {"testbed.progressive.delivery/gateway-access": "granted"}


def _k():
    from ansible_collections.progressive.delivery.plugins.module_utils.k8s import client, wait
    from ansible_collections.progressive.delivery.plugins.module_utils.contour.proxies import (
        HTTPPROXY,
    )
    from ansible_collections.progressive.delivery.plugins.module_utils.gateway import plan
    from ansible_collections.progressive.delivery.plugins.module_utils.knative import common
    return client, wait, HTTPPROXY, plan, common


def service(name, selector):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": selector, "ports": [{"name": "http", "port": 80,
                                                      "targetPort": 80}]}}


def pod_template(image, labels):
    return {"metadata": {"labels": dict(labels)},
            "spec": {"containers": [{"name": "myapp", "image": image,
                                     "ports": [{"containerPort": 80}]}]}}


# --- set-up per backend: (role vars, floor arguments) --------------------------------
def setup_replicas(kube, ns):
    client, wait, _p, _g, _k2 = _k()
    labels = {"app": "myapp", "track": "stable", "version": "v1"}
    kube.create(client.DEPLOYMENT, ns, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "myapp"},
        "spec": {"replicas": TOTAL, "selector": {"matchLabels": {"app": "myapp",
                                                                 "track": "stable"}},
                 "template": pod_template("myapp:v1", labels)}})
    kube.create(client.SERVICE, ns, service("myapp", {"app": "myapp"}))
    wait.wait_for_rollout(kube, ns, "myapp", 120)
    role = dict(canary_service="myapp", canary_pod_template=pod_template("myapp:v2", {}))
    return role, ["canary-replicas", ns, "myapp", "myapp-canary", "myapp:v2", str(TOTAL)]


def setup_contour(kube, ns):
    client, wait, httpproxy, _g, _k2 = _k()
    from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import (
        Check,
    )
    for name, version in (("blog-green", "v1"), ("blog-blue", "v2")):
        kube.create(client.SERVICE, ns, service(name, {"app": "blog", "version": version}))
    kube.create(httpproxy, ns, {
        "apiVersion": httpproxy.api_version, "kind": "HTTPProxy", "metadata": {"name": "blog"},
        "spec": {"routes": [{"services": [{"name": "blog-green", "port": 80}]}]}})
    kube.create(httpproxy, ns, {
        "apiVersion": httpproxy.api_version, "kind": "HTTPProxy", "metadata": {"name": "root"},
        "spec": {"virtualhost": {"fqdn": "%s.example.com" % ns},
                 "includes": [{"name": "blog", "conditions": [{"prefix": "/blog"}]}]}})
    wait.wait_for(kube, httpproxy, ns, "blog", lambda p: Check(
        ((p or {}).get("status") or {}).get("currentStatus") == "valid", "not valid yet"), 60)
    role = dict(canary_pods_gate=False, canary_contour={
        "name": "root", "path": "/blog", "stable_service": "blog-green",
        "canary_service": "blog-blue"})
    return role, ["canary-contour", ns, "blog", "blog-green", "blog-blue"]


def setup_knative(kube, ns):
    _c, wait, _p, _g, kn = _k()
    from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import (
        condition_is,
    )
    kube.create(kn.KSERVICE, ns, {
        "apiVersion": kn.KSERVICE.api_version, "kind": "Service",
        "metadata": {"name": "hello", "namespace": ns},
        "spec": {"template": {"spec": {"containers": [{"image": KNATIVE_V1}]}}}})
    wait.wait_for(kube, kn.KSERVICE, ns, "hello", condition_is("Ready"), 120)
    role = dict(canary_app="hello", canary_pods_gate=False, canary_knative={
        "service": "hello", "template": {"spec": {"containers": [{"image": KNATIVE_V2}]}}})
    return role, ["canary-knative", ns, "hello", KNATIVE_V2]


def setup_gateway(kube, ns):
    client, wait, _p, gp, _k2 = _k()
    from ansible_collections.progressive.delivery.plugins.module_utils.gateway import (
        status as gs,
    )
    kube.patch(client.NAMESPACE, None, ns, {"metadata": {"labels": GATEWAY_ACCESS}})
    for name in ("stable", "canary"):
        kube.create(client.SERVICE, ns, service(name, {"app": name}))
    kube.create(gp.HTTPROUTE, ns, {
        "apiVersion": gp.HTTPROUTE.api_version, "kind": "HTTPRoute",
        "metadata": {"name": "shop"},
        "spec": {"parentRefs": [{"name": "testbed", "namespace": "testbed-gateway"}],
                 "hostnames": ["%s.example.com" % ns],
                 "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                            "backendRefs": [{"name": "stable", "port": 80, "weight": 100}]}]}})
    wait.wait_for(kube, gp.HTTPROUTE, ns, "shop", gs.route_accepted, 60)
    role = dict(canary_pods_gate=False, canary_gateway={
        "route": "shop", "stable_service": "stable", "canary_service": "canary"})
    return role, ["canary-gateway", ns, "shop", "stable", "canary"]


SETUPS = {"replicas": setup_replicas, "contour": setup_contour, "knative": setup_knative,
          "gateway": setup_gateway}
CRDS = {"contour": "httpproxies.projectcontour.io",
        "knative": "services.serving.knative.dev",
        "gateway": "httproutes.gateway.networking.k8s.io"}


def role_play(backend, ns, role_vars):
    base = dict(canary_app="myapp", canary_namespace=ns, canary_version="v2",
                canary_backend=backend, canary_service="", canary_pod_template={},
                canary_steps=[{"weight": w} for w in WEIGHTS], canary_wait_timeout=120,
                canary_gate_interval="1s")
    base.update(role_vars)
    return [{"name": "canary release", "hosts": "localhost", "gather_facts": False,
             "tasks": [{"name": "release", "ansible.builtin.include_role": {
                 "name": "progressive.delivery.canary"}, "vars": base}]}]


def available(kube, backend):
    if backend not in CRDS:
        return True
    from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
        KubeError,
    )
    try:
        kube.request("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
                     + CRDS[backend])
        return True
    except KubeError:
        return False


def run(kube, runs, log=None, backends=BACKENDS):
    namespaces = bl.Namespaces(kube, "canary")
    workdir = tempfile.mkdtemp(prefix="bench-canary-")
    rows, results = [], {}
    try:
        for backend in backends:
            if not available(kube, backend):
                rows.append([backend] + ["-"] * 6 + ["not installed on this cluster", "-"])
                continue
            bl.say(log, "canary, %s backend" % backend)

            def role_case(backend=backend, extra_vars=None):
                ns = namespaces.new()
                role_vars, unused = SETUPS[backend](kube, ns)
                path = bl.write_yaml(workdir, "%s-%s.yml" % (backend, ns),
                                     role_play(backend, ns, role_vars))
                try:
                    return bl.run_playbook(path, extra_vars=extra_vars)
                finally:
                    namespaces.drop(ns)

            def processes_case(backend=backend):
                return role_case(backend, {"progressive_delivery_in_process": False})

            def floor_case(backend=backend):
                ns = namespaces.new()
                unused, argv = SETUPS[backend](kube, ns)
                try:
                    start = time.monotonic()
                    proc = subprocess.run([sys.executable, os.path.join(HERE, "floor.py")]
                                          + argv + [str(w) for w in WEIGHTS],
                                          capture_output=True, text=True, timeout=600,
                                          check=False)
                    if proc.returncode:
                        raise RuntimeError("floor failed: %s" % proc.stderr[-1500:])
                    return time.monotonic() - start
                finally:
                    namespaces.drop(ns)

            found = bl.interleaved({"role": role_case, "floor": floor_case,
                                    "processes": processes_case}, runs, log)
            role_s = bl.median(bl.field(found["role"]))
            floor_s = bl.median(bl.field(found["floor"]))
            processes_s = bl.median(bl.field(found["processes"]))
            tasks = bl.median(bl.field(found["role"], "tasks"))
            x = bl.ratio(role_s, floor_s)
            results[backend] = dict(role=role_s, floor=floor_s, tasks=tasks, ratio=x,
                                    processes=processes_s,
                                    processes_ratio=bl.ratio(processes_s, floor_s))
            rows.append([backend, bl.seconds(role_s), "-" if tasks is None else int(tasks),
                         bl.seconds(floor_s), bl.times(x), bl.seconds(processes_s),
                         bl.times(bl.ratio(processes_s, floor_s)),
                         "<= 4x: %s" % bl.goal_met(x, 4.0),
                         "%d/%d" % (len([r for r in found["role"] if r]), runs)])
    finally:
        namespaces.clean()
    table = bl.markdown_table(["backend", "role (median)", "tasks run", "floor (median)",
                               "role / floor", "modules as processes (median)",
                               "processes / floor", "goal", "runs ok"], rows)
    return dict(title=TITLE, table=table, results=results)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--runs", type=int, default=bl.runs_default(1))
    parser.add_argument("--backends", default=",".join(BACKENDS))
    args = parser.parse_args()
    print(bl.machine_line())
    out = run(bl.kube_client(), args.runs, backends=args.backends.split(","))
    print("\n### %s (median of %d)\n\n%s" % (out["title"], args.runs, out["table"]))
    print("\n" + json.dumps(out["results"]))


if __name__ == "__main__":
    main()
