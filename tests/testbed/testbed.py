"""A real Kubernetes control plane on 127.0.0.1, without Docker.

    python3 tests/testbed/testbed.py build|up [--with a,b]|down|status|env|kubectl ARGS...

etcd, kube-apiserver, kube-controller-manager and kube-scheduler are the real
upstream programs, built from their Go modules; kwok plays the kubelets of a few
fake nodes (see README.md). Binaries are cached outside the repo, keyed by
version; state and logs live in <repo>/.testbed (or $PD_TESTBED_DIR).

Stdlib only, so it runs before anything is installed.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import fcntl
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
STATE = Path(os.environ.get("PD_TESTBED_DIR") or REPO / ".testbed").resolve()
CACHE = Path(
    os.environ.get("PD_TESTBED_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "progressive-delivery" / "testbed"
)
KWOK_VERSION = "v0.8.0"
NODE_COUNT = int(os.environ.get("PD_TESTBED_NODES", "3"))
SERVICE_CIDR = "10.96.0.0/16"  # allocation range only: nothing listens there
LOOPBACK = "127.0.0.1"


def port(name: str, default: int) -> int:
    """Fixed uncommon ports, each overridable (PD_TESTBED_APISERVER_PORT=...)."""
    return int(os.environ.get(f"PD_TESTBED_{name}_PORT", default))


PORTS = {
    "etcd": port("ETCD", 23790),
    "etcd-peer": port("ETCD_PEER", 23800),
    "kube-apiserver": port("APISERVER", 16443),
    "kube-controller-manager": port("CONTROLLER_MANAGER", 16257),
    "kube-scheduler": port("SCHEDULER", 16259),
    "kwok": port("KWOK", 16247),
}


def log(msg: str) -> None:
    print(f"testbed: {msg}", file=sys.stderr, flush=True)


class TestbedError(Exception):
    pass


# ---------------------------------------------------------------- builds

def gomod_version(gomod: Path, module: str) -> str:
    """The version go.mod pins, so the pin lives in exactly one place."""
    m = re.search(rf"^\s*(?:require\s+)?{re.escape(module)} (v\S+)", gomod.read_text(), re.M)
    if not m:
        raise TestbedError(f"{module} not required in {gomod}")
    return m.group(1)


@dataclasses.dataclass
class Build:
    """Binaries from one Go build, cached in CACHE/bin/<name>-<version>/."""
    name: str
    version: str
    binaries: tuple[str, ...]
    commands: Callable[[Path], list[tuple[list[str], Path, dict]]]  # out dir -> [(argv, cwd, env)]

    @property
    def dir(self) -> Path:
        return CACHE / "bin" / f"{self.name}-{self.version}"

    def path(self, binary: str) -> Path:
        return self.dir / binary

    def cached(self) -> bool:
        return all(self.path(b).is_file() for b in self.binaries)


# Where Go's official tarball installs; used when `go` is not on PATH (a cron job, a CI
# runner or `env -i` often leaves /usr/local/go/bin out).
GO_FALLBACK_DIRS = ("/usr/local/go/bin", str(Path.home() / "go" / "bin"))


def go_env(**extra: str) -> dict:
    # GOTOOLCHAIN=local: never let a go.mod line switch (or download) the toolchain.
    env = dict(os.environ, GOTOOLCHAIN="local", CGO_ENABLED="0", GOFLAGS="-mod=readonly -buildvcs=false")
    if not shutil.which("go", path=env.get("PATH")):
        extra_dirs = [d for d in GO_FALLBACK_DIRS if (Path(d) / "go").exists()]
        env["PATH"] = os.pathsep.join([*extra_dirs, env.get("PATH", "")])
    env.update(extra)
    return env


def kubernetes_commands(out: Path) -> list:
    version = gomod_version(HERE / "go.mod", "k8s.io/kubernetes")
    major, minor = version.lstrip("v").split(".")[:2]
    commit = module_commit("k8s.io/kubernetes", version)
    ldflags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        for var, val in (("gitVersion", version), ("gitMajor", major), ("gitMinor", minor),
                         ("gitCommit", commit), ("gitTreeState", "clean"),
                         ("buildDate", "1970-01-01T00:00:00Z")):
            ldflags.append(f"-X {pkg}.{var}={val}")
    env = go_env()
    if go_minor() >= 27:
        # Go 1.27's default jsonv2 experiment breaks kube-openapi's output (see README).
        env["GOEXPERIMENT"] = "nojsonv2"
    argv = ["go", "build", "-trimpath", "-tags", "selinux,notest,grpcnotrace",
            "-ldflags", " ".join(ldflags), "-o", str(out) + "/"]
    argv += [f"k8s.io/kubernetes/cmd/{b}" for b in KUBERNETES.binaries]
    return [(argv, HERE, env)]


def etcd_commands(out: Path) -> list:
    # etcd's go.mod has replace directives, so `go install @version` refuses it;
    # tests/testbed/etcd/go.mod is its own small module context instead.
    argv = ["go", "build", "-trimpath", "-ldflags", "-s -w", "-o", str(out / "etcd"), "go.etcd.io/etcd/server/v3"]
    return [(argv, HERE / "etcd", go_env())]


def kwok_commands(out: Path) -> list:
    # kwok's own module context (go install @version), never the Kubernetes one:
    # a newer kwok go.mod may name a newer Go than Kubernetes can be built with.
    argv = ["go", "install", "-trimpath",
            "-ldflags", f"-s -w -X sigs.k8s.io/kwok/pkg/consts.Version={KWOK_VERSION}",
            f"sigs.k8s.io/kwok/cmd/kwok@{KWOK_VERSION}"]
    return [(argv, Path("/"), go_env(GOBIN=str(out), GOFLAGS="-buildvcs=false"))]


def go_minor() -> int:
    out = subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True, env=go_env(), check=False).stdout
    m = re.match(r"go1\.(\d+)", out.strip())
    return int(m.group(1)) if m else 0


def go_mod_download(specs: list[str], cwd: Path | str, env: dict | None = None) -> list[dict]:
    """`go mod download -json` for module@version specs (or paths the go.mod in cwd pins):
    one info dict per module (Path, Version, Dir, Origin, Error). The components use it to
    find upstream YAML in the module cache instead of committing copies of it."""
    res = subprocess.run(["go", "mod", "download", "-json", *specs], capture_output=True,
                         text=True, cwd=cwd, env=env or go_env(), check=False)
    decoder, text, infos, at = json.JSONDecoder(), res.stdout, [], 0
    with contextlib.suppress(ValueError):
        while text[at:].strip():
            at += len(text[at:]) - len(text[at:].lstrip())
            info, at = decoder.raw_decode(text, at)
            infos.append(info)
    if res.returncode and not any(i.get("Error") for i in infos):
        infos.append({"Path": " ".join(specs), "Error": res.stderr.strip() or "go failed"})
    return infos


def module_commit(module: str, version: str) -> str:
    """The release's git commit, for `kubectl version` / the /version endpoint."""
    infos = go_mod_download([f"{module}@{version}"], HERE)
    return (infos[0].get("Origin") or {}).get("Hash") or "unknown" if infos else "unknown"


