"""One connection for every task of a release.

The connection is given only in ``module_defaults: group/progressive.delivery.k8s``; the
playbook runs with no KUBECONFIG, no K8S_AUTH_* variable and a HOME without ~/.kube, so a
task the group did not reach (the roles' kubernetes.core.k8s / k8s_scale tasks included)
finds no cluster and fails the release. The group extends kubernetes.core's (meta/runtime.yml).
"""

import os

from canary_objects import create_ingress
from playbooks import run_playbook, write_playbook
from test_bluegreen_role_backends import blue_manifests, contour_setup, includes
from test_canary_role import workload

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    DEPLOYMENT,
    INGRESS,
    SERVICE,
    Kube,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.connection import (
    build_api_client,
)


def scrubbed_environment(home):
    """The test's environment without any ambient connection (the Makefile and the
    kubeconfig fixture export KUBECONFIG and K8S_AUTH_KUBECONFIG)."""
    env = dict((k, v) for k, v in os.environ.items()
               if k != "KUBECONFIG" and not k.startswith("K8S_AUTH_"))
    env["HOME"] = str(home)
    return env


def release_play(kubeconfig, namespace):
    return {
        "name": "blue/green and canary with the connection in module_defaults only",
        "hosts": "localhost",
        "gather_facts": False,
        "module_defaults": {"group/progressive.delivery.k8s": {"kubeconfig": kubeconfig}},
        "tasks": [
            {"name": "blue/green release over Contour",
             "ansible.builtin.include_role": {"name": "progressive.delivery.bluegreen"},
             "vars": dict(
                 bluegreen_app="blog", bluegreen_namespace=namespace, bluegreen_version="blue",
                 bluegreen_backend="contour", bluegreen_app_labels={"app": "blog"},
                 bluegreen_manifests=blue_manifests(), bluegreen_wait_timeout=60,
                 bluegreen_pause="1s", bluegreen_scale_down_delay="1s",
                 bluegreen_contour={"name": "root", "path": "/blog",
                                    "child": {"name": "blog2"},
                                    "preview_path": "/blog-preview"})},
            {"name": "canary release over ingress-nginx",
             "ansible.builtin.include_role": {"name": "progressive.delivery.canary"},
             "vars": dict(
                 canary_app="myapp", canary_namespace=namespace, canary_version="v2",
                 canary_backend="nginx", canary_gate_interval="1s", canary_wait_timeout=60,
                 canary_nginx={"ingress": "myapp", "canary_service": "myapp-v2"},
                 canary_manifests=workload("myapp-v2", "v2"),
                 canary_steps=[{"weight": 10}, {"pause": "1s"}, {"weight": 50},
                               {"weight": 100}])},
        ],
    }


def test_module_defaults_group_alone_connects_every_task_of_both_releases(
        kube, kubeconfig, namespace, tmp_path, require_crd):
    require_crd("httpproxies.projectcontour.io")
    contour_setup(kube, namespace)
    for obj in workload("myapp-v1", "v1"):
        kube.create(DEPLOYMENT if obj["kind"] == "Deployment" else SERVICE, namespace, obj)
    create_ingress(kube, namespace)
    home = tmp_path / "home"
    home.mkdir()
    path = write_playbook(tmp_path, release_play(kubeconfig, namespace))

    result = run_playbook(path, environ=scrubbed_environment(home))

    assert not result.failed, result.summary()
    # The roles' kubernetes.core.k8s tasks ran, and wrote, through the group's connection.
    for task in ("deploy the candidate's workload and child proxy",
                 "deploy the canary's workload"):
        applied = result.results_of(task)
        assert applied and all(r.get("changed") for r in applied[0]["results"]), task
    assert result.custom_stats["bluegreen_outcome"] == "promoted"
    assert result.custom_stats["canary_outcome"] == "promoted"
    assert includes(kube, namespace) == [("/blog", "blog2")]
    assert kube.get(DEPLOYMENT, namespace, "blue")["status"].get("readyReplicas") == 2
    main = kube.get(INGRESS, namespace, "myapp")
    assert main["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == \
        "myapp-v2"


def test_without_the_group_the_same_play_finds_no_cluster(kube, kubeconfig, namespace, tmp_path):
    """The control: the same scrubbed environment without module_defaults cannot connect,
    so the test above passes only because the group reached every task."""
    play = release_play(kubeconfig, namespace)
    del play["module_defaults"]
    play["tasks"] = play["tasks"][1:]
    create_ingress(kube, namespace)
    home = tmp_path / "home"
    home.mkdir()
    result = run_playbook(write_playbook(tmp_path, play), environ=scrubbed_environment(home))
    assert result.failed
    assert kube.get_or_none(DEPLOYMENT, namespace, "myapp-v2") is None


def test_impersonation_reaches_the_api_server(kubeconfig):
    """impersonate_user / impersonate_groups (kubernetes.core's options) become the
    Impersonate-* headers: the API server says who the request acted as."""
    kube = Kube(build_api_client({"kubeconfig": kubeconfig, "impersonate_user": "alice",
                                  "impersonate_groups": ["dev", "ops"]}))
    review = kube.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                          body={"apiVersion": "authentication.k8s.io/v1",
                                "kind": "SelfSubjectReview"})
    user = review["status"]["userInfo"]
    assert user["username"] == "alice"
    assert {"dev", "ops"} <= set(user["groups"])
