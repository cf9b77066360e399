"""The kubeconfig reader: contexts, files vs data, tokens, exec plugins, in-cluster, and
errors that name the field. Files and exec plugins are real (temporary), nothing is sent."""

import base64
import json
import os
import stat
import subprocess
import sys
import tempfile
import textwrap

import pytest
import yaml

from ansible_collections.progressive.delivery.plugins.module_utils.k8s import kubeconfig as kc
from ansible_collections.progressive.delivery.plugins.module_utils.k8s import connection


def _self_signed():
    """A real certificate and key (ssl refuses to load anything else): one self-signed
    pair serves as CA and as client certificate."""
    folder = tempfile.mkdtemp()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=test",
                    "-keyout", folder + "/key", "-out", folder + "/cert"],
                   check=True, capture_output=True)
    with open(folder + "/cert", "rb") as cert, open(folder + "/key", "rb") as key:
        return cert.read(), key.read()


CA, KEY = _self_signed()
CERT = CA


def b64(data):
    return base64.b64encode(data).decode()


def config(users=None, current="dev", clusters=None, contexts=None):
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": current,
        "clusters": clusters if clusters is not None else [
            {"name": "dev-cluster", "cluster": {"server": "https://dev.example:6443/",
                                                "certificate-authority-data": b64(CA)}},
            {"name": "prod-cluster", "cluster": {"server": "https://prod.example",
                                                 "insecure-skip-tls-verify": True,
                                                 "tls-server-name": "api.prod",
                                                 "proxy-url": "http://proxy.example:3128"}}],
        "users": users if users is not None else [
            {"name": "dev", "user": {"token": "dev-token"}},
            {"name": "prod", "user": {"username": "ann", "password": "secret"}}],
        "contexts": contexts if contexts is not None else [
            {"name": "dev", "context": {"cluster": "dev-cluster", "user": "dev"}},
            {"name": "prod", "context": {"cluster": "prod-cluster", "user": "prod"}}],
    }


def write(path, data):
    path.write_text(yaml.safe_dump(data))
    return str(path)


def endpoint(data, context=None, **kwargs):
    return kc.endpoint_from(kc.from_dict(data), context, **kwargs)


# --- contexts --------------------------------------------------------------------
def test_current_context_and_data_fields():
    ep = endpoint(config())
    assert ep.server == "https://dev.example:6443"
    assert ep.ca_data == CA and ep.ca_file is None and ep.verify
    assert ep.authorization() == "Bearer dev-token"


def test_context_option_selects_another_cluster_and_user():
    ep = endpoint(config(), "prod")
    assert ep.server == "https://prod.example"
    assert not ep.verify and ep.tls_server_name == "api.prod"
    assert ep.proxy == "http://proxy.example:3128"
    assert ep.authorization() == "Basic " + b64(b"ann:secret")


def test_unknown_context_names_it_and_the_choices():
    with pytest.raises(kc.KubeconfigError) as err:
        endpoint(config(), "staging")
    assert str(err.value) == ("context: there is no context 'staging' in the kubeconfig "
                              "(contexts: dev, prod)")


def test_no_current_context_and_no_option():
    with pytest.raises(kc.KubeconfigError, match="sets no current-context"):
        endpoint(config(current=None))


def test_a_cluster_without_a_server_is_named():
    data = config(clusters=[{"name": "dev-cluster", "cluster": {"insecure-skip-tls-verify": True}}])
    with pytest.raises(kc.KubeconfigError) as err:
        endpoint(data)
    assert str(err.value) == "clusters[dev-cluster].cluster.server: missing (context 'dev' names no API server)"


def test_a_context_naming_a_missing_cluster():
    data = config(contexts=[{"name": "dev", "context": {"cluster": "gone", "user": "dev"}}])
    with pytest.raises(kc.KubeconfigError, match=r"contexts\[dev\].context.cluster: there is no cluster 'gone'"):
        endpoint(data)


def test_a_user_that_is_not_listed_means_no_credentials_as_in_kubectl():
    data = config(contexts=[{"name": "dev", "context": {"cluster": "dev-cluster", "user": "nobody"}}])
    assert endpoint(data).authorization() is None


