"""Fixtures for tests against a real Kubernetes API server.

By default that is the local testbed (tests/testbed/testbed.py: a real control
plane with kwok nodes on 127.0.0.1), started on first use and left running so
the next session starts in a fraction of a second (`testbed.py down` stops it).
With PD_TESTBED=kind the same tests use an existing kind cluster instead
(`kind get kubeconfig --name ${PD_KIND_CLUSTER:-kind}`); see tests/testbed/README.md.
"""
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

try:
    from kubernetes import client, config, watch
except ImportError:  # pragma: no cover - a hint beats a bare ImportError
    pytest.exit("the integration tests need the `kubernetes` package: pip install kubernetes", returncode=4)

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.connection import (  # noqa: E402
    build_api_client,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (  # noqa: E402
    Kube,
    KubeError,
)

REPO = Path(__file__).resolve().parents[2]
TESTBED = REPO / "tests" / "testbed" / "testbed.py"
STATE = Path(os.environ.get("PD_TESTBED_DIR") or REPO / ".testbed")
# Logs worth reading when a test fails, most telling first.
FAILURE_LOGS = ("kube-apiserver", "kube-controller-manager", "kwok", "kube-scheduler", "etcd",
                "contour", "contour-gateway", "knative-controller", "knative-webhook", "knative-standin")
LOG_TAIL_LINES = 40


def on_kind():
    return os.environ.get("PD_TESTBED") == "kind"


def _kind_kubeconfig(dest):
    name = os.environ.get("PD_KIND_CLUSTER", "kind")
    if not shutil.which("kind"):
        pytest.fail("PD_TESTBED=kind, but there is no `kind` on PATH", pytrace=False)
    res = subprocess.run(["kind", "get", "kubeconfig", "--name", name], capture_output=True, text=True, check=False)
    if res.returncode:
        pytest.fail(f"PD_TESTBED=kind but `kind get kubeconfig --name {name}` failed:\n{res.stderr}", pytrace=False)
    dest.write_text(res.stdout)
    return dest


def _testbed_kubeconfig():
    res = subprocess.run([sys.executable, str(TESTBED), "up"], capture_output=True, text=True, check=False)
    if res.returncode:
        pytest.fail(f"`testbed.py up` failed:\n{res.stdout}\n{res.stderr}", pytrace=False)
    return STATE / "kubeconfig"


@pytest.fixture(scope="session")
def kubeconfig(tmp_path_factory):
    """Path of a kubeconfig for the cluster under test; also exported as
    KUBECONFIG and K8S_AUTH_KUBECONFIG for modules and tools the tests run."""
    path = _kind_kubeconfig(tmp_path_factory.mktemp("kind") / "kubeconfig") if on_kind() else _testbed_kubeconfig()
    os.environ["KUBECONFIG"] = str(path)
    os.environ["K8S_AUTH_KUBECONFIG"] = str(path)
    return str(path)


@pytest.fixture(scope="session")
def k8s(kubeconfig):
    """A kubernetes.client.ApiClient with admin rights on the cluster under test."""
    api = config.new_client_from_config(config_file=kubeconfig)
    yield api
    api.close()


@pytest.fixture(scope="session")
def k8s_nobody(kubeconfig):
    """An ApiClient for the user `nobody`, who has no RBAC rights (testbed only)."""
    if on_kind():
        pytest.skip("the `nobody` user exists on the testbed only")
    api = config.new_client_from_config(config_file=kubeconfig, context="testbed-nobody")
    yield api
    api.close()


def _namespace_name(nodeid):
    """A DNS-1123 label that says which test made it: t-<test name>-<random>."""
    test = re.sub(r"[^a-z0-9]+", "-", nodeid.split("::")[-1].lower()).strip("-")
    return f"t-{test[:48].strip('-')}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def namespace(k8s, request):
    """A fresh namespace whose `default` ServiceAccount exists (so pods can be
    admitted at once); deleted afterwards without waiting for it to go."""
    core = client.CoreV1Api(k8s)
    name = _namespace_name(request.node.nodeid)
    core.create_namespace({"metadata": {"name": name, "labels": {"progressive.delivery/test": "true"}}})
    _wait_default_service_account(core, name)
    yield name
    try:
        core.delete_namespace(name, propagation_policy="Background")
    except client.ApiException as e:  # already gone is fine
        if e.status != 404:
            raise


def _wait_default_service_account(core, ns, timeout=30):
    selector = "metadata.name=default"
    listed = core.list_namespaced_service_account(ns, field_selector=selector)
    if listed.items:
        return
    w = watch.Watch()
    for unused_event in w.stream(core.list_namespaced_service_account, ns, field_selector=selector,
                                 resource_version=listed.metadata.resource_version,
                                 timeout_seconds=timeout):
        w.stop()
        return
    raise TimeoutError(f"no default ServiceAccount in {ns} after {timeout}s: is the controller-manager running?")


def _log_tails():
    logs = STATE / "logs"
    for name in FAILURE_LOGS:
        path = logs / f"{name}.log"
        if path.is_file():
            lines = path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
            if lines:
                yield name, "\n".join(lines)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, add the tail of the testbed's component logs to the report."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and report.when in ("setup", "call") and not on_kind():
        for name, text in _log_tails():
            report.sections.append((f"testbed log tail: {name}.log", text))


@pytest.fixture
def kube(kubeconfig):
    """The collection's own REST client (module_utils/k8s/client.py) on the cluster under test."""
    return Kube(build_api_client({"kubeconfig": kubeconfig}))


# The testbed component that serves each custom resource the tests use.
CRD_COMPONENTS = {"httpproxies.projectcontour.io": "contour",
                  "httproutes.gateway.networking.k8s.io": "gateway",
                  "services.serving.knative.dev": "knative"}


@pytest.fixture
def require_crd(kube):
    """require_crd(name): skip unless the CRD is installed (outside CI, where a skip
    fails the run: tests/conftest.py)."""
    def require(name):
        try:
            kube.request("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/" + name)
        except KubeError as err:
            if not err.not_found:
                raise
            pytest.skip("%s is not installed on this cluster (testbed.py up --with %s)"
                        % (name, CRD_COMPONENTS.get(name, "?")))
    return require
