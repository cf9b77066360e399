"""The Gateway API on the testbed: Contour's own Gateway API controller, without Envoy.

    python3 tests/testbed/testbed.py up --with gateway      # (with or without contour)

A second `contour serve` (the same cached binary as the `contour` component) runs with
static provisioning: its configuration names one Gateway (`gateway.gatewayRef`), so it
processes that Gateway, its GatewayClass (controllerName projectcontour.io/gateway-controller)
and the routes attached to it, and writes their status. It is kept off HTTPProxy and
Ingress (`--ingress-class-name` that no object uses), so it never competes with the
`contour` component for their status; in Gateway mode Contour builds its listeners from
the Gateway, which would change how the other instance's HTTPProxies are judged.

Before it starts, the component applies the Gateway API CRDs of the experimental channel
(the channel Contour installs; it has HTTPRoute rule names) from the `sigs.k8s.io/gateway-api`
module at the version Contour's go.mod requires, read from the Go module cache (nothing
upstream is committed), Contour's own CRDs (its informers need them), then the
GatewayClass, the Gateway's namespace and the Gateway. Every listener is on 127.0.0.1;
no Envoy connects, Contour dials nothing but the API server.

Stdlib only, like testbed.py.
"""
from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from types import ModuleType

from components import contour

MODULE = "sigs.k8s.io/gateway-api"
CRD_DIR = "config/crd/experimental"
CONTROLLER = "projectcontour.io/gateway-controller"
CLASS = "testbed-contour"
NAMESPACE = "testbed-gateway"
GATEWAY = "testbed"
LISTENER = "http"
# A namespace may attach routes to the Gateway only with this label (tests label theirs;
# an unlabelled namespace is how a test makes Contour refuse a route).
ACCESS_LABEL = "testbed.progressive.delivery/gateway-access"
ACCESS_VALUE = "granted"
CRD_NAMES = tuple(f"{plural}.gateway.networking.k8s.io" for plural in (
    "gatewayclasses", "gateways", "httproutes", "grpcroutes", "referencegrants",
    "tlsroutes", "tcproutes", "backendtlspolicies"))
# Contour's informers are made for these Kinds whatever the configuration.
CONTOUR_CRDS = ("httpproxies.projectcontour.io", "tlscertificatedelegations.projectcontour.io",
                "extensionservices.projectcontour.io")
# No object carries this class: the instance leaves HTTPProxy and Ingress alone.
UNUSED_INGRESS_CLASS = "testbed-gateway-api-only"


def components(tb: ModuleType) -> list:
    ports = {name: tb.port(f"GATEWAY_{name.upper()}", default)
             for name, default in (("xds", 16804), ("metrics", 16805), ("health", 16806),
                                   ("debug", 16807))}
    build = contour_build(tb)

    def args() -> list[str]:
        taken = [f"{name} {p}" for name, p in ports.items() if not tb.port_free(p)]
        if taken:
            raise tb.TestbedError(f"gateway: port(s) {', '.join(taken)} on {tb.LOOPBACK} are "
                                  f"taken (set PD_TESTBED_GATEWAY_<XDS|METRICS|HEALTH|DEBUG>_PORT)")
        install(tb)
        host = tb.LOOPBACK
        return ["serve", f"--kubeconfig={contour.kubeconfig(tb)}",
                f"--config-path={config_file(tb)}",
                f"--ingress-class-name={UNUSED_INGRESS_CLASS}",
                f"--xds-address={host}", f"--xds-port={ports['xds']}", "--insecure",
                f"--http-address={host}", f"--http-port={ports['metrics']}",
                f"--health-address={host}", f"--health-port={ports['health']}",
                f"--debug-http-address={host}", f"--debug-http-port={ports['debug']}",
                "--disable-leader-election"]

    def ready() -> bool:
        url = f"http://{tb.LOOPBACK}:{ports['health']}/healthz"
        return (tb.http_get(url)[0] == 200
                and accepted(tb, f"/apis/gateway.networking.k8s.io/v1/namespaces/{NAMESPACE}"
                                 f"/gateways/{GATEWAY}"))

    return [tb.Component("contour-gateway", build, "contour", args, ready=ready,
                         port=ports["health"], needs=("kube-apiserver",))]


def contour_build(tb: ModuleType):
    """The `contour` component's Build (one binary, one cache entry)."""
    for component in contour.components(tb):
        if component.name == "contour":
            return component.build
    raise tb.TestbedError("gateway: the contour component is not defined")


