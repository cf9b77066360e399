"""The testbed's Contour component: the real controller answers on loopback, its CRDs and
the legacy IngressRoute CRD are installed, and without Envoy it still writes HTTPProxy
status for each generation (only status.loadBalancer stays empty)."""

import os
import time
import urllib.request

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.contour.proxies import (
    HTTPPROXY,
    INGRESSROUTE,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import SERVICE
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import Check
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import wait_for

from contour_objects import service_manifest

HEALTH_PORT = int(os.environ.get("PD_TESTBED_CONTOUR_HEALTH_PORT", "16802"))
CRDS = ("httpproxies.projectcontour.io", "tlscertificatedelegations.projectcontour.io",
        "extensionservices.projectcontour.io", "ingressroutes.contour.heptio.com")


@pytest.fixture(autouse=True)
def testbed_only():
    if os.environ.get("PD_TESTBED") == "kind":
        pytest.skip("checks the testbed's own Contour process")


def test_contour_health_answers_on_loopback(contour):
    with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % HEALTH_PORT, timeout=5) as r:
        assert r.status == 200


@pytest.mark.parametrize("crd", CRDS)
def test_crds_are_established(contour, crd):
    obj = contour.request("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/" + crd)
    assert any(c["type"] == "Established" and c["status"] == "True"
               for c in obj["status"]["conditions"])


def proxy(name, spec):
    return {"apiVersion": HTTPPROXY.api_version, "kind": "HTTPProxy",
            "metadata": {"name": name}, "spec": spec}


def valid_at(generation):
    def predicate(obj):
        cond = [c for c in (obj.get("status") or {}).get("conditions") or []
                if c["type"] == "Valid"]
        seen = cond[0]["observedGeneration"] if cond else None
        return Check(bool(cond) and seen == generation and cond[0]["status"] == "True",
                     "status %s" % obj.get("status"))
    return predicate


def test_status_follows_each_generation_without_envoy(contour, namespace):
    contour.create(SERVICE, namespace, service_manifest("web"))
    fqdn = "%s.testbed.example" % namespace.rsplit("-", 1)[-1]
    contour.create(HTTPPROXY, namespace, proxy("root", {
        "virtualhost": {"fqdn": fqdn},
        "routes": [{"services": [{"name": "web", "port": 80}]}]}))
    obj = wait_for(contour, HTTPPROXY, namespace, "root", valid_at(1), 15)
    assert obj["status"]["currentStatus"] == "valid"
    assert obj["status"]["description"] == "Valid HTTPProxy"
    assert obj["status"].get("loadBalancer") in ({}, None)  # would come from Envoy's Service

    contour.patch(HTTPPROXY, namespace, "root", {"spec": {"routes": [
        {"services": [{"name": "missing", "port": 80}]}]}})

    def invalid_at_2(obj):
        cond = obj["status"]["conditions"][0]
        return Check(cond["observedGeneration"] == 2 and cond["status"] == "False",
                     str(obj["status"]))
    obj = wait_for(contour, HTTPPROXY, namespace, "root", invalid_at_2, 15)
    assert obj["status"]["currentStatus"] == "invalid"
    assert obj["status"]["conditions"][0]["errors"][0]["reason"] == "ServiceUnresolvedReference"


def test_legacy_ingressroute_is_stored_and_never_gets_status(contour, namespace):
    contour.create(INGRESSROUTE, namespace, {
        "apiVersion": INGRESSROUTE.api_version, "kind": "IngressRoute",
        "metadata": {"name": "root"},
        "spec": {"virtualhost": {"fqdn": "legacy.example"},
                 "routes": [{"match": "/", "services": [{"name": "web", "port": 80,
                                                         "weight": 3}]}]}})
    time.sleep(2)  # ample time for a controller to react, if there were one
    obj = contour.get(INGRESSROUTE, namespace, "root")
    assert obj["spec"]["routes"][0]["services"][0]["weight"] == 3
    assert "status" not in obj


def test_legacy_crd_rejects_a_negative_weight(contour, namespace):
    from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import KubeError
    with pytest.raises(KubeError) as err:
        contour.create(INGRESSROUTE, namespace, {
            "apiVersion": INGRESSROUTE.api_version, "kind": "IngressRoute",
            "metadata": {"name": "bad"},
            "spec": {"routes": [{"match": "/", "services": [{"name": "web", "port": 80,
                                                             "weight": -1}]}]}})
    assert err.value.status == 422
