"""Contour on the cluster under test, and the objects of seed 002.

On the testbed the `contour` fixture runs `testbed.py up --with contour` (a no-op when it
already runs); with PD_TESTBED=kind, Contour must already be installed there.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.connection import (
    build_api_client,
)
from ansible_collections.progressive.delivery.plugins.module_utils.contour.proxies import (
    HTTPPROXY,
    INGRESSROUTE,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    NAMESPACE,
    SERVICE,
    Kube,
    KubeError,
)

from contour_objects import SECRET, child_proxy, service_manifest, tls_secret_manifest

REPO = Path(__file__).resolve().parents[3]
TESTBED = REPO / "tests" / "testbed" / "testbed.py"


def on_kind():
    return os.environ.get("PD_TESTBED") == "kind"


@pytest.fixture(scope="session")
def contour(kubeconfig):
    """Contour serves the cluster: its CRDs are established and it writes status."""
    if not on_kind():
        res = subprocess.run([sys.executable, str(TESTBED), "up", "--with", "contour"],
                             capture_output=True, text=True, check=False)
        if res.returncode:
            pytest.fail("`testbed.py up --with contour` failed:\n%s\n%s"
                        % (res.stdout, res.stderr), pytrace=False)
    kube = Kube(build_api_client({"kubeconfig": kubeconfig}))
    try:
        kube.request("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
                            "httpproxies.projectcontour.io")
    except KubeError:
        pytest.skip("Contour's CRDs are not installed on this cluster")
    return kube


@pytest.fixture
def kube(contour):
    return contour


@pytest.fixture
def other_namespace(namespace, kube):
    """A second namespace for the children (seed 002's `marketing`)."""
    name = "%s-mkt" % namespace[:58]
    kube.create(NAMESPACE, None, {"apiVersion": "v1", "kind": "Namespace",
                                  "metadata": {"name": name,
                                               "labels": {"progressive.delivery/test": "true"}}})
    yield name
    kube.delete(NAMESPACE, None, name)


@pytest.fixture
def seed002(kube, namespace, other_namespace):
    """Seed 002's objects: Services green and blue and child proxies blog (green) and blog2
    (blue) in the children's namespace, the TLS Secret yangcs-net beside the root."""

    def make(api="httpproxy"):
        resource = HTTPPROXY if api == "httpproxy" else INGRESSROUTE
        for name in ("green", "blue"):
            kube.create(SERVICE, other_namespace, service_manifest(name))
        for name, service in (("blog", "green"), ("blog2", "blue")):
            kube.create(resource, other_namespace,
                        child_proxy(api, name, "/blog", [{"name": service, "port": 80}]))
        # Contour refuses one host in two roots: each test gets its own yangcs.net.
        fqdn = "%s.yangcs.net" % namespace.rsplit("-", 1)[-1]
        kube.create(SECRET, namespace, tls_secret_manifest("yangcs-net", fqdn))
        return dict(root_ns=namespace, child_ns=other_namespace, resource=resource, fqdn=fqdn)

    return make


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, add the tail of Contour's log (the parent conftest adds the core's)."""
    outcome = yield
    report = outcome.get_result()
    log = Path(os.environ.get("PD_TESTBED_DIR") or REPO / ".testbed") / "logs" / "contour.log"
    if report.failed and report.when in ("setup", "call") and log.is_file():
        lines = log.read_text(errors="replace").splitlines()[-40:]
        report.sections.append(("testbed log tail: contour.log", "\n".join(lines)))
