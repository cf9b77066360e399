"""Module start-up: importing a module loads none of the heavy packages it does not need on
its common path (each costs 10-500 ms of every module process; see docs/benchmarks.md,
Module start-up). Each module is imported in a fresh interpreter."""

import glob
import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODULES = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py"))
                 if not p.endswith("__init__.py"))

# Package -> what loads it only when needed.
HEAVY = {
    "kubernetes": "a kubeconfig user with a legacy auth-provider (k8s/connection.py)",
    "ansible.module_utils.urls": "an http or prometheus gate (gates/checks.py http_fetch)",
    "cryptography": "nothing of ours; ansible's urls module loads it",
    "yaml": "a kubeconfig written in YAML (k8s/kubeconfig.py _parse)",
    "urllib3": "nothing: the transport is http.client",
}

CODE = """
import json, sys
__import__("ansible_collections.progressive.delivery.plugins.modules." + sys.argv[1])
print(json.dumps(sorted(sys.modules)))
"""


@pytest.mark.parametrize("module", MODULES)
def test_importing_a_module_loads_no_heavy_package(module):
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "build"))
    loaded = json.loads(subprocess.run([sys.executable, "-c", CODE, module], capture_output=True,
                                       text=True, check=True, env=env).stdout)
    found = sorted(name for name in HEAVY if name in loaded)
    assert not found, "%s imports %s at start-up (needed only for: %s)" % (
        module, ", ".join(found), "; ".join(HEAVY[name] for name in found))


def test_the_list_covers_every_module():
    assert len(MODULES) >= 11
