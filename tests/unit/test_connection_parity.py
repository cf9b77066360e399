"""The connection options match the kubernetes.core installed next to the collection.

Nothing here is typed from memory: every expectation is read from kubernetes.core's own
argument spec, doc fragment and environment handling, so a kubernetes.core release that
adds, renames or hides an option fails this test until the collection follows.
"""

import re

import pytest
import yaml

from ansible_collections.kubernetes.core.plugins.doc_fragments import k8s_auth_options
from ansible_collections.kubernetes.core.plugins.module_utils import args_common
from ansible_collections.kubernetes.core.plugins.module_utils.k8s import client as core_client
from ansible_collections.progressive.delivery.plugins.doc_fragments import k8s_auth
from ansible_collections.progressive.delivery.plugins.module_utils.k8s import connection

ENV_NAME = re.compile(r"K8S_AUTH_[A-Z_]+")


def _shape(spec):
    """What a user sees of an option: type (Ansible's default is str), aliases, elements,
    no_log, and the same for suboptions."""
    shape = dict(
        type=spec.get("type", "str"),
        aliases=sorted(spec.get("aliases", [])),
        elements=spec.get("elements"),
        no_log=bool(spec.get("no_log")),
    )
    if "options" in spec:
        shape["options"] = dict((k, _shape(v)) for k, v in spec["options"].items())
    return shape


def _documented(fragment_class):
    options = yaml.safe_load(fragment_class.DOCUMENTATION)["options"]
    flat = {}
    for name, doc in options.items():
        flat[name] = doc
        for sub, subdoc in (doc.get("suboptions") or {}).items():
            flat["%s.%s" % (name, sub)] = subdoc
    return flat


def _env_names(doc):
    text = " ".join(doc["description"]) if isinstance(doc["description"], list) else doc["description"]
    return set(ENV_NAME.findall(text))


def test_same_options_types_aliases_and_no_log():
    ours = dict((k, _shape(v)) for k, v in connection.AUTH_ARG_SPEC.items())
    theirs = dict((k, _shape(v)) for k, v in args_common.AUTH_ARG_SPEC.items())
    assert ours == theirs


def test_kubeconfig_and_secrets_are_never_logged():
    for name in ("kubeconfig", "api_key", "password"):
        assert connection.AUTH_ARG_SPEC[name]["no_log"] is True, name
    for name in ("proxy_basic_auth", "basic_auth"):
        assert connection.AUTH_PROXY_HEADERS_SPEC[name]["no_log"] is True, name


def test_doc_fragment_documents_the_same_options():
    ours = _documented(k8s_auth.ModuleDocFragment)
    theirs = _documented(k8s_auth_options.ModuleDocFragment)
    assert sorted(ours) == sorted(theirs)
    for name, doc in theirs.items():
        assert ours[name].get("type", "str") == doc.get("type", "str"), name
        assert sorted(ours[name].get("aliases", [])) == sorted(doc.get("aliases", [])), name
        assert ours[name].get("elements") == doc.get("elements"), name
        # Every variable kubernetes.core documents is documented (and read) here too.
        assert _env_names(doc) <= _env_names(ours[name]), name


def test_every_variable_kubernetes_core_documents_is_read():
    ours = dict(connection.AUTH_ENV)
    for sub, name in connection.PROXY_HEADERS_ENV.items():
        ours["proxy_headers." + sub] = (name,)
    for option, doc in _documented(k8s_auth_options.ModuleDocFragment).items():
        if "suboptions" in doc:
            continue
        assert _env_names(doc) <= set(ours[option]), option


def _core_reading(monkeypatch, environ):
    """What kubernetes.core resolves from these variables, keyed by option name."""
    for name in list(connection.PROXY_HEADERS_ENV.values()) + [
            n for names in connection.AUTH_ENV.values() for n in names]:
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    auth = core_client._create_auth_spec()
    reading = dict((args_common.AUTH_ARG_MAP[k], v) for k, v in auth.items())
    if reading.get("proxy_headers") == {}:
        del reading["proxy_headers"]
    headers = core_client._create_headers()
    if "Impersonate-User" in headers:
        reading["impersonate_user"] = headers["Impersonate-User"]
    if "Impersonate-Group" in headers:
        reading["impersonate_groups"] = headers["Impersonate-Group"]
    return reading


CASES = [
    {"K8S_AUTH_KUBECONFIG": "/k", "K8S_AUTH_CONTEXT": "c"},
    {"K8S_AUTH_HOST": "https://h", "K8S_AUTH_API_KEY": "t"},
    {"K8S_AUTH_USERNAME": "u", "K8S_AUTH_PASSWORD": "p"},
    {"K8S_AUTH_VERIFY_SSL": "no"},
    {"K8S_AUTH_VALIDATE_CERTS": "False", "K8S_AUTH_VERIFY_SSL": "yes"},
    {"K8S_AUTH_VERIFY_SSL": "anything"},
    {"K8S_AUTH_SSL_CA_CERT": "/ca", "K8S_AUTH_CERT_FILE": "/c", "K8S_AUTH_KEY_FILE": "/k"},
    {"K8S_AUTH_CA_CERT": "/ca2", "K8S_AUTH_CLIENT_CERT": "/c2", "K8S_AUTH_CLIENT_KEY": "/k2"},
    {"K8S_AUTH_PROXY": "http://p:3128", "K8S_AUTH_NO_PROXY": "localhost"},
    {"K8S_AUTH_PERSIST_CONFIG": "0"},
    {"K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH": "a:b", "K8S_AUTH_PROXY_HEADERS_USER_AGENT": "x/1"},
    {"K8S_AUTH_PROXY_HEADERS_BASIC_AUTH": "c:d"},
    {"K8S_AUTH_IMPERSONATE_USER": "alice", "K8S_AUTH_IMPERSONATE_GROUPS": "dev,,ops"},
]


@pytest.mark.parametrize("environ", CASES, ids=lambda e: ",".join(sorted(e)))
def test_variables_resolve_as_kubernetes_core_resolves_them(monkeypatch, environ):
    expected = _core_reading(monkeypatch, environ)
    assert expected, "kubernetes.core read none of %s" % sorted(environ)
    assert connection.resolve_auth({}, environ) == expected


def test_impersonation_headers_one_per_group():
    auth = connection.resolve_auth({}, {"K8S_AUTH_IMPERSONATE_USER": "alice",
                                        "K8S_AUTH_IMPERSONATE_GROUPS": "dev,ops"})
    assert connection.impersonation_headers(auth) == [
        ("Impersonate-User", "alice"), ("Impersonate-Group", "dev"), ("Impersonate-Group", "ops")]
