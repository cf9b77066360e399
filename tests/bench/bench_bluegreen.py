"""Benchmark (1): a blue/green promotion (a 3-replica app; the live Service switched to the
other version, proven on its EndpointSlices), three ways, interleaved in one run:

- this collection: ansible-playbook running one k8s_bluegreen task (state=promoted);
- the kubernetes.core way: ansible-playbook with kubernetes.core.k8s (state=patched, the
  Service's selector) and kubernetes.core.k8s_info on the EndpointSlices with
  until/retries/delay 5 until only the new version's 3 ready pods are listed;
- the floor: plain Python, one PATCH and a watch of the EndpointSlices (floor.py).

Each run switches the Service to the version that is not live, whichever way runs.
    python tests/bench/bench_bluegreen.py [--runs N]
"""

import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib as bl  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPLICAS = 3
TITLE = "(1) blue/green promotion of a %d-replica app" % REPLICAS


def deployment(name, version, replicas=REPLICAS, app="myapp"):
    labels = {"app": app, "version": version}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "app",
                                                           "image": "myapp:" + version}]}}}}


def service(name, version, app="myapp"):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": app, "version": version},
                     "ports": [{"name": "http", "port": 80, "targetPort": 80}]}}


def make_app(kube, namespace, app="myapp", replicas=REPLICAS):
    """Deployments <app>-v1 and <app>-v2, Service <app> on v1; returns once both run."""
    from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
        DEPLOYMENT,
        SERVICE,
    )
    from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import (
        wait_for_rollout,
    )
    for version in ("v1", "v2"):
        kube.create(DEPLOYMENT, namespace, deployment("%s-%s" % (app, version), version,
                                                      replicas, app))
    kube.create(SERVICE, namespace, service(app, "v1", app))
    for version in ("v1", "v2"):
        wait_for_rollout(kube, namespace, "%s-%s" % (app, version), 120)


COLLECTION_PLAY = [{
    "name": "promote with progressive.delivery", "hosts": "localhost", "gather_facts": False,
    "tasks": [{"name": "promote", "progressive.delivery.k8s_bluegreen": {
        "name": "myapp", "namespace": "{{ ns }}", "version": "{{ target }}",
        "state": "promoted", "service": "myapp", "wait_timeout": 120}}]}]

K8S_PLAY = bl.k8s_core_promotion_play(
    "promote the kubernetes.core way", "localhost", "'myapp'", REPLICAS)


def floor(namespace, target):
    proc = subprocess.run([sys.executable, os.path.join(HERE, "floor.py"), "bluegreen", namespace,
                           "myapp", "version", target, "myapp-" + target, str(REPLICAS)],
                          capture_output=True, text=True, timeout=300, check=False)
    if proc.returncode:
        raise RuntimeError("floor failed: %s %s" % (proc.stdout[-500:], proc.stderr[-1500:]))


def timed(fn):
    start = time.monotonic()
    fn()
    return time.monotonic() - start


def run(kube, runs, log=None):
    namespaces = bl.Namespaces(kube, "bg")
    workdir = tempfile.mkdtemp(prefix="bench-bg-")
    try:
        ns = namespaces.new()
        make_app(kube, ns)
        collection = bl.write_yaml(workdir, "collection.yml", COLLECTION_PLAY)
        k8s = bl.write_yaml(workdir, "k8s.yml", K8S_PLAY)
        state = {"live": "v1"}

        def flip():
            state["live"] = "v2" if state["live"] == "v1" else "v1"
            return state["live"]

        cases = {
            "progressive.delivery.k8s_bluegreen": lambda: bl.run_playbook(
                collection, {"ns": ns, "target": flip()}),
            "kubernetes.core k8s + k8s_info until": lambda: bl.run_playbook(
                k8s, {"ns": ns, "target": flip()}),
            "floor (one PATCH + watch)": lambda: timed(lambda: floor(ns, flip())),
        }
        found = bl.interleaved(cases, runs, log)
    finally:
        namespaces.clean()
    floor_median = bl.median(found["floor (one PATCH + watch)"])
    rows = []
    for name, results in found.items():
        value = bl.median(bl.field(results))
        rows.append([name, bl.seconds(value), bl.times(bl.ratio(value, floor_median)),
                     "%d/%d" % (len([r for r in results if r is not None]), runs)])
    table = bl.markdown_table(["way", "wall (median)", "x floor", "runs ok"], rows)
    return dict(title=TITLE, table=table, results=dict(
        (k, bl.median(bl.field(v))) for k, v in found.items()))


def main():
    bl.script_main(__doc__, run)


if __name__ == "__main__":
    main()