KUBERNETES = Build("kubernetes", gomod_version(HERE / "go.mod", "k8s.io/kubernetes"),
                   ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"),
                   kubernetes_commands)
ETCD = Build("etcd", gomod_version(HERE / "etcd" / "go.mod", "go.etcd.io/etcd/server/v3"), ("etcd",), etcd_commands)
KWOK = Build("kwok", KWOK_VERSION, ("kwok",), kwok_commands)
BUILDS = [KUBERNETES, ETCD, KWOK]


@contextlib.contextmanager
def locked(name: str):
    """One build / one up-or-down at a time, across processes."""
    lockdir = CACHE / "locks"
    lockdir.mkdir(parents=True, exist_ok=True)
    with open(lockdir / f"{name}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def run_build(build: Build) -> None:
    """Build into a temp dir, then rename: a half-done build never looks cached."""
    if build.cached():
        return
    with locked("build"):
        if build.cached():
            return
        tmp = build.dir.with_name(build.dir.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        logfile = CACHE / "logs" / f"build-{build.name}-{build.version}.log"
        logfile.parent.mkdir(parents=True, exist_ok=True)
        log(f"building {build.name} {build.version} (cold: minutes; log {logfile})")
        start = time.monotonic()
        with open(logfile, "w") as lf:
            for argv, cwd, env in build.commands(tmp):
                lf.write("$ " + " ".join(argv) + "\n")
                lf.flush()
                if subprocess.run(argv, cwd=cwd, env=env, stdout=lf, stderr=subprocess.STDOUT, check=False).returncode:
                    shutil.rmtree(tmp, ignore_errors=True)
                    raise TestbedError(f"build of {build.name} failed; last lines of {logfile}:\n" + tail(logfile, 40))
        missing = [b for b in build.binaries if not (tmp / b).is_file()]
        if missing:
            raise TestbedError(f"build of {build.name} produced no {missing}")
        shutil.rmtree(build.dir, ignore_errors=True)
        tmp.rename(build.dir)
        log(f"built {build.name} in {time.monotonic() - start:.0f}s")


def build_all() -> None:
    for b in BUILDS:
        run_build(b)


def tail(path: Path, n: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return f"({path} unreadable)"


# ---------------------------------------------------------------- state: certs, tokens, kubeconfigs

CERTS = STATE / "certs"
KUBECONFIG = STATE / "kubeconfig"


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_ca(name: str, cn: str) -> None:
    if not (CERTS / f"{name}.crt").exists():
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", str(CERTS / f"{name}.key"), "-out", str(CERTS / f"{name}.crt"),
                "-days", "3650", "-subj", f"/CN={cn}",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")


def make_certs() -> None:
    """Our own CA signs the serving cert, so every kubeconfig can be written before
    the apiserver starts. A second CA for requestheader: the apiserver refuses
    the same CA for both client-ca and requestheader-client-ca."""
    CERTS.mkdir(parents=True, exist_ok=True)
    make_ca("ca", "testbed-ca")
    make_ca("front-proxy-ca", "testbed-front-proxy-ca")
    if not (CERTS / "apiserver.crt").exists():
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", str(CERTS / "apiserver.key"), "-out", str(CERTS / "apiserver.csr"),
                "-subj", "/CN=kube-apiserver")
        san = ("subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,"
               "DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local")
        ext = CERTS / "apiserver.ext"
        ext.write_text(san + "\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n")
        openssl("x509", "-req", "-in", str(CERTS / "apiserver.csr"), "-CA", str(CERTS / "ca.crt"),
                "-CAkey", str(CERTS / "ca.key"), "-CAcreateserial", "-days", "3650",
                "-extfile", str(ext), "-out", str(CERTS / "apiserver.crt"))
    if not (CERTS / "sa.pub").exists():
        openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(CERTS / "sa.key"))
        openssl("ec", "-in", str(CERTS / "sa.key"), "-pubout", "-out", str(CERTS / "sa.pub"))


# Static token identities. admin is cluster-admin via system:masters; nobody has
# no binding at all (RBAC tests expect 403); the rest are the components' own.
IDENTITIES = {
    "admin": ("admin", "system:masters"),
    "nobody": ("nobody", ""),
    "kube-controller-manager": ("system:kube-controller-manager", ""),
    "kube-scheduler": ("system:kube-scheduler", ""),
    "kwok": ("testbed:kwok", "system:masters"),
}


def tokens() -> dict[str, str]:
    """identity -> bearer token, made once per state dir (tokens.csv is the apiserver's)."""
    path = STATE / "tokens.json"
    if not path.exists():
        toks = {name: secrets.token_hex(24) for name in IDENTITIES}
        write_private(path, json.dumps(toks))
        rows = [f'{toks[n]},{user},{user},"{groups}"' if groups else f"{toks[n]},{user},{user}"
                for n, (user, groups) in IDENTITIES.items()]
        write_private(STATE / "tokens.csv", "\n".join(rows) + "\n")
    return json.loads(path.read_text())


def write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def api_url() -> str:
    return f"https://{LOOPBACK}:{PORTS['kube-apiserver']}"


def kubeconfig(users: dict[str, str], current: str) -> str:
    """A kubeconfig (JSON is YAML) with one context per user, CA inlined."""
    ca = base64.b64encode((CERTS / "ca.crt").read_bytes()).decode()
    return json.dumps({
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": "testbed", "cluster": {"server": api_url(), "certificate-authority-data": ca}}],
        "users": [{"name": ctx, "user": {"token": tok}} for ctx, tok in users.items()],
        "contexts": [{"name": ctx, "context": {"cluster": "testbed", "user": ctx}} for ctx in users],
        "current-context": current,
    }, indent=2) + "\n"


def component_kubeconfig(name: str) -> Path:
    path = STATE / "kubeconfigs" / f"{name}.kubeconfig"
    if not path.exists():
        write_private(path, kubeconfig({name: tokens()[name]}, name))
    return path


def prepare_state() -> None:
    for d in ("logs", "pids", "etcd"):
        (STATE / d).mkdir(parents=True, exist_ok=True)
    os.chmod(STATE / "etcd", 0o700)
    make_certs()
    toks = tokens()
    if not KUBECONFIG.exists():
        write_private(KUBECONFIG, kubeconfig({"testbed": toks["admin"], "testbed-nobody": toks["nobody"]}, "testbed"))


# ---------------------------------------------------------------- HTTP probes and the API

def http_get(url: str, token: str | None = None, verify: bool = True, timeout: float = 2.0) -> tuple[int, str]:
    """(status, body); status 0 when nothing answers."""
    ctx = None
    if url.startswith("https"):
        ctx = ssl.create_default_context(cafile=str(CERTS / "ca.crt")) if verify else ssl._create_unverified_context()
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except (OSError, ssl.SSLError):
        return 0, ""


def api(method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    """A tiny admin client for the few calls `up` makes."""
    ctx = ssl.create_default_context(cafile=str(CERTS / "ca.crt"))
    req = urllib.request.Request(api_url() + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": f"Bearer {tokens()['admin']}",
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10, context=ctx) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, {}


def apiserver_ready() -> bool:
    return http_get(f"{api_url()}/readyz", tokens()["admin"])[0] == 200


# ---------------------------------------------------------------- components

@dataclasses.dataclass
class Component:
    """One process of the testbed. More (Contour, Knative...) register the same way.

    needs: components that must be ready before this one starts.
    before_start: cleanup right before the process starts (only when it is not running).
    after_ready: one-off setup once it is ready (apply CRDs, create nodes...).
    Components stop in the reverse order of the registry.
    """
    name: str
    build: Build
    binary: str
    args: Callable[[], list[str]]
    ready: Callable[[], bool]
    port: int | None = None
    needs: tuple[str, ...] = ()
    after_ready: Callable[[], None] | None = None
    before_start: Callable[[], None] | None = None
    stop_timeout: float = 15.0

    @property
    def logfile(self) -> Path:
        return STATE / "logs" / f"{self.name}.log"

    @property
    def pidfile(self) -> Path:
        return STATE / "pids" / f"{self.name}.json"


def etcd_args() -> list[str]:
    client, peer = f"http://{LOOPBACK}:{PORTS['etcd']}", f"http://{LOOPBACK}:{PORTS['etcd-peer']}"
    args = ["--name=testbed", f"--data-dir={STATE / 'etcd'}",
            f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=testbed={peer}", "--log-level=warn"]
    return args + ["--unsafe-no-fsync"]  # a throwaway store: durability buys nothing


def apiserver_args() -> list[str]:
    return [
        f"--etcd-servers=http://{LOOPBACK}:{PORTS['etcd']}",
        f"--bind-address={LOOPBACK}", f"--advertise-address={LOOPBACK}",
        f"--secure-port={PORTS['kube-apiserver']}",
        f"--tls-cert-file={CERTS / 'apiserver.crt'}", f"--tls-private-key-file={CERTS / 'apiserver.key'}",
        f"--client-ca-file={CERTS / 'ca.crt'}",
        f"--requestheader-client-ca-file={CERTS / 'front-proxy-ca.crt'}",
        f"--token-auth-file={STATE / 'tokens.csv'}",
        "--authorization-mode=RBAC,Node",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={CERTS / 'sa.pub'}",
        f"--service-account-signing-key-file={CERTS / 'sa.key'}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        # The `kubernetes` Service may not point at loopback, and nothing may use it.
        "--endpoint-reconciler-type=none",
        # Node names never go to DNS: only the InternalIP (127.0.0.1) is ever dialled.
        "--kubelet-preferred-address-types=InternalIP",
        "--allow-privileged=true",
        "--profiling=false",
    ]


def kube_component_args(name: str) -> list[str]:
    kc = component_kubeconfig(name)
    return [f"--kubeconfig={kc}", f"--authentication-kubeconfig={kc}", f"--authorization-kubeconfig={kc}",
            f"--bind-address={LOOPBACK}", f"--secure-port={PORTS[name]}", "--leader-elect=false",
            "--profiling=false"]


def controller_manager_args() -> list[str]:
    return kube_component_args("kube-controller-manager") + [
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={CERTS / 'sa.key'}",
        f"--root-ca-file={CERTS / 'ca.crt'}",
        f"--cluster-signing-cert-file={CERTS / 'ca.crt'}", f"--cluster-signing-key-file={CERTS / 'ca.key'}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        # Check node health every second, so new kwok nodes lose their
        # not-ready taint quickly and `up` does not wait for it.
        "--node-monitor-period=1s",
        # Per-controller credentials cost many requests at start; the default
        # client rate limit (20/s) stretches that to ~5 s.
        "--kube-api-qps=200", "--kube-api-burst=400",
    ]


def kwok_args() -> list[str]:
    return [
        f"--kubeconfig={component_kubeconfig('kwok')}",
        # one Stage per file: kwok takes --config repeatedly (and linters want one YAML document per file)
        *(f"--config={path}" for path in sorted((HERE / "kwok" / "stages").glob("*.yaml"))),
        "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
        f"--node-ip={LOOPBACK}",  # the nodes' InternalIP: anything that dials a node stays local
        f"--node-port={PORTS['kwok']}",
        f"--server-address={LOOPBACK}:{PORTS['kwok']}",
        "--cidr=10.244.255.0/24",  # fallback only: every node has its own podCIDR
        "--node-lease-duration-seconds=40",
    ]


def https_healthz(name: str) -> Callable[[], bool]:
    # Their serving certs are self-signed in memory; this is loopback only.
    return lambda: http_get(f"https://{LOOPBACK}:{PORTS[name]}/healthz", verify=False)[0] == 200


def node_names() -> list[str]:
    return [f"kwok-node-{i}" for i in range(NODE_COUNT)]


def create_nodes() -> None:
    """Fake nodes for kwok to run. Each gets its own podCIDR (pod IPs are bookkeeping)."""
    for i, name in enumerate(node_names()):
        cidr = f"10.244.{i}.0/24"
        code, unused_body = api("POST", "/api/v1/nodes", {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name,
                         "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                         "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                    "kubernetes.io/arch": "amd64", "type": "kwok",
                                    "topology.kubernetes.io/zone": f"zone-{'abc'[i % 3]}"}},
            "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
        })
        if code not in (201, 409):
            raise TestbedError(f"creating node {name}: HTTP {code}")


def release_node_leases() -> None:
    """A kwok that restarts finds its dead predecessor's node Leases, will not take
    them over, and leaves the nodes' pods alone until they expire (40 s). The old
    kwok is gone (we only start one when none runs), so its Leases can go."""
    for name in node_names():
        api("DELETE", f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}")


CORE: list[Component] = [
    Component("etcd", ETCD, "etcd", etcd_args, port=PORTS["etcd"],
              ready=lambda: '"health":"true"' in http_get(f"http://{LOOPBACK}:{PORTS['etcd']}/health")[1]),
    # Starts with etcd, not after it: it retries its storage until etcd answers.
    Component("kube-apiserver", KUBERNETES, "kube-apiserver", apiserver_args, port=PORTS["kube-apiserver"],
              ready=apiserver_ready, after_ready=create_nodes, stop_timeout=25),
    Component("kwok", KWOK, "kwok", kwok_args, port=PORTS["kwok"], needs=("kube-apiserver",),
              before_start=release_node_leases,
              ready=lambda: http_get(f"http://{LOOPBACK}:{PORTS['kwok']}/healthz")[0] == 200),
    Component("kube-controller-manager", KUBERNETES, "kube-controller-manager", controller_manager_args,
              port=PORTS["kube-controller-manager"], needs=("kube-apiserver",),
              ready=https_healthz("kube-controller-manager")),
    Component("kube-scheduler", KUBERNETES, "kube-scheduler", lambda: kube_component_args("kube-scheduler"),
              port=PORTS["kube-scheduler"], needs=("kube-apiserver",), ready=https_healthz("kube-scheduler")),
]

# Optional components, enabled with `up --with NAME[,NAME]`: name -> components
# (in start order).
from components import contour, gateway, knative  # noqa: E402  (tests/testbed/components/)

OPTIONAL: dict[str, list[Component]] = {
    "contour": contour.components(sys.modules[__name__]),
    "gateway": gateway.components(sys.modules[__name__]),
    "knative": knative.components(sys.modules[__name__]),
}


# ---------------------------------------------------------------- processes

def proc_start_time(pid: int) -> str | None:
    """Kernel start time of a live (non-zombie) pid: with the pid it names one process exactly."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def recorded(comp_or_file: Component | Path) -> dict | None:
    path = comp_or_file.pidfile if isinstance(comp_or_file, Component) else comp_or_file
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def running_pid(comp_or_file: Component | Path) -> int | None:
    """The recorded pid if that very process still runs (not a reused pid)."""
    rec = recorded(comp_or_file)
    if rec and proc_start_time(rec["pid"]) == rec["start"]:
        return rec["pid"]
    return None


def port_free(p: int) -> bool:
    """Nobody listens there. SO_REUSEADDR, as Go servers use: TIME_WAIT left by a
    testbed just stopped must not count as taken."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((LOOPBACK, p))
            return True
        except OSError:
            return False


def start(comp: Component) -> subprocess.Popen:
    if comp.port and not port_free(comp.port):
        raise TestbedError(f"{comp.name}: port {LOOPBACK}:{comp.port} is taken by another process "
                           f"(set PD_TESTBED_*_PORT or stop it)")
    argv = [str(comp.build.path(comp.binary)), *comp.args()]
    with open(comp.logfile, "ab") as lf:
        lf.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(argv)}\n".encode())
        lf.flush()
        # Own session: the testbed outlives this CLI and the terminal's signals.
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=lf, stderr=subprocess.STDOUT,
                                cwd=STATE, start_new_session=True)
    comp.pidfile.write_text(json.dumps({"pid": proc.pid, "start": proc_start_time(proc.pid),
                                        "argv": argv}))
    return proc