# --- files -------------------------------------------------------------------------
def test_relative_files_are_read_from_the_kubeconfig_folder(tmp_path):
    (tmp_path / "pki").mkdir()
    for name, data in (("ca.crt", CA), ("client.crt", CERT), ("client.key", KEY)):
        (tmp_path / "pki" / name).write_bytes(data)
    data = config(
        clusters=[{"name": "dev-cluster", "cluster": {"server": "https://h",
                                                      "certificate-authority": "pki/ca.crt"}}],
        users=[{"name": "dev", "user": {"client-certificate": "pki/client.crt",
                                        "client-key": "pki/client.key"}}])
    path = write(tmp_path / "config", data)
    ep = kc.endpoint_from(kc.read_files([path]))
    assert ep.ca_file == str(tmp_path / "pki" / "ca.crt")
    assert ep.cert_file == str(tmp_path / "pki" / "client.crt")
    assert ep.key_file == str(tmp_path / "pki" / "client.key")
    assert ep.authorization() is None


def test_client_certificate_as_data():
    data = config(users=[{"name": "dev", "user": {"client-certificate-data": b64(CERT),
                                                  "client-key-data": b64(KEY)}}])
    ep = endpoint(data)
    assert (ep.cert_data, ep.key_data) == (CERT, KEY)


def test_a_missing_certificate_file_is_named(tmp_path):
    data = config(users=[{"name": "dev", "user": {"client-certificate": "nope.crt",
                                                  "client-key": "nope.key"}}])
    with pytest.raises(kc.KubeconfigError) as err:
        kc.endpoint_from(kc.read_files([write(tmp_path / "config", data)]))
    assert str(err.value) == "users[dev].user.client-certificate: there is no file %s" % (
        tmp_path / "nope.crt")


def test_a_certificate_without_its_key():
    data = config(users=[{"name": "dev", "user": {"client-certificate-data": b64(CERT)}}])
    with pytest.raises(kc.KubeconfigError, match=r"users\[dev\].user: a client certificate needs its key"):
        endpoint(data)


def test_a_missing_kubeconfig_file(tmp_path):
    with pytest.raises(kc.KubeconfigError) as err:
        kc.read_files([str(tmp_path / "absent")])
    assert str(err.value) == "kubeconfig: cannot read %s: No such file or directory" % (
        tmp_path / "absent")


def test_a_kubeconfig_that_is_not_yaml_says_where_without_quoting_it(tmp_path):
    (tmp_path / "config").write_text("users:\n- user: {token: s3cret-token\n  name: x\n")
    with pytest.raises(kc.KubeconfigError) as err:
        kc.read_files([str(tmp_path / "config")])
    assert str(err.value).startswith("kubeconfig: %s is not valid YAML: line " % (tmp_path / "config"))
    assert "s3cret" not in str(err.value)


def test_several_files_merge_first_one_wins(tmp_path):
    first = config(current="prod", users=[{"name": "dev", "user": {"token": "first"}}])
    second = config(current="dev", users=[{"name": "dev", "user": {"token": "second"}},
                                          {"name": "prod", "user": {"token": "prod-token"}}])
    paths = [write(tmp_path / "a", first), str(tmp_path / "missing"), write(tmp_path / "b", second)]
    merged = kc.read_files(paths)
    assert merged["current-context"] == "prod"
    assert kc.endpoint_from(merged).authorization() == "Bearer prod-token"
    assert kc.endpoint_from(merged, "dev").authorization() == "Bearer first"


def test_kubeconfig_variable_lists_several_files():
    assert kc.default_paths({"KUBECONFIG": "/a" + os.pathsep + "/b"}) == ["/a", "/b"]
    assert kc.default_paths({}) == ["~/.kube/config"]


# --- tokens ------------------------------------------------------------------------
class Clock(object):
    now = 0.0

    def __call__(self):
        return self.now


def test_token_file_is_read_and_read_again_after_a_minute(tmp_path):
    path = tmp_path / "token"
    path.write_text("one\n")
    clock = Clock()
    token = kc.TokenFile(str(path), "users[u].user.tokenFile", clock=clock)
    path.write_text("two\n")
    assert token() == "Bearer one"
    clock.now = kc.TOKEN_REREAD_SECONDS
    assert token() == "Bearer two"


