"""The shipped least-privilege Roles (deploy/rbac/*.yaml) are enough for a whole release:
for each backend, a ServiceAccount bound to that Role alone (a token, no admin, no
KUBECONFIG of the admin) runs the release role end to end on the testbed. A Role that
misses a permission makes the release fail with a 403 here, before a user finds it."""

import os

import pytest
import yaml

from canary_objects import create_ingress, create_stable, image
from playbooks import role_play, run_playbook, write_playbook
from test_bluegreen_role_backends import (
    contour_setup,
    contour_vars,
    knative_setup,
    knative_vars,
    service_setup,
    service_vars,
)
from test_canary_role import release_vars, workload

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    DEPLOYMENT,
    SERVICE,
    Resource,
)

pytestmark = pytest.mark.reliability

RBAC = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))), "deploy", "rbac")
ROLE = Resource("rbac.authorization.k8s.io/v1", "Role", "roles", True)
ROLEBINDING = Resource("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", True)
SERVICEACCOUNT = Resource("v1", "ServiceAccount", "serviceaccounts", True)


def bind_release_identity(kube, namespace, backend):
    """A ServiceAccount holding only deploy/rbac/<backend>.yaml; returns its token."""
    with open(os.path.join(RBAC, backend + ".yaml")) as handle:
        return bind_role(kube, namespace, yaml.safe_load(handle))


def bind_role(kube, namespace, role):
    """A ServiceAccount `releaser` holding only ``role``; returns its token."""
    kube.create(ROLE, namespace, role)
    kube.create(SERVICEACCOUNT, namespace, {"metadata": {"name": "releaser"}})
    kube.create(ROLEBINDING, namespace, {
        "metadata": {"name": "releaser"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                    "name": role["metadata"]["name"]},
        "subjects": [{"kind": "ServiceAccount", "name": "releaser", "namespace": namespace}]})
    answer = kube.request("POST", "/api/v1/namespaces/%s/serviceaccounts/releaser/token"
                          % namespace, body={"apiVersion": "authentication.k8s.io/v1",
                                             "kind": "TokenRequest",
                                             "spec": {"expirationSeconds": 3600}})
    return answer["status"]["token"]


def token_kubeconfig(admin_kubeconfig, token, path):
    with open(admin_kubeconfig) as handle:
        admin = yaml.safe_load(handle)
    context = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])
    cluster = next(c for c in admin["clusters"] if c["name"] == context["context"]["cluster"])
    config = {"apiVersion": "v1", "kind": "Config", "current-context": "releaser",
              "clusters": [cluster],
              "users": [{"name": "releaser", "user": {"token": token}}],
              "contexts": [{"name": "releaser", "context": {
                  "cluster": cluster["name"], "user": "releaser"}}]}
    path.write_text(yaml.safe_dump(config))
    return str(path)


@pytest.fixture
def run_as(kube, kubeconfig, namespace, tmp_path, monkeypatch):
    """run_as(backend, play): run the play as the ServiceAccount of that backend's Role."""

    def run(backend, play):
        token = bind_release_identity(kube, namespace, backend)
        config = token_kubeconfig(kubeconfig, token, tmp_path / "releaser.kubeconfig")
        monkeypatch.setenv("KUBECONFIG", config)
        monkeypatch.setenv("K8S_AUTH_KUBECONFIG", config)
        return run_playbook(write_playbook(tmp_path, play))

    return run


def test_the_identity_really_is_limited(kube, namespace, kubeconfig, tmp_path):
    token = bind_release_identity(kube, namespace, "service")
    config = token_kubeconfig(kubeconfig, token, tmp_path / "k")
    from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
        Kube,
        KubeError,
    )
    from ansible_collections.progressive.delivery.plugins.module_utils.k8s.connection import (
        build_api_client,
    )
    limited = Kube(build_api_client({"kubeconfig": config}))
    limited.list(DEPLOYMENT, namespace)
    with pytest.raises(KubeError) as err:
        limited.list(Resource("v1", "Secret", "secrets", True), namespace)
    assert err.value.status == 403
    with pytest.raises(KubeError):
        limited.list(DEPLOYMENT, "default")


def test_bluegreen_service_backend(kube, namespace, tmp_path, run_as):
    service_setup(kube, namespace)
    result = run_as("service", role_play("progressive.delivery.bluegreen",
                                         service_vars(namespace, tmp_path)))
    assert not result.failed, result.summary()
    assert result.custom_stats["bluegreen_outcome"] == "promoted"
    assert kube.get(SERVICE, namespace, "myapp-lan")["spec"]["selector"]["version"] == "v2"


def test_canary_replicas_backend(kube, namespace, tmp_path, run_as):
    create_stable(kube, namespace, replicas=4)
    result = run_as("service", role_play("progressive.delivery.canary", release_vars(
        namespace, canary_steps=[{"weight": 25}, {"pause": "1s"}, {"weight": 100}])))
    assert not result.failed, result.summary()
    assert result.custom_stats["canary_outcome"] == "promoted"
    assert image(kube, namespace, "myapp") == "ikubernetes/myapp:v2"


def test_canary_nginx_backend(kube, namespace, tmp_path, run_as):
    for obj in workload("myapp-v1", "v1"):
        kube.create(DEPLOYMENT if obj["kind"] == "Deployment" else SERVICE, namespace, obj)
    create_ingress(kube, namespace)
    result = run_as("nginx", role_play("progressive.delivery.canary", release_vars(
        namespace, canary_backend="nginx", canary_service="", canary_pod_template={},
        canary_nginx={"ingress": "myapp", "canary_service": "myapp-v2"},
        canary_manifests=workload("myapp-v2", "v2"),
        canary_steps=[{"weight": 10}, {"weight": 100}])))
    assert not result.failed, result.summary()
    assert result.custom_stats["canary_outcome"] == "promoted"


def test_bluegreen_contour_backend(kube, namespace, tmp_path, run_as, require_crd):
    require_crd("httpproxies.projectcontour.io")
    contour_setup(kube, namespace)
    result = run_as("contour", role_play("progressive.delivery.bluegreen",
                                         contour_vars(namespace, tmp_path)))
    assert not result.failed, result.summary()
    assert result.custom_stats["bluegreen_outcome"] == "promoted"


def test_bluegreen_knative_backend(kube, namespace, tmp_path, run_as, require_crd):
    require_crd("services.serving.knative.dev")
    knative_setup(kube, namespace)
    result = run_as("knative", role_play("progressive.delivery.bluegreen",
                                         knative_vars(namespace, tmp_path)))
    assert not result.failed, result.summary()
    assert result.custom_stats["bluegreen_outcome"] == "promoted"


def test_canary_rolling_backend(kube, namespace, tmp_path, run_as):
    create_stable(kube, namespace, replicas=4, service=False)
    result = run_as("rollout", role_play("progressive.delivery.canary", release_vars(
        namespace, canary_backend="rolling", canary_service="", canary_pod_template={},
        canary_rolling={"images": {"myapp": "ikubernetes/myapp:v2"}},
        canary_steps=[{"weight": 25}, {"pause": "1s"}, {"weight": 100}])))
    assert not result.failed, result.summary()
    assert result.custom_stats["canary_outcome"] == "promoted"
    assert image(kube, namespace, "myapp") == "ikubernetes/myapp:v2"
    assert not kube.get(DEPLOYMENT, namespace, "myapp")["spec"].get("paused")
