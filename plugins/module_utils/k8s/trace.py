# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A request trace, for counting what a call asks of the API server.

When the environment variable PD_TRACE_REQUESTS names a file, every HTTP request the
client sends appends one line to it:

    GET /api/v1/namespaces/web/services/app 200 pid=4242 t=1733450000.123 ms=3

method, path (with the query, URL-encoded), the answer's status ("ok" for a stream that
started, the exception's status or name when it failed), then the process, the wall-clock time the request was sent
and how long it took. Lines are appended with one write each (O_APPEND), so several
module processes (forks) can share one file. Without the variable nothing is wrapped and
nothing is written. The integration tests (test_request_counts.py) and the benchmarks
(tests/bench/) read it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time

try:
    from urllib.parse import urlencode
except ImportError:  # Python 2 (module side on old hosts)
    from urllib import urlencode

ENV = "PD_TRACE_REQUESTS"


def traced(send, environ=None):
    """``send(method, path, query, ...)`` as it is, or, when PD_TRACE_REQUESTS is set,
    wrapped so that each call (one HTTP request) appends a line to that file."""
    target = (os.environ if environ is None else environ).get(ENV)
    if not target:
        return send

    def send_traced(method, path, query=None, *args, **kwargs):
        started, status = time.time(), "-"
        try:
            response = send(method, path, query, *args, **kwargs)
            # an answer without a status (a watch's stream of lines) was not refused
            status = getattr(response, "status", None) or "ok"
            return response
        except Exception as exc:
            status = getattr(exc, "status", None) or type(exc).__name__
            raise
        finally:
            append(target, line(method, path, query, status, started, time.time()))

    return send_traced


def line(method, path, query, status, started, ended, pid=None):
    """One trace line (without its newline)."""
    if query:
        items = query.items() if hasattr(query, "items") else query
        path = "%s?%s" % (path, urlencode(list(items)))
    return "%s %s %s pid=%d t=%.3f ms=%d" % (
        method, path, status, os.getpid() if pid is None else pid, started,
        int(round((ended - started) * 1000)))


def append(target, text):
    try:
        fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError:
        return  # a trace must never break the call it observes
    try:
        os.write(fd, (text + "\n").encode("utf-8"))
    finally:
        os.close(fd)


def parse(text):
    """The lines of a trace as dicts: method, path (without query), query (a dict),
    status, pid, t, ms. Lines that do not parse are skipped."""
    found = []
    for raw in text.splitlines():
        parts = raw.split()
        if len(parts) < 3:
            continue
        path, _sep, query = parts[1].partition("?")
        entry = dict(method=parts[0], path=path, query=_query(query), status=parts[2])
        for extra in parts[3:]:
            key, _eq, value = extra.partition("=")
            if key in ("pid", "ms"):
                entry[key] = int(value)
            elif key == "t":
                entry[key] = float(value)
        found.append(entry)
    return found


def _query(text):
    try:
        from urllib.parse import parse_qsl
    except ImportError:
        from urlparse import parse_qsl
    return dict(parse_qsl(text, keep_blank_values=True))
