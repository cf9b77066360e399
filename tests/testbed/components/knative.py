"""Knative Serving on the testbed: the real controller and webhook, two stand-ins.

    python3 tests/testbed/testbed.py up --with knative

The `controller` and `webhook` commands of knative.dev/serving are built from the Go
module pinned in tests/testbed/knative/go.mod (its own module context: serving's go.mod
has a replace directive, so `go install ...@version` refuses it) into the testbed's
binary cache, with one change made at build time: knative.dev/pkg's three servers
(webhook, probes, profiling) bind 127.0.0.1 instead of every interface, and the probe
port (a constant 8080 upstream) is taken from TESTBED_PROBES_PORT. The build copies the
pinned knative.dev/pkg out of the module cache, patches the expressions listed in
LOOPBACK_PATCHES, and points a `replace` at the copy through `go build -modfile`.

At testbed time the upstream YAML is read from the downloaded modules (serving,
networking, caching: CRDs, RBAC, config maps, webhook configurations) and applied with
kubectl, then our overrides (CONFIG_OVERRIDES below, the webhook port).

Processes (logs in <state>/logs/knative-*.log):
  knative-webhook     the real webhook (defaulting, validation, config validation);
                      kube-apiserver reaches it only through the Service
                      knative-serving/webhook of type ExternalName -> localhost.
  knative-controller  the real controller (configuration, revision, route, service,
                      labeler, serverlessservice, gc, nscert, domainmapping reconcilers).
  knative-standin     tests/testbed/knative/standin.py: plays the autoscaler (KPA) for
                      PodAutoscalers and a networking layer for KIngresses, without
                      metrics or probes (see its docstring and the README).
The autoscaler and activator are not run (they scrape and probe pod IPs), nor is any
networking layer (they program and probe gateways).

Stdlib only, like testbed.py; `components(tb)` gets the testbed module.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

MODULE = "knative.dev/serving"
DATA = Path(__file__).resolve().parents[1] / "knative"
NAMESPACE = "knative-serving"

INGRESS_CLASS = "testbed.ingress.networking.knative.dev"
PUBLIC_LB = "knative-testbed-ingress.knative-serving.svc.cluster.local"
PRIVATE_LB = "knative-testbed-ingress-internal.knative-serving.svc.cluster.local"
# Nothing listens here: every image registry call goes to a dead loopback port.
DEAD_PROXY = "127.0.0.1:9"

# Registries whose tags the revision reconciler takes as they are, with no digest lookup.
SKIP_TAG_RESOLVING = ("kind.local", "ko.local", "dev.local", "example.com", "index.docker.io", "docker.io",
                      "gcr.io", "ghcr.io", "quay.io", "registry.k8s.io")

CONFIG_OVERRIDES = {
    # URLs http://<route>.<namespace>.example.com, tags http://<tag>-<route>.<namespace>.example.com
    "config-domain": {"example.com": ""},
    "config-deployment": {
        # kwok never pulls an image; the upstream value is a ko:// build reference.
        "queue-sidecar-image": "dev.local/knative/queue-proxy:testbed",
        "registries-skipping-tag-resolving": ",".join(SKIP_TAG_RESOLVING),
    },
    # Only the stand-in answers for this KIngress class.
    "config-network": {"ingress-class": INGRESS_CLASS},
    # No metrics or profiling listeners beyond what cannot be turned off.
    "config-observability": {"metrics.backend-destination": "none",
                             "metrics.request-metrics-backend-destination": "none",
                             "profiling.enable": "false"},
    # The webhook logs every admission request at info (megabytes per test run).
    "config-logging": {"loglevel.webhook": "warn"},
    # A restarted controller takes its reconcilers' leases back within seconds.
    "config-leader-election": {"lease-duration": "15s", "renew-deadline": "10s", "retry-period": "2s"},
}

# Upstream YAML applied at testbed time: (module, path in the module). Deployments,
# HPAs and the autoscaler/activator are left out on purpose; so are 999-cache.yaml (an
# image cache hint with a ko:// image) and 300-knativecertificate.yaml (only for
# system-internal TLS).
SETUP_YAML = [
    (MODULE, "config/core/100-namespace.yaml"),
    (MODULE, "config/core/200-serviceaccount.yaml"),
    (MODULE, "config/core/200-roles"),
    (MODULE, "config/core/300-resources"),
    ("knative.dev/networking", "config/certificate.yaml"),
    ("knative.dev/networking", "config/domain-claim.yaml"),
    ("knative.dev/networking", "config/ingress.yaml"),
    ("knative.dev/networking", "config/serverlessservice.yaml"),
    ("knative.dev/caching", "config/image.yaml"),
]
CONFIG_YAML = [
    (MODULE, "config/core/configmaps"),
    ("knative.dev/networking", "config/config-network.yaml"),
]
WEBHOOK_YAML = [(MODULE, "config/core/webhooks")]
WEBHOOK_CONFIGURATIONS = (
    ("mutatingwebhookconfiguration", "webhook.serving.knative.dev"),
    ("validatingwebhookconfiguration", "validation.webhook.serving.knative.dev"),
    ("validatingwebhookconfiguration", "config.webhook.serving.knative.dev"),
)
CRD_NAMES = (
    "configurations.serving.knative.dev", "revisions.serving.knative.dev", "routes.serving.knative.dev",
    "services.serving.knative.dev", "domainmappings.serving.knative.dev",
    "podautoscalers.autoscaling.internal.knative.dev", "metrics.autoscaling.internal.knative.dev",
    "ingresses.networking.internal.knative.dev", "serverlessservices.networking.internal.knative.dev",
    "certificates.networking.internal.knative.dev", "clusterdomainclaims.networking.internal.knative.dev",
    "images.caching.internal.knative.dev",
)
# One leader-election lease per reconciler of the controller (one bucket each).
RECONCILERS = ("configuration", "domainmapping", "gc", "labeler", "nscert", "revision", "route",
               "serverlessservice", "service")
LEASE_PREFIX = "controller.knative.dev.serving.pkg.reconciler."

# knative.dev/pkg listens on ":<port>" (every interface) in three places; the build
# replaces exactly these expressions (file, upstream text, loopback text) and fails if
# one is not found, e.g. after a version bump.
PKG_MODULE = "knative.dev/pkg"
LOOPBACK_PATCHES = (
    ("webhook/webhook.go", 'fmt.Sprint(":", wh.Options.Port)', 'fmt.Sprint("127.0.0.1:", wh.Options.Port)'),
    ("profiling/server.go", 'Addr:              ":" + port,', 'Addr:              "127.0.0.1:" + port,'),
    ("injection/health_check.go", 'Addr: ":" + strconv.Itoa(port)', "Addr: testbedProbesAddress(strconv.Itoa(port))"),
)
# Added to package injection by the same overlay.
PROBES_GO = ("injection/zz_testbed_probes.go", """package injection

