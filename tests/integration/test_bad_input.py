"""Inputs users get wrong, on the testbed: each gets a clear error naming the field and the
value, no Python traceback, and nothing in the cluster changes (resourceVersions equal)."""

import subprocess
import sys

import pytest

from modules import run_module
from playbooks import ANSIBLE_PLAYBOOK, _env, write_playbook

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    CONFIGMAP,
    DEPLOYMENT,
    INGRESS,
    SERVICE,
)

pytestmark = pytest.mark.reliability

SECRET = "hunter2-Zq9"
TOKEN = "tok-8c1f55e0a7"


def snapshot(kube, namespace):
    seen = {}
    for resource in (DEPLOYMENT, SERVICE, INGRESS, CONFIGMAP):
        for obj in kube.list(resource, namespace)["items"]:
            if obj["metadata"]["name"] == "kube-root-ca.crt":
                continue  # published by the controller-manager into every new namespace
            seen["%s/%s" % (resource.kind, obj["metadata"]["name"])] = \
                obj["metadata"]["resourceVersion"]
    return seen


def assert_clear_failure(result, *words):
    assert result.get("failed"), result
    text = result["msg"]
    assert "Traceback" not in text and "exception" not in result, result
    for word in words:
        assert word in text, (word, text)


GATE_CASES = [
    ([{"type": "http", "url": "http://127.0.0.1:9/", "name": ["a"]}], ["gates[0].name", "['a']"]),
    ([{"type": "http", "url": "http://127.0.0.1:9/", "interval_ms": "100ms"}],
     ["gates[0].interval_ms", "'100ms'"]),
    ([{"type": "http", "url": "http://127.0.0.1:9/", "latency_percentile": "p95"}],
     ["gates[0].latency_percentile", "'p95'"]),
    ([{"url": "http://127.0.0.1:9/"}], ["gates[0].type", "is required"]),
    ([{"type": "smoke"}], ["gates[0].type", "'smoke' is not one of"]),
    ([{"type": "prometheus", "url": "http://127.0.0.1:9", "query": "up", "threshold": "abc"}],
     ["gates[0].threshold", "'abc'"]),
]


@pytest.mark.parametrize("gates, words", GATE_CASES)
def test_gate_check_bad_gates(gates, words):
    assert_clear_failure(run_module("gate_check", gates=gates), *words)


def test_pods_gate_in_a_missing_namespace_names_it(kubeconfig):
    result = run_module("gate_check", gates=[
        {"name": "p", "type": "pods_ready", "namespace": "no-such-ns-4711",
         "selector": {"app": "x"}}])
    assert result["failed_gates"] == ["p"], result
    assert result["results"][0]["message"] == "namespace no-such-ns-4711 does not exist"


def test_a_kubeconfig_path_that_does_not_exist_is_named(tmp_path):
    missing = str(tmp_path / "nope" / "kubeconfig")
    result = run_module("gate_check", kubeconfig=missing, gates=[
        {"type": "pods_ready", "namespace": "default", "selector": {"app": "x"}}])
    assert_clear_failure(result, "kubeconfig: there is no file 'kubeconfig' in",
                         str(tmp_path / "nope"))


def test_bluegreen_bad_input_writes_nothing(kube, namespace):
    before = snapshot(kube, namespace)
    result = run_module("k8s_bluegreen", name="myapp", namespace=namespace, service="web",
                        version="v1.2", state="promoted", replicas=-1,
                        pod_template={"spec": {"containers": [{"name": "c", "image": "x"}]}})
    assert_clear_failure(result)
    assert snapshot(kube, namespace) == before


def test_secrets_in_gates_never_show_even_at_vvv(tmp_path, server_url=None):
    """A password in a gate URL and an Authorization header: masked in the result, in the
    -vvv invocation dump, and in the messages a role prints at default verbosity."""
    url = "http://ci:%s@127.0.0.1:9/health" % SECRET
    play = {"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "gates with secrets", "progressive.delivery.gate_check": {"gates": [
            {"name": "smoke", "type": "http", "url": url, "timeout": 1,
             "headers": {"Authorization": "Bearer " + TOKEN}}]},
         "register": "checked"},
        {"name": "show what a role would show",
         "ansible.builtin.debug": {"msg": "{{ checked.results[0].message }}"}}]}
    path = write_playbook(tmp_path, play)
    env = _env(json_output=False)
    proc = subprocess.run([ANSIBLE_PLAYBOOK, "-vvv", "-i", "localhost,", "-c", "local",
                           "-e", "ansible_python_interpreter=%s" % sys.executable, path],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert "gates with secrets" in output and "127.0.0.1:9/health" in output
    assert SECRET not in output
    assert TOKEN not in output