def stop_pidfile(pidfile: Path, name: str, timeout: float) -> None:
    pid = running_pid(pidfile)
    if pid:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while proc_start_time(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if proc_start_time(pid):
            log(f"{name} did not stop in {timeout:.0f}s; killing it")
            os.kill(pid, signal.SIGKILL)
            while proc_start_time(pid):
                time.sleep(0.05)
    pidfile.unlink(missing_ok=True)


def wait_for(what: str, pred: Callable[[], bool], timeout: float, procs: dict[str, subprocess.Popen]) -> None:
    """Poll pred; fail early, with the log tail, if a process we started exits."""
    deadline = time.monotonic() + timeout
    while not pred():
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise TestbedError(f"{name} exited with {proc.returncode} while waiting for {what}; "
                                   f"last lines of its log:\n" + tail(STATE / "logs" / f"{name}.log", 40))
        if time.monotonic() > deadline:
            raise TestbedError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)


# ---------------------------------------------------------------- cluster-level readiness

def nodes_ready() -> bool:
    code, body = api("GET", "/api/v1/nodes?labelSelector=type%3Dkwok")
    if code != 200:
        return False
    ready = [n for n in body.get("items", [])
             if any(c["type"] == "Ready" and c["status"] == "True" for c in n.get("status", {}).get("conditions", []))
             and not any(t["key"].startswith("node.kubernetes.io/") for t in n.get("spec", {}).get("taints") or [])]
    return len(ready) >= NODE_COUNT


