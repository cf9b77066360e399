# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection options shared with kubernetes.core, and the API session they build.

The option names, aliases and K8S_AUTH_* variables match kubernetes.core on purpose:
one ``module_defaults`` block then serves both collections.

The session is our own (``transport.py``, over the standard library) and the kubeconfig is
read by ``kubeconfig.py``: importing the ``kubernetes`` package costs 0.25-1 s per module
process, most of a module's start-up. That package is imported only for what only it
implements: kubeconfig users with a legacy ``auth-provider`` (oidc, gcp, azure).
It stays a requirement of the collection (requirements.txt), and a module reports it missing
as before.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
from importlib.util import find_spec

from ansible_collections.progressive.delivery.plugins.module_utils.k8s import kubeconfig as kc
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.transport import ApiSession

# Whether the library is installed, found without importing it (the import is the cost).
HAS_KUBERNETES = find_spec("kubernetes") is not None
KUBERNETES_IMPORT_ERROR = None if HAS_KUBERNETES else ImportError(
    "No module named 'kubernetes'")


AUTH_PROXY_HEADERS_SPEC = dict(
    proxy_basic_auth=dict(type="str", no_log=True),
    basic_auth=dict(type="str", no_log=True),
    user_agent=dict(type="str"),
)

AUTH_ARG_SPEC = dict(
    # no_log: a kubeconfig given as a dict carries tokens and keys.
    kubeconfig=dict(type="raw", no_log=True),
    context=dict(type="str"),
    host=dict(type="str"),
    api_key=dict(type="str", no_log=True),
    username=dict(type="str"),
    password=dict(type="str", no_log=True),
    validate_certs=dict(type="bool", aliases=["verify_ssl"]),
    ca_cert=dict(type="path", aliases=["ssl_ca_cert"]),
    client_cert=dict(type="path", aliases=["cert_file"]),
    client_key=dict(type="path", aliases=["key_file"]),
    proxy=dict(type="str"),
    no_proxy=dict(type="str"),
    proxy_headers=dict(type="dict", options=AUTH_PROXY_HEADERS_SPEC),
    persist_config=dict(type="bool"),
    impersonate_user=dict(type="str"),
    impersonate_groups=dict(type="list", elements="str"),
)

# Option name -> the K8S_AUTH_* variables kubernetes.core reads for it, in its order: the
# option's own name first, then the kubernetes client's name for it (VERIFY_SSL, CERT_FILE...).
AUTH_ENV = dict(
    kubeconfig=("K8S_AUTH_KUBECONFIG",),
    context=("K8S_AUTH_CONTEXT",),
    host=("K8S_AUTH_HOST",),
    api_key=("K8S_AUTH_API_KEY",),
    username=("K8S_AUTH_USERNAME",),
    password=("K8S_AUTH_PASSWORD",),
    validate_certs=("K8S_AUTH_VALIDATE_CERTS", "K8S_AUTH_VERIFY_SSL"),
    ca_cert=("K8S_AUTH_CA_CERT", "K8S_AUTH_SSL_CA_CERT"),
    client_cert=("K8S_AUTH_CLIENT_CERT", "K8S_AUTH_CERT_FILE"),
    client_key=("K8S_AUTH_CLIENT_KEY", "K8S_AUTH_KEY_FILE"),
    proxy=("K8S_AUTH_PROXY",),
    no_proxy=("K8S_AUTH_NO_PROXY",),
    persist_config=("K8S_AUTH_PERSIST_CONFIG",),
    impersonate_user=("K8S_AUTH_IMPERSONATE_USER",),
    impersonate_groups=("K8S_AUTH_IMPERSONATE_GROUPS",),
)

# proxy_headers suboption -> its variable.
PROXY_HEADERS_ENV = dict(
    (key, "K8S_AUTH_PROXY_HEADERS_" + key.upper()) for key in AUTH_PROXY_HEADERS_SPEC
)

# kubernetes.core reads a boolean variable as true unless it is one of these.
FALSE_STRINGS = ("0", "false", "no")


def _from_environment(option, environ):
    value = None
    for name in AUTH_ENV.get(option, ()):
        value = environ.get(name)
        if value:
            break
    if value is None:
        return None
    kind = AUTH_ARG_SPEC[option].get("type")
    if kind == "bool":
        return value.lower() not in FALSE_STRINGS
    if kind == "list":
        return [item for item in value.split(",") if item]
    return value


def resolve_auth(params, environ=None):
    """Merge explicit options with K8S_AUTH_* variables (explicit options win)."""
    environ = os.environ if environ is None else environ
    auth = {}
    for option in AUTH_ARG_SPEC:
        value = params.get(option)
        if value is None and option == "proxy_headers":
            value = dict((key, environ[name]) for key, name in PROXY_HEADERS_ENV.items()
                         if environ.get(name) is not None) or None
        elif value is None:
            value = _from_environment(option, environ)
        if value is not None:
            auth[option] = value
    return auth