import "os"

// testbedProbesAddress: the probes on loopback, on TESTBED_PROBES_PORT when it is set.
func testbedProbesAddress(port string) string {
\tif p := os.Getenv("TESTBED_PROBES_PORT"); p != "" {
\t\tport = p
\t}
\treturn "127.0.0.1:" + port
}
""")


def components(tb: ModuleType) -> list:
    """The Component list for testbed.py's OPTIONAL registry."""
    version = tb.gomod_version(DATA / "go.mod", MODULE)
    ports = {name: tb.port(f"KNATIVE_{name.upper()}", default)
             for name, default in (("webhook", 16810), ("controller_profiling", 16811),
                                   ("webhook_profiling", 16812), ("controller_probes", 16813))}

    def build_commands(out: Path) -> list:
        # The patched source stays next to the binaries' cache dir (a stable path: the
        # build dir itself is renamed once the build succeeds).
        src = tb.CACHE / "src" / f"{build.name}-{build.version}"
        shutil.rmtree(src, ignore_errors=True)
        modfile = loopback_modfile(tb, src)
        argv = ["go", "build", "-trimpath", "-ldflags", "-s -w", f"-modfile={modfile}", "-o", str(out) + "/",
                f"{MODULE}/cmd/controller", f"{MODULE}/cmd/webhook"]
        if shutil.which("nice"):
            argv = ["nice", "-n", "10", *argv]
        return [(argv, DATA, tb.go_env())]

    # The cache key names the patch too: a changed patch is a new build.
    patch_id = hashlib.sha256(json.dumps([LOOPBACK_PATCHES, PROBES_GO]).encode()).hexdigest()[:8]
    build = tb.Build("knative-serving", f"{version}-loopback-{patch_id}", ("controller", "webhook"),
                     build_commands)
    env_program = shutil.which("env") or "/usr/bin/env"

    def go_env_args(name: str, profiling_port: int, **extra: str) -> list[str]:
        env = {
            "SYSTEM_NAMESPACE": NAMESPACE, "POD_NAME": f"{name}-testbed",
            "CONFIG_LOGGING_NAME": "config-logging", "CONFIG_OBSERVABILITY_NAME": "config-observability",
            "METRICS_DOMAIN": "knative.dev/internal/serving", "PROFILING_PORT": str(profiling_port),
            # Image digest lookups (for registries not skipped) and cloud credential
            # helpers get a loopback port where nothing listens, never the network.
            "HTTPS_PROXY": f"http://{DEAD_PROXY}", "HTTP_PROXY": f"http://{DEAD_PROXY}",
            "NO_PROXY": "127.0.0.1,localhost", "GCE_METADATA_HOST": DEAD_PROXY,
            "AWS_EC2_METADATA_DISABLED": "true",
            **extra,
        }
        return [f"{k}={v}" for k, v in env.items()]

    def webhook_args() -> list[str]:
        # Called just before the webhook starts: everything it and the rest need first.
        check_ports(tb, {"webhook": ports["webhook"], "webhook profiling": ports["webhook_profiling"]})
        setup(tb, ports["webhook"])
        return [*go_env_args("webhook", ports["webhook_profiling"], WEBHOOK_NAME="webhook",
                             WEBHOOK_PORT=str(ports["webhook"])),
                str(build.path("webhook")), f"--kubeconfig={kubeconfig_path(tb)}", "--disable-ha"]

    def controller_args() -> list[str]:
        check_ports(tb, {"controller profiling": ports["controller_profiling"]})
        # Leases held by a controller that is gone would delay the new one.
        delete_leases(tb)
        return [*go_env_args("controller", ports["controller_profiling"],
                             TESTBED_PROBES_PORT=str(ports["controller_probes"])),
                str(build.path("controller")), f"--kubeconfig={kubeconfig_path(tb)}"]

    def standin_args() -> list[str]:
        ready_file(tb).unlink(missing_ok=True)
        return [str(python_with_kubernetes(tb)), str(DATA / "standin.py"), f"--kubeconfig={kubeconfig_path(tb)}",
                f"--ingress-class={INGRESS_CLASS}", f"--public-lb={PUBLIC_LB}", f"--private-lb={PRIVATE_LB}",
                f"--ready-file={ready_file(tb)}"]

    # Each process is started through env(1) (an absolute `binary` stays itself when
    # the testbed joins it to the build's directory): the Go programs need their
    # environment, the stand-in a Python interpreter that has `kubernetes`.
    # On SIGTERM the webhook drains for 45s (knative.dev/pkg's fixed quiet period): a
    # throwaway testbed kills it after a second instead.
    webhook = tb.Component("knative-webhook", build, env_program, webhook_args,
                           ready=lambda: webhook_answers(tb), port=ports["webhook"], needs=("kube-apiserver",),
                           stop_timeout=1.0)
    controller = tb.Component("knative-controller", build, env_program, controller_args,
                              ready=lambda: controller_ready(tb, ports["controller_probes"]),
                              port=ports["controller_probes"], needs=("knative-webhook",))
    standin = tb.Component("knative-standin", build, env_program, standin_args,
                           ready=lambda: standin_ready(tb, standin), needs=("knative-webhook",))
    return [webhook, controller, standin]


