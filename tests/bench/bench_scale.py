"""Benchmark (4): how the cost grows.

- knative_traffic on a Configuration with 2, 20 and 200 revisions: a call that moves the
  split between the two newest revisions, and a no-op call (cost should stay flat);
- contour_delegate on a root HTTPProxy with 1 and with 50 includes: a call that switches
  the include to the other child;
- 1, 10 and 50 apps promoted (blue/green, 1 replica each) by one ansible-playbook run with
  as many forks: total time against one app (goal: 50 apps <= 4x one app on this 2-core
  machine), and the peak summed RSS of the module processes.

    python tests/bench/bench_scale.py [--runs N] [--parts knative,contour,apps]
        [--revisions 2,20,200] [--includes 1,50] [--apps 1,10,50]
"""

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib as bl  # noqa: E402

TITLE = "(4) scale"
APPS_GOAL = 4.0


def has_crd(kube, name):
    from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
        KubeError,
    )
    try:
        kube.request("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/" + name)
        return True
    except KubeError:
        return False


# --- knative_traffic: 2 / 20 / 200 revisions ------------------------------------------
def grow_revisions(kube, ns, name, count):
    """Template changes until the Configuration has made ``count`` revisions (each one is
    waited for: Knative makes a revision for the generation it sees, not per write)."""
    from ansible_collections.progressive.delivery.plugins.module_utils.knative import (
        common as kn,
    )
    from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import (
        Check,
    )
    from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import wait_for
    existing = kube.get_or_none(kn.CONFIGURATION, ns, name)
    if existing is None:
        kube.create(kn.CONFIGURATION, ns, {
            "apiVersion": kn.CONFIGURATION.api_version, "kind": "Configuration",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"template": {"spec": {"containers": [{
                "image": "gcr.io/knative-samples/helloworld-go",
                "env": [{"name": "N", "value": "1"}]}]}}}})
        have = 1
    else:
        have = int(kn.status(existing)["latestCreatedRevisionName"].rsplit("-", 1)[1])
    for number in range(have, count + 1):
        if number > have:
            kube.patch(kn.CONFIGURATION, ns, name, {"spec": {"template": {"spec": {
                "containers": [{"image": "gcr.io/knative-samples/helloworld-go",
                                "env": [{"name": "N", "value": str(number)}]}]}}}})
        wanted = "%s-%05d" % (name, number)

        def ready(obj, wanted=wanted):
            status = kn.status(obj)
            return Check(status.get("latestReadyRevisionName") == wanted,
                         "latest ready %s" % status.get("latestReadyRevisionName"))
        wait_for(kube, kn.CONFIGURATION, ns, name, ready, 120)


def knative_part(kube, namespaces, runs, sizes, log):
    rows, results = [], {}
    ns = namespaces.new()
    base = None
    for size in sizes:
        bl.say(log, "knative_traffic with %d revisions" % size)
        grow_revisions(kube, ns, "hello", size)
        newest, older = "hello-%05d" % size, "hello-%05d" % (size - 1)
        state = {"split": 0}
        params = dict(namespace=ns, route="hello", wait_timeout=120)

        def move():
            state["split"] = 90 if state["split"] != 90 else 10
            return bl.run_module_process("knative_traffic", dict(params, traffic=[
                {"revision": newest, "percent": state["split"]},
                {"revision": older, "percent": 100 - state["split"]}]))

        def no_op():
            return bl.run_module_process("knative_traffic", dict(params, traffic=[
                {"revision": newest, "percent": state["split"]},
                {"revision": older, "percent": 100 - state["split"]}]))
        move()  # the Route exists with this size's revisions before timing
        found = bl.interleaved({"move": move, "no-op": no_op}, runs, log)
        moved, same = bl.median(bl.field(found["move"])), bl.median(bl.field(found["no-op"]))
        base = base or (moved, same)
        results[size] = dict(move=moved, no_op=same)
        rows.append(["knative_traffic, %d revisions" % size, bl.seconds(moved),
                     bl.times(bl.ratio(moved, base[0])), bl.seconds(same),
                     bl.times(bl.ratio(same, base[1])), "-"])
    namespaces.drop(ns)
    return rows, results