def impersonation_headers(auth):
    """The Impersonate-* headers for the resolved options, as (name, value) pairs."""
    headers = []
    if auth.get("impersonate_user"):
        headers.append(("Impersonate-User", auth["impersonate_user"]))
    for group in auth.get("impersonate_groups") or ():
        headers.append(("Impersonate-Group", group))
    return headers


def _apply_explicit(endpoint, auth):
    """Options given directly override what the kubeconfig said."""
    if "host" in auth:
        endpoint.server = auth["host"].rstrip("/")
    if "validate_certs" in auth:
        endpoint.verify = auth["validate_certs"]
    if "ca_cert" in auth:
        endpoint.ca_file, endpoint.ca_data = auth["ca_cert"], None
    if "client_cert" in auth:
        endpoint.cert_file, endpoint.cert_data = auth["client_cert"], None
    if "client_key" in auth:
        endpoint.key_file, endpoint.key_data = auth["client_key"], None
    if "api_key" in auth:
        endpoint.authorization = kc.bearer(auth["api_key"])
    elif "username" in auth and "password" in auth:
        endpoint.authorization = kc.basic(auth["username"], auth["password"])


def _sufficient_without_kubeconfig(auth):
    return "host" in auth and ("api_key" in auth or "client_cert" in auth
                               or ("username" in auth and "password" in auth))


def read_endpoint(auth, environ):
    """The Endpoint the kubeconfig (option, KUBECONFIG or ~/.kube/config) describes, or the
    in-cluster service account inside a pod without a kubeconfig."""
    if _sufficient_without_kubeconfig(auth):
        return kc.Endpoint(auth["host"])
    source = auth.get("kubeconfig")
    context = auth.get("context")
    if isinstance(source, dict):
        config = kc.from_dict(source)
    else:
        paths = [p for p in source.split(os.pathsep) if p] if source else kc.default_paths(environ)
        if source is None and environ.get("KUBERNETES_SERVICE_HOST") and not any(
                os.path.exists(os.path.expanduser(p)) for p in paths):
            return kc.in_cluster(environ)
        config = kc.read_files(paths)
        source = os.pathsep.join(os.path.expanduser(p) for p in paths)
    try:
        return kc.endpoint_from(config, context)
    except kc.LegacyAuthProvider as exc:
        return _endpoint_from_kubernetes(source, context, bool(auth.get("persist_config")), exc)


def _endpoint_from_kubernetes(source, context, persist, reason):
    """A kubeconfig user with a legacy auth-provider: let the kubernetes package load it
    (it refreshes oidc tokens, and with persist_config writes them back to the file)."""
    try:
        from kubernetes import client as k8s_client
        from kubernetes import config as k8s_config
    except ImportError as exc:
        raise kc.KubeconfigError(
            "%s needs the kubernetes Python library, which cannot be imported (%s): "
            "pip install kubernetes" % (reason, exc))
    configuration = k8s_client.Configuration()
    if isinstance(source, dict):
        k8s_config.load_kube_config_from_dict(source, context=context,
                                              client_configuration=configuration,
                                              persist_config=False)
    else:
        k8s_config.load_kube_config(config_file=source, context=context,
                                    client_configuration=configuration,
                                    persist_config=persist)

    def authorization():
        hook = getattr(configuration, "refresh_api_key_hook", None)
        if hook:
            hook(configuration)
        keys = configuration.api_key or {}
        # 'BearerToken' from client 26 on, 'authorization' before; both carry "Bearer ...".
        return keys.get("BearerToken") or keys.get("authorization")

    return kc.Endpoint(
        configuration.host,
        ca_file=configuration.ssl_ca_cert,
        verify=configuration.verify_ssl,
        tls_server_name=getattr(configuration, "tls_server_name", None),
        cert_file=configuration.cert_file,
        key_file=configuration.key_file,
        proxy=getattr(configuration, "proxy", None),
        authorization=authorization,
    )


def build_api_client(params, environ=None):
    """Return the authenticated API session (``transport.ApiSession``) for the module's
    connection options; ``Kube`` sends every request through it.

    Without host and credentials the kubeconfig (option, variable or ~/.kube/config) is
    read; inside a pod without a kubeconfig the in-cluster service account is used.
    Raises KubeconfigError (naming the field) or ValueError for a configuration that cannot
    work.
    """
    environ = os.environ if environ is None else environ
    auth = resolve_auth(params, environ)
    endpoint = read_endpoint(auth, environ)
    _apply_explicit(endpoint, auth)
    return ApiSession(endpoint, headers=impersonation_headers(auth), proxy=auth.get("proxy"),
                      no_proxy=auth.get("no_proxy"), proxy_headers=auth.get("proxy_headers"),
                      environ=environ)