def controllers_working(procs: dict[str, subprocess.Popen]) -> None:
    """The ServiceAccount controller fills a new namespace: the controllers really run."""
    ns = f"testbed-probe-{secrets.token_hex(3)}"
    if api("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                          "metadata": {"name": ns}})[0] != 201:
        raise TestbedError("cannot create a namespace")
    try:
        wait_for("the default ServiceAccount", lambda: api(
            "GET", f"/api/v1/namespaces/{ns}/serviceaccounts/default")[0] == 200, 60, procs)
    finally:
        api("DELETE", f"/api/v1/namespaces/{ns}")


# ---------------------------------------------------------------- commands

def enabled_components(extra: list[str]) -> list[Component]:
    unknown = [n for n in extra if n not in OPTIONAL]
    if unknown:
        raise TestbedError(f"unknown optional component(s) {unknown}; available: {sorted(OPTIONAL) or 'none yet'}")
    return CORE + [c for n in extra for c in OPTIONAL[n]]


def saved_optional() -> list[str]:
    try:
        return json.loads((STATE / "optional.json").read_text())
    except (OSError, ValueError):
        return []


def cmd_build(_args) -> None:
    build_all()
    for b in BUILDS:
        print(f"{b.name} {b.version}: {b.dir}")


def cmd_up(args) -> None:
    wanted = sorted(set(saved_optional()) | {n.strip() for n in (args.with_ or "").split(",") if n.strip()})
    comps = enabled_components(wanted)
    if all(running_pid(c) for c in comps) and KUBECONFIG.exists() and apiserver_ready():
        print_env_hint("already up")
        return
    t0 = time.monotonic()
    for b in {id(c.build): c.build for c in comps}.values():
        run_build(b)
    with locked("state-" + state_key()):
        prepare_state()
        (STATE / "optional.json").write_text(json.dumps(wanted))
        bring_up(comps)
    print_env_hint(f"up in {time.monotonic() - t0:.1f}s")


def state_key() -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", str(STATE)).strip("_")


def bring_up(comps: list[Component]) -> None:
    """Start each component once what it needs is ready; wait for all, then for the cluster.
    If that fails, stop what this call started (a half-started testbed would hold the ports
    and make the next `up` fail), and re-raise."""
    procs: dict[str, subprocess.Popen] = {}
    try:
        _bring_up(comps, procs)
    except BaseException:
        by_name = {c.name: c for c in comps}
        for name in reversed(list(procs)):
            stop_pidfile(by_name[name].pidfile, name, by_name[name].stop_timeout)
        raise


def _bring_up(comps: list[Component], procs: dict[str, subprocess.Popen]) -> None:
    ready: set[str] = set()
    t0 = time.monotonic()
    pending = list(comps)
    while pending:
        startable = [c for c in pending if all(n in ready for n in c.needs)]
        if not startable:
            raise TestbedError(f"unsatisfiable needs: {[(c.name, c.needs) for c in pending]}")
        for c in startable:
            if not running_pid(c):
                if c.before_start:
                    c.before_start()
                procs[c.name] = start(c)
        for c in startable:
            wait_for(f"{c.name} to be ready", c.ready, 90, procs)
            log(f"{c.name} ready (+{time.monotonic() - t0:.1f}s)")
            ready.add(c.name)
            pending.remove(c)
            if c.after_ready:
                c.after_ready()
    wait_for(f"{NODE_COUNT} kwok nodes Ready", nodes_ready, 60, procs)
    log(f"{NODE_COUNT} nodes Ready and untainted (+{time.monotonic() - t0:.1f}s)")
    controllers_working(procs)
    log(f"controllers working (+{time.monotonic() - t0:.1f}s)")


def print_env_hint(what: str) -> None:
    kubectl = KUBERNETES.path("kubectl")
    print(f"testbed {what}. Point kubectl / Ansible at it with:\n"
          f"  export KUBECONFIG={KUBECONFIG}\n"
          f"  export K8S_AUTH_KUBECONFIG={KUBECONFIG}\n"
          f"contexts: testbed (admin), testbed-nobody (no RBAC rights)\n"
          f"kubectl of the same release: {kubectl}\n"
          f"logs: {STATE / 'logs'}")


def cmd_down(_args) -> None:
    """Stop what we started (and only that), optional components first, then the
    core in reverse start order: scheduler, controller-manager, kwok, apiserver, etcd."""
    with locked("state-" + state_key()):
        known = {c.name: c for c in CORE + [c for cs in OPTIONAL.values() for c in cs]}
        order = [c.name for c in CORE]
        pidfiles = sorted((STATE / "pids").glob("*.json")) if (STATE / "pids").is_dir() else []
        names = [p.stem for p in pidfiles]
        # Unknown (or optional) pidfiles first, then the core in reverse order.
        names.sort(key=lambda n: -1 if n not in order else len(order) - order.index(n))
        for name in names:
            timeout = known[name].stop_timeout if name in known else 15
            stop_pidfile(STATE / "pids" / f"{name}.json", name, timeout)
        shutil.rmtree(STATE, ignore_errors=True)
    print("testbed down")


def cmd_status(_args) -> int:
    comps = enabled_components([n for n in saved_optional() if n in OPTIONAL])
    worst = 0
    print(f"{'component':26} {'state':8} {'pid':>8} {'port':>6}  ready")
    for c in comps:
        pid = running_pid(c)
        ok = bool(pid) and c.ready()
        worst = worst or (0 if ok else 1)
        print(f"{c.name:26} {'running' if pid else 'stopped':8} {pid or '-':>8} {c.port or '-':>6}  "
              f"{'ok' if ok else '-'}")
    if KUBECONFIG.exists():
        code, body = http_get(f"{api_url()}/readyz", tokens()["admin"])
        print(f"apiserver /readyz: {body.strip() if code else 'no answer'}")
        print(f"kubeconfig: {KUBECONFIG}")
    return worst


def cmd_env(_args) -> None:
    print(f"export KUBECONFIG={KUBECONFIG}")


def cmd_kubectl(args) -> int:
    """The kubectl of the same release, on the testbed's kubeconfig."""
    run_build(KUBERNETES)
    env = dict(os.environ, KUBECONFIG=str(KUBECONFIG))
    return subprocess.call([str(KUBERNETES.path("kubectl")), *args.rest], env=env)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="testbed.py", description=__doc__.split("\n\n", maxsplit=1)[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("build", help="build and cache every binary").set_defaults(fn=cmd_build)
    up = sub.add_parser("up", help="start the testbed (a no-op when it runs)")
    up.add_argument("--with", dest="with_", metavar="NAMES", help="optional components, comma-separated")
    up.set_defaults(fn=cmd_up)
    sub.add_parser("down", help="stop what `up` started and remove the state").set_defaults(fn=cmd_down)
    sub.add_parser("status", help="per component: running, pid, port, ready").set_defaults(fn=cmd_status)
    sub.add_parser("env", help="print export KUBECONFIG=...").set_defaults(fn=cmd_env)
    kc = sub.add_parser("kubectl", help="run the matching kubectl against the testbed")
    kc.add_argument("rest", nargs=argparse.REMAINDER)
    kc.set_defaults(fn=cmd_kubectl)
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["kubectl"]:  # pass everything through, --flags included
        args = argparse.Namespace(fn=cmd_kubectl, rest=argv[1:])
    else:
        args = p.parse_args(argv)
    try:
        return args.fn(args) or 0
    except TestbedError as e:
        print(f"testbed: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
