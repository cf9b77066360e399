"""Benchmark (4): how the cost grows.

- knative_traffic on a Configuration with 2, 20 and 200 revisions: a call that moves the
  split between the two newest revisions, and a no-op call (cost should stay flat);
- contour_delegate on a root HTTPProxy with 1 and with 50 includes: a call that switches
  the include to the other child, against the floor making the same switch (floor.py
  contour-delegate: one GET, one PATCH, a watch until Contour says valid);
- 1, 10 and 50 apps promoted (blue/green, 1 replica each) by one ansible-playbook run with
  as many forks: total time against one app (goal: 50 apps <= 4x one app on this 2-core
  machine), the peak summed RSS of the module processes, and the same promotions the
  kubernetes.core way (k8s patched + k8s_info until, delay 5) in the same run;
  'batch': every app in one k8s_bluegreen call (its ``apps`` option) on one host; and
  'debug': one ansible.builtin.debug task per host, Ansible's own cost of a task per
  host with nothing to do (the bound under the releases).

    python tests/bench/bench_scale.py [--runs N] [--parts knative,contour,apps] [--quick]
        [--revisions 2,20,200] [--includes 1,50] [--apps 1,10,50] [--ways ours,k8s,batch,debug]
        [--env ANSIBLE_PIPELINING=1]
"""

import argparse
import collections
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

        def floor():
            # the same change by plain Python: one PATCH of the Route, a watch until Ready
            state["split"] = 90 if state["split"] != 90 else 10
            return bl.run_floor("knative-split", ns, "hello", newest, str(state["split"]),
                                older, str(100 - state["split"]))
        move()  # the Route exists with this size's revisions before timing
        found = bl.interleaved({"move": move, "no-op": no_op, "floor": floor}, runs, log)
        moved, same = bl.median(bl.field(found["move"])), bl.median(bl.field(found["no-op"]))
        floor_s = bl.median(bl.field(found["floor"]))
        base = base or (moved, same, floor_s)
        results[size] = dict(move=moved, no_op=same, floor=floor_s)
        rows.append(["knative_traffic, %d revisions (a split change; other: floor)" % size,
                     bl.seconds(moved), bl.times(bl.ratio(moved, base[0])), bl.seconds(floor_s),
                     bl.times(bl.ratio(floor_s, base[2])), bl.times(bl.ratio(moved, floor_s)),
                     "no-op %s (%s)" % (bl.seconds(same), bl.times(bl.ratio(same, base[1]))),
                     "-"])
    namespaces.drop(ns)
    return rows, results


# --- contour_delegate: 1 / 50 includes --------------------------------------------------
def contour_part(kube, namespaces, runs, sizes, log):
    """contour_delegate switching the /blog include between two children, against the
    floor doing the same switch (floor.py contour-delegate), interleaved."""
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

        def flip():
            state["child"] = "child-0" if state["child"] == "child-1" else "child-1"
            return state["child"]

        def switch():
            return bl.run_module_process("contour_delegate", dict(
                name="root", namespace=ns, path="/blog", wait_timeout=60,
                child={"name": flip(), "namespace": ns}))

        def floor():
            return bl.run_floor("contour-delegate", ns, "root", "/blog", flip())
        switch()  # the include exists before timing
        found = bl.interleaved({"switch": switch, "floor": floor}, runs, log)
        value = bl.median(bl.field(found["switch"]))
        least = bl.median(bl.field(found["floor"]))
        base = base or (value, least)
        results[size] = dict(seconds=value, floor=least, x_floor=bl.ratio(value, least))
        rows.append(["contour_delegate, root with %d include(s) (other: floor)" % size,
                     bl.seconds(value), bl.times(bl.ratio(value, base[0])), bl.seconds(least),
                     bl.times(bl.ratio(least, base[1])), bl.times(bl.ratio(value, least)),
                     "-", "-"])
        namespaces.drop(ns)
    return rows, results


# --- 1 / 10 / 50 apps in one ansible-playbook run ----------------------------------------
APPS_PLAY = [{
    "name": "promote every app", "hosts": "apps", "gather_facts": False,
    "tasks": [{"name": "promote", "progressive.delivery.k8s_bluegreen": {
        "name": "{{ app }}", "namespace": "{{ ns }}", "version": "{{ target }}",
        "state": "promoted", "service": "{{ app }}", "wait_timeout": 300}}]}]

# The same promotion the kubernetes.core way, as in bench_bluegreen: the Service's selector
# patched, then the EndpointSlices listed until only the new version's pod serves.
K8S_APPS_PLAY = bl.k8s_core_promotion_play(
    "promote every app the kubernetes.core way", "apps", "app", 1)


PING_PLAY = [{"name": "one module task per app, doing nothing", "hosts": "apps",
              "gather_facts": False, "tasks": [{"name": "ping", "ansible.builtin.ping": {}}]}]
