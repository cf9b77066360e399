"""What the benchmarks share: medians, ratios and markdown tables (pure, unit-tested in
tests/unit/test_bench_helpers.py), interleaved runs, the machine line, namespaces on the
testbed, running ansible-playbook and module processes, the request trace, and the peak
summed RSS of a process tree's module processes.

Every benchmark measures the cases it compares in the same run, interleaved (A B C, B C
A, C A B, ...), and reports medians and ratios of those medians: the machine is shared,
so only numbers taken side by side compare.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(ROOT, "build")
LINK = os.path.join(COLLECTIONS, "ansible_collections", "progressive", "delivery")
BIN = os.path.dirname(sys.executable)
ANSIBLE_PLAYBOOK = os.path.join(BIN, "ansible-playbook")
TRACE_ENV = "PD_TRACE_REQUESTS"
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)


# ---------------------------------------------------------------------------
# numbers and tables (pure)
# ---------------------------------------------------------------------------
def median(values):
    """The median of the values that are numbers (None: a failed run); None if none."""
    numbers = [v for v in values if v is not None]
    return statistics.median(numbers) if numbers else None


def ratio(value, base):
    """value / base, or None when either is missing or base is not positive."""
    if value is None or base is None or base <= 0:
        return None
    return value / base


def seconds(value):
    """'1.23 s' (two decimals under 10 s, one above), '-' for None."""
    if value is None:
        return "-"
    return "%.2f s" % value if value < 10 else "%.1f s" % value


def times(value):
    """'3.4x', '-' for None."""
    return "-" if value is None else "%.1fx" % value


def megabytes(value):
    return "-" if value is None else "%d MB" % round(value / 1e6)


def goal_met(value, limit):
    """'yes' / 'NO' / '-' (unknown): is value <= limit?"""
    if value is None:
        return "-"
    return "yes" if value <= limit else "NO"


def markdown_table(headers, rows):
    """A GitHub markdown table; cells are str()-ed, '|' in a cell is escaped."""
    def cell(value):
        return str(value).replace("|", "\\|")
    lines = ["| " + " | ".join(cell(h) for h in headers) + " |",
             "|" + "|".join("---" for _h in headers) + "|"]
    for row in rows:
        if len(row) != len(headers):
            raise ValueError("row %r has %d cells, want %d" % (row, len(row), len(headers)))
        lines.append("| " + " | ".join(cell(c) for c in row) + " |")
    return "\n".join(lines)


def rotations(names, runs):
    """The order of each run: every case once per run, the first case rotating, so no
    case always runs first (cold caches) or right after the same neighbour."""
    names = list(names)
    for run in range(runs):
        shift = run % len(names) if names else 0
        yield names[shift:] + names[:shift]


def interleaved(cases, runs, log=None):
    """Run each of ``cases`` (name -> callable returning seconds, or a dict with
    'seconds' and more) ``runs`` times, interleaved; returns name -> list of results
    (None for a run that raised, after logging why)."""
    found = dict((name, []) for name in cases)
    for run, order in enumerate(rotations(list(cases), runs)):
        for name in order:
            try:
                value = cases[name]()
            except Exception as exc:  # one failed run is reported, not fatal
                say(log, "  %s run %d failed: %s" % (name, run + 1, str(exc)[-2000:]))
                value = None
            found[name].append(value)
            shown = value.get("seconds") if isinstance(value, dict) else value
            say(log, "  %s run %d: %s" % (name, run + 1, seconds(shown)))
    return found


def say(log, text):
    (log or sys.stderr).write(text + "\n")
    (log or sys.stderr).flush()


def field(results, key="seconds"):
    """The ``key`` of each result (results may be numbers, dicts or None)."""
    out = []
    for value in results:
        if isinstance(value, dict):
            out.append(value.get(key))
        elif key == "seconds":
            out.append(value)
        else:
            out.append(None)
    return out


# ---------------------------------------------------------------------------
# the machine
# ---------------------------------------------------------------------------
def machine():
    """nproc and the load averages now (printed at the start of each benchmark)."""
    try:
        load = os.getloadavg()
    except OSError:
        load = (None, None, None)
    return dict(nproc=os.cpu_count(), load=load)


def machine_line(info=None):
    info = info or machine()
    load = " / ".join("%.2f" % float(v) for v in info["load"] if v is not None) or "?"
    return "machine: nproc %s, load average (1/5/15 min) at start %s" % (info["nproc"], load)


def runs_default(default):
    """BENCH_RUNS overrides every benchmark's own default N."""
    value = os.environ.get("BENCH_RUNS")
    return int(value) if value else default


# ---------------------------------------------------------------------------
# the testbed
# ---------------------------------------------------------------------------
def kube_client():
    from ansible_collections.progressive.delivery.plugins.module_utils.k8s.connection import (
        build_api_client,
    )
    from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import Kube
    ensure_collection_link()
    return Kube(build_api_client({}))


