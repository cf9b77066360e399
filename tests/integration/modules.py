"""Run the collection's modules for real from tests.

``run_module`` executes a module file the way Ansible does on a managed host (arguments in
a JSON file, result as JSON on stdout), with check mode and diff as Ansible passes them.
It is fast (no ansible-playbook start-up per call); the playbooks and Molecule scenarios
cover the same modules through ansible-playbook.
"""

import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(ROOT, "build")
LINK = os.path.join(COLLECTIONS, "ansible_collections", "progressive", "delivery")


def ensure_collection_link():
    if not os.path.exists(LINK):
        os.makedirs(os.path.dirname(LINK), exist_ok=True)
        os.symlink(os.path.relpath(ROOT, os.path.dirname(LINK)), LINK)


def run_module(module, check=False, diff=False, **params):
    """Return the module's result dict (``failed`` and ``msg`` on failure)."""
    ensure_collection_link()
    args = dict(params, _ansible_check_mode=check, _ansible_diff=diff)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, handle)
        path = handle.name
    env = dict(os.environ)
    env["PYTHONPATH"] = COLLECTIONS + os.pathsep + env.get("PYTHONPATH", "")
    try:
        proc = subprocess.run(
            [sys.executable, "-m",
             "ansible_collections.progressive.delivery.plugins.modules." + module, path],
            capture_output=True, text=True, env=env, timeout=900, check=False,
        )
    finally:
        os.unlink(path)
    try:
        return json.loads(proc.stdout)
    except ValueError:
        raise AssertionError("module %s printed no JSON (rc=%s)\nstdout: %s\nstderr: %s"
                             % (module, proc.returncode, proc.stdout[-3000:],
                                proc.stderr[-3000:]))
