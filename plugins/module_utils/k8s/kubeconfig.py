# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small kubeconfig reader: where the API server is and how to prove who we are.

It covers what kubeconfigs say in practice: files (several, as in ``KUBECONFIG=a:b``) or a
dict, context selection, server, CA / client certificate / key as files or data,
insecure-skip-tls-verify, tls-server-name, proxy-url, token / tokenFile, basic auth, exec
credential plugins, and the in-cluster service account. Only the legacy ``auth-provider``
users (oidc, gcp, azure) go through the ``kubernetes`` package (``connection.py``), which
costs a quarter of a second to import and is not needed otherwise.

Errors name the kubeconfig field that is wrong and never carry a secret.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import os
import time

DEFAULT_LOCATION = "~/.kube/config"
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
# Bound service account tokens and token files rotate: read them again this often, as
# client-go does (it re-reads once a minute).
TOKEN_REREAD_SECONDS = 60
# An exec credential is run again this long before it says it expires.
EXPIRY_MARGIN_SECONDS = 10


class KubeconfigError(Exception):
    """The kubeconfig (or the in-cluster environment) cannot give a connection."""


class LegacyAuthProvider(Exception):
    """The user authenticates through an ``auth-provider`` (oidc, gcp, azure): only the
    ``kubernetes`` package implements those."""

    def __init__(self, user, provider):
        self.user = user
        self.provider = provider
        super(LegacyAuthProvider, self).__init__(
            "users[%s].user.auth-provider: %r" % (user, provider))


class Endpoint(object):
    """An API server and the credentials for it.

    ``ca_data``, ``cert_data`` and ``key_data`` are PEM bytes; ``authorization`` is a
    callable returning the Authorization header value (or None), called per request so
    that rotating tokens are picked up.
    """

    def __init__(self, server, ca_file=None, ca_data=None, verify=True, tls_server_name=None,
                 cert_file=None, cert_data=None, key_file=None, key_data=None, proxy=None,
                 authorization=None):
        self.server = server
        self.ca_file = ca_file
        self.ca_data = ca_data
        self.verify = verify
        self.tls_server_name = tls_server_name
        self.cert_file = cert_file
        self.cert_data = cert_data
        self.key_file = key_file
        self.key_data = key_data
        self.proxy = proxy
        self.authorization = authorization or _no_authorization


def _no_authorization():
    return None


# --- credentials ------------------------------------------------------------------
def static_authorization(value):
    return lambda: value


def bearer(token):
    return static_authorization("Bearer " + token)


def basic(username, password):
    pair = ("%s:%s" % (username, password)).encode("utf-8")
    return static_authorization("Basic " + base64.b64encode(pair).decode("ascii"))


class TokenFile(object):
    """A bearer token read from a file, read again every TOKEN_REREAD_SECONDS."""

    def __init__(self, path, field, clock=time.monotonic):
        self.path = path
        self.field = field
        self.clock = clock
        self.token = None
        self.read_at = None
        self._read()  # a missing file is an error now, not at the first request

    def _read(self):
        try:
            with open(self.path) as handle:
                token = handle.read().strip()
        except (IOError, OSError) as exc:
            raise KubeconfigError("%s: cannot read %s: %s" % (
                self.field, self.path, exc.strerror or exc))
        if not token:
            raise KubeconfigError("%s: %s is empty" % (self.field, self.path))
        self.token, self.read_at = token, self.clock()

    def refresh(self):
        self._read()

    def __call__(self):
        if self.clock() - self.read_at >= TOKEN_REREAD_SECONDS:
            try:
                self._read()
            except KubeconfigError:
                pass  # keep the token we have; the server says if it is no longer good
        return "Bearer " + self.token


# --- reading the files ------------------------------------------------------------
def _parse(text, where):
    try:
        if text.lstrip().startswith("{"):
            return json.loads(text)
        import yaml  # only here: a JSON kubeconfig does not pay for it

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        return yaml.load(text, Loader=loader)
    except Exception as exc:  # JSON and YAML parsers raise many types
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:  # never the parser's snippet of the file: it may hold a token
            exc = "line %d, column %d: %s" % (mark.line + 1, mark.column + 1,
                                              getattr(exc, "problem", None) or "syntax error")
        raise KubeconfigError("kubeconfig: %s is not valid YAML: %s" % (where, exc))