# ---------------------------------------------------------------- setup

def check_ports(tb: ModuleType, ports: dict) -> None:
    taken = [f"{name} {p}" for name, p in ports.items() if not tb.port_free(p)]
    if taken:
        raise tb.TestbedError(f"knative: port(s) {', '.join(taken)} are taken (set PD_TESTBED_KNATIVE_"
                              f"<WEBHOOK|CONTROLLER_PROFILING|WEBHOOK_PROFILING|CONTROLLER_PROBES>_PORT)")


def python_with_kubernetes(tb: ModuleType) -> Path:
    """The stand-in needs the `kubernetes` package: the repo's venv, else this Python,
    else python3 on PATH."""
    candidates = [tb.REPO / ".venv" / "bin" / "python", Path(sys.executable)]
    if shutil.which("python3"):
        candidates.append(Path(shutil.which("python3")))
    for python in candidates:
        if python.is_file() and subprocess.run([str(python), "-c", "import kubernetes"],
                                               capture_output=True, check=False).returncode == 0:
            return python
    raise tb.TestbedError("knative: the stand-in needs a Python with the `kubernetes` package; tried "
                          + ", ".join(map(str, candidates)) + " (make the venv: see the repo README)")


def loopback_modfile(tb: ModuleType, where: Path) -> Path:
    """A patched copy of knative.dev/pkg under `where` and a go.mod (plus go.sum) that
    is tests/testbed/knative's with a replace pointing at it, for `go build -modfile`.
    (`go build -overlay` may not replace files in the module cache.)"""
    pkg = module_dirs(tb, [PKG_MODULE])[PKG_MODULE]
    copy = where / "knative.dev-pkg"
    where.mkdir(parents=True, exist_ok=True)
    shutil.copytree(pkg, copy, copy_function=shutil.copyfile,  # writable copies
                    ignore=shutil.ignore_patterns("*_test.go", "testdata", "*.md", "OWNERS*", ".*"))
    for rel, upstream, loopback in LOOPBACK_PATCHES:
        text = (copy / rel).read_text()
        if text.count(upstream) != 1:
            raise tb.TestbedError(f"knative: cannot bind to loopback: {upstream!r} not found once in {pkg / rel}")
        (copy / rel).write_text(text.replace(upstream, loopback))
    (copy / PROBES_GO[0]).write_text(PROBES_GO[1])
    modfile = where / "build.mod"
    modfile.write_text((DATA / "go.mod").read_text() + f"\n// Added by the testbed build: loopback listeners.\n"
                       f"replace {PKG_MODULE} => {copy}\n")
    shutil.copyfile(DATA / "go.sum", where / "build.sum")
    return modfile


