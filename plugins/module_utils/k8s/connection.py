# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection options shared with kubernetes.core, and the ApiClient they build.

The option names, aliases and K8S_AUTH_* variables match kubernetes.core on purpose:
one ``module_defaults`` block then serves both collections.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

try:
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config

    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None
except ImportError as exc:  # reported by the module with missing_required_lib
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = exc


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


class _RepeatedHeader(str):
    """A header name that can appear more than once as a dict key (one Impersonate-Group
    header per group, as the API server expects: it does not split a comma list)."""

    def __hash__(self):
        return id(self)

    def __eq__(self, other):
        return self is other

    def __ne__(self, other):
        return self is not other


def impersonation_headers(auth):
    """The Impersonate-* headers for the resolved options, as (name, value) pairs."""
    headers = []
    if auth.get("impersonate_user"):
        headers.append(("Impersonate-User", auth["impersonate_user"]))
    for group in auth.get("impersonate_groups") or ():
        headers.append(("Impersonate-Group", group))
    return headers


def _apply_explicit(configuration, auth):
    """Options given directly override what the kubeconfig said."""
    if "host" in auth:
        configuration.host = auth["host"]
    if "api_key" in auth:
        configuration.api_key = {"authorization": "Bearer " + auth["api_key"]}
    if "username" in auth:
        configuration.username = auth["username"]
    if "password" in auth:
        configuration.password = auth["password"]
    if "username" in auth and "password" in auth:
        # The generated client only sends basic auth through this header.
        configuration.api_key = configuration.api_key or {}
        configuration.api_key.setdefault(
            "authorization", configuration.get_basic_auth_token()
        )
    if "validate_certs" in auth:
        configuration.verify_ssl = auth["validate_certs"]
    if "ca_cert" in auth:
        configuration.ssl_ca_cert = auth["ca_cert"]
    if "client_cert" in auth:
        configuration.cert_file = auth["client_cert"]
    if "client_key" in auth:
        configuration.key_file = auth["client_key"]
    if "proxy" in auth:
        configuration.proxy = auth["proxy"]
    if "no_proxy" in auth:
        configuration.no_proxy = auth["no_proxy"]
    headers = auth.get("proxy_headers") or {}
    if any(headers.values()):
        from urllib3.util import make_headers

        configuration.proxy_headers = make_headers(
            **dict((k, v) for k, v in headers.items() if v)
        )


def build_api_client(params, environ=None):
    """Return a kubernetes ApiClient for the module's connection options.

    Without host/api_key the kubeconfig (option, variable or ~/.kube/config) is loaded;
    inside a pod without a kubeconfig the in-cluster service account is used.
    """
    auth = resolve_auth(params, environ)
    configuration = k8s_client.Configuration()
    kubeconfig = auth.get("kubeconfig")
    needs_kubeconfig = not ("host" in auth and ("api_key" in auth or "client_cert" in auth))
    if needs_kubeconfig:
        if isinstance(kubeconfig, dict):
            k8s_config.load_kube_config_from_dict(
                kubeconfig,
                context=auth.get("context"),
                client_configuration=configuration,
                persist_config=False,
            )
        else:
            path = os.path.expanduser(kubeconfig or k8s_config.KUBE_CONFIG_DEFAULT_LOCATION)
            if kubeconfig is None and not os.path.exists(path) and os.environ.get(
                "KUBERNETES_SERVICE_HOST"
            ):
                k8s_config.load_incluster_config(client_configuration=configuration)
            else:
                k8s_config.load_kube_config(
                    config_file=path,
                    context=auth.get("context"),
                    client_configuration=configuration,
                    persist_config=bool(auth.get("persist_config")),
                )
    _apply_explicit(configuration, auth)
    api_client = k8s_client.ApiClient(configuration)
    for name, value in impersonation_headers(auth):
        if name == "Impersonate-Group":
            name = _RepeatedHeader(name)
        api_client.default_headers[name] = value
    return api_client
