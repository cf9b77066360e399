"""Connection options resolve like kubernetes.core's: explicit options win over K8S_AUTH_*."""

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.connection import (
    AUTH_ARG_SPEC,
    resolve_auth,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    DEPLOYMENT,
    NAMESPACE,
    SERVICE,
    backoff_delays,
    resource_path,
)


def test_environment_fills_missing_options():
    auth = resolve_auth({"context": None, "kubeconfig": None},
                        {"K8S_AUTH_KUBECONFIG": "/k", "K8S_AUTH_CONTEXT": "c",
                         "K8S_AUTH_VERIFY_SSL": "no"})
    assert auth == {"kubeconfig": "/k", "context": "c", "validate_certs": False}


def test_explicit_options_win():
    auth = resolve_auth({"context": "mine"}, {"K8S_AUTH_CONTEXT": "env"})
    assert auth["context"] == "mine"


def test_secrets_are_no_log_and_aliases_match_kubernetes_core():
    assert AUTH_ARG_SPEC["api_key"]["no_log"] and AUTH_ARG_SPEC["password"]["no_log"]
    assert AUTH_ARG_SPEC["validate_certs"]["aliases"] == ["verify_ssl"]
    assert AUTH_ARG_SPEC["ca_cert"]["aliases"] == ["ssl_ca_cert"]
    assert AUTH_ARG_SPEC["client_cert"]["aliases"] == ["cert_file"]
    assert AUTH_ARG_SPEC["client_key"]["aliases"] == ["key_file"]


def test_resource_paths():
    assert resource_path(DEPLOYMENT, "ns", "web") == "/apis/apps/v1/namespaces/ns/deployments/web"
    assert resource_path(SERVICE, "ns") == "/api/v1/namespaces/ns/services"
    assert resource_path(NAMESPACE, None, "x") == "/api/v1/namespaces/x"


def test_backoff_is_bounded():
    assert list(backoff_delays(5)) == [0.2, 0.4, 0.8, 1.6]
    assert list(backoff_delays(6, ceiling=1.0)) == [0.2, 0.4, 0.8, 1.0, 1.0]