def test_token_file_from_the_kubeconfig(tmp_path):
    (tmp_path / "tok").write_text("from-file")
    data = config(users=[{"name": "dev", "user": {"tokenFile": "tok"}}])
    ep = kc.endpoint_from(kc.read_files([write(tmp_path / "config", data)]))
    assert ep.authorization() == "Bearer from-file"


def test_a_missing_token_file_is_named(tmp_path):
    data = config(users=[{"name": "dev", "user": {"tokenFile": "absent"}}])
    with pytest.raises(kc.KubeconfigError) as err:
        kc.endpoint_from(kc.read_files([write(tmp_path / "config", data)]))
    assert str(err.value) == "users[dev].user.tokenFile: cannot read %s: No such file or directory" % (
        tmp_path / "absent")


def test_a_token_wins_over_exec_and_basic_auth():
    data = config(users=[{"name": "dev", "user": {
        "token": "t", "username": "u", "password": "p",
        "exec": {"command": "/bin/false", "apiVersion": "client.authentication.k8s.io/v1"}}}])
    assert endpoint(data).authorization() == "Bearer t"


# --- exec plugins ------------------------------------------------------------------
PLUGIN = textwrap.dedent("""\
    #!{python}
    import json, os, sys
    info = json.loads(os.environ["KUBERNETES_EXEC_INFO"])
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "calls"), "a") as f:
        f.write(json.dumps({{"args": sys.argv[1:], "info": info, "greeting": os.environ.get("GREETING"),
                            "cwd": os.getcwd()}}) + "\\n")
    mode = sys.argv[1]
    if mode == "fail":
        sys.stderr.write("no credentials for you\\n")
        sys.exit(3)
    status = {{"token": "exec-token-%d" % len(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "calls")).readlines())}}
    if mode == "cert":
        status = {{"clientCertificateData": "CERT-PEM", "clientKeyData": "KEY-PEM"}}
    if mode == "expiring":
        status["expirationTimestamp"] = "2030-01-01T00:00:00.123456789Z"
    version = "client.authentication.k8s.io/v1beta1" if mode == "old" else info["apiVersion"]
    print(json.dumps({{"apiVersion": version, "kind": "ExecCredential", "status": status}}))
""")


@pytest.fixture
def plugin(tmp_path):
    path = tmp_path / "bin" / "plugin"
    path.parent.mkdir()
    path.write_text(PLUGIN.format(python=sys.executable))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)

    def calls():
        lines = (path.parent / "calls").read_text().splitlines()
        return [json.loads(line) for line in lines]

    return path, calls


def exec_config(mode, **extra):
    user = {"exec": dict({"command": "bin/plugin", "args": [mode],
                          "apiVersion": "client.authentication.k8s.io/v1",
                          "env": [{"name": "GREETING", "value": "hello"}]}, **extra)}
    return config(users=[{"name": "dev", "user": user}])


def test_exec_plugin_token_with_args_env_and_exec_info(tmp_path, plugin):
    path, calls = plugin
    data = exec_config("token", provideClusterInfo=True)
    data["clusters"][0]["cluster"]["extensions"] = [
        {"name": "client.authentication.k8s.io/exec", "extension": {"audience": "x"}}]
    ep = kc.endpoint_from(kc.read_files([write(tmp_path / "config", data)]))
    assert ep.authorization() == "Bearer exec-token-1"
    call, = calls()
    assert call["args"] == ["token"] and call["greeting"] == "hello"
    assert call["cwd"] == str(tmp_path)
    assert call["info"] == {
        "apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
        "spec": {"interactive": False, "cluster": {
            "server": "https://dev.example:6443/", "certificate-authority-data": b64(CA),
            "config": {"audience": "x"}}}}


def test_exec_plugin_without_cluster_info(tmp_path, plugin):
    path, calls = plugin
    kc.endpoint_from(kc.read_files([write(tmp_path / "config", exec_config("token"))]))
    assert calls()[0]["info"]["spec"] == {"interactive": False}


