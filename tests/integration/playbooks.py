"""Run playbooks of the collection's roles from tests, the way a user (or AWX) does.

``run_playbook`` runs ansible-playbook against localhost with this checkout as the
collection and the JSON callback, and returns the parsed result: which tasks ran, what
each returned, the custom stats (set_stats). ``start_playbook`` starts one in the
background (its own process group, so a test can kill it mid-run as a killed AWX job).
"""

import json
import os
import signal
import subprocess
import sys

import yaml

from modules import COLLECTIONS, ensure_collection_link

ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")


def write_playbook(directory, plays, name="playbook.yml"):
    """Write ``plays`` (a list of plays, or one play) as YAML; return its path."""
    if isinstance(plays, dict):
        plays = [plays]
    path = os.path.join(str(directory), name)
    with open(path, "w") as handle:
        yaml.safe_dump(plays, handle, sort_keys=False)
    return path


def role_play(role, role_vars, name="test play", pre_tasks=None):
    """A localhost play that includes ``role`` with ``role_vars``."""
    return {
        "name": name,
        "hosts": "localhost",
        "gather_facts": False,
        "tasks": list(pre_tasks or []) + [{
            "name": "run the role",
            "ansible.builtin.include_role": {"name": role},
            "vars": role_vars,
        }],
    }


def _command(path, extra_vars, check=False):
    argv = [ANSIBLE_PLAYBOOK, "-i", "localhost,", "-c", "local",
            "-e", "ansible_python_interpreter=%s" % sys.executable, path]
    if check:
        argv += ["--check", "--diff"]
    if extra_vars:
        argv += ["-e", json.dumps(extra_vars)]
    return argv


def _env(json_output, environ=None):
    ensure_collection_link()
    env = dict(os.environ if environ is None else environ)
    env.update(ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_NOCOLOR="1",
               ANSIBLE_RETRY_FILES_ENABLED="0", ANSIBLE_HOST_KEY_CHECKING="0",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
               ANSIBLE_DEPRECATION_WARNINGS="0")
    if json_output:
        env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
        env["ANSIBLE_SHOW_CUSTOM_STATS"] = "1"
    return env


class PlaybookResult(object):
    def __init__(self, rc, stdout, stderr):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        try:
            self.data = json.loads(stdout[stdout.index("{"):])
        except ValueError:
            raise AssertionError("ansible-playbook printed no JSON (rc=%s)\nstdout: %s\n"
                                 "stderr: %s" % (rc, stdout[-3000:], stderr[-3000:]))

    @property
    def failed(self):
        return self.rc != 0

    def tasks(self, host="localhost"):
        """(task name, result) of every task that ran on ``host``, in order; items of a
        loop are one result with ``results``."""
        seen = []
        for play in self.data.get("plays") or []:
            for task in play.get("tasks") or []:
                result = (task.get("hosts") or {}).get(host)
                if result is not None:
                    seen.append((_without_role(task["task"]["name"]), result))
        return seen

    def ran(self, host="localhost"):
        """Names of the tasks that ran (not skipped)."""
        return [name for name, result in self.tasks(host) if not result.get("skipped")]

    def results_of(self, name_part, host="localhost"):
        return [result for name, result in self.tasks(host)
                if name_part in name and not result.get("skipped")]

    @property
    def custom_stats(self):
        stats = self.data.get("global_custom_stats") or {}
        return stats

    @property
    def stats(self):
        return (self.data.get("stats") or {}).get("localhost") or {}

    def failure_messages(self):
        return [result.get("msg", "") for unused_name, result in self.tasks()
                if result.get("failed") and not result.get("ignore_errors")]

    def summary(self):
        """Enough of the run to read a test failure."""
        lines = ["rc=%s stats=%s" % (self.rc, self.stats)]
        for name, result in self.tasks():
            state = ("skipped" if result.get("skipped") else "FAILED" if result.get("failed")
                     else "changed" if result.get("changed") else "ok")
            lines.append("%s: %s%s" % (state, name, (" - " + str(result.get("msg")))
                                       if result.get("failed") else ""))
        lines.append(self.stderr[-2000:])
        return "\n".join(lines)


def _without_role(name):
    """'progressive.delivery.canary : Canary | ...' -> 'Canary | ...'."""
    head, sep, rest = name.partition(" : ")
    return rest if sep and " " not in head else name


def run_playbook(path, extra_vars=None, timeout=900, check=False, environ=None):
    """Run the playbook (with ``--check --diff`` when ``check``); wait for the result.
    ``environ`` replaces the test's environment as the base of the playbook's."""
    proc = subprocess.run(_command(path, extra_vars, check), capture_output=True, text=True,
                          env=_env(True, environ), timeout=timeout, check=False)
    return PlaybookResult(proc.returncode, proc.stdout, proc.stderr)


def start_playbook(path, log_path, extra_vars=None):
    """Start ansible-playbook in the background (default callback, output in log_path)."""
    log = open(str(log_path), "w")
    return subprocess.Popen(_command(path, extra_vars), stdout=log, stderr=subprocess.STDOUT,
                            env=_env(False), start_new_session=True)


def kill_playbook(proc):
    """SIGKILL the playbook and everything it started, as when an AWX job is killed."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)