def _named(config, section, where):
    """(name, entry) of each entry of a kubeconfig list section (clusters, users, contexts)."""
    items = config.get(section) or []
    if not isinstance(items, list):
        raise KubeconfigError("kubeconfig %s: %s must be a list" % (where, section))
    return [(item.get("name"), item) for item in items if isinstance(item, dict)]


def read_files(paths):
    """Merge kubeconfig files the way kubectl merges KUBECONFIG=a:b: the first file that
    names a cluster, user or context wins, and the first current-context set wins.

    Returns the merged config whose entries carry ``_base`` (their file's folder, against
    which relative paths in them are resolved).
    """
    merged = {"clusters": [], "users": [], "contexts": [], "current-context": None}
    seen = {"clusters": set(), "users": set(), "contexts": set()}
    found = False
    for path in paths:
        path = os.path.expanduser(path)
        if len(paths) > 1 and not os.path.exists(path):
            continue  # kubectl skips missing files in a list
        try:
            with open(path) as handle:
                text = handle.read()
        except (IOError, OSError) as exc:
            raise KubeconfigError("kubeconfig: cannot read %s: %s" % (path, exc.strerror or exc))
        found = True
        config = _parse(text, path) or {}
        if not isinstance(config, dict):
            raise KubeconfigError("kubeconfig: %s is not a kubeconfig (a mapping)" % path)
        base = os.path.dirname(os.path.abspath(path))
        for section in seen:
            for name, item in _named(config, section, path):
                if name not in seen[section]:
                    seen[section].add(name)
                    merged[section].append(dict(item, _base=base))
        if not merged["current-context"] and config.get("current-context"):
            merged["current-context"] = config["current-context"]
    if not found:
        raise KubeconfigError("kubeconfig: none of %s exists" % ", ".join(paths))
    return merged


def from_dict(config):
    """A kubeconfig given as a dict; relative paths in it are taken from the working folder."""
    if not isinstance(config, dict):
        raise KubeconfigError("kubeconfig: expected a path or a mapping, got %s"
                              % type(config).__name__)
    merged = dict(config)
    base = os.getcwd()
    for section in ("clusters", "users", "contexts"):
        merged[section] = [dict(item, _base=base) for name, item in _named(config, section, "")]
    return merged


def default_paths(environ):
    value = environ.get("KUBECONFIG")
    if value:
        return [p for p in value.split(os.pathsep) if p]
    return [DEFAULT_LOCATION]


# --- choosing and resolving -------------------------------------------------------
def _find(config, section, name):
    for item in config.get(section) or []:
        if item.get("name") == name:
            return item
    return None


def _names(config, section):
    return ", ".join(sorted(str(i.get("name")) for i in config.get(section) or [])) or "none"


def select(config, context=None):
    """(context name, cluster entry, user entry or None) for the given or current context."""
    name = context or config.get("current-context")
    if not name:
        raise KubeconfigError(
            "context: the kubeconfig sets no current-context and no context was given "
            "(contexts: %s)" % _names(config, "contexts"))
    entry = _find(config, "contexts", name)
    if entry is None:
        raise KubeconfigError("context: there is no context %r in the kubeconfig (contexts: %s)"
                              % (name, _names(config, "contexts")))
    ctx = entry.get("context") or {}
    cluster_name = ctx.get("cluster")
    if not cluster_name:
        raise KubeconfigError("contexts[%s].context.cluster: missing" % name)
    cluster = _find(config, "clusters", cluster_name)
    if cluster is None:
        raise KubeconfigError("contexts[%s].context.cluster: there is no cluster %r in the "
                              "kubeconfig (clusters: %s)"
                              % (name, cluster_name, _names(config, "clusters")))
    user = _find(config, "users", ctx.get("user")) if ctx.get("user") else None
    return name, cluster, user  # a user that is not listed means no credentials, as in kubectl


def _path(base, path):
    return os.path.join(base, os.path.expanduser(path))