# Ansible's own cost of one task per host with no module at all (an action that runs in
# the worker, as this collection's modules do on the controller): the bound under the
# apps' releases.
DEBUG_PLAY = [{"name": "one task per app, no module", "hosts": "apps", "gather_facts": False,
               "tasks": [{"name": "debug", "ansible.builtin.debug": {"msg": "{{ app }}"}}]}]

# Every app in one module call (k8s_bluegreen's apps option) on one host: one module
# process, the apps' releases in its threads.
BATCH_PLAY = [{
    "name": "promote every app in one call", "hosts": "apps", "gather_facts": False,
    "tasks": [{"name": "promote", "progressive.delivery.k8s_bluegreen": {
        "namespace": "{{ ns }}", "state": "promoted", "wait_timeout": 300,
        "apps": "{{ releases }}", "apps_parallel": "{{ parallel | default(omit) }}"}}]}]
PLAYS = {"ours": APPS_PLAY, "k8s": K8S_APPS_PLAY, "ping": PING_PLAY, "debug": DEBUG_PLAY,
         "batch": BATCH_PLAY}
Way = collections.namedtuple("Way", "play forks env parallel")


def way_of(name):
    """The Way (play key, forks or None, extra environment, apps_parallel or None) of a
    way such as 'ours', 'k8s', 'ping+pipelining', 'ours+forks=10' or 'batch+parallel=50'
    (pure)."""
    parts = name.split("+")
    if parts[0] not in PLAYS:
        raise ValueError("unknown way %r (ours, k8s, ping, debug, batch; +pipelining, +forks=N, "
                         "+parallel=N)" % name)
    forks, env, parallel = None, {}, None
    for part in parts[1:]:
        if part == "pipelining":
            env["ANSIBLE_PIPELINING"] = "1"
        elif part.startswith("forks="):
            forks = int(part[len("forks="):])
        elif part.startswith("parallel=") and parts[0] == "batch":
            parallel = int(part[len("parallel="):])
        else:
            raise ValueError("unknown modifier %r in %r" % (part, name))
    return Way(parts[0], forks, env, parallel)


def way_hosts(way, apps, targets, ns_vars=None):
    """The inventory hosts of one run (pure): a host per app, each with its app and target
    version; for 'batch' one host holding every app's release (``releases``)."""
    local = dict(ansible_connection="local", ansible_python_interpreter=sys.executable)
    if way.play == "batch":
        releases = [dict(name=app, service=app, version=targets[app]) for app in apps]
        host = dict(local, releases=releases)
        if way.parallel:
            host["parallel"] = way.parallel
        return {"all-apps": host}
    return dict((app, dict(local, app=app, target=targets[app])) for app in apps)


def apps_part(kube, namespaces, runs, sizes, log, ways=("ours", "k8s"), env=None):
    """1 / 10 / 50 apps promoted by one ansible-playbook run (forks = apps), this collection
    and the kubernetes.core way interleaved. Other ways measure what the time goes to:
    'ping' (Ansible's own cost of one module task per host), '+pipelining', '+forks=N';
    ``env`` adds settings to every run."""
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
    plays = dict((key, bl.write_yaml(workdir, "apps-%s.yml" % key, play))
                 for key, play in PLAYS.items())
    live = dict(("app-%d" % i, "v1") for i in range(most))

    def release(count, name):
        way = way_of(name)
        apps = ["app-%d" % index for index in range(count)]
        if way.play not in ("ping", "debug"):
            for app in apps:
                live[app] = "v2" if live[app] == "v1" else "v1"
        hosts = way_hosts(way, apps, live)
        inventory = bl.write_yaml(workdir, "inventory-%d.yml" % count, {
            "apps": {"hosts": hosts, "vars": {"ns": ns}}})
        return bl.run_playbook(plays[way.play], inventory=inventory,
                               forks=min(len(hosts), way.forks or len(hosts)),
                               env=dict(env or {}, **way.env), sampler=bl.RssSampler)
    cases = dict(("%s %d" % (way, n), (lambda n=n, way=way: release(n, way)))
                 for n in sizes for way in ways)
    found = bl.interleaved(cases, runs, log)
    small = min(sizes)

    def measured(way, size, key="seconds"):
        return bl.median(bl.field(found["%s %d" % (way, size)], key))
    rows, results = [], {}
    main_way, others = ways[0], list(ways[1:])
    other = "k8s" if "k8s" in others else None
    if other:
        others.remove(other)
    for size in sizes:
        value, x = measured(main_way, size), bl.ratio(measured(main_way, size),
                                                      measured(main_way, small))
        results[size] = dict((way, dict(seconds=measured(way, size), cpu=measured(way, size, "cpu"),
                                        peak_rss=measured(way, size, "peak_rss")))
                             for way in ways)
        results[size]["ratio"] = x
        goal = "<= %.0fx: %s" % (APPS_GOAL, bl.goal_met(x, APPS_GOAL)) if size == 50 else "-"
        spent = "peak memory %s, CPU %s" % (bl.megabytes(measured(main_way, size, "peak_rss")),
                                            bl.seconds(measured(main_way, size, "cpu")))
        if other:
            theirs = measured(other, size)
            rows.append(["%d app(s), one ansible-playbook, forks %d (%s; other: kubernetes.core)"
                         % (size, size, main_way), bl.seconds(value), bl.times(x),
                         bl.seconds(theirs), bl.times(bl.ratio(theirs, measured(other, small))),
                         bl.times(bl.ratio(value, theirs)), spent, goal])
        else:
            rows.append(["%d app(s), one ansible-playbook, forks %d (%s)" % (size, size, main_way),
                         bl.seconds(value), bl.times(x), "-", "-", "-", spent, goal])
        for way in others:
            if way_of(way).play == "batch":
                rows.append(batch_row(way, size, small, main_way, measured))
                continue
            rows.append(["%d app(s), %s" % (size, way), bl.seconds(measured(way, size)),
                         bl.times(bl.ratio(measured(way, size), measured(way, small))),
                         "-", "-", "-", "CPU %s" % bl.seconds(measured(way, size, "cpu")), "-"])
    namespaces.drop(ns)
    return rows, results


