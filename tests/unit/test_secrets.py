"""The redaction rule for secrets in gates: URL credentials and credential headers."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils import secrets as s


@pytest.mark.parametrize("url, redacted", [
    ("https://user:pa:ss@host/x", "https://user:********@host/x"),
    ("http://token@host:8080/", "http://********@host:8080/"),
    ("http://user:@host/", "http://user:********@host/"),
    ("http://host/path@x", "http://host/path@x"),
    ("http://127.0.0.1:9090", "http://127.0.0.1:9090"),
    (None, None),
])
def test_redact_url(url, redacted):
    assert s.redact_url(url) == redacted


def test_gate_secrets_finds_url_credentials_and_credential_headers_only():
    gates = [
        {"type": "http", "url": "https://ci:s3cret@host/", "headers": {
            "Authorization": "Bearer abc.def.ghi", "X-Api-Key": "k-123", "Accept": "json",
            "Cookie": "session=42"}},
        {"type": "prometheus", "url": "http://tok3n@prom:9090"},
        "not a gate",
    ]
    found = s.gate_secrets(gates)
    assert {"s3cret", "Bearer abc.def.ghi", "abc.def.ghi", "k-123", "session=42",
            "tok3n"} <= found
    assert "json" not in found and "Accept" not in found


def test_protect_adds_to_the_values_ansible_masks():
    class Module(object):
        no_log_values = set()

    module = Module()
    s.protect(module, {"x1", "", None})
    assert module.no_log_values == {"x1"}


def test_masked_replaces_the_longest_secret_first():
    from ansible_collections.progressive.delivery.plugins.module_utils.secrets import MASK, masked
    assert masked("token abc123 and abc", {"abc", "abc123", ""}) == "token %s and %s" % (MASK, MASK)
    assert masked("nothing here", set()) == "nothing here"
