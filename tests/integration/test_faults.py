"""Faults a release must ride out, on the testbed: the control plane (kube-apiserver,
controller-manager, scheduler and the simulated kubelets) stopped in the middle of a wait
and started again, as a control-plane node reboot does; etcd keeps the data. The module's
watch loses its connection, the server refuses connections, then answers 503/429 while it
starts; the call must go on and succeed once the server is back, within its timeout.

Restarting the controllers with the API server keeps the test short: controllers that
outlive an API server restart back off for up to a minute before they act again (the same
on a real cluster), which would only make the test slower, not the module's part harder."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from modules import run_module

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import DEPLOYMENT
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import (
    wait_for_rollout,
)

pytestmark = pytest.mark.reliability

STATE = Path(os.environ.get("PD_TESTBED_DIR")
             or Path(__file__).resolve().parents[2] / ".testbed")
TESTBED = os.path.join(os.path.dirname(os.path.dirname(__file__)), "testbed", "testbed.py")
SLOW = {"testbed.progressive.delivery/ready-after-seconds": "5"}


RESTARTED = ("kube-scheduler", "kube-controller-manager", "kwok", "kube-apiserver")


class Outage(object):
    """Stop the testbed's control plane ``after`` seconds from start(), keep it down for
    ``down_for`` seconds, then bring it back with `testbed.py up` (which starts only
    what is not running)."""

    def __init__(self, after, down_for):
        self.after, self.down_for = after, down_for
        self.stopped_at = self.back_at = None
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.t0 = time.monotonic()
        self.thread.start()
        return self

    def _run(self):
        try:
            time.sleep(self.after)
            pids = [json.loads((STATE / "pids" / (name + ".json")).read_text())["pid"]
                    for name in RESTARTED]
            for pid in pids:
                os.kill(pid, signal.SIGKILL)  # a crash or reboot: no graceful goodbye
            for pid in pids:
                while os.path.exists("/proc/%d" % pid):
                    time.sleep(0.05)
            self.stopped_at = time.monotonic() - self.t0
            time.sleep(self.down_for)
            subprocess.run([sys.executable, TESTBED, "up"], check=True, capture_output=True,
                           timeout=120)
            self.back_at = time.monotonic() - self.t0
        except Exception as exc:  # reported by join(): a broken outage is a broken test
            self.error = exc

    def join(self):
        self.thread.join(180)
        assert self.error is None, "the outage itself failed: %r" % (self.error,)
        assert self.stopped_at is not None and self.back_at is not None


@pytest.fixture
def testbed_only():
    if os.environ.get("PD_TESTBED") == "kind":
        pytest.skip("stopping the API server needs the local testbed")


def slow_deployment(name, image, replicas=2):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}, "annotations": SLOW},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}}}


@pytest.mark.alone
def test_a_rollout_wait_rides_out_an_api_server_restart(kube, namespace, testbed_only):
    kube.create(DEPLOYMENT, namespace, slow_deployment("web", "web:v1"))
    outage = Outage(after=1.0, down_for=6.0).start()
    done = wait_for_rollout(kube, namespace, "web", timeout=90)
    outage.join()
    assert done["status"]["readyReplicas"] == 2
    # the pods turned ready (5 s) while the server was away: the wait saw it afterwards
    assert outage.stopped_at < 5.0 < outage.back_at


@pytest.mark.alone
def test_a_blue_green_promotion_rides_out_an_api_server_restart(kube, namespace, testbed_only):
    template = {"metadata": {"annotations": SLOW},
                "spec": {"containers": [{"name": "myapp", "image": "myapp:v2"}]}}
    outage = Outage(after=1.5, down_for=6.0).start()
    result = run_module("k8s_bluegreen", name="myapp", namespace=namespace, service="myapp",
                        service_ports=[{"name": "http", "port": 80, "targetPort": 80}],
                        version="v2", state="promoted", replicas=2, pod_template=template,
                        wait_timeout=90)
    outage.join()
    assert not result.get("failed"), result
    assert result["changed"] and result["live_version"] == "v2"
    assert outage.back_at is not None


@pytest.mark.alone
def test_a_switch_reverted_by_another_writer_is_a_failure_naming_it(kube, namespace):
    """Another deployer (its own field manager) puts the live Service selector back to v1
    as soon as it sees v2: the promotion must not report success, and must say who."""
    from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
        SERVICE,
    )
    ports = [{"name": "http", "port": 80, "targetPort": 80}]
    for version in ("v1", "v2"):
        first = run_module("k8s_bluegreen", name="myapp", namespace=namespace,
                           service="myapp", service_ports=ports, version=version,
                           state="promoted" if version == "v1" else "deployed", replicas=1,
                           pod_template={"spec": {"containers": [
                               {"name": "myapp", "image": "myapp:" + version}]}})
        assert not first.get("failed"), first
    stop = threading.Event()

    listed = kube.list(SERVICE, namespace)
    started = threading.Event()

    def rogue():
        """Watches the Service and puts v1 back the moment it sees v2 (as a GitOps tool
        syncing an old manifest would)."""
        started.set()
        for unused_type, svc in kube.watch(SERVICE, namespace,
                                           listed["metadata"]["resourceVersion"], 60,
                                           name="myapp"):
            if stop.is_set():
                return
            if svc["spec"]["selector"].get("version") == "v2":
                kube.request("PATCH", "/api/v1/namespaces/%s/services/myapp" % namespace,
                             {"fieldManager": "rogue-deployer"},
                             {"spec": {"selector": {"version": "v1"}}},
                             "application/merge-patch+json")
                return

    thread = threading.Thread(target=rogue, daemon=True)
    thread.start()
    started.wait(5)
    result = run_module("k8s_bluegreen", name="myapp", namespace=namespace, service="myapp",
                        version="v2", state="promoted", wait_timeout=10)
    stop.set()
    thread.join(5)
    assert result.get("failed"), result
    assert "rogue-deployer" in result["msg"], result["msg"]
    assert "spec.selector" in result["msg"]
    assert kube.get(SERVICE, namespace, "myapp")["spec"]["selector"]["version"] == "v1"
