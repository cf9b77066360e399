"""Benchmark: how soon after a condition turns true does the wait return?

The watch-based wait (plugins/module_utils/k8s/wait.py) and a 5 s sleep-poll baseline (the
default interval of kubernetes.core's waiter) wait for the same change, in the same run,
against the testbed. Two cases, repeated:
  configmap  - a ConfigMap field flips at a known moment (t0 = when the PATCH returned);
  rollout    - a Deployment with pods that turn ready after 2 s rolls out; t0 = when an
               independent watch first saw the rollout complete.
Prints per-run latencies, medians and the poll/watch ratio; exits 1 if the watch-based
median exceeds 0.5 s. Run: make bench (or python tests/bench/wait_latency.py --runs 5).
"""

import argparse
import os
import random
import statistics
import sys
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "build"))

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.connection import (  # noqa: E402
    build_api_client,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (  # noqa: E402
    CONFIGMAP,
    DEPLOYMENT,
    NAMESPACE,
    Kube,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import (  # noqa: E402
    Check,
    deployment_rollout,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import (  # noqa: E402
    wait_for,
)

POLL_INTERVAL = 5.0
BUDGET = 0.5


def poll_until(kube, resource, namespace, name, predicate, timeout, interval=POLL_INTERVAL):
    """The baseline: GET, check, sleep a fixed interval."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate(kube.get_or_none(resource, namespace, name)).done:
            return
        time.sleep(interval)
    raise TimeoutError(name)


def race(kube, resource, namespace, name, predicate, trigger, timeout=60):
    """Start both waiters, fire ``trigger`` (returns t0), return (watch s, poll s)."""
    done = {}

    def run(label, fn):
        fn(kube, resource, namespace, name, predicate, timeout)
        done[label] = time.monotonic()

    threads = [threading.Thread(target=run, args=("watch", wait_for)),
               threading.Thread(target=run, args=("poll", poll_until))]
    for thread in threads:
        thread.start()
    t0 = trigger()
    for thread in threads:
        thread.join(timeout + 5)
    return done["watch"] - t0, done["poll"] - t0


def configmap_case(kube, namespace):
    name = "flag-" + uuid.uuid4().hex[:6]
    kube.create(CONFIGMAP, namespace, {"metadata": {"name": name}, "data": {"ready": "no"}})

    def predicate(obj):
        return Check(bool(obj) and obj.get("data", {}).get("ready") == "yes", "not yet")

    def trigger():
        time.sleep(random.uniform(0.5, 4.5))  # lands anywhere in the poll interval
        kube.patch(CONFIGMAP, namespace, name, {"data": {"ready": "yes"}})
        return time.monotonic()

    return race(kube, CONFIGMAP, namespace, name, predicate, trigger)


def rollout_case(kube, namespace):
    name = "slow-" + uuid.uuid4().hex[:6]
    labels = {"app": name}
    body = {"metadata": {"name": name}, "spec": {
        "replicas": 2, "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels, "annotations": {
            "testbed.progressive.delivery/ready-after-seconds": "2"}},
            "spec": {"containers": [{"name": "app", "image": "bench:1"}]}}}}
    seen = {}
    start_rv = kube.list(DEPLOYMENT, namespace)["metadata"]["resourceVersion"]

    def observe():
        for unused_type, obj in kube.watch(DEPLOYMENT, namespace, start_rv, 60, name=name):
            if deployment_rollout(obj).done:
                seen["t0"] = time.monotonic()
                return

    observer = threading.Thread(target=observe)
    observer.start()

    def trigger():
        kube.create(DEPLOYMENT, namespace, body)
        observer.join(60)
        return seen["t0"]

    return race(kube, DEPLOYMENT, namespace, name, deployment_rollout, trigger)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    kube = Kube(build_api_client({}))
    namespace = "bench-" + uuid.uuid4().hex[:6]
    kube.create(NAMESPACE, None, {"metadata": {"name": namespace}})
    time.sleep(1)  # the namespace's ServiceAccount controller; nothing here depends on it
    results = {"configmap": [], "rollout": []}
    try:
        for case, fn in (("configmap", configmap_case), ("rollout", rollout_case)):
            for run in range(args.runs):
                watch_s, poll_s = fn(kube, namespace)
                results[case].append((watch_s, poll_s))
                print("%-9s run %d: watch %6.3f s   poll(5 s) %6.3f s"
                      % (case, run + 1, watch_s, poll_s))
    finally:
        kube.delete(NAMESPACE, None, namespace)
    failed = False
    for case, pairs in results.items():
        watch = [pair[0] for pair in pairs]
        poll = [pair[1] for pair in pairs]
        watch_median = statistics.median(watch)
        poll_median = statistics.median(poll)
        print("%-9s median: watch %.3f s (max %.3f), poll %.3f s (max %.3f), poll/watch %.0fx"
              % (case, watch_median, max(watch), poll_median, max(poll),
                 poll_median / max(watch_median, 0.001)))
        failed = failed or watch_median > BUDGET
    verdict = "no" if failed else "yes"
    print("watch-based wait within %.1f s of the condition: %s" % (BUDGET, verdict))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
