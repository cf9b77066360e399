"""The collection's own kubeconfig reader and HTTP session against the real API server:
who the server says we are for each kind of credential (SelfSubjectReview), TLS names, and
the proxy. Everything stays on 127.0.0.1."""

import base64
import json
import os
import select
import socket
import socketserver
import stat
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import yaml
from modules import run_module

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    Kube,
    KubeError,
    Resource,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import Check
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.connection import (
    build_api_client,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import wait_for

CSR = Resource("certificates.k8s.io/v1", "CertificateSigningRequest",
               "certificatesigningrequests", False)


def whoami(kube):
    review = kube.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                          body={"apiVersion": "authentication.k8s.io/v1",
                                "kind": "SelfSubjectReview"})
    return review["status"]["userInfo"]["username"]


def load(kubeconfig):
    with open(kubeconfig) as handle:
        return yaml.safe_load(handle)


def cluster_of(admin):
    context = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])
    return next(c for c in admin["clusters"] if c["name"] == context["context"]["cluster"])


def admin_token(admin):
    context = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])
    user = next(u for u in admin["users"] if u["name"] == context["context"]["user"])
    return user["user"].get("token")


def kubeconfig_with(admin, user, **cluster_changes):
    cluster = json.loads(json.dumps(cluster_of(admin)))
    cluster["cluster"].update(cluster_changes)
    for key in [k for k, v in cluster["cluster"].items() if v is None]:
        del cluster["cluster"][key]
    return {"apiVersion": "v1", "kind": "Config", "current-context": "t",
            "clusters": [cluster], "users": [{"name": "u", "user": user}],
            "contexts": [{"name": "t", "context": {"cluster": cluster["name"], "user": "u"}}]}


@pytest.fixture
def admin(kubeconfig):
    config = load(kubeconfig)
    if not admin_token(config):
        pytest.fail("these tests read the admin's bearer token from the kubeconfig", pytrace=False)
    return config


def exec_plugin(folder, status):
    """A credential plugin that prints an ExecCredential with this status."""
    path = folder / "plugin.py"
    path.write_text(textwrap.dedent("""\
        #!%s
        import json, os
        info = json.loads(os.environ["KUBERNETES_EXEC_INFO"])
        print(json.dumps({"apiVersion": info["apiVersion"], "kind": "ExecCredential",
                          "status": %r}))
        """) % (sys.executable, status))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(path),
                     "interactiveMode": "Never"}}


def test_exec_plugin_token(admin, tmp_path):
    config = kubeconfig_with(admin, exec_plugin(tmp_path, {"token": admin_token(admin)}))
    assert whoami(Kube(build_api_client({"kubeconfig": config}))) == "admin"


def test_token_file_and_ca_file(admin, tmp_path):
    (tmp_path / "token").write_text(admin_token(admin) + "\n")
    ca = base64.b64decode(cluster_of(admin)["cluster"]["certificate-authority-data"])
    (tmp_path / "ca.crt").write_bytes(ca)
    config = kubeconfig_with(admin, {"tokenFile": "token"}, **{
        "certificate-authority-data": None, "certificate-authority": "ca.crt"})
    (tmp_path / "config").write_text(yaml.safe_dump(config))
    assert whoami(Kube(build_api_client({"kubeconfig": str(tmp_path / "config")}))) == "admin"


def test_insecure_skip_tls_verify(admin):
    config = kubeconfig_with(admin, {"token": admin_token(admin)}, **{
        "certificate-authority-data": None, "insecure-skip-tls-verify": True})
    assert whoami(Kube(build_api_client({"kubeconfig": config}))) == "admin"


def test_tls_server_name_is_the_name_checked(admin):
    """The testbed's certificate names kubernetes.default, not wrong.example: the right
    name works, the wrong one fails at once (an untrusted server is not an outage to ride
    out)."""
    token = {"token": admin_token(admin)}
    right = kubeconfig_with(admin, token, **{"tls-server-name": "kubernetes.default"})
    assert whoami(Kube(build_api_client({"kubeconfig": right}))) == "admin"
    wrong = kubeconfig_with(admin, token, **{"tls-server-name": "wrong.example"})
    start = time.monotonic()
    with pytest.raises(KubeError) as err:
        whoami(Kube(build_api_client({"kubeconfig": wrong})))
    assert err.value.reason == "CertificateError" and "wrong.example" in str(err.value)
    assert time.monotonic() - start < 5


