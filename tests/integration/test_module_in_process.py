"""The collection's modules run in the task's worker process when the task runs on the
controller with the controller's Python, and as their own process otherwise; either way a
task gets the same result, check mode writes nothing, the task's ``environment:`` reaches
the module and ends with the task (real ansible-playbook runs on the testbed)."""

import os
import re
import subprocess
import sys

from kubernetes import client

from playbooks import _command, _env, run_playbook, write_playbook

IN_WORKER = "runs in the task's worker process"
OWN_PROCESS = "runs as its own process: "


def play(tasks, **play_vars):
    return [{"name": "in process", "hosts": "localhost", "gather_facts": False,
             "vars": play_vars, "tasks": tasks}]


def lease_task(name, namespace, **extra):
    task = {"name": name, "progressive.delivery.release_lease": {
        "name": name, "namespace": namespace, "holder": "test", "state": "acquired", "duration": 300}}
    task.update(extra)
    return task


def run_verbose(path):
    """ansible-playbook -vvv with the default callback: (rc, output). The interpreter is
    the play's (not an extra var, which would win over a task's)."""
    argv = _command(path, None)
    at = argv.index("ansible_python_interpreter=%s" % sys.executable)
    del argv[at - 1:at + 1]
    proc = subprocess.run(argv + ["-vvv"], capture_output=True, text=True,
                          env=_env(False), timeout=300, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def ways(output):
    """{task name: how its module ran}, from the -vvv lines the action plugin writes."""
    found, task = {}, None
    for line in output.splitlines():
        header = re.match(r"TASK \[(.*?)\] \*", line)
        if header:
            task = header.group(1)
        elif task and IN_WORKER in line:
            found[task] = "worker"
        elif task and OWN_PROCESS in line:
            found[task] = line.split(OWN_PROCESS, 1)[1].strip()
    return found


def lease_holder(k8s, namespace, name):
    try:
        lease = client.CoordinationV1Api(k8s).read_namespaced_lease(name + "-release", namespace)
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return lease.spec.holder_identity


def test_where_each_task_runs_its_module(tmp_path, namespace, k8s):
    base_python = os.path.realpath(sys.executable)  # the file the venv's python links to
    path = write_playbook(tmp_path, play([
        lease_task("local", namespace),
        lease_task("switched-off", namespace, vars={"progressive_delivery_in_process": False}),
        lease_task("async", namespace, **{"async": 60, "poll": 1}),
        # another Python (the base of this venv: same file, other packages): not ours to
        # run here; whatever that Python can do, the module runs there
        lease_task("other-python", namespace, vars={"ansible_python_interpreter": base_python},
                   ignore_errors=True),
    ], ansible_python_interpreter=sys.executable))
    rc, output = run_verbose(path)
    assert rc == 0, output[-3000:]
    found = ways(output)
    # the controller is ansible-playbook's Python: its script's first line, the venv's python3
    assert found.pop("other-python", "").startswith(
        "the host's Python (%s) is not the controller's (%s" % (base_python, os.path.dirname(sys.executable))), output[-3000:]
    assert found == {
        "local": "worker",
        "switched-off": "progressive_delivery_in_process is false",
        "async": "the task is async",
    }, output[-3000:]
    for name in ("local", "switched-off", "async"):
        assert lease_holder(k8s, namespace, name) == "test"


def test_the_same_results_either_way(tmp_path, namespace, k8s):
    query = {"progressive.delivery.canary_release_state": {
        "name": "web", "namespace": namespace, "version": "v2",
        "steps": [{"weight": 10}, {"pause": "1m"}, {"weight": 100}], "state": "query"}}
    bad = {"progressive.delivery.release_lease": {
        "name": "web", "namespace": namespace, "holder": "test", "duration": "soon"},
        "ignore_errors": True}
    results = {}
    for in_process in (True, False):
        path = write_playbook(tmp_path, play([
            dict(query, name="query"),
            dict(bad, name="bad input"),
            dict(lease_task("checked-%s" % ("here" if in_process else "own"), namespace), name="check mode", check_mode=True),
        ], progressive_delivery_in_process=in_process), name="p-%s.yml" % ("here" if in_process else "own"))
        run = run_playbook(path)
        assert not run.failed, run.summary()
        results[in_process] = dict(run.tasks())
    fast, slow = results[True], results[False]
    assert fast["query"].pop("now") <= slow["query"].pop("now")  # the clock of each call
    assert fast["query"] == slow["query"]
    assert fast["query"]["decision"] == "start"
    assert fast["bad input"]["msg"] == slow["bad input"]["msg"]
    assert "duration" in fast["bad input"]["msg"] and "soon" in fast["bad input"]["msg"]
    assert "Traceback" not in str(fast["bad input"])
    for result in (fast["check mode"], slow["check mode"]):
        assert result["changed"] is True and result["decision"] == "create"
    assert lease_holder(k8s, namespace, "checked-here") is None
    assert lease_holder(k8s, namespace, "checked-own") is None


def test_the_tasks_environment_reaches_the_module_and_ends_with_it(tmp_path, namespace, k8s, kubeconfig):
    home = tmp_path / "home"
    home.mkdir()
    # no kubeconfig but the one a task's environment names
    environ = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "K8S_AUTH_KUBECONFIG")}
    environ["HOME"] = str(home)
    path = write_playbook(tmp_path, play([
        lease_task("with-env", namespace, environment={"K8S_AUTH_KUBECONFIG": kubeconfig}),
        lease_task("without-env", namespace, ignore_errors=True),
    ]))
    run = run_playbook(path, environ=environ)
    tasks = dict(run.tasks())
    assert tasks["with-env"].get("changed") is True, run.summary()
    assert tasks["without-env"].get("failed") is True, run.summary()
    assert lease_holder(k8s, namespace, "with-env") == "test"
    assert lease_holder(k8s, namespace, "without-env") is None