def _pem(entry, field, data_field, base, prefix):
    """(file, data) for a PEM that is given either as a file or as base64 data."""
    data = entry.get(data_field)
    if data:
        try:
            return None, base64.b64decode(data, validate=False)
        except (TypeError, ValueError):
            raise KubeconfigError("%s.%s: not valid base64" % (prefix, data_field))
    path = entry.get(field)
    if path:
        path = _path(base, path)
        if not os.path.isfile(path):
            raise KubeconfigError("%s.%s: there is no file %s" % (prefix, field, path))
        return path, None
    return None, None


def endpoint_from(config, context=None, run=None):
    """The Endpoint of a (merged) kubeconfig. ``run`` runs exec plugins (tests pass their
    own)."""
    name, cluster_entry, user_entry = select(config, context)
    cluster = cluster_entry.get("cluster") or {}
    cprefix = "clusters[%s].cluster" % cluster_entry.get("name")
    server = (cluster.get("server") or "").rstrip("/")
    if not server:
        raise KubeconfigError("%s.server: missing (context %r names no API server)"
                              % (cprefix, name))
    base = cluster_entry.get("_base") or os.getcwd()
    ca_file, ca_data = _pem(cluster, "certificate-authority", "certificate-authority-data",
                            base, cprefix)
    endpoint = Endpoint(
        server,
        ca_file=ca_file,
        ca_data=ca_data,
        verify=not cluster.get("insecure-skip-tls-verify", False),
        tls_server_name=cluster.get("tls-server-name"),
        proxy=cluster.get("proxy-url"),
    )
    if user_entry is not None:
        _credentials(endpoint, user_entry, cluster, run)
    return endpoint


def _credentials(endpoint, user_entry, cluster, run):
    """The user's credentials, in the kubernetes client's order of precedence:
    auth-provider, token / tokenFile, exec plugin, basic auth; client certificates apply
    alongside any of them."""
    user = user_entry.get("user") or {}
    uname = user_entry.get("name")
    prefix = "users[%s].user" % uname
    base = user_entry.get("_base") or os.getcwd()
    endpoint.cert_file, endpoint.cert_data = _pem(user, "client-certificate",
                                                  "client-certificate-data", base, prefix)
    endpoint.key_file, endpoint.key_data = _pem(user, "client-key", "client-key-data", base,
                                                prefix)
    if user.get("auth-provider"):
        raise LegacyAuthProvider(uname, (user["auth-provider"] or {}).get("name"))
    if user.get("token"):
        endpoint.authorization = bearer(user["token"])
    elif user.get("tokenFile"):
        endpoint.authorization = TokenFile(_path(base, user["tokenFile"]), prefix + ".tokenFile")
    elif user.get("exec"):
        plugin = ExecPlugin(user["exec"], prefix + ".exec", base, cluster, run)
        status = plugin.status()
        if status.get("clientCertificateData"):
            endpoint.cert_file, endpoint.key_file = None, None
            endpoint.cert_data = status["clientCertificateData"].encode("utf-8")
            endpoint.key_data = status["clientKeyData"].encode("utf-8")
        else:
            endpoint.authorization = plugin
    elif user.get("username") and user.get("password"):
        endpoint.authorization = basic(user["username"], user["password"])
    if bool(endpoint.cert_file or endpoint.cert_data) != bool(endpoint.key_file or endpoint.key_data):
        raise KubeconfigError("%s: a client certificate needs its key (client-certificate and "
                              "client-key, or their -data forms)" % prefix)


# --- exec credential plugins ------------------------------------------------------
def run_command(argv, env, cwd):
    """Run an exec plugin: (exit status, stdout, stderr). Never interactive: a module has
    no terminal."""
    import subprocess

    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env, cwd=cwd or None)
    out, err = process.communicate()
    return process.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def _cluster_info(cluster):
    """spec.cluster of the ExecCredential (provideClusterInfo), as client-go sends it."""
    info = dict((k, cluster[k]) for k in ("server", "tls-server-name", "insecure-skip-tls-verify",
                                          "certificate-authority-data", "proxy-url",
                                          "disable-compression") if k in cluster)
    for extension in cluster.get("extensions") or []:
        if extension.get("name") == "client.authentication.k8s.io/exec":
            info["config"] = extension.get("extension")
    return info


