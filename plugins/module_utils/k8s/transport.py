# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An authenticated HTTP session to one API server, on the standard library.

``http.client`` and ``ssl`` cost about 15 ms to import where urllib3 costs 35 ms and the
``kubernetes`` package 250-450 ms; the modules only need JSON over keep-alive connections,
a streaming GET for watches, TLS with CA / client certificates, and an HTTP proxy.

Two failures are told apart, because the client retries them differently: the server
answered with a non-2xx status (``HTTPStatusError``), or it could not be reached or the
connection broke (``TransportError``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import http.client as http_client
import json
import os
import ssl
import threading
from urllib.parse import quote, urlencode, urlsplit

USER_AGENT = "progressive.delivery"
CONNECT_TIMEOUT = 10


class HTTPStatusError(Exception):
    """The server answered, with a status that is not a success."""

    def __init__(self, status, reason, body="", headers=None):
        self.status = status
        self.reason = reason
        self.body = body
        self.headers = headers or {}
        super(HTTPStatusError, self).__init__("%s %s" % (status, reason))


class TransportError(Exception):
    """No answer: the server could not be reached, or the connection broke."""


class CertificateError(TransportError):
    """The server's TLS certificate did not verify: trying again will not help."""


def _transport_error(exc):
    if isinstance(exc, ssl.SSLCertVerificationError):
        return CertificateError("TLS certificate verification failed: %s"
                                % (exc.verify_message or exc))
    return TransportError("%s: %s" % (type(exc).__name__, exc) if str(exc) else type(exc).__name__)


# Everything a broken or unreachable connection raises (timeouts and TLS errors are OSErrors).
NETWORK_ERRORS = (OSError, http_client.HTTPException)


class _TLSConnection(http_client.HTTPSConnection):
    """An HTTPS connection that checks the name kubeconfig's tls-server-name says (the
    standard class always uses the host it dials)."""

    def __init__(self, host, port, context, server_name, timeout):
        http_client.HTTPSConnection.__init__(self, host, port, timeout=timeout, context=context)
        self._server_name = server_name

    def connect(self):
        http_client.HTTPConnection.connect(self)  # TCP, and the CONNECT tunnel if any
        name = self._server_name or self._tunnel_host or self.host
        self.sock = self._context.wrap_socket(self.sock, server_hostname=name)


def tls_context(endpoint):
    """The SSL context for an Endpoint: its CA (or the system's), its client certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if not endpoint.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif endpoint.ca_file or endpoint.ca_data:
        try:
            context.load_verify_locations(
                cafile=endpoint.ca_file,
                cadata=endpoint.ca_data.decode("ascii", "replace") if endpoint.ca_data else None)
        except (ssl.SSLError, OSError) as exc:
            raise ValueError("ca_cert (or the kubeconfig's certificate-authority): cannot load "
                             "%s as a PEM CA certificate: %s"
                             % (endpoint.ca_file or "the data", exc))
    else:
        context.load_default_certs()
    if endpoint.cert_file or endpoint.cert_data:
        try:
            _load_client_certificate(context, endpoint)
        except (ssl.SSLError, OSError) as exc:
            raise ValueError("client_cert and client_key (or the kubeconfig's client-certificate "
                             "and client-key): cannot load %s with its key: %s"
                             % (endpoint.cert_file or "the data", exc))
    return context


def _load_client_certificate(context, endpoint):
    """ssl only loads a client certificate from files: data is written to private temporary
    files that are removed as soon as it is loaded."""
    import tempfile

    made = []
    try:
        paths = []
        for path, data in ((endpoint.cert_file, endpoint.cert_data),
                           (endpoint.key_file, endpoint.key_data)):
            if data is not None:
                fd, path = tempfile.mkstemp(prefix="pd-kube-")  # mode 0600
                made.append(path)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
            paths.append(path)
        context.load_cert_chain(paths[0], paths[1])
    finally:
        for path in made:
            os.unlink(path)


def environment_proxy(scheme, environ):
    """The proxy the *_proxy variables name for this scheme (lower case wins, as in
    urllib), and the no_proxy list."""
    def variable(name):
        return environ.get(name) or environ.get(name.upper())

    return variable(scheme + "_proxy") or variable("all_proxy"), variable("no_proxy")


def bypasses_proxy(host, port, no_proxy):
    """Whether ``host`` matches a no_proxy entry: *, a domain suffix, host:port, an IP
    address or an address range."""
    host = host.strip("[]").lower()
    host_and_port = "%s:%s" % (host, port)
    address = None
    for entry in (e.strip().lower() for e in (no_proxy or "").split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        if "/" in entry or entry[:1].isdigit() or ":" in entry.strip("[]"):
            import ipaddress

            try:
                address = address or ipaddress.ip_address(host)
                if address in ipaddress.ip_network(entry.strip("[]"), strict=False):
                    return True
            except ValueError:
                pass
        entry = entry.lstrip(".")
        if host == entry or host.endswith("." + entry) or host_and_port == entry:
            return True
    return False


def proxy_header_values(proxy_headers):
    """kubernetes.core's proxy_headers suboptions as the headers they stand for."""
    headers = []
    for option, name, encode in (("proxy_basic_auth", "Proxy-Authorization", True),
                                 ("basic_auth", "Authorization", True),
                                 ("user_agent", "User-Agent", False)):
        value = (proxy_headers or {}).get(option)
        if value:
            if encode:
                value = "Basic " + base64.b64encode(value.encode("utf-8")).decode("ascii")
            headers.append((name, value))
    return headers


class Response(object):
    def __init__(self, status, reason, headers, data):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.data = data


class ApiSession(object):
    """Keep-alive connections to one API server, safe to share between threads.

    ``headers`` are sent with every request (impersonation: a name may repeat).
    """

    def __init__(self, endpoint, headers=(), proxy=None, no_proxy=None, proxy_headers=None,
                 environ=None):
        parts = urlsplit(endpoint.server)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("host: %r is not an http(s) URL of an API server" % endpoint.server)
        self.endpoint = endpoint
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.base_path = parts.path.rstrip("/")
        self.headers = [("User-Agent", USER_AGENT)] + list(headers)
        self.context = tls_context(endpoint) if self.scheme == "https" else None
        environ = os.environ if environ is None else environ
        from_env, env_no_proxy = environment_proxy(self.scheme, environ)
        proxy = proxy or endpoint.proxy or from_env
        no_proxy = no_proxy if no_proxy is not None else env_no_proxy
        self.proxy = None
        self.proxy_headers = proxy_header_values(proxy_headers)
        if proxy and not bypasses_proxy(self.host, self.port, no_proxy):
            proxy_parts = urlsplit(proxy if "://" in proxy else "http://" + proxy)
            if proxy_parts.scheme != "http" or not proxy_parts.hostname:
                raise ValueError("proxy: only http:// proxies are supported, not %r"
                                 % proxy_parts.scheme)
            self.proxy = (proxy_parts.hostname, proxy_parts.port or 80)
            if proxy_parts.username and not any(n == "Proxy-Authorization"
                                                for n, v in self.proxy_headers):
                pair = "%s:%s" % (proxy_parts.username, proxy_parts.password or "")
                self.proxy_headers.append(
                    ("Proxy-Authorization",
                     "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")))
        self._idle = []
        self._lock = threading.Lock()

    def refresh_credentials(self):
        """Fetch the credentials again where they come from a plugin or a file (after a 401,
        as client-go does); False for static ones."""
        refresh = getattr(self.endpoint.authorization, "refresh", None)
        if refresh is None:
            return False
        refresh()
        return True

    # --- connections -------------------------------------------------------------
    def _new_connection(self, timeout):
        host, port = self.proxy or (self.host, self.port)
        if self.scheme == "https":
            conn = _TLSConnection(host, port, self.context, self.endpoint.tls_server_name,
                                  timeout)
            if self.proxy:
                conn.set_tunnel(self.host, self.port, headers=dict(self.proxy_headers))
        else:
            conn = http_client.HTTPConnection(host, port, timeout=timeout)
        return conn

    def _checkout(self):
        with self._lock:
            return self._idle.pop() if self._idle else None

    def _checkin(self, conn):
        with self._lock:
            self._idle.append(conn)

    def close(self):
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    # --- requests ----------------------------------------------------------------
    def url(self, path, query=None):
        target = quote(self.base_path + path, safe="/:@!$&'()*+,;=-._~")
        if query:
            target += "?" + urlencode(list(query.items()) if isinstance(query, dict) else query)
        if self.proxy and self.scheme == "http":  # a plain-HTTP proxy takes the whole URL
            target = "http://%s:%s%s" % (self.host, self.port, target)
        return target

    def _headers(self, extra):
        headers = list(self.headers)
        authorization = self.endpoint.authorization()
        if authorization:
            headers.append(("Authorization", authorization))
        if self.proxy and self.scheme == "http":
            headers += self.proxy_headers
        return headers + list(extra.items())

    def _start(self, method, path, query, headers, body, timeout, fresh):
        """Send one request and read the status line; (connection, response)."""
        target = self.url(path, query)
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode("utf-8")
        all_headers = self._headers(headers)
        connect_timeout, read_timeout = timeout if isinstance(timeout, tuple) else (
            min(CONNECT_TIMEOUT, timeout), timeout)
        conn = None if fresh else self._checkout()
        reused = conn is not None
        if conn is None:
            conn = self._new_connection(connect_timeout)
        try:
            if conn.sock is None:
                conn.timeout = connect_timeout
                conn.connect()
            conn.sock.settimeout(read_timeout)
            conn.putrequest(method, target, skip_accept_encoding=True)
            for name, value in all_headers:
                conn.putheader(name, value)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            return conn, conn.getresponse()
        except NETWORK_ERRORS as exc:
            conn.close()
            if reused and isinstance(exc, (http_client.RemoteDisconnected, ConnectionResetError,
                                           BrokenPipeError)):
                # The server closed a kept-alive connection while it sat idle: not an outage.
                return self._start(method, path, query, headers, body, timeout, True)
            raise _transport_error(exc)

    def request(self, method, path, query=None, headers=None, body=None, timeout=60):
        """One request, its whole answer read: a Response, or HTTPStatusError."""
        conn, response = self._start(method, path, query, headers or {}, body, timeout, False)
        try:
            data = response.read()
        except NETWORK_ERRORS as exc:
            conn.close()
            raise _transport_error(exc)
        if response.will_close:
            conn.close()
        else:
            self._checkin(conn)
        if not 200 <= response.status < 300:
            raise HTTPStatusError(response.status, response.reason,
                                  data.decode("utf-8", "replace"), dict(response.getheaders()))
        return Response(response.status, response.reason, dict(response.getheaders()), data)

    def stream(self, method, path, query=None, headers=None, timeout=60):
        """A request whose answer is read as it comes (a watch): yields its non-empty lines.
        Its own connection, closed when the generator is (a watch cut short cannot be
        reused)."""
        conn, response = self._start(method, path, query, headers or {}, None, timeout, True)
        if not 200 <= response.status < 300:
            try:
                data = response.read()
            except NETWORK_ERRORS:
                data = b""
            conn.close()
            raise HTTPStatusError(response.status, response.reason,
                                  data.decode("utf-8", "replace"), dict(response.getheaders()))
        return self._lines(conn, response)

    def _lines(self, conn, response):
        pending = b""
        try:
            while True:
                try:
                    chunk = response.read1(65536)
                except (NETWORK_ERRORS + (ValueError,)) as exc:
                    raise _transport_error(exc)
                if not chunk:
                    break
                pending += chunk
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    if line.strip():
                        yield line
            if pending.strip():
                yield pending
        finally:
            conn.close()
