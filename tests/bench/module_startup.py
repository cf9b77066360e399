#!/usr/bin/env python
"""Module start-up: what a module process costs before its first request to the API server.

(a) import time (``python -X importtime``) of each module's imports, median of --runs;
(b) process start -> first connect() to the API server of a real module run: the module is
    run once through ``ansible`` with ANSIBLE_KEEP_REMOTE_FILES to keep its AnsiballZ file,
    then that file is run --runs times under ``strace -f -e trace=execve,connect`` (only those
    two calls are traced, with seccomp, so the process is not slowed by tracing);
(c) the CPU time (user + system) of that whole module process, which makes one request and
    exits: start-up is nearly all of it, and unlike wall time it does not grow with the
    machine's load.

Needs the testbed for (b): run with KUBECONFIG pointing at it (see tests/testbed/README.md).
``--root`` measures another checkout (for a before/after on the same machine and load).
"""

import argparse
import glob
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODULES = ("k8s_bluegreen", "k8s_canary", "knative_revision_info", "contour_delegate")


def import_seconds(root, module):
    code = "import ansible_collections.progressive.delivery.plugins.modules.%s" % module
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True,
                         text=True, env=dict(os.environ, PYTHONPATH=os.path.join(root, "build")),
                         check=True).stderr
    line = [ln for ln in out.splitlines() if ln.rstrip().endswith("modules." + module)][-1]
    return int(line.split("|")[1]) / 1e6


def keep_ansiballz(root, module, args, workdir):
    """Run the module once through ansible and return the path of its AnsiballZ file."""
    env = dict(os.environ, ANSIBLE_KEEP_REMOTE_FILES="1", ANSIBLE_REMOTE_TMP=workdir,
               ANSIBLE_COLLECTIONS_PATH=os.path.join(root, "build"), ANSIBLE_NOCOLOR="1")
    ansible = os.path.join(os.path.dirname(sys.executable), "ansible")
    run = subprocess.run([ansible, "localhost", "-m", "progressive.delivery." + module, "-a", args,
                          "-e", "ansible_python_interpreter=" + sys.executable],
                         capture_output=True, text=True, env=env, check=False)
    found = glob.glob(os.path.join(workdir, "*", "AnsiballZ_%s.py" % module))
    if not found:
        sys.exit("no AnsiballZ file kept for %s:\n%s%s" % (module, run.stdout, run.stderr))
    return found[0]


CONNECT = re.compile(r"^(?:\[pid\s+\d+\]\s+)?(\d+\.\d+) connect\(\d+, \{sa_family=AF_INET6?, "
                     r"sin6?_port=htons\((\d+)\)")


def first_request_seconds(ansiballz, port):
    """Seconds from the process's execve to its first connect() to ``port``."""
    out = subprocess.run(["strace", "-f", "--seccomp-bpf", "-ttt", "-e", "trace=execve,connect",
                          sys.executable, ansiballz], capture_output=True, text=True, check=False)
    start = None
    for line in out.stderr.splitlines():
        stamp = re.match(r"^(?:\[pid\s+\d+\]\s+)?(\d+\.\d+) ", line)
        if start is None and stamp and " execve(" in line:
            start = float(stamp.group(1))
        match = CONNECT.match(line)
        if match and int(match.group(2)) == port:
            return float(match.group(1)) - start
    raise RuntimeError("no connect to port %s:\n%s" % (port, out.stderr[-2000:]))


def cpu_seconds(ansiballz):
    """User + system CPU seconds of one run of the module process."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, ansiballz], capture_output=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def api_port():
    import yaml

    with open(os.environ["KUBECONFIG"]) as handle:
        config = yaml.safe_load(handle)
    server = config["clusters"][0]["cluster"]["server"]
    return int(server.rsplit(":", 1)[1].strip("/"))


def load():
    return "%.2f %.2f %.2f" % os.getloadavg()


def median_line(label, times):
    return "%s median %.3f s (min %.3f, max %.3f)" % (label, statistics.median(times), min(times),
                                                      max(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=ROOT, help="checkout to measure (default: this one)")
    parser.add_argument("--compare", metavar="ROOT",
                        help="another checkout (say, main before a change), measured interleaved "
                             "with --root so both see the same load")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-first-request", action="store_true",
                        help="only the import times (no testbed needed)")
    args = parser.parse_args()
    roots = [os.path.abspath(r) for r in [args.root] + ([args.compare] if args.compare else [])]
    print("load average %s" % load())
    for module in MODULES:
        times = dict((r, []) for r in roots)
        for unused in range(args.runs):
            for root in roots:
                times[root].append(import_seconds(root, module))
        for root in roots:
            print(median_line("import %-22s %s" % (module, root), times[root]))
    if args.no_first_request:
        return
    workdir = tempfile.mkdtemp(prefix="pd-startup-")
    try:
        zipped = {}
        for index, root in enumerate(roots):
            folder = os.path.join(workdir, str(index))
            os.mkdir(folder)
            zipped[root] = keep_ansiballz(root, "knative_revision_info",
                                          "namespace=default service=absent", folder)
        port = api_port()
        first, cpu = dict((r, []) for r in roots), dict((r, []) for r in roots)
        for unused in range(args.runs):
            for root in roots:
                first[root].append(first_request_seconds(zipped[root], port))
                cpu[root].append(cpu_seconds(zipped[root]))
        for root in roots:
            print(median_line("knative_revision_info %s: process start -> first request" % root,
                              first[root]))
            print(median_line("knative_revision_info %s: CPU of the whole process" % root,
                              cpu[root]))
        print("load average %s" % load())
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
