# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small JSON REST client over our own API session (``transport.py``).

Plain dicts in, plain dicts out, for core objects and CRDs alike: no discovery round
trips, and the planners work on the same shapes ``kubectl get -o json`` shows.
Transient failures (connection refused/reset, 429, 5xx) are retried with bounded backoff.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import time
from collections import namedtuple

from ansible_collections.progressive.delivery.plugins.module_utils.k8s import trace
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.transport import (
    CertificateError,
    HTTPStatusError,
    TransportError,
)


Resource = namedtuple("Resource", "api_version kind plural namespaced")

DEPLOYMENT = Resource("apps/v1", "Deployment", "deployments", True)
REPLICASET = Resource("apps/v1", "ReplicaSet", "replicasets", True)
SERVICE = Resource("v1", "Service", "services", True)
POD = Resource("v1", "Pod", "pods", True)
ENDPOINTSLICE = Resource("discovery.k8s.io/v1", "EndpointSlice", "endpointslices", True)
NAMESPACE = Resource("v1", "Namespace", "namespaces", False)
CONFIGMAP = Resource("v1", "ConfigMap", "configmaps", True)
INGRESS = Resource("networking.k8s.io/v1", "Ingress", "ingresses", True)

RETRY_STATUSES = (429, 500, 502, 503, 504)
# An API server restart looks like refused connections, then 503s while it starts: worth
# riding out for this long. Other transient answers get the short bounded backoff.
RESTART_SECONDS = 60
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"  # JSON is YAML: the body is sent as JSON
# Every write names this manager, so metadata.managedFields tells our writes from others'.
FIELD_MANAGER = "progressive.delivery"


class KubeError(Exception):
    """An API answer that is not a success, with the server's own message."""

    def __init__(self, status, reason, message, body=None):
        self.status = status
        self.reason = reason
        self.body = body or {}
        super(KubeError, self).__init__(message)

    @property
    def not_found(self):
        return self.status == 404

    @property
    def conflict(self):
        return self.status == 409

    @property
    def transient(self):
        """The server was unreachable or overloaded: the same request may work later."""
        return (self.status == 0 and self.reason == "ConnectionError") or \
            self.status in RETRY_STATUSES


def connection_error(exc):
    if isinstance(exc, CertificateError):  # not an outage: retrying cannot help
        return KubeError(0, "CertificateError", "cannot trust the API server: %s" % exc)
    return KubeError(0, "ConnectionError", "cannot reach the API server: %s" % exc)


def _error_from(exc):
    body = {}
    try:
        body = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        pass
    message = body.get("message") or exc.reason or str(exc)
    return KubeError(exc.status, body.get("reason") or exc.reason, message, body)


def resource_path(resource, namespace=None, name=None, subresource=None):
    group_path = "/api/v1" if resource.api_version == "v1" else "/apis/" + resource.api_version
    parts = [group_path]
    if resource.namespaced and namespace:
        parts += ["namespaces", namespace]
    parts.append(resource.plural)
    if name:
        parts.append(name)
    if subresource:
        parts.append(subresource)
    return "/".join(parts)


def backoff_delays(attempts=5, first=0.2, ceiling=2.0):
    """Sleep lengths between attempts: 0.2, 0.4, 0.8, 1.6 (bounded by ceiling)."""
    delay = first
    for unused in range(attempts - 1):
        yield min(delay, ceiling)
        delay *= 2