def batch_row(way, size, small, main_way, measured):
    """The row of the 'batch' way: one host, one k8s_bluegreen call with every app. Its
    ratio is against its own smallest run, and the goal (50 apps <= 4x one app) against one
    app released the usual way (``main_way``, one task per app) as well."""
    value = measured(way, size)
    x = bl.ratio(value, measured(way, small))
    goal = "-"
    if size == 50:
        versus = bl.ratio(value, measured(main_way, small))
        goal = "<= %.0fx: %s (vs %d app(s) %s: %s)" % (
            APPS_GOAL, bl.goal_met(x, APPS_GOAL), small, main_way, bl.times(versus))
    return ["%d app(s), one k8s_bluegreen call with apps (%s, one host)" % (size, way),
            bl.seconds(value), bl.times(x), "-", "-", "-",
            "peak memory %s, CPU %s" % (bl.megabytes(measured(way, size, "peak_rss")),
                                        bl.seconds(measured(way, size, "cpu"))), goal]


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


QUICK = dict(revisions=(2, 20), includes=(1, 50), apps=(1, 10, 50))


def run(kube, runs, log=None, parts=("knative", "contour", "apps"), revisions=(2, 20, 200),
        includes=(1, 50), apps=(1, 10, 50), ways=("ours", "k8s", "batch", "debug"), env=None):
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
            part_rows, results["apps"] = apps_part(kube, namespaces, runs, apps, log, ways, env)
            rows += part_rows
    finally:
        namespaces.clean()
    table = bl.markdown_table(["case", "ours (median)", "x smallest", "other (median)",
                               "other x smallest", "ours / other",
                               "no-op (x smallest) or peak memory", "goal"], rows)
    return dict(title=TITLE, table=table, results=results)


def sizes(text):
    return tuple(int(v) for v in text.split(","))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--runs", type=int, default=bl.runs_default(1))
    parser.add_argument("--parts", default="knative,contour,apps")
    parser.add_argument("--revisions", type=sizes, default=None)
    parser.add_argument("--includes", type=sizes, default=None)
    parser.add_argument("--apps", type=sizes, default=None)
    parser.add_argument("--ways", default="ours,k8s,batch,debug",
                        help="the apps part: ours (a task per app), k8s (the kubernetes.core "
                             "way), batch (one k8s_bluegreen call with apps), ping, debug; "
                             "+pipelining, +forks=N, batch+parallel=N")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="the apps part: set this for every ansible-playbook run "
                             "(a lever to measure, e.g. ANSIBLE_PIPELINING=1)")
    parser.add_argument("--quick", action="store_true",
                        help="revisions %s only (growing 200 revisions takes minutes)"
                        % ",".join(str(n) for n in QUICK["revisions"]))
    args = parser.parse_args()
    print(bl.machine_line())
    sizing = dict(QUICK) if args.quick else {}
    for key in ("revisions", "includes", "apps"):
        if getattr(args, key):
            sizing[key] = getattr(args, key)
    env = dict(item.split("=", 1) for item in args.env) or None
    out = run(bl.kube_client(), args.runs, parts=args.parts.split(","),
              ways=tuple(args.ways.split(",")), env=env, **sizing)
    print("\n### %s (median of %d)\n\n%s" % (out["title"], args.runs, out["table"]))
    print("\n" + json.dumps(out["results"], default=str))


if __name__ == "__main__":
    main()
