"""Three clusters for fleet releases: the shared testbed plus two more started beside it.

The extra testbeds run the core components only (etcd, kube-apiserver, controller-manager,
scheduler, kwok with one node), each with its own state dir and ports, from the same cached
binaries, so starting both takes seconds. They are stopped at the end of the session. What
they cost (start time, RSS of their processes) is printed in the test summary.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
TESTBED = REPO / "tests" / "testbed" / "testbed.py"
PORT_NAMES = ("ETCD", "ETCD_PEER", "APISERVER", "CONTROLLER_MANAGER", "SCHEDULER", "KWOK")
EXTRA = ("cluster-b", "cluster-c")
COST = {}


def free_ports(count):
    """Ports nobody listens on now (the kernel's pick), so testbeds of other sessions on
    this machine never clash with ours; testbed.py refuses a port taken in between.

    They never collide with the shared testbed either: its components listen on fixed
    ports (16xxx, 23xxx, PD_TESTBED_*_PORT) that are bound while it runs, and the kernel
    picks from its ephemeral range (net.ipv4.ip_local_port_range, 32768-60999 here)."""
    socks = []
    try:
        for unused in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def extra_env(state, ports):
    env = dict(os.environ, PD_TESTBED_DIR=str(state), PD_TESTBED_NODES="1")
    for name, number in zip(PORT_NAMES, ports):
        env["PD_TESTBED_%s_PORT" % name] = str(number)
    return env


def rss_mib(state):
    """Summed VmRSS of the processes a testbed's pidfiles name."""
    total = 0
    per = {}
    for pidfile in sorted((Path(state) / "pids").glob("*.json")):
        pid = json.loads(pidfile.read_text())["pid"]
        try:
            for line in Path("/proc/%d/status" % pid).read_text().splitlines():
                if line.startswith("VmRSS:"):
                    kib = int(line.split()[1])
                    per[pidfile.stem] = round(kib / 1024)
                    total += kib
        except OSError:
            pass
    return round(total / 1024), per


@pytest.fixture(scope="session")
def fleet_clusters(kubeconfig):
    """[(name, kubeconfig path)] of three clusters: the shared testbed and two of our own."""
    root = Path(tempfile.mkdtemp(prefix="pd-fleet-testbeds-"))
    procs, envs = {}, {}
    ports = free_ports(len(PORT_NAMES) * len(EXTRA))
    started = time.monotonic()
    for index, name in enumerate(EXTRA):
        envs[name] = extra_env(root / name, ports[index * len(PORT_NAMES):(index + 1) * len(PORT_NAMES)])
        procs[name] = subprocess.Popen([sys.executable, str(TESTBED), "up"], env=envs[name],
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       text=True)
    failures = []
    for name, proc in procs.items():
        out = proc.communicate(timeout=300)[0]
        if proc.returncode:
            failures.append("%s: %s" % (name, out[-3000:]))
    COST["start_seconds"] = round(time.monotonic() - started, 1)
    try:
        if failures:
            pytest.fail("extra testbeds did not start:\n" + "\n".join(failures), pytrace=False)
        for name in EXTRA:
            COST[name] = rss_mib(root / name)
        yield [("cluster-a", kubeconfig)] + [(n, str(root / n / "kubeconfig")) for n in EXTRA]
        for name in EXTRA:
            COST[name + " at the end"] = rss_mib(root / name)
    finally:
        stopped = time.monotonic()
        for name in EXTRA:
            subprocess.run([sys.executable, str(TESTBED), "down"], env=envs[name],
                           capture_output=True, check=False, timeout=120)
        COST["stop_seconds"] = round(time.monotonic() - stopped, 1)


def pytest_terminal_summary(terminalreporter):
    if COST:
        terminalreporter.write_line("fleet testbeds (two extra, core only, 1 node each): %s"
                                    % json.dumps(COST, sort_keys=True))