def ensure_collection_link():
    if not os.path.exists(LINK):
        os.makedirs(os.path.dirname(LINK), exist_ok=True)
        os.symlink(os.path.relpath(ROOT, os.path.dirname(LINK)), LINK)


class Namespaces(object):
    """Namespaces this benchmark creates (bench-<what>-<random>), all deleted at the end
    (without waiting for them to go)."""

    def __init__(self, kube, prefix):
        self.kube = kube
        self.prefix = prefix
        self.made = []

    def new(self, labels=None):
        from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
            NAMESPACE,
            Resource,
        )
        name = "bench-%s-%s" % (self.prefix, uuid.uuid4().hex[:6])
        meta = {"name": name, "labels": dict({"progressive.delivery/bench": "true"},
                                             **(labels or {}))}
        self.kube.create(NAMESPACE, None, {"apiVersion": "v1", "kind": "Namespace",
                                           "metadata": meta})
        self.made.append(name)
        # pods are admitted once the namespace's default ServiceAccount exists
        account = Resource("v1", "ServiceAccount", "serviceaccounts", True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.kube.get_or_none(account, name, "default") is not None:
                break
            time.sleep(0.1)
        return name

    def drop(self, name):
        from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
            NAMESPACE,
        )
        self.kube.delete(NAMESPACE, None, name)
        if name in self.made:
            self.made.remove(name)

    def clean(self):
        for name in list(self.made):
            try:
                self.drop(name)
            except Exception as exc:  # report, go on with the others
                sys.stderr.write("could not delete namespace %s: %s\n" % (name, exc))


# ---------------------------------------------------------------------------
# processes
# ---------------------------------------------------------------------------
def ansible_env(extra=None):
    ensure_collection_link()
    env = dict(os.environ)
    env.update(ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_NOCOLOR="1",
               ANSIBLE_RETRY_FILES_ENABLED="0", ANSIBLE_HOST_KEY_CHECKING="0",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
               ANSIBLE_DEPRECATION_WARNINGS="0", ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    env.update(extra or {})
    return env


def k8s_core_promotion_play(title, hosts, app, pods):
    """The blue/green promotion the kubernetes.core way, as its users write it: the Service's
    selector patched with ``kubernetes.core.k8s``, then ``kubernetes.core.k8s_info`` on its
    EndpointSlices ``until`` only the new version's ``pods`` pods serve (delay 5). ``app``: a
    Jinja expression naming the app (a quoted literal or a variable)."""
    served = ("(slices.resources | map(attribute='endpoints', default=[]) | flatten"
              " | selectattr('conditions.ready') | map(attribute='targetRef.name') | list)")
    return [{
        "name": title, "hosts": hosts, "gather_facts": False,
        "tasks": [
            {"name": "point the Service at the new version", "kubernetes.core.k8s": {
                "state": "patched", "kind": "Service", "name": "{{ %s }}" % app,
                "namespace": "{{ ns }}",
                "definition": {"spec": {"selector": {
                    "app": "{{ %s }}" % app, "version": "{{ target }}"}}}}},
            {"name": "wait until only the new version's pods serve",
             "kubernetes.core.k8s_info": {
                 "api_version": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                 "namespace": "{{ ns }}",
                 "label_selectors": ["kubernetes.io/service-name={{ %s }}" % app]},
             "register": "slices",
             "until": ["%s | length == %d" % (served, pods),
                       "%s | select('match', %s ~ '-' ~ target ~ '-') | list | length == %d"
                       % (served, app, pods)],
             "retries": 60, "delay": 5}]}]


def write_yaml(directory, name, data):
    import yaml
    path = os.path.join(directory, name)
    with open(path, "w") as handle:
        yaml.safe_dump(data, handle, sort_keys=False)
    return path


def run_playbook(path, extra_vars=None, inventory="localhost,", forks=None, env=None,
                 timeout=1800, sampler=None):
    """Run ansible-playbook; return dict(seconds, rc, tasks (ok+changed+failed count),
    output tail, peak_rss when a sampler class is given, cpu: the CPU seconds of the
    run's processes). Raises on failure."""
    argv = [ANSIBLE_PLAYBOOK, "-i", inventory, "-c", "local", path]
    if forks:
        argv += ["-f", str(forks)]
    if extra_vars:
        argv += ["-e", json.dumps(extra_vars)]
    start = time.monotonic()
    cpu_before = _children_cpu()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=ansible_env(env), text=True)
    watcher = sampler(proc.pid) if sampler else None
    if watcher:
        watcher.start()
    try:
        output, _unused = proc.communicate(timeout=timeout)
    finally:
        if watcher:
            watcher.stop()
    elapsed = time.monotonic() - start
    if proc.returncode:
        raise RuntimeError("ansible-playbook %s failed (rc %s):\n%s"
                           % (os.path.basename(path), proc.returncode, output[-3000:]))
    return dict(seconds=elapsed, rc=proc.returncode, tasks=count_tasks(output),
                output=output[-2000:], peak_rss=watcher.peak if watcher else None,
                cpu=_children_cpu() - cpu_before)


