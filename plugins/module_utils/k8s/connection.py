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
    kubeconfig=dict(type="raw"),
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
)

# Option name -> the K8S_AUTH_* variable kubernetes.core reads for it.
AUTH_ENV = dict(
    kubeconfig="K8S_AUTH_KUBECONFIG",
    context="K8S_AUTH_CONTEXT",
    host="K8S_AUTH_HOST",
    api_key="K8S_AUTH_API_KEY",
    username="K8S_AUTH_USERNAME",
    password="K8S_AUTH_PASSWORD",
    validate_certs="K8S_AUTH_VERIFY_SSL",
    ca_cert="K8S_AUTH_SSL_CA_CERT",
    client_cert="K8S_AUTH_CERT_FILE",
    client_key="K8S_AUTH_KEY_FILE",
    proxy="K8S_AUTH_PROXY",
    no_proxy="K8S_AUTH_NO_PROXY",
    persist_config="K8S_AUTH_PERSIST_CONFIG",
)

TRUE_STRINGS = ("1", "true", "yes", "on", "y")


def resolve_auth(params, environ=None):
    """Merge explicit options with K8S_AUTH_* variables (explicit options win)."""
    environ = os.environ if environ is None else environ
    auth = {}
    for option in AUTH_ARG_SPEC:
        value = params.get(option)
        if value is None and option in AUTH_ENV:
            value = environ.get(AUTH_ENV[option])
            if value is not None and AUTH_ARG_SPEC[option].get("type") == "bool":
                value = value.strip().lower() in TRUE_STRINGS
        if value is not None:
            auth[option] = value
    return auth


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
    return k8s_client.ApiClient(configuration)