def test_exec_plugin_client_certificate(tmp_path, plugin):
    ep = kc.endpoint_from(kc.read_files([write(tmp_path / "config", exec_config("cert"))]))
    assert (ep.cert_data, ep.key_data) == (b"CERT-PEM", b"KEY-PEM")
    assert ep.authorization() is None


def test_exec_plugin_runs_again_when_its_token_expires(tmp_path, plugin):
    path, calls = plugin
    plugin_obj = kc.ExecPlugin(exec_config("expiring")["users"][0]["user"]["exec"], "f",
                               str(tmp_path), {}, wall=lambda: 0)
    plugin_obj.status()
    assert plugin_obj() == "Bearer exec-token-1" and len(calls()) == 1
    plugin_obj.wall = lambda: kc.parse_timestamp("2030-01-01T00:00:00Z") - 1
    assert plugin_obj() == "Bearer exec-token-2" and len(calls()) == 2
    plugin_obj.wall = lambda: 0  # a token the server refused before it said it expires
    session = connection.ApiSession(kc.Endpoint("http://127.0.0.1:1", authorization=plugin_obj), environ={})
    assert session.refresh_credentials() and plugin_obj() == "Bearer exec-token-3"
    assert not connection.ApiSession(kc.Endpoint("http://h", authorization=kc.bearer("t")),
                                     environ={}).refresh_credentials()


def test_exec_plugin_failure_carries_its_stderr(tmp_path, plugin):
    with pytest.raises(kc.KubeconfigError) as err:
        kc.endpoint_from(kc.read_files([write(tmp_path / "config", exec_config("fail"))]))
    assert str(err.value) == ("users[dev].user.exec: %s exited with status 3: no credentials "
                              "for you" % (tmp_path / "bin" / "plugin"))


def test_exec_plugin_answering_another_api_version(tmp_path, plugin):
    with pytest.raises(kc.KubeconfigError, match=r"exec.apiVersion: the plugin answered with "
                                                 r"'client.authentication.k8s.io/v1beta1'"):
        kc.endpoint_from(kc.read_files([write(tmp_path / "config", exec_config("old"))]))


def test_exec_plugin_not_installed_shows_the_install_hint():
    data = exec_config("token", command="no-such-plugin-anywhere", installHint="brew install it")
    with pytest.raises(kc.KubeconfigError) as err:
        endpoint(data)
    assert str(err.value).startswith("users[dev].user.exec.command: cannot run no-such-plugin-anywhere")
    assert str(err.value).endswith("(brew install it)")


def test_exec_plugin_without_api_version():
    data = config(users=[{"name": "dev", "user": {"exec": {"command": "x"}}}])
    with pytest.raises(kc.KubeconfigError, match=r"users\[dev\].user.exec.apiVersion: missing"):
        endpoint(data)


def test_timestamps():
    assert kc.parse_timestamp("1970-01-01T00:01:00Z") == 60
    assert kc.parse_timestamp("1970-01-01T01:00:00.5+01:00") == 0.5
    assert kc.parse_timestamp("soon") is None


# --- in-cluster --------------------------------------------------------------------
def service_account(tmp_path, token="sa-token"):
    (tmp_path / "ca.crt").write_bytes(CA)
    if token is not None:
        (tmp_path / "token").write_text(token)
    return str(tmp_path)


def test_in_cluster(tmp_path):
    ep = kc.in_cluster({"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"},
                       service_account(tmp_path))
    assert ep.server == "https://10.0.0.1:443"
    assert ep.ca_file == str(tmp_path / "ca.crt")
    assert ep.authorization() == "Bearer sa-token"


def test_in_cluster_ipv6():
    env = {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}
    with pytest.raises(kc.KubeconfigError):  # no service account here, but the URL is built first
        kc.in_cluster(env, "/nonexistent")
    assert kc.Endpoint("https://[fd00::1]:443").server.startswith("https://[")


def test_in_cluster_without_a_token(tmp_path):
    with pytest.raises(kc.KubeconfigError) as err:
        kc.in_cluster({"KUBERNETES_SERVICE_HOST": "h", "KUBERNETES_SERVICE_PORT": "1"},
                      service_account(tmp_path, token=None))
    assert str(err.value) == "in-cluster: service account token: cannot read %s: No such file or directory" % (
        tmp_path / "token")