def module_dirs(tb: ModuleType, mods: list[str] | None = None) -> dict[str, Path]:
    """Where the Go module cache holds the pinned modules' sources (the versions
    tests/testbed/knative/go.mod resolves to)."""
    mods = mods or sorted({pair[0] for pair in SETUP_YAML + CONFIG_YAML + WEBHOOK_YAML})
    dirs, errors = {}, []
    for info in tb.go_mod_download(mods, DATA, tb.go_env()):
        if info.get("Dir"):
            dirs[info["Path"]] = Path(info["Dir"])
        else:
            errors.append(f"{info.get('Path')}: {info.get('Error')}")
    if errors or set(dirs) != set(mods):
        raise tb.TestbedError(f"knative: `go mod download {' '.join(mods)}` failed: "
                              f"{'; '.join(errors) or 'modules missing'}")
    return dirs


def kubectl(tb: ModuleType, *args: str, what: str) -> str:
    env = dict(os.environ, KUBECONFIG=str(tb.KUBECONFIG))
    res = subprocess.run([str(tb.KUBERNETES.path("kubectl")), *args], capture_output=True, text=True, env=env, check=False)
    if res.returncode:
        raise tb.TestbedError(f"knative: {what} failed:\n{res.stderr.strip()}")
    return res.stdout


def apply(tb: ModuleType, paths: list[Path], what: str) -> None:
    """Server-side apply. --validate=false: the API server still checks every object
    against its schema; kubectl would only first fetch the whole OpenAPI document, which
    costs seconds right after CRDs are added."""
    kubectl(tb, "apply", "--server-side", "--force-conflicts", "--field-manager=testbed-knative",
            "--validate=false", *[arg for p in paths for arg in ("-f", str(p))], what=f"applying {what}")


def apply_files(tb: ModuleType, dirs: dict, entries: list, what: str) -> None:
    paths = [dirs[module] / rel for module, rel in entries]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise tb.TestbedError(f"knative: missing from the downloaded modules: {missing}")
    apply(tb, paths, what)


def apply_objects(tb: ModuleType, objects: list, name: str) -> None:
    path = tb.STATE / "knative" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}, indent=1))
    apply(tb, [path], str(path))


def override_objects(webhook_port: int) -> list:
    objects = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": NAMESPACE},
                "data": data} for name, data in CONFIG_OVERRIDES.items()]
    objects += [
        # kube-apiserver resolves a webhook's Service of type ExternalName to
        # https://<externalName>:<clientConfig.service.port> and verifies the serving
        # cert for webhook.knative-serving.svc, which Knative's own cert carries.
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "webhook", "namespace": NAMESPACE},
         "spec": {"type": "ExternalName", "externalName": "localhost",
                  "ports": [{"name": "https-webhook", "port": webhook_port}]}},
        # The serverlessservice reconciler reads the activator's Endpoints; empty, it keeps
        # every revision's public Endpoints pointing at the revision's own pods.
        {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "activator-service", "namespace": NAMESPACE}},
    ]
    return objects


