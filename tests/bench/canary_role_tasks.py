"""Benchmark: tasks and wall time of a 4-step canary release (steps 5/25/50/100, no pauses)
with the canary role, per backend (replicas, contour, knative), against the testbed.

Each backend gets its own namespace (deleted at the end); the playbook runs with the default
callback and the script prints the wall time, the "TASK [" lines and the recap. Give the
checkout whose collection runs, so two checkouts can be compared in one session:
  KUBECONFIG=... python tests/bench/canary_role_tasks.py /work/main replicas contour knative
  KUBECONFIG=... python tests/bench/canary_role_tasks.py . replicas contour knative
"""
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid

import yaml

CHECKOUT = os.path.abspath(sys.argv[1])
sys.path.insert(0, os.path.join(CHECKOUT, "build"))
sys.path.insert(0, os.path.join(CHECKOUT, "tests", "integration"))
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.connection import build_api_client  # noqa: E402
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import Kube, NAMESPACE, Resource  # noqa: E402
from ansible_collections.progressive.delivery.plugins.module_utils.contour.proxies import HTTPPROXY  # noqa: E402
from ansible_collections.progressive.delivery.plugins.module_utils.knative import common as kn  # noqa: E402
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import condition_is  # noqa: E402
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import wait_for  # noqa: E402
from canary_objects import create_stable, create_service, pod_template  # noqa: E402

SA = Resource("v1", "ServiceAccount", "serviceaccounts", True)
kube = Kube(build_api_client({"kubeconfig": os.environ["KUBECONFIG"]}))
STEPS = [{"weight": 5}, {"weight": 25}, {"weight": 50}, {"weight": 100}]


def setup(backend, ns):
    base = dict(canary_app="myapp", canary_namespace=ns, canary_version="v2",
                canary_steps=STEPS, canary_gate_interval="1s", canary_wait_timeout=120)
    if backend == "replicas":
        create_stable(kube, ns, replicas=4)
        return dict(base, canary_service="myapp", canary_pod_template=pod_template("ikubernetes/myapp:v2"))
    if backend == "contour":
        for name, version in (("blog-green", "v1"), ("blog-blue", "v2")):
            create_service(kube, ns, name, {"app": "blog", "version": version})
        kube.create(HTTPPROXY, ns, {"apiVersion": "projectcontour.io/v1", "kind": "HTTPProxy",
                    "metadata": {"name": "blog"},
                    "spec": {"routes": [{"services": [{"name": "blog-green", "port": 80}]}]}})
        kube.create(HTTPPROXY, ns, {"apiVersion": "projectcontour.io/v1", "kind": "HTTPProxy",
                    "metadata": {"name": "root"},
                    "spec": {"virtualhost": {"fqdn": "%s.example.com" % ns},
                             "includes": [{"name": "blog", "conditions": [{"prefix": "/blog"}]}]}})
        return dict(base, canary_backend="contour", canary_pods_gate=False,
                    canary_contour={"name": "root", "path": "/blog", "stable_service": "blog-green",
                                    "canary_service": "blog-blue"})
    kube.create(kn.KSERVICE, ns, {"apiVersion": kn.KSERVICE.api_version, "kind": "Service",
                "metadata": {"name": "hello", "namespace": ns},
                "spec": {"template": {"spec": {"containers": [
                    {"image": "gcr.io/knative-samples/helloworld-go", "env": [{"name": "TARGET", "value": "v1"}]}]}}}})
    wait_for(kube, kn.KSERVICE, ns, "hello", condition_is("Ready"), 120)
    return dict(base, canary_app="hello", canary_backend="knative",
                canary_knative={"service": "hello", "template": {"spec": {"containers": [
                    {"image": "gcr.io/knative-samples/helloworld-go", "env": [{"name": "TARGET", "value": "v2"}]}]}}})


for backend in sys.argv[2:]:
    ns = "stepbench-%s-%s" % (backend, uuid.uuid4().hex[:6])
    kube.create(NAMESPACE, None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    try:
        # the default service account must exist before pods can be created
        for _ in range(100):
            if kube.get_or_none(SA, ns, "default"):
                break
            time.sleep(0.1)
        role_vars = setup(backend, ns)
        play = [{"name": "bench", "hosts": "localhost", "gather_facts": False,
                 "tasks": [{"name": "run the role", "ansible.builtin.include_role": {"name": "progressive.delivery.canary"},
                            "vars": role_vars}]}]
        path = os.path.join(tempfile.gettempdir(), "%s.yml" % ns)
        with open(path, "w") as handle:
            yaml.safe_dump(play, handle, sort_keys=False)
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(CHECKOUT, "build"), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0", ANSIBLE_DEPRECATION_WARNINGS="0")
        start = time.time()
        proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
                               "-c", "local", "-e", "ansible_python_interpreter=%s" % sys.executable, path],
                              capture_output=True, text=True, env=env, check=False)
        wall = time.time() - start
        out = proc.stdout
        tasks = out.count("TASK [")
        with open(os.path.join(tempfile.gettempdir(), "%s.log" % ns), "w") as handle:
            handle.write(out + proc.stderr)
        recap = re.findall(r"localhost\s*:.*", out)
        print("%-9s rc=%d wall=%.1fs TASK-lines=%d %s load=%s" % (backend, proc.returncode, wall, tasks,
              recap[-1] if recap else "", open("/proc/loadavg").read().split()[0]), flush=True)
    finally:
        kube.delete(NAMESPACE, None, ns)