def test_in_cluster_needs_the_service_variables():
    with pytest.raises(kc.KubeconfigError, match="KUBERNETES_SERVICE_PORT"):
        kc.in_cluster({"KUBERNETES_SERVICE_HOST": "h"})


def test_the_connection_uses_in_cluster_only_without_a_kubeconfig(tmp_path, monkeypatch):
    monkeypatch.setattr(kc, "SERVICE_ACCOUNT_DIR", service_account(tmp_path))
    monkeypatch.setattr(kc.in_cluster, "__defaults__", (kc.SERVICE_ACCOUNT_DIR,))
    env = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443",
           "KUBECONFIG": str(tmp_path / "none")}
    session = connection.build_api_client({}, env)
    assert session.endpoint.server == "https://10.0.0.1:443"
    # an explicit kubeconfig that is missing is an error, never a silent in-cluster fallback
    with pytest.raises(kc.KubeconfigError):
        connection.build_api_client({"kubeconfig": str(tmp_path / "none")}, env)


# --- the connection options over the kubeconfig -------------------------------------
def test_explicit_options_override_the_kubeconfig(tmp_path):
    (tmp_path / "ca.pem").write_bytes(CA)
    session = connection.build_api_client(
        {"kubeconfig": config(), "host": "http://other:8080", "api_key": "explicit",
         "validate_certs": False}, {})
    assert (session.scheme, session.host, session.port) == ("http", "other", 8080)
    assert session.endpoint.authorization() == "Bearer explicit"
    session = connection.build_api_client(
        {"kubeconfig": config(), "username": "u", "password": "p"}, {})
    assert session.endpoint.authorization() == "Basic " + b64(b"u:p")


def test_host_and_token_need_no_kubeconfig():
    session = connection.build_api_client({"host": "http://127.0.0.1:1", "api_key": "t"},
                                          {"KUBECONFIG": "/nonexistent"})
    assert session.endpoint.authorization() == "Bearer t"


def test_impersonation_headers_repeat_per_group():
    session = connection.build_api_client(
        {"host": "http://h", "api_key": "t", "impersonate_user": "alice",
         "impersonate_groups": ["dev", "ops"]}, {})
    assert [h for h in session.headers if h[0].startswith("Impersonate")] == [
        ("Impersonate-User", "alice"), ("Impersonate-Group", "dev"), ("Impersonate-Group", "ops")]


def test_legacy_auth_provider_goes_through_the_kubernetes_package():
    """An oidc user (only the kubernetes package implements auth-provider): its id-token,
    still valid, becomes the bearer token."""
    def part(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    jwt = ".".join([part({"alg": "none"}), part({"exp": 4102444800, "sub": "me"}), "sig"])
    data = config(users=[{"name": "dev", "user": {"auth-provider": {"name": "oidc", "config": {
        "client-id": "c", "id-token": jwt, "idp-issuer-url": "https://issuer"}}}}])
    with pytest.raises(kc.LegacyAuthProvider):
        endpoint(data)
    session = connection.build_api_client({"kubeconfig": data}, {})
    assert session.endpoint.authorization() == "Bearer " + jwt
    assert session.endpoint.server == "https://dev.example:6443"


# --- start-up cost -------------------------------------------------------------------
def test_a_module_imports_neither_kubernetes_nor_urllib3():
    """The point of the reader and the session: the kubernetes package (0.25-1 s to import)
    and urllib3 stay out of a module's process unless a kubeconfig needs them."""
    code = ("import sys\n"
            "import ansible_collections.progressive.delivery.plugins.modules.k8s_bluegreen\n"
            "from ansible_collections.progressive.delivery.plugins.module_utils.k8s import connection\n"
            "connection.build_api_client({'host': 'https://127.0.0.1:1', 'api_key': 't'})\n"
            "print(sorted(m.split('.')[0] for m in sys.modules "
            "if m.split('.')[0] in ('kubernetes', 'urllib3', 'requests', 'yaml')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)), check=True)
    assert out.stdout.strip() == "[]", out.stdout
