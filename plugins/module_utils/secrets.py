# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one redaction rule for secrets users put in gates (and anything else a module
echoes): credentials in a URL's user-info part and the values of credential-bearing HTTP
headers. They are masked in every module result, in the module arguments Ansible shows at
-vvv (``protect``), and in the messages and records written from them (``redact_url``)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

MASK = "********"
# Header names whose values are credentials (matched case-insensitively, as HTTP does).
SECRET_HEADER = re.compile(r"(authorization|cookie|token|secret|password|passwd|api[-_]?key"
                           r"|auth)", re.IGNORECASE)
_USERINFO = re.compile(r"^(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^/@:]*)"
                       r"(?::(?P<password>[^/@]*))?@")


def url_password(url):
    """The password (or the lone user, often a token) of ``scheme://user:pass@host``."""
    match = _USERINFO.match(url) if isinstance(url, str) else None
    if not match:
        return None
    return match.group("password") or match.group("user") or None


def redact_url(url):
    """``https://user:secret@host/x`` -> ``https://user:********@host/x``; a lone user-info
    part (a token) is masked whole. Other URLs come back unchanged."""
    if not isinstance(url, str):
        return url
    match = _USERINFO.match(url)
    if not match:
        return url
    if match.group("password") is not None:
        userinfo = "%s:%s" % (match.group("user"), MASK)
    else:
        userinfo = MASK
    return match.group("scheme") + userinfo + "@" + url[match.end():]


def gate_secrets(gates):
    """Every secret string in a list of gates: URL credentials and secret header values."""
    found = set()
    for gate in gates or []:
        if not isinstance(gate, dict):
            continue
        secret = url_password(gate.get("url"))
        if secret:
            found.add(secret)
        headers = gate.get("headers")
        if isinstance(headers, dict):
            for name, value in headers.items():
                if SECRET_HEADER.search(str(name)) and value not in (None, ""):
                    found.add(str(value))
                    # "Bearer abc": the token alone must be masked too where it is echoed
                    found.update(part for part in str(value).split() if len(part) > 3)
    return found


def masked(text, secrets):
    """``text`` with each of ``secrets`` replaced by MASK, the longest first (a secret that
    contains another is masked whole), as Ansible masks a module's no_log values."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def protect(module, secrets):
    """Mask ``secrets`` wherever Ansible shows this module's arguments and result."""
    module.no_log_values.update(s for s in secrets if s)