def _children_cpu():
    """User + system CPU seconds of every finished child process, and theirs (Ansible
    waits for its workers and they for the module processes, so a playbook run's whole
    CPU, controller and modules, is counted once it ended)."""
    import resource
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_floor(case, *args, timeout=600):
    """Run one case of floor.py as a process of its own (as a module would be); return the
    process's wall time. Raises when it fails."""
    here = os.path.dirname(os.path.abspath(__file__))
    start = time.monotonic()
    proc = subprocess.run([sys.executable, os.path.join(here, "floor.py"), case]
                          + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, check=False)
    if proc.returncode:
        raise RuntimeError("floor %s failed: %s %s" % (case, proc.stdout[-500:],
                                                       proc.stderr[-1500:]))
    return time.monotonic() - start


def count_tasks(output):
    """Tasks that ran, from the recap line(s): ok + changed + failed (skipped aside)."""
    total = 0
    for line in output.splitlines():
        if " ok=" in line and " changed=" in line:
            for part in line.split():
                key, _eq, value = part.partition("=")
                if key in ("ok", "failed") and value.isdigit():
                    total += int(value)
    return total


def run_module_process(module, params, trace_path=None, collection="progressive.delivery",
                       timeout=600):
    """Run one module as Ansible runs it on a host (python -m, arguments in a JSON file);
    return dict(seconds, result, startup (process start to its first traced request),
    requests (traced lines)). Raises when the module fails."""
    ensure_collection_link()
    namespace, name = collection.split(".")
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": dict(params, _ansible_check_mode=False,
                                               _ansible_diff=False)}, handle)
        args = handle.name
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([COLLECTIONS, env.get("PYTHONPATH", "")])
    env.pop(TRACE_ENV, None)
    if trace_path:
        env[TRACE_ENV] = trace_path
        if os.path.exists(trace_path):
            os.unlink(trace_path)
    module_path = "ansible_collections.%s.%s.plugins.modules.%s" % (namespace, name, module)
    started_wall, start = time.time(), time.monotonic()
    try:
        proc = subprocess.run([sys.executable, "-m", module_path, args], capture_output=True,
                              text=True, env=env, timeout=timeout, check=False)
    finally:
        os.unlink(args)
    elapsed = time.monotonic() - start
    try:
        result = json.loads(proc.stdout[proc.stdout.index("{"):])
    except ValueError:
        raise RuntimeError("%s printed no JSON (rc %s): %s %s" % (
            module, proc.returncode, proc.stdout[-1000:], proc.stderr[-1000:]))
    if result.get("failed"):
        raise RuntimeError("%s failed: %s" % (module, result.get("msg")))
    out = dict(seconds=elapsed, result=result, startup=None, requests=None)
    if trace_path and os.path.exists(trace_path):
        from ansible_collections.progressive.delivery.plugins.module_utils.k8s import trace
        with open(trace_path) as handle:
            entries = trace.parse(handle.read())
        out["requests"] = len(entries)
        if entries:
            out["startup"] = max(0.0, min(e["t"] for e in entries if "t" in e) - started_wall)
    return out


# ---------------------------------------------------------------------------
# memory
# ---------------------------------------------------------------------------
def _children_map():
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as handle:
                stat = handle.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def descendants(pid, children):
    """Every process under ``pid`` (pure, given the parent -> children map)."""
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children.get(child, []))
    return found


def rss_bytes(pid):
    try:
        with open("/proc/%d/statm" % pid) as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def pss_bytes(pid):
    """The process's proportional set size: its private pages plus its share of the pages
    it shares (Ansible's workers are forks of ansible-playbook and share most of theirs),
    so a sum over processes counts each page once. RSS where the kernel gives no PSS."""
    try:
        with open("/proc/%d/smaps_rollup" % pid) as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return rss_bytes(pid)


class RssSampler(object):
    """Samples, every ``interval`` s, the summed memory (PSS) of a run's processes: the
    process ``pid`` (ansible-playbook), its workers and the module processes they start;
    ``peak`` is the largest sum seen."""

    def __init__(self, pid, interval=0.05):
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join(5)

    def _run(self):
        while not self._stop.is_set():
            pids = [self.pid] + descendants(self.pid, _children_map())
            self.peak = max(self.peak, sum(pss_bytes(pid) for pid in pids))
            self._stop.wait(self.interval)


def script_main(doc, run, default_runs=3):
    """The command line of a benchmark whose ``run(kube, runs)`` returns its title, table
    and results: --runs, the machine line, the table, the results as JSON."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n", 1)[0])
    parser.add_argument("--runs", type=int, default=runs_default(default_runs))
    args = parser.parse_args()
    print(machine_line())
    out = run(kube_client(), args.runs)
    print("\n### %s (median of %d)\n\n%s" % (out["title"], args.runs, out["table"]))
    print("\n" + json.dumps(out["results"]))
