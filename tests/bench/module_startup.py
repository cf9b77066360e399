#!/usr/bin/env python
"""Module start-up: what a module process costs before its first request to the API server.

Each module is run once through ``ansible`` with ANSIBLE_KEEP_REMOTE_FILES to keep its
AnsiballZ file (the zipped sources Ansible runs on a host), with arguments that make it read
something in a namespace that does not exist (nothing is written). That file is then run
--runs times, interleaved with the floor, and each run reports, from inside the process,
its CPU time (user + system) and the wall time since it was started, at its first
connect() to the API server's port:

- the floor: ``ansible.builtin.ping``'s AnsiballZ file, measured at its exit: the
  interpreter plus ``ansible.module_utils.basic``, which every module pays and no collection
  can avoid (and ``python -c pass``, the interpreter alone);
- each module of the collection, measured at its first connect().

CPU time barely grows with the machine's load; wall time does (other processes share the
cores). ``--imports N`` adds, per module, the N imports beyond the floor that cost the most
(``PYTHONPROFILEIMPORTTIME``, the same as ``python -X importtime``, on the AnsiballZ run).

Needs the testbed: run with KUBECONFIG pointing at it (see tests/testbed/README.md).
``--compare ROOT`` measures another checkout interleaved (before/after at the same load).
"""

import argparse
import glob
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
GOAL = 0.35
ABSENT = "pd-startup-absent"  # a namespace that does not exist: reads only, nothing written
MODULES = dict(
    k8s_bluegreen=dict(name="x", namespace=ABSENT, version="v2"),
    k8s_canary=dict(name="x", namespace=ABSENT, service="x", weight=10),
    canary_step=dict(name="x", namespace=ABSENT, version="v2", steps=[dict(weight=10)], step=0,
                     backend="replicas", settings=dict(service="x")),
    canary_release_state=dict(name="x", namespace=ABSENT, version="v2", steps=[dict(weight=10)]),
    gateway_traffic=dict(name="x", namespace=ABSENT, weights=dict(a=90, b=10)),
    knative_traffic=dict(namespace=ABSENT, service="x",
                         traffic=[dict(revision="@latest_created", percent=100)]),
    knative_revision_info=dict(namespace=ABSENT, service="x"),
    contour_delegate=dict(name="x", namespace=ABSENT, path="/"),
    release_lease=dict(name="x", namespace=ABSENT),
    k8s_rollout=dict(name="x", namespace=ABSENT),
    gate_check=dict(gates=[dict(name="pods", type="pods_ready", namespace=ABSENT,
                                selector=dict(app="x"))]),
)
FLOOR = "ansible.builtin.ping"

# Run inside the measured process (``--probe``): report at the first connect() to the port.
PROBE = """
import atexit, os, runpy, socket, sys, time
fd, port, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def report(what):
    os.write(fd, ("%s %.6f %.6f" % (what, time.process_time(), time.time())).encode())
real_connect = socket.socket.connect
def connect(self, address, *args):
    if isinstance(address, tuple) and len(address) >= 2 and address[1] == port:
        report("connect")
        os._exit(0)
    return real_connect(self, address, *args)
socket.socket.connect = connect
atexit.register(report, "exit")
sys.argv = [path]
runpy.run_path(path, run_name="__main__")
"""


def keep_ansiballz(root, module, args, workdir):
    """Run ``module`` once through ansible and return the path of its AnsiballZ file."""
    folder = tempfile.mkdtemp(dir=workdir)
    env = dict(os.environ, ANSIBLE_KEEP_REMOTE_FILES="1", ANSIBLE_REMOTE_TMP=folder,
               ANSIBLE_COLLECTIONS_PATH=os.path.join(root, "build"), ANSIBLE_NOCOLOR="1")
    ansible = os.path.join(os.path.dirname(sys.executable), "ansible")
    # as its own process (on a remote host, or with another Python), which is what is measured
    command = [ansible, "localhost", "-m", module, "-e", "ansible_python_interpreter=" + sys.executable,
               "-e", "progressive_delivery_in_process=false"]
    if args:
        command[4:4] = ["-a", json.dumps(args)]
    run = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    found = glob.glob(os.path.join(folder, "*", "AnsiballZ_*.py"))
    if not found:
        sys.exit("no AnsiballZ file kept for %s:\n%s%s" % (module, run.stdout, run.stderr))
    return found[0]


def probe(ansiballz, port):
    """(CPU seconds, wall seconds) of one module process at its first connect() (or exit)."""
    read, write = os.pipe()
    started = time.time()
    subprocess.run([sys.executable, "-c", PROBE, str(write), str(port), ansiballz],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(write,),
                   check=False)
    os.close(write)
    out = os.read(read, 200).decode().split()
    os.close(read)
    if not out:
        raise RuntimeError("%s reported nothing (did it fail before its first request?)" % ansiballz)
    return float(out[1]), float(out[2]) - started