class Kube(object):
    """JSON requests against the API server, retried on transient failures: briefly for
    429/5xx answers, for up to RESTART_SECONDS while the server cannot be reached (a
    restart), so a release rides out a control-plane restart instead of failing.

    ``session`` is what ``connection.build_api_client`` returns (``transport.ApiSession``).
    """

    def __init__(self, session, attempts=5, sleep=time.sleep,
                 restart_seconds=RESTART_SECONDS, clock=time.monotonic):
        self.session = session
        self.attempts = attempts
        self.sleep = sleep
        self.restart_seconds = restart_seconds
        self.clock = clock
        self._send = trace.traced(self._send)  # one line per request when PD_TRACE_REQUESTS is set

    # --- transport -------------------------------------------------------
    def request(self, method, path, query=None, body=None, content_type=None, timeout=None):
        delays = backoff_delays(self.attempts)
        restart_deadline = self.clock() + self.restart_seconds
        refreshed = False
        while True:
            try:
                return self._request_once(method, path, query, body, content_type, timeout)
            except HTTPStatusError as exc:
                if exc.status == 401 and not refreshed and self._refresh_credentials():
                    refreshed = True  # a token that expired early: once with a fresh one
                    continue
                if exc.status not in RETRY_STATUSES:
                    raise _error_from(exc)
                error, pause = _error_from(exc), _retry_after(exc)
            except TransportError as exc:
                error, pause = connection_error(exc), 0.0
                if not error.transient:
                    raise error
            delay = next(delays, None)
            if delay is None and error.status in (0, 503) and self.clock() < restart_deadline:
                delay = 2.0  # the server is away (restarting): keep trying, not hammering
            if delay is None:
                raise error
            self.sleep(max(delay, pause))

    def _request_once(self, method, path, query, body, content_type, timeout):
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type or "application/json"
        response = self._send(method, path, query, headers, body, timeout or 60)
        if not response.data:
            return {}
        try:
            return json.loads(response.data)
        except ValueError:
            raise KubeError(response.status, "InvalidResponse",
                            "the answer to %s %s is not JSON: %r"
                            % (method, path, response.data[:200]))

    def _refresh_credentials(self):
        """Fetch the credentials again (exec plugin, token file) if they can be; True if
        they were. An error doing so is the answer the caller gets, not the 401."""
        refresh = getattr(self.session, "refresh_credentials", None)
        return bool(refresh and refresh())

    def _send(self, method, path, query, headers, body, timeout, stream=False):
        """Every HTTP request to the API server passes here, watches included (one place
        to observe them). Returns the whole answer (transport.Response), or for ``stream``
        an iterator over the answer's lines; raises HTTPStatusError or TransportError."""
        if stream:
            return self.session.stream(method, path, query, headers, timeout)
        return self.session.request(method, path, query, headers, body, timeout)

    # --- verbs -----------------------------------------------------------
    def get(self, resource, namespace, name):
        return self.request("GET", resource_path(resource, namespace, name))

    def get_or_none(self, resource, namespace, name):
        try:
            return self.get(resource, namespace, name)
        except KubeError as exc:
            if exc.not_found:
                return None
            raise

    def list(self, resource, namespace=None, label_selector=None, field_selector=None):
        query = {}
        if label_selector:
            query["labelSelector"] = label_selector
        if field_selector:
            query["fieldSelector"] = field_selector
        return self.request("GET", resource_path(resource, namespace), query)

    def create(self, resource, namespace, body, dry_run=False):
        query = _write_query(dry_run)
        return self.request("POST", resource_path(resource, namespace), query, body)

    def replace(self, resource, namespace, name, body):
        return self.request("PUT", resource_path(resource, namespace, name), _write_query(),
                            body)

    def patch(self, resource, namespace, name, patch, content_type=MERGE_PATCH,
              subresource=None, dry_run=False):
        query = _write_query(dry_run)
        return self.request(
            "PATCH",
            resource_path(resource, namespace, name, subresource),
            query,
            patch,
            content_type,
        )

    def apply(self, resource, namespace, name, body, field_manager, dry_run=False):
        """Server-side apply (force: this manager owns the fields it sends)."""
        query = {"fieldManager": field_manager, "force": "true"}
        if dry_run:
            query["dryRun"] = "All"
        return self.request("PATCH", resource_path(resource, namespace, name), query, body,
                            APPLY_PATCH)

    def delete(self, resource, namespace, name):
        try:
            return self.request("DELETE", resource_path(resource, namespace, name))
        except KubeError as exc:
            if exc.not_found:
                return None
            raise

    def watch(self, resource, namespace, resource_version, timeout, name=None,
              label_selector=None):
        """Yield (event type, object) from a watch stream until it ends or times out."""
        query = {
            "watch": "true",
            "allowWatchBookmarks": "true",
            "timeoutSeconds": max(1, int(timeout + 0.999)),
        }
        if resource_version:
            query["resourceVersion"] = resource_version
        if name:
            query["fieldSelector"] = "metadata.name=" + name
        if label_selector:
            query["labelSelector"] = label_selector
        try:
            lines = self._send("GET", resource_path(resource, namespace), query,
                               {"Accept": "application/json"}, None, (10, timeout + 5),
                               stream=True)
        except HTTPStatusError as exc:
            raise _error_from(exc)
        except TransportError as exc:
            raise connection_error(exc)
        try:
            for line in lines:
                event = json.loads(line)
                yield event.get("type"), event.get("object") or {}
        except TransportError as exc:  # the server went away mid-stream
            raise connection_error(exc)
        finally:
            lines.close()


def _write_query(dry_run=False):
    query = {"fieldManager": FIELD_MANAGER}
    if dry_run:
        query["dryRun"] = "All"
    return query


def _retry_after(exc):
    headers = getattr(exc, "headers", None) or {}
    try:
        return min(float(headers.get("Retry-After", 0)), 5.0)
    except (TypeError, ValueError):
        return 0.0


def merge_patch(target, patch):
    """RFC 7386 merge patch, to show in check mode what a patch would produce."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result