def setup(tb: ModuleType, webhook_port: int) -> None:
    """Apply the upstream YAML and our overrides; mint the ServiceAccount token."""
    start = time.monotonic()
    dirs = module_dirs(tb)
    # The webhook is not running yet: drop its configurations (failurePolicy Fail) so
    # the config maps can be applied; they are applied again below.
    kubectl(tb, "delete", "--ignore-not-found", "--wait=false",
            *[f"{kind}/{name}" for kind, name in WEBHOOK_CONFIGURATIONS], what="deleting the webhook configurations")
    apply_files(tb, dirs, SETUP_YAML, "the namespace, RBAC and CRDs")
    wait_crds(tb)
    apply_files(tb, dirs, CONFIG_YAML, "the config maps")
    apply_objects(tb, override_objects(webhook_port), "overrides")
    apply_files(tb, dirs, WEBHOOK_YAML, "the webhook configurations")
    patch = json.dumps([{"op": "add", "path": "/webhooks/0/clientConfig/service/port", "value": webhook_port}])
    for kind, name in WEBHOOK_CONFIGURATIONS:
        kubectl(tb, "patch", kind, name, "--type=json", "-p", patch, what=f"setting the port of {name}")
    write_kubeconfig(tb)
    tb.log(f"knative: upstream YAML applied with overrides in {time.monotonic() - start:.1f}s")


def wait_crds(tb: ModuleType) -> None:
    deadline = time.monotonic() + 30
    while True:
        missing = [n for n in CRD_NAMES if not crd_established(tb, n)]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise tb.TestbedError(f"knative: CRDs not Established after 30s: {missing}")
        time.sleep(0.1)


def crd_established(tb: ModuleType, name: str) -> bool:
    code, body = tb.api("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
    return code == 200 and any(c.get("type") == "Established" and c.get("status") == "True"
                               for c in (body.get("status") or {}).get("conditions") or [])


def kubeconfig_path(tb: ModuleType) -> Path:
    return tb.STATE / "kubeconfigs" / "knative.kubeconfig"


def write_kubeconfig(tb: ModuleType) -> None:
    """Controller, webhook and stand-in run as the upstream ServiceAccount
    knative-serving/controller, with the upstream RBAC, via a TokenRequest token."""
    token = kubectl(tb, "create", "token", "controller", "-n", NAMESPACE, "--duration=8760h",
                    what="requesting a token for knative-serving/controller").strip()
    tb.write_private(kubeconfig_path(tb), tb.kubeconfig({"knative": token}, "knative"))


def delete_leases(tb: ModuleType) -> None:
    for reconciler in RECONCILERS:
        tb.api("DELETE", f"/apis/coordination.k8s.io/v1/namespaces/{NAMESPACE}/leases/"
                         f"{LEASE_PREFIX}{reconciler}.reconciler.00-of-01")


# ---------------------------------------------------------------- readiness

PROBE_SERVICE = {
    "apiVersion": "serving.knative.dev/v1", "kind": "Service",
    "metadata": {"name": "testbed-probe", "namespace": NAMESPACE},
    "spec": {"template": {"spec": {"containers": [{"image": "dev.local/testbed-probe:v1"}]}}},
}


def webhook_answers(tb: ModuleType) -> bool:
    """A dry-run create goes through both admission webhooks: 201 proves kube-apiserver
    reaches the webhook via the ExternalName Service and trusts its certificate."""
    code = tb.api("POST", f"/apis/serving.knative.dev/v1/namespaces/{NAMESPACE}/services?dryRun=All",
                  PROBE_SERVICE)[0]
    return code == 201


def controller_ready(tb: ModuleType, probes_port: int) -> bool:
    """Its probe server answers (informers synced) and every reconciler holds its lease."""
    if tb.http_get(f"http://{tb.LOOPBACK}:{probes_port}/readiness")[0] != 200:
        return False
    code, body = tb.api("GET", f"/apis/coordination.k8s.io/v1/namespaces/{NAMESPACE}/leases")
    held = {item["metadata"]["name"] for item in body.get("items", []) if item["spec"].get("holderIdentity")}
    return code == 200 and all(f"{LEASE_PREFIX}{r}.reconciler.00-of-01" in held for r in RECONCILERS)


def ready_file(tb: ModuleType) -> Path:
    return tb.STATE / "knative" / "standin.ready"


def standin_ready(tb: ModuleType, comp) -> bool:
    """The stand-in writes its pid once all its watches have listed."""
    pid = tb.running_pid(comp)
    try:
        return bool(pid) and ready_file(tb).read_text().strip() == str(pid)
    except OSError:
        return False