def instructions(ansiballz, port):
    """Instructions the process executes up to its first connect() (or exit), counted by
    valgrind's callgrind: unlike time, the same on a busy and an idle machine."""
    env = dict(os.environ, PYTHONHASHSEED="0")
    err = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                          sys.executable, "-c", PROBE, "2", str(port), ansiballz],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
                         check=False).stderr
    return int(re.search(r"Collected : (\d+)", err).group(1))


def bare_python():
    """(CPU, wall) of ``python -c pass``."""
    import resource

    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.time()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    wall = time.time() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def import_profile(ansiballz, runs):
    """{module name: self microseconds, median of ``runs``} (PYTHONPROFILEIMPORTTIME)."""
    seen = {}
    for unused in range(runs):
        err = subprocess.run([sys.executable, ansiballz], capture_output=True, text=True,
                             check=False, env=dict(os.environ, PYTHONPROFILEIMPORTTIME="1")).stderr
        for line in err.splitlines():
            match = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
            if match:
                seen.setdefault(match.group(2), []).append(int(match.group(1)))
    return dict((name, statistics.median(times)) for name, times in seen.items())


def api_port():
    import yaml

    with open(os.environ["KUBECONFIG"]) as handle:
        config = yaml.safe_load(handle)
    server = config["clusters"][0]["cluster"]["server"]
    return int(server.rstrip("/").rsplit(":", 1)[1])


def load():
    with open("/proc/loadavg") as handle:
        return " ".join(handle.read().split()[:3])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=ROOT, help="checkout to measure (default: this one)")
    parser.add_argument("--compare", metavar="ROOT",
                        help="another checkout (say, main before a change), measured interleaved "
                             "with --root so both see the same load")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--modules", nargs="+", choices=sorted(MODULES), default=sorted(MODULES))
    parser.add_argument("--instructions", action="store_true",
                        help="also count the instructions to the first connect() with valgrind "
                             "(one run each, ~20 s per module; the same at any load)")
    parser.add_argument("--imports", type=int, default=0, metavar="N",
                        help="also list each module's N costliest imports beyond the floor "
                             "(median of --runs runs each)")
    args = parser.parse_args()
    roots = [os.path.abspath(r) for r in [args.root] + ([args.compare] if args.compare else [])]
    port = api_port()
    print("load average %s; %s, %d runs each, interleaved" % (load(), sys.executable, args.runs))
    workdir = tempfile.mkdtemp(prefix="pd-startup-")
    try:
        files = dict(floor=keep_ansiballz(roots[0], FLOOR, None, workdir))
        for root in roots:
            for module in args.modules:
                files[(root, module)] = keep_ansiballz(
                    root, "progressive.delivery." + module, MODULES[module], workdir)
        samples = dict((key, []) for key in list(files) + ["python"])
        for unused in range(args.runs):
            samples["python"].append(bare_python())
            for key, path in files.items():
                samples[key].append(probe(path, port))
        cpu = dict((k, statistics.median(c for c, w in v)) for k, v in samples.items())
        wall = dict((k, statistics.median(w for c, w in v)) for k, v in samples.items())
        print("%-46s %8s %8s %14s %8s" % ("", "wall", "CPU", "CPU - floor", "goal"))
        print("%-46s %7.3fs %7.3fs" % ("python -c pass", wall["python"], cpu["python"]))
        print("%-46s %7.3fs %7.3fs %14s" % ("floor: ansible.builtin.ping, start to exit",
                                            wall["floor"], cpu["floor"], "0"))
        for module in args.modules:
            for root in roots:
                key = (root, module)
                label = module + (" (%s)" % os.path.basename(root) if len(roots) > 1 else "")
                print("%-46s %7.3fs %7.3fs %+13.3fs %8s" % (
                    label, wall[key], cpu[key], cpu[key] - cpu["floor"],
                    "ok" if wall[key] <= GOAL else "> %.2f" % GOAL))
        print("medians of %d runs; start to first connect() to port %d; load average now %s"
              % (args.runs, port, load()))
        if args.instructions:
            counts = dict((key, instructions(path, port)) for key, path in files.items())
            print("instructions to the first connect() (callgrind), floor %.3f G:"
                  % (counts["floor"] / 1e9))
            for module in args.modules:
                for root in roots:
                    count = counts[(root, module)]
                    print("%-46s %7.3f G, %.2fx the floor, %+.3f G" % (
                        module + (" (%s)" % os.path.basename(root) if len(roots) > 1 else ""),
                        count / 1e9, count / float(counts["floor"]), (count - counts["floor"]) / 1e9))
        if args.imports:
            floor = import_profile(files["floor"], args.runs)
            for module in args.modules:
                for root in roots:
                    extra = dict((n, t) for n, t in import_profile(files[(root, module)], args.runs).items()
                                 if n not in floor)
                    top = sorted(extra.items(), key=lambda item: -item[1])[:args.imports]
                    print("%s%s: %d imports beyond the floor, %.1f ms (self); costliest: %s" % (
                        module, " (%s)" % os.path.basename(root) if len(roots) > 1 else "",
                        len(extra), sum(extra.values()) / 1e3,
                        ", ".join("%s %.1f ms" % (n.replace("ansible_collections.progressive."
                                                            "delivery.plugins.", ""), t / 1e3)
                                  for n, t in top)))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