def parse_timestamp(value):
    """Seconds since the epoch of an RFC 3339 time (expirationTimestamp), or None."""
    import datetime

    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    if "." in text:  # fromisoformat before Python 3.11 takes at most 6 digits of fraction
        head, rest = text.split(".", 1)
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = head + "." + (rest[:digits] + "000000")[:6] + rest[digits:]
    try:
        return datetime.datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


class ExecPlugin(object):
    """A client-go credential plugin: runs ``command`` with ``args`` and ``env`` and reads
    the ExecCredential it prints (a token, or a client certificate and key). As a callable
    it is the Authorization value, run again when the token expires."""

    def __init__(self, config, field, base, cluster, run=None, wall=time.time):
        self.config = config if isinstance(config, dict) else {}
        self.field = field
        self.base = base
        self.cluster = cluster
        self.run = run or run_command
        self.wall = wall
        self.token = None
        self.expires = None
        for key in ("command", "apiVersion"):
            if not self.config.get(key):
                raise KubeconfigError("%s.%s: missing" % (field, key))

    def status(self):
        command = os.path.expanduser(str(self.config["command"]))
        if os.sep in command and not os.path.isabs(command):
            command = os.path.join(self.base, command)  # relative to the kubeconfig, as kubectl
        argv = [command] + [str(a) for a in self.config.get("args") or []]
        env = dict(os.environ)
        for item in self.config.get("env") or []:
            if not isinstance(item, dict) or not item.get("name"):
                raise KubeconfigError("%s.env: each entry needs a name and a value" % self.field)
            env[str(item["name"])] = str(item.get("value", ""))
        spec = {"interactive": False}
        if self.config.get("provideClusterInfo"):
            spec["cluster"] = _cluster_info(self.cluster)
        env["KUBERNETES_EXEC_INFO"] = json.dumps(
            {"apiVersion": self.config["apiVersion"], "kind": "ExecCredential", "spec": spec})
        try:
            code, out, err = self.run(argv, env, self.base)
        except (IOError, OSError) as exc:
            hint = self.config.get("installHint")
            raise KubeconfigError("%s.command: cannot run %s: %s%s" % (
                self.field, command, exc.strerror or exc, (" (%s)" % hint.strip()) if hint else ""))
        if code != 0:
            raise KubeconfigError("%s: %s exited with status %s%s" % (
                self.field, command, code, (": " + err.strip()[-500:]) if err.strip() else ""))
        try:
            credential = json.loads(out)
            status = credential["status"]
        except (ValueError, KeyError, TypeError):
            raise KubeconfigError("%s: %s did not print an ExecCredential with a status "
                                  "(JSON)" % (self.field, command))
        if credential.get("apiVersion") != self.config["apiVersion"]:
            raise KubeconfigError("%s.apiVersion: the plugin answered with %r, not %r" % (
                self.field, credential.get("apiVersion"), self.config["apiVersion"]))
        if not isinstance(status, dict) or not (
                status.get("token") or (status.get("clientCertificateData")
                                        and status.get("clientKeyData"))):
            raise KubeconfigError("%s: the plugin's ExecCredential has neither status.token nor "
                                  "status.clientCertificateData and clientKeyData" % self.field)
        self.token = status.get("token")
        self.expires = parse_timestamp(status["expirationTimestamp"]) if status.get(
            "expirationTimestamp") else None
        return status

    def refresh(self):
        self.status()

    def __call__(self):
        if self.expires is not None and self.wall() >= self.expires - EXPIRY_MARGIN_SECONDS:
            self.status()
        return "Bearer " + self.token


# --- in-cluster -------------------------------------------------------------------
def in_cluster(environ, directory=SERVICE_ACCOUNT_DIR):
    """The Endpoint of the pod's service account (KUBERNETES_SERVICE_HOST/PORT)."""
    host = environ.get("KUBERNETES_SERVICE_HOST")
    port = environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        raise KubeconfigError("in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT "
                              "must both be set")
    if ":" in host and not host.startswith("["):
        host = "[%s]" % host  # an IPv6 address
    ca = os.path.join(directory, "ca.crt")
    if not os.path.isfile(ca):
        raise KubeconfigError("in-cluster: there is no service account CA file %s" % ca)
    token = TokenFile(os.path.join(directory, "token"), "in-cluster: service account token")
    return Endpoint("https://%s:%s" % (host, port), ca_file=ca, authorization=token)
