"""Contour on the testbed: the real `contour serve`, without Envoy.

    python3 tests/testbed/testbed.py up --with contour

Contour is built from its Go module (`go install ...@VERSION`, its own module context)
into the testbed's binary cache. Its CRDs are taken at testbed time from the downloaded
module (examples/contour/01-crds.yaml) and applied, with our own v1 CRD for the legacy
IngressRoute (tests/testbed/contour/), just before the process starts: its informers need
them. Every listener (xDS, metrics, health, debug) is on 127.0.0.1; no Envoy ever connects,
and Contour dials nothing but the API server. Without Envoy it still computes its DAG and
writes HTTPProxy status (currentStatus, description, conditions); only
status.loadBalancer stays empty (it is copied from the Envoy Service, which does not exist).

Stdlib only, like testbed.py; `components(tb)` gets the testbed module so that this file
never imports it (testbed.py runs as __main__).
"""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from types import ModuleType

VERSION = "v1.33.8"
MODULE = "github.com/projectcontour/contour"
DATA = Path(__file__).resolve().parents[1] / "contour"
UPSTREAM_CRDS = "examples/contour/01-crds.yaml"
# CRDs the component waits for (Established) before Contour starts.
CRD_NAMES = ("httpproxies.projectcontour.io", "tlscertificatedelegations.projectcontour.io",
             "extensionservices.projectcontour.io", "ingressroutes.contour.heptio.com")


def components(tb: ModuleType) -> list:
    """The Component list for testbed.py's OPTIONAL registry."""
    ports = {name: tb.port(f"CONTOUR_{name.upper()}", default)
             for name, default in (("xds", 16800), ("metrics", 16801), ("health", 16802),
                                   ("debug", 16803))}

    def build_commands(out: Path) -> list:
        # Its own module context (cwd /): Contour's go.mod has no replace directives.
        argv = ["go", "install", "-trimpath",
                "-ldflags", f"-s -w -X {MODULE}/internal/build.Version={VERSION}",
                f"{MODULE}/cmd/contour@{VERSION}"]
        return [(argv, Path("/"), tb.go_env(GOBIN=str(out), GOFLAGS="-buildvcs=false"))]

    build = tb.Build("contour", VERSION, ("contour",), build_commands)

    def args() -> list[str]:
        # Called just before the process starts: the CRDs must exist first.
        check_ports(tb, ports)
        install_crds(tb)
        host = tb.LOOPBACK
        return ["serve", f"--kubeconfig={kubeconfig(tb)}",
                f"--xds-address={host}", f"--xds-port={ports['xds']}", "--insecure",
                f"--http-address={host}", f"--http-port={ports['metrics']}",
                f"--health-address={host}", f"--health-port={ports['health']}",
                f"--debug-http-address={host}", f"--debug-http-port={ports['debug']}",
                # One replica: it must write status without a Lease to win.
                "--disable-leader-election"]

    def ready() -> bool:
        url = f"http://{tb.LOOPBACK}:{ports['health']}/healthz"
        return tb.http_get(url)[0] == 200 and all(crd_established(tb, n) for n in CRD_NAMES)

    return [tb.Component("contour", build, "contour", args, ready=ready, port=ports["health"],
                         needs=("kube-apiserver",))]


def check_ports(tb: ModuleType, ports: dict) -> None:
    taken = [f"{name} {p}" for name, p in ports.items() if not tb.port_free(p)]
    if taken:
        raise tb.TestbedError(f"contour: port(s) {', '.join(taken)} on {tb.LOOPBACK} are taken "
                              f"(set PD_TESTBED_CONTOUR_<XDS|METRICS|HEALTH|DEBUG>_PORT)")


def kubeconfig(tb: ModuleType) -> Path:
    """Contour runs as the testbed admin (like kwok): no RBAC objects to keep in sync."""
    path = tb.STATE / "kubeconfigs" / "contour.kubeconfig"
    if not path.exists():
        tb.write_private(path, tb.kubeconfig({"contour": tb.tokens()["admin"]}, "contour"))
    return path


def module_dir(tb: ModuleType) -> Path:
    """Where the Go module cache holds Contour's source (downloaded once, then offline)."""
    infos = tb.go_mod_download([f"{MODULE}@{VERSION}"], "/", tb.go_env(GOFLAGS="-mod=mod"))
    info = infos[0] if infos else {}
    if not info.get("Dir"):
        raise tb.TestbedError(f"contour: `go mod download {MODULE}@{VERSION}` failed: "
                              f"{info.get('Error') or 'no module directory'}")
    return Path(info["Dir"])


def crd_files(tb: ModuleType) -> list[Path]:
    upstream = module_dir(tb) / UPSTREAM_CRDS
    if not upstream.is_file():
        raise tb.TestbedError(f"contour: {upstream} is missing from the module")
    return [upstream, DATA / "ingressroute-crd.yaml"]


def install_crds(tb: ModuleType) -> None:
    """Server-side apply with the kubectl of the testbed's release, then wait Established."""
    kubectl = tb.KUBERNETES.path("kubectl")
    env = dict(os.environ, KUBECONFIG=str(tb.KUBECONFIG))
    for path in crd_files(tb):
        res = subprocess.run([str(kubectl), "apply", "--server-side", "--force-conflicts",
                              "--field-manager=testbed-contour", "-f", str(path)],
                             capture_output=True, text=True, env=env, check=False)
        if res.returncode:
            raise tb.TestbedError(f"contour: applying {path} failed:\n{res.stderr.strip()}")
    deadline = time.monotonic() + 30
    while not all(crd_established(tb, name) for name in CRD_NAMES):
        if time.monotonic() > deadline:
            missing = [n for n in CRD_NAMES if not crd_established(tb, n)]
            raise tb.TestbedError(f"contour: CRDs not Established after 30s: {missing}")
        time.sleep(0.1)
    tb.log(f"contour CRDs of {VERSION} and the legacy IngressRoute CRD established")


def crd_established(tb: ModuleType, name: str) -> bool:
    code, body = tb.api("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
    if code != 200:
        return False
    return any(c.get("type") == "Established" and c.get("status") == "True"
               for c in (body.get("status") or {}).get("conditions") or [])
