"""Benchmark (3): a call that changes nothing, per module, against kubernetes.core.k8s_info
reading the module's main object: both run as the module process Ansible starts on a
host (python -m, arguments in a file), interleaved. For our modules the request trace
(PD_TRACE_REQUESTS) gives the requests made and the start-up: process start to the
first request (goal: <= 0.35 s).
    python tests/bench/bench_noop.py [--runs N]
"""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib as bl  # noqa: E402
from bench_bluegreen import make_app  # noqa: E402

TITLE = "(3) no-op call per module vs kubernetes.core.k8s_info on the same object"
STARTUP_GOAL = 0.35


def info(api_version, kind, namespace, name):
    return dict(api_version=api_version, kind=kind, namespace=namespace, name=name)


def setups(kube, ns):
    """module -> (params of a call that, made a second time, changes nothing; the
    k8s_info parameters of its main object; a CRD it needs or None)."""
    from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
        DEPLOYMENT,
        SERVICE,
    )
    from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import (
        wait_for_rollout,
    )
    make_app(kube, ns, replicas=2)
    kube.create(DEPLOYMENT, ns, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web", "track": "stable"}},
                 "template": {"metadata": {"labels": {"app": "web", "track": "stable"}},
                              "spec": {"containers": [{"name": "web", "image": "web:v1"}]}}}})
    kube.create(SERVICE, ns, {"apiVersion": "v1", "kind": "Service", "metadata": {
        "name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})
    wait_for_rollout(kube, ns, "web", 120)
    template = {"metadata": {"labels": {}}, "spec": {"containers": [
        {"name": "web", "image": "web:v2"}]}}
    steps = [{"weight": 10}, {"pause": "1m"}, {"weight": 100}]
    return {
        "k8s_bluegreen": (dict(name="myapp", namespace=ns, version="v1", state="promoted",
                               service="myapp"),
                          info("v1", "Service", ns, "myapp"), None),
        "k8s_canary": (dict(name="web", namespace=ns, service="web", weight=50, version="v2",
                            pod_template=template),
                       info("apps/v1", "Deployment", ns, "web"), None),
        "k8s_rollout": (dict(name="myapp-v1", namespace=ns, state="present"),
                        info("apps/v1", "Deployment", ns, "myapp-v1"), None),
        "canary_release_state": (dict(name="web", namespace=ns, version="v2", steps=steps,
                                      state="query"),
                                 info("v1", "ConfigMap", ns, "web-release"), None),
        "gate_check": (dict(gates=[{"name": "pods", "type": "pods_ready", "namespace": ns,
                                    "selector": {"app": "myapp"}}]),
                       info("v1", "Pod", ns, None), None),
        "contour_delegate": (dict(name="root", namespace=ns, path="/blog",
                                  fqdn="%s.example.com" % ns,
                                  child={"name": "blog", "namespace": ns}),
                             info("projectcontour.io/v1", "HTTPProxy", ns, "root"),
                             "httpproxies.projectcontour.io"),
        "gateway_traffic": (dict(name="shop", namespace=ns, hostnames=["%s.example.com" % ns],
                                 parent_refs=[{"name": "testbed",
                                               "namespace": "testbed-gateway"}],
                                 weights={"myapp": 100}),
                            info("gateway.networking.k8s.io/v1", "HTTPRoute", ns, "shop"),
                            "httproutes.gateway.networking.k8s.io"),
        "knative_traffic": (dict(namespace=ns, route="hello",
                                 traffic=[{"revision": "@latest_ready", "percent": 100}]),
                            info("serving.knative.dev/v1", "Route", ns, "hello"),
                            "services.serving.knative.dev"),
        "knative_revision_info": (dict(namespace=ns, configuration="hello", route="hello"),
                                  info("serving.knative.dev/v1", "Configuration", ns, "hello"),
                                  "services.serving.knative.dev"),
    }


def prepare(kube, ns, module):
    """Objects a module's first call needs beyond the shared app."""
    from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
        NAMESPACE,
        SERVICE,
    )
    if module == "contour_delegate":
        from ansible_collections.progressive.delivery.plugins.module_utils.contour.proxies import (
            HTTPPROXY,
        )
        kube.create(HTTPPROXY, ns, {
            "apiVersion": HTTPPROXY.api_version, "kind": "HTTPProxy",
            "metadata": {"name": "blog"},
            "spec": {"routes": [{"services": [{"name": "myapp", "port": 80}]}]}})
    elif module == "gateway_traffic":
        kube.patch(NAMESPACE, None, ns, {"metadata": {"labels": {
            "testbed.progressive.delivery/gateway-access": "granted"}}})
        assert kube.get(SERVICE, ns, "myapp")
    elif module == "knative_traffic":
        from ansible_collections.progressive.delivery.plugins.module_utils.knative import (
            common as kn,
        )
        from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import (
            condition_is,
        )
        from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import (
            wait_for,
        )
        kube.create(kn.CONFIGURATION, ns, {
            "apiVersion": kn.CONFIGURATION.api_version, "kind": "Configuration",
            "metadata": {"name": "hello", "namespace": ns},
            "spec": {"template": {"spec": {"containers": [
                {"image": "gcr.io/knative-samples/helloworld-go"}]}}}})
        wait_for(kube, kn.CONFIGURATION, ns, "hello", condition_is("Ready"), 120)
    elif module == "canary_release_state":
        bl.run_module_process("canary_release_state", dict(
            name="web", namespace=ns, version="v2", state="started", stable_version="v1",
            steps=[{"weight": 10}, {"pause": "1m"}, {"weight": 100}]))


def has_crd(kube, name):
    from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
        KubeError,
    )
    try:
        kube.request("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/" + name)
        return True
    except KubeError:
        return False


TASKS = 10


def playbook_tasks(workdir, ns, runs, log):
    """One playbook of TASKS no-op module tasks, its modules run in the task's worker
    process (the default on the controller) and as processes of their own, interleaved."""
    bl.say(log, "no-op: %d tasks in one playbook, both ways" % TASKS)
    query = {"progressive.delivery.canary_release_state": {
        "name": "noop-tasks", "namespace": ns, "version": "v2", "steps": [{"weight": 10}],
        "state": "query"}}
    path = bl.write_yaml(workdir, "tasks.yml", [{
        "name": "no-op tasks", "hosts": "localhost", "gather_facts": False,
        "tasks": [dict(query, name="query %d" % (i + 1)) for i in range(TASKS)]}])
    found = bl.interleaved({
        "worker": lambda: bl.run_playbook(path),
        "process": lambda: bl.run_playbook(path, extra_vars={"progressive_delivery_in_process": False}),
    }, runs, log)
    worker, process = bl.median(bl.field(found["worker"])), bl.median(bl.field(found["process"]))
    saved = None if worker is None or process is None else (process - worker) / TASKS
    return dict(worker=worker, process=process, saved_per_task=saved)


def run(kube, runs, log=None):
    namespaces = bl.Namespaces(kube, "noop")
    workdir = tempfile.mkdtemp(prefix="bench-noop-")
    rows, results = [], {}
    try:
        ns = namespaces.new()
        for module, (params, target, crd) in setups(kube, ns).items():
            if crd and not has_crd(kube, crd):
                rows.append([module, "-", "-", "-", "-", "-", "not installed"])
                continue
            bl.say(log, "no-op: %s" % module)
            prepare(kube, ns, module)
            bl.run_module_process(module, params)  # the first call makes the state
            trace = os.path.join(workdir, "trace-" + module)
            info_params = dict((k, v) for k, v in target.items() if v is not None)
            found = bl.interleaved({
                "ours": lambda: bl.run_module_process(module, params, trace_path=trace),
                "k8s_info": lambda: bl.run_module_process(
                    "k8s_info", info_params, collection="kubernetes.core"),
            }, runs, log)
            ours = bl.median(bl.field(found["ours"]))
            startup = bl.median(bl.field(found["ours"], "startup"))
            requests = bl.median(bl.field(found["ours"], "requests"))
            k8s_info = bl.median(bl.field(found["k8s_info"]))
            changed = [r["result"].get("changed") for r in found["ours"] if r]
            x = bl.ratio(ours, k8s_info)
            results[module] = dict(seconds=ours, startup=startup, requests=requests,
                                   k8s_info=k8s_info, ratio=x)
            rows.append([module, bl.seconds(ours), bl.seconds(startup),
                         "-" if requests is None else int(requests), bl.seconds(k8s_info),
                         bl.times(x), "changed!" if any(changed) else "no-op"])
        results["playbook"] = playbook_tasks(workdir, ns, runs, log)
    finally:
        namespaces.clean()
    table = bl.markdown_table(["module", "no-op call (median)", "start-up to 1st request",
                               "requests", "k8s_info (median)", "ours / k8s_info", "result"],
                              rows)
    startups = [r["startup"] for r in results.values() if r.get("startup") is not None]
    worst = max(startups) if startups else None
    table += "\n\nslowest start-up %s; goal <= %.2f s: %s" % (
        bl.seconds(worst), STARTUP_GOAL, bl.goal_met(worst, STARTUP_GOAL))
    tasks = results.pop("playbook")
    table += ("\n\nansible-playbook with %d no-op canary_release_state tasks on localhost: %s with "
              "each module in the task's worker process, %s with each as its own process "
              "(%s per task saved)" % (TASKS, bl.seconds(tasks["worker"]), bl.seconds(tasks["process"]),
                                       bl.seconds(tasks["saved_per_task"])))
    results["playbook"] = tasks
    return dict(title=TITLE, table=table, results=results)


def main():
    bl.script_main(__doc__, run)


if __name__ == "__main__":
    main()