def signed_client_certificate(kube, tmp_path, user):
    """A client certificate for ``user`` signed by the cluster (a CertificateSigningRequest
    for kubernetes.io/kube-apiserver-client, approved by the admin)."""
    key, request = tmp_path / "client.key", tmp_path / "client.csr"
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=%s/O=dev" % user,
                    "-keyout", str(key), "-out", str(request)], check=True, capture_output=True)
    name = "%s-%s" % (user, os.urandom(3).hex())
    kube.create(CSR, None, {"metadata": {"name": name}, "spec": {
        "request": base64.b64encode(request.read_bytes()).decode(),
        "signerName": "kubernetes.io/kube-apiserver-client", "usages": ["client auth"],
        "expirationSeconds": 600}})
    try:
        csr = kube.get(CSR, None, name)
        csr["status"] = {"conditions": [{"type": "Approved", "status": "True",
                                         "reason": "Test", "message": "test"}]}
        kube.request(
            "PUT", "/apis/certificates.k8s.io/v1/certificatesigningrequests/%s/approval" % name,
            body=csr)
        issued = wait_for(kube, CSR, None, name, lambda o: Check(
            bool((o or {}).get("status", {}).get("certificate")), "not issued yet"), 60)
    finally:
        kube.delete(CSR, None, name)
    return base64.b64decode(issued["status"]["certificate"]), key.read_bytes()


def test_client_certificate_as_data_and_from_an_exec_plugin(admin, kube, tmp_path):
    cert, key = signed_client_certificate(kube, tmp_path, "cert-user")
    as_data = kubeconfig_with(admin, {"client-certificate-data": base64.b64encode(cert).decode(),
                                      "client-key-data": base64.b64encode(key).decode()})
    assert whoami(Kube(build_api_client({"kubeconfig": as_data}))) == "cert-user"
    from_plugin = kubeconfig_with(admin, exec_plugin(tmp_path, {
        "clientCertificateData": cert.decode(), "clientKeyData": key.decode()}))
    assert whoami(Kube(build_api_client({"kubeconfig": from_plugin}))) == "cert-user"


class ConnectProxy(object):
    """An HTTP CONNECT proxy on 127.0.0.1 that records each tunnel's request head."""

    def __init__(self):
        heads = self.heads = []

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                head = b""
                while b"\r\n\r\n" not in head:
                    byte = self.connection.recv(1)
                    if not byte:
                        return
                    head += byte
                heads.append(head.decode())
                host, port = head.split()[1].decode().rsplit(":", 1)
                upstream = socket.create_connection((host, int(port)))
                self.connection.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                ends = [self.connection, upstream]
                while True:
                    ready, unused_w, unused_x = select.select(ends, [], [], 10)
                    if not ready:
                        return
                    for end in ready:
                        data = end.recv(65536)
                        if not data:
                            return
                        (upstream if end is self.connection else self.connection).sendall(data)

        class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy():
    server = ConnectProxy()
    yield server
    server.close()


def test_proxy_option_with_proxy_headers(kubeconfig, proxy):
    kube = Kube(build_api_client({"kubeconfig": kubeconfig, "proxy": proxy.url,
                                  "proxy_headers": {"proxy_basic_auth": "ann:secret",
                                                    "user_agent": "release/1"}}))
    assert whoami(kube) == "admin"
    head, = proxy.heads
    assert head.startswith("CONNECT 127.0.0.1:")
    assert "Proxy-Authorization: Basic %s" % base64.b64encode(b"ann:secret").decode() in head
    assert "User-Agent: release/1" in head


def test_no_proxy_and_the_kubeconfig_proxy_url(admin, proxy):
    config = kubeconfig_with(admin, {"token": admin_token(admin)}, **{"proxy-url": proxy.url})
    assert whoami(Kube(build_api_client({"kubeconfig": config}, {}))) == "admin"
    assert len(proxy.heads) == 1
    assert whoami(Kube(build_api_client({"kubeconfig": config, "no_proxy": "localhost,127.0.0.0/8"},
                                        {}))) == "admin"
    assert len(proxy.heads) == 1  # bypassed


def test_a_module_run_with_an_exec_plugin_kubeconfig(admin, namespace, tmp_path):
    config = kubeconfig_with(admin, exec_plugin(tmp_path, {"token": admin_token(admin)}))
    (tmp_path / "config").write_text(yaml.safe_dump(config))
    result = run_module("k8s_rollout", kubeconfig=str(tmp_path / "config"), namespace=namespace,
                        name="absent", state="paused")
    # the module got as far as asking the API server for the Deployment
    assert result.get("msg") == "Deployment %s/absent not found" % namespace, result


@pytest.mark.parametrize("case, message", [
    ("context", "context: there is no context 'nope' in the kubeconfig (contexts: t)"),
    ("server", "].cluster.server: missing (context 't' names no API server)"),
    ("exec", "users[u].user.exec: "),
])
def test_module_errors_name_the_kubeconfig_field(admin, tmp_path, case, message):
    config = kubeconfig_with(admin, {"token": "x"})
    params = {}
    if case == "context":
        params["context"] = "nope"
    elif case == "server":
        config["clusters"][0]["cluster"].pop("server")
    else:
        config["users"][0]["user"] = {"exec": {"apiVersion": "client.authentication.k8s.io/v1",
                                               "command": "/bin/false"}}
    (tmp_path / "config").write_text(yaml.safe_dump(config))
    result = run_module("k8s_rollout", kubeconfig=str(tmp_path / "config"), namespace="default",
                        name="absent", state="paused", **params)
    assert result.get("failed") and message in result["msg"], result