def version(tb: ModuleType) -> str:
    """The gateway-api version Contour's go.mod requires."""
    gomod = contour.module_dir(tb) / "go.mod"
    match = re.search(r"^\s*" + re.escape(MODULE) + r"\s+(v\S+)", gomod.read_text(), re.M)
    if not match:
        raise tb.TestbedError(f"gateway: {gomod} does not require {MODULE}")
    return match.group(1)


def crd_files(tb: ModuleType) -> list[Path]:
    spec = f"{MODULE}@{version(tb)}"
    infos = tb.go_mod_download([spec], "/", tb.go_env(GOFLAGS="-mod=mod"))
    info = infos[0] if infos else {}
    if not info.get("Dir"):
        raise tb.TestbedError(f"gateway: `go mod download {spec}` failed: "
                              f"{info.get('Error') or 'no module directory'}")
    files = sorted(p for p in (Path(info["Dir"]) / CRD_DIR).glob("*.yaml")
                   if p.name != "kustomization.yaml")
    if not files:
        raise tb.TestbedError(f"gateway: no CRDs under {info['Dir']}/{CRD_DIR}")
    return files


def objects() -> list[dict]:
    """The GatewayClass, the Gateway's namespace and the Gateway (one HTTP listener that
    admits HTTPRoutes and GRPCRoutes from namespaces carrying ACCESS_LABEL)."""
    return [
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
         "metadata": {"name": CLASS}, "spec": {"controllerName": CONTROLLER}},
        {"apiVersion": "v1", "kind": "Namespace",
         "metadata": {"name": NAMESPACE, "labels": {ACCESS_LABEL: ACCESS_VALUE}}},
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
         "metadata": {"name": GATEWAY, "namespace": NAMESPACE},
         "spec": {"gatewayClassName": CLASS, "listeners": [
             {"name": LISTENER, "protocol": "HTTP", "port": 80,
              "allowedRoutes": {"kinds": [{"kind": "HTTPRoute"}, {"kind": "GRPCRoute"}],
                                "namespaces": {"from": "Selector", "selector": {
                                    "matchLabels": {ACCESS_LABEL: ACCESS_VALUE}}}}}]}},
    ]


def config_file(tb: ModuleType) -> Path:
    path = tb.STATE / "gateway" / "contour.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    # JSON is YAML.
    path.write_text(json.dumps({"gateway": {"gatewayRef": {"namespace": NAMESPACE,
                                                           "name": GATEWAY}}}))
    return path


def kubectl_apply(tb: ModuleType, args: list[str], stdin: str | None = None) -> None:
    res = subprocess.run([str(tb.KUBERNETES.path("kubectl")), f"--kubeconfig={tb.KUBECONFIG}",
                          "apply", "--server-side", "--force-conflicts",
                          "--field-manager=testbed-gateway", *args],
                         input=stdin, capture_output=True, text=True, check=False)
    if res.returncode:
        raise tb.TestbedError(f"gateway: kubectl apply {' '.join(args)} failed:\n"
                              f"{res.stderr.strip()}")


def install(tb: ModuleType) -> None:
    t0 = time.monotonic()
    files = contour.crd_files(tb)[:1] + crd_files(tb)
    kubectl_apply(tb, [arg for f in files for arg in ("-f", str(f))])
    wanted = CRD_NAMES + CONTOUR_CRDS
    deadline = time.monotonic() + 30
    while not all(contour.crd_established(tb, name) for name in wanted):
        if time.monotonic() > deadline:
            missing = [n for n in wanted if not contour.crd_established(tb, n)]
            raise tb.TestbedError(f"gateway: CRDs not Established after 30s: {missing}")
        time.sleep(0.1)
    kubectl_apply(tb, ["-f", "-"], json.dumps({"apiVersion": "v1", "kind": "List",
                                               "items": objects()}))
    tb.log(f"gateway-api {version(tb)} CRDs, GatewayClass {CLASS} and Gateway "
           f"{NAMESPACE}/{GATEWAY} applied ({time.monotonic() - t0:.1f}s)")


def accepted(tb: ModuleType, path: str) -> bool:
    code, body = tb.api("GET", path)
    if code != 200:
        return False
    generation = (body.get("metadata") or {}).get("generation")
    return any(c.get("type") == "Accepted" and c.get("status") == "True"
               and c.get("observedGeneration") == generation
               for c in (body.get("status") or {}).get("conditions") or [])