# --- contour_delegate: 1 / 50 includes --------------------------------------------------
def contour_part(kube, namespaces, runs, sizes, log):
    from ansible_collections.progressive.delivery.plugins.module_utils.contour.proxies import (
        HTTPPROXY,
    )
    from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import SERVICE
    rows, results, base = [], {}, None
    for size in sizes:
        bl.say(log, "contour_delegate with %d includes" % size)
        ns = namespaces.new()
        kube.create(SERVICE, ns, {"apiVersion": "v1", "kind": "Service", "metadata": {
            "name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})
        for index in range(size + 1):  # child-0 and child-1 take turns at /blog
            kube.create(HTTPPROXY, ns, {
                "apiVersion": HTTPPROXY.api_version, "kind": "HTTPProxy",
                "metadata": {"name": "child-%d" % index},
                "spec": {"routes": [{"services": [{"name": "web", "port": 80}]}]}})
        kube.create(HTTPPROXY, ns, {
            "apiVersion": HTTPPROXY.api_version, "kind": "HTTPProxy",
            "metadata": {"name": "root"},
            "spec": {"virtualhost": {"fqdn": "%s.example.com" % ns}, "includes": [
                {"name": "child-%d" % i, "conditions": [{"prefix": "/other-%d" % i}]}
                for i in range(2, size + 1)]}})
        state = {"child": "child-1"}

        def switch():
            state["child"] = "child-0" if state["child"] == "child-1" else "child-1"
            return bl.run_module_process("contour_delegate", dict(
                name="root", namespace=ns, path="/blog", wait_timeout=60,
                child={"name": state["child"], "namespace": ns}))
        switch()  # the include exists before timing
        found = bl.interleaved({"switch": switch}, runs, log)
        value = bl.median(bl.field(found["switch"]))
        base = base or value
        results[size] = value
        rows.append(["contour_delegate, root with %d include(s)" % size, bl.seconds(value),
                     bl.times(bl.ratio(value, base)), "-", "-", "-"])
        namespaces.drop(ns)
    return rows, results


# --- 1 / 10 / 50 apps in one ansible-playbook run ----------------------------------------
APPS_PLAY = [{
    "name": "promote every app", "hosts": "apps", "gather_facts": False,
    "tasks": [{"name": "promote", "progressive.delivery.k8s_bluegreen": {
        "name": "{{ app }}", "namespace": "{{ ns }}", "version": "{{ target }}",
        "state": "promoted", "service": "{{ app }}", "wait_timeout": 300}}]}]


def apps_part(kube, namespaces, runs, sizes, log):
    workdir = tempfile.mkdtemp(prefix="bench-apps-")
    ns = namespaces.new()
    most = max(sizes)
    bl.say(log, "making %d apps (2 versions, 1 replica each)" % most)
    for index in range(most):
        make_app_quick(kube, ns, "app-%d" % index)
    from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import (
        wait_for_rollout,
    )
    for index in range(most):
        for version in ("v1", "v2"):
            wait_for_rollout(kube, ns, "app-%d-%s" % (index, version), 300)
    play = bl.write_yaml(workdir, "apps.yml", APPS_PLAY)
    live = dict(("app-%d" % i, "v1") for i in range(most))

    def release(count):
        hosts = {}
        for index in range(count):
            app = "app-%d" % index
            live[app] = "v2" if live[app] == "v1" else "v1"
            hosts[app] = dict(ansible_connection="local", app=app, target=live[app],
                              ansible_python_interpreter=sys.executable)
        inventory = bl.write_yaml(workdir, "inventory-%d.yml" % count, {
            "apps": {"hosts": hosts, "vars": {"ns": ns}}})
        return bl.run_playbook(play, inventory=inventory, forks=count, sampler=bl.RssSampler)
    cases = dict(("%d" % n, (lambda n=n: release(n))) for n in sizes)
    found = bl.interleaved(cases, runs, log)
    rows, results = [], {}
    one = bl.median(bl.field(found[str(min(sizes))]))
    for size in sizes:
        value = bl.median(bl.field(found[str(size)]))
        peak = bl.median(bl.field(found[str(size)], "peak_rss"))
        x = bl.ratio(value, one)
        results[size] = dict(seconds=value, ratio=x, peak_rss=peak)
        goal = "<= %.0fx: %s" % (APPS_GOAL, bl.goal_met(x, APPS_GOAL)) if size == 50 else "-"
        rows.append(["%d app(s), one ansible-playbook, forks %d" % (size, size),
                     bl.seconds(value), bl.times(x), bl.megabytes(peak), "-", goal])
    namespaces.drop(ns)
    return rows, results


def make_app_quick(kube, ns, app):
    """make_app without waiting (the caller waits for all apps at once)."""
    from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
        DEPLOYMENT,
        SERVICE,
    )
    from bench_bluegreen import deployment, service
    for version in ("v1", "v2"):
        kube.create(DEPLOYMENT, ns, deployment("%s-%s" % (app, version), version, 1, app))
    kube.create(SERVICE, ns, service(app, "v1", app))


def run(kube, runs, log=None, parts=("knative", "contour", "apps"), revisions=(2, 20, 200),
        includes=(1, 50), apps=(1, 10, 50)):
    namespaces = bl.Namespaces(kube, "scale")
    rows, results = [], {}
    try:
        if "knative" in parts and has_crd(kube, "services.serving.knative.dev"):
            part_rows, results["knative"] = knative_part(kube, namespaces, runs, revisions, log)
            rows += part_rows
        if "contour" in parts and has_crd(kube, "httpproxies.projectcontour.io"):
            part_rows, results["contour"] = contour_part(kube, namespaces, runs, includes, log)
            rows += part_rows
        if "apps" in parts:
            part_rows, results["apps"] = apps_part(kube, namespaces, runs, apps, log)
            rows += part_rows
    finally:
        namespaces.clean()
    table = bl.markdown_table(["case", "wall (median)", "x smallest", "no-op / peak RSS",
                               "no-op x smallest", "goal"], rows)
    return dict(title=TITLE, table=table, results=results)


def sizes(text):
    return tuple(int(v) for v in text.split(","))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--runs", type=int, default=bl.runs_default(1))
    parser.add_argument("--parts", default="knative,contour,apps")
    parser.add_argument("--revisions", type=sizes, default=(2, 20, 200))
    parser.add_argument("--includes", type=sizes, default=(1, 50))
    parser.add_argument("--apps", type=sizes, default=(1, 10, 50))
    args = parser.parse_args()
    print(bl.machine_line())
    out = run(bl.kube_client(), args.runs, parts=args.parts.split(","),
              revisions=args.revisions, includes=args.includes, apps=args.apps)
    print("\n### %s (median of %d)\n\n%s" % (out["title"], args.runs, out["table"]))
    print("\n" + json.dumps(out["results"], default=str))


if __name__ == "__main__":
    main()
