"""The release roles under a Role that lacks one permission needed midway, on the testbed:
the release starts, writes, then gets a 403. The failure summary must say exactly what was
written, what is live now and why it stopped (it once said "Live traffic was not touched
(none)" with v1 live, and "Nothing was changed" after creating the canary Deployment)."""

import copy
import os

import pytest
import yaml

from canary_objects import create_stable
from playbooks import role_play, run_playbook, write_playbook
from test_rbac import RBAC, bind_role, token_kubeconfig
from test_role_reliability import bluegreen_vars, canary_vars
from test_k8s_bluegreen import seed001_v1_live

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    DEPLOYMENT,
    SERVICE,
)

pytestmark = pytest.mark.reliability


def role_without(backend, api_group, resource, verbs):
    """deploy/rbac/<backend>.yaml with ``verbs`` taken away from ``resource``."""
    with open(os.path.join(RBAC, backend + ".yaml")) as handle:
        role = yaml.safe_load(handle)
    role = copy.deepcopy(role)
    for rule in role["rules"]:
        if api_group in rule["apiGroups"] and resource in rule["resources"]:
            rule["verbs"] = [v for v in rule["verbs"] if v not in verbs]
    role["rules"] = [r for r in role["rules"] if r["verbs"]]
    return role


@pytest.fixture
def run_limited(kube, kubeconfig, namespace, tmp_path, monkeypatch):
    def run(role, play):
        config = token_kubeconfig(kubeconfig, bind_role(kube, namespace, role),
                                  tmp_path / "releaser.kubeconfig")
        monkeypatch.setenv("KUBECONFIG", config)
        monkeypatch.setenv("K8S_AUTH_KUBECONFIG", config)
        return run_playbook(write_playbook(tmp_path, play))
    return run


def summary_of(result):
    assert result.failed, result.summary()
    messages = result.failure_messages()
    assert "Traceback" not in result.stdout + result.stderr
    return messages[-1]


def test_bluegreen_role_missing_a_permission_midway_says_what_was_written_and_what_is_live(
        kube, namespace, tmp_path, run_limited):
    seed001_v1_live(namespace)
    role = role_without("service", "discovery.k8s.io", "endpointslices", ("list", "watch"))
    result = run_limited(role, role_play("progressive.delivery.bluegreen",
                                         bluegreen_vars(namespace)))
    summary = summary_of(result)
    assert kube.get(SERVICE, namespace, "myapp-lan")["spec"]["selector"]["version"] == "v1"
    assert kube.get_or_none(DEPLOYMENT, namespace, "myapp-v2") is not None
    assert 'cannot list resource "endpointslices"' in summary, summary
    assert "written by this call before it stopped: create Deployment myapp-v2 (version v2); " \
        "create preview Service myapp-lan-preview -> v2; live traffic is still on v1 (not " \
        "switched by this call)." in summary, summary
    assert "(none)" not in summary and "Rolled back" not in summary, summary


def test_canary_role_missing_a_permission_midway_says_what_was_written_and_what_is_live(
        kube, namespace, tmp_path, run_limited):
    create_stable(kube, namespace, replicas=4)
    role = role_without("service", "discovery.k8s.io", "endpointslices", ("list", "watch"))
    result = run_limited(role, role_play("progressive.delivery.canary",
                                         canary_vars(namespace)))
    summary = summary_of(result)
    assert kube.get(DEPLOYMENT, namespace, "myapp-canary")["spec"]["replicas"] == 0
    assert kube.get(DEPLOYMENT, namespace, "myapp")["spec"]["replicas"] == 4
    assert 'cannot list resource "endpointslices"' in summary, summary
    assert "written by this call before it stopped: create canary Deployment myapp-canary " \
        "(ikubernetes/myapp:v2) with 0 replica(s); traffic now: the canary gets 0.0% of the " \
        "pods behind Service myapp (stable myapp: 4 replica(s), canary myapp-canary: 0)." in \
        summary, summary
    assert "No traffic was moved: all of it is still on the stable version." in summary
    assert "Nothing was changed" not in summary, summary
