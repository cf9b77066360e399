# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release report as one self-contained HTML page: inline CSS and SVG, no script, no
external asset. One row per release (per cluster for a fleet) on a shared time axis: the
traffic percent of each version over time as lines, gate evaluations as marks (green
passed, red failed), pauses and bakes shaded; below, the steps, the decisions and the
values of every failed gate."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

try:
    from html import escape as _escape
except ImportError:  # pragma: no cover - Python 2
    from cgi import escape as _escape

from ansible_collections.progressive.delivery.plugins.module_utils.report.collect import iso

WIDTH, ROW_HEIGHT, LEFT, RIGHT, TOP = 960, 150, 60, 20, 26
COLOURS = ("#4c72b0", "#55a868", "#dd8452", "#8172b3", "#937860", "#da8bc3")
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:22px 0 6px}
.meta{color:#555;margin-bottom:12px} .ok{color:#2e7d32} .bad{color:#c62828}
table{border-collapse:collapse;margin:6px 0 14px;font-size:13px}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4} td:first-child{white-space:nowrap} code{font-size:12px} .legend span{margin-right:14px}
.swatch{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px}
svg text{font-size:11px;fill:#333}
"""


def esc(value):
    return _escape("" if value is None else str(value), quote=True)


def _hms(ts):
    return iso(ts)[11:19]


def _versions(releases):
    seen = []
    for rel in releases:
        for version in (rel.get("previous"), rel.get("version")):
            if version and version not in seen:
                seen.append(version)
        for sample in rel.get("traffic") or []:
            for version in sample["split"]:
                if version not in seen:
                    seen.append(version)
    return dict((v, COLOURS[i % len(COLOURS)]) for i, v in enumerate(seen))


class Axis(object):
    def __init__(self, start, end):
        self.start, self.end = start, max(end, start + 1)

    def x(self, ts):
        return LEFT + (ts - self.start) / (self.end - self.start) * (WIDTH - LEFT - RIGHT)


def _y(percent, top):
    return top + TOP + (100 - percent) / 100.0 * (ROW_HEIGHT - TOP - 22)


def _row(rel, axis, colours, title, bakes=(), verdicts=()):
    """One SVG chart of a release: traffic lines, gate marks, pauses (and, in a fleet, the
    bakes and the end of each wave)."""
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" role="img" '
             'aria-label="%s">' % (WIDTH, ROW_HEIGHT, esc(title))]
    parts.append('<text x="4" y="14" font-weight="bold">%s</text>' % esc(title))
    for percent in (0, 50, 100):
        y = _y(percent, 0)
        parts.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#eee"/>'
                     '<text x="%d" y="%.1f" text-anchor="end">%d%%</text>'
                     % (LEFT, WIDTH - RIGHT, y, y, LEFT - 6, y + 4, percent))
    for pause in list(rel.get("pauses") or []) + list(bakes):
        x1, x2 = axis.x(pause["start"]), axis.x(pause["end"])
        parts.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="#f3efe0">'
                     '<title>%s (%ss)</title></rect>'
                     % (x1, TOP, max(x2 - x1, 1), ROW_HEIGHT - TOP - 22, esc(pause.get("label")),
                        esc(pause.get("seconds"))))
    for verdict in verdicts:
        x = axis.x(verdict["time"])
        colour = "#c62828" if verdict["halt"] else "#888"
        parts.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="%s" stroke-dasharray="2,4">'
                     '<title>%s</title></line>'
                     % (x, x, TOP, ROW_HEIGHT - 22, colour, esc(verdict["reason"])))
    end = rel.get("ended") or axis.end
    for version, colour in colours.items():
        points, last = [], None
        for sample in rel.get("traffic") or []:
            if version not in sample["split"] and last is None:
                continue
            percent = sample["split"].get(version, 0)
            x = axis.x(sample["time"])
            if last is not None:
                points.append((x, _y(last, 0)))
            points.append((x, _y(percent, 0)))
            last = percent
        if last is None:
            continue
        points.append((axis.x(end), _y(last, 0)))
        parts.append('<polyline fill="none" stroke="%s" stroke-width="2.5" points="%s">'
                     '<title>%s</title></polyline>'
                     % (colour, " ".join("%.1f,%.1f" % p for p in points), esc(version)))
    for gate in rel.get("gates") or []:
        x = axis.x(gate["time"])
        colour = "#2e7d32" if gate["passed"] else "#c62828"
        parts.append('<circle cx="%.1f" cy="%d" r="5" fill="%s"><title>%s %s: %s</title></circle>'
                     % (x, TOP - 8, colour, esc(gate["name"]), "passed" if gate["passed"]
                        else "FAILED", esc(gate["message"])))
        if not gate["passed"]:
            parts.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#c62828" '
                         'stroke-dasharray="3,3"/><text x="%.1f" y="%d" fill="#c62828">%s failed'
                         '</text>' % (x, x, TOP - 3, ROW_HEIGHT - 22, x + 6, TOP + 12,
                                      esc(gate["name"])))
    for decision in rel.get("decisions") or []:
        if decision.get("decision") in ("promote", "rollback"):
            x = axis.x(decision["time"])
            parts.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>'
                         % (x, ROW_HEIGHT - 8, esc(decision["decision"])))
    parts.append('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="#999"/>'
                 % (LEFT, WIDTH - RIGHT, ROW_HEIGHT - 22, ROW_HEIGHT - 22))
    parts.append("</svg>")
    return "".join(parts)


def _axis_labels(axis):
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="20">' % WIDTH]
    for i in range(6):
        ts = axis.start + (axis.end - axis.start) * i / 5.0
        parts.append('<text x="%.1f" y="14" text-anchor="middle">%s</text>'
                     % (axis.x(ts), _hms(ts)))
    parts.append("</svg>")
    return "".join(parts)


def _release_tables(rel):
    out = []
    failed = [g for g in rel.get("gates") or [] if not g["passed"]]
    if failed:
        out.append("<table><tr><th>failed gate</th><th>when</th><th>message</th>"
                   "<th>values</th></tr>")
        for gate in failed:
            out.append('<tr class="bad"><td>%s (%s)</td><td>%s %s</td><td>%s</td>'
                       '<td><code>%s</code></td></tr>'
                       % (esc(gate["name"]), esc(gate["type"]), _hms(gate["time"]),
                          esc(gate.get("label")), esc(gate["message"]),
                          esc(json.dumps(gate["values"], sort_keys=True))))
        out.append("</table>")
    out.append("<table><tr><th>step</th><th>start</th><th>end</th><th>seconds</th>"
               "<th>traffic after</th></tr>")
    for step in rel.get("steps") or []:
        out.append('<tr><td class="%s">%s</td><td>%s</td><td>%s</td><td>%.1f</td><td>%s</td></tr>'
                   % ("ok" if step["status"] == "ok" else "bad", esc(step["name"]),
                      _hms(step["start"]), _hms(step["end"]), step["end"] - step["start"],
                      esc(", ".join("%s %s%%" % (v, p) for v, p in sorted(step["traffic"].items())))))
    out.append("</table>")
    if rel.get("decisions"):
        out.append("<table><tr><th>decision</th><th>when</th><th>why</th></tr>")
        for decision in rel["decisions"]:
            out.append("<tr><td>%s</td><td>%s</td><td>%s</td></tr>"
                       % (esc(decision["decision"]), _hms(decision["time"]), esc(decision["why"])))
        out.append("</table>")
    return "".join(out)


def _legend(colours):
    versions = "".join('<span><span class="swatch" style="background:%s"></span>%s</span>'
                       % (c, esc(v)) for v, c in colours.items())
    return ('<div class="legend">%s'
            '<span><span class="swatch" style="background:#2e7d32;border-radius:6px"></span>'
            'gate passed</span>'
            '<span><span class="swatch" style="background:#c62828;border-radius:6px"></span>'
            'gate failed</span>'
            '<span><span class="swatch" style="background:#f3efe0"></span>pause / bake</span>'
            '<span>dotted line: end of a wave (red: the fleet halted)</span></div>' % versions)


def render(report):
    """The HTML page of one report (a release or a fleet release)."""
    fleet = report.get("kind") == "fleet"
    releases = report["releases"] if fleet else [report]
    colours = _versions(releases)
    axis = Axis(report["started"], report["ended"])
    if fleet:
        title = "Fleet release %s (%s, version %s): %s" % (
            report["release"], report.get("strategy"), report.get("version"), report["outcome"])
    else:
        title = "%s release of %s %s in %s on %s: %s" % (
            report["kind"], report["app"], report.get("version"), report["namespace"],
            report["cluster"], report["outcome"])
    body = ["<h1>%s</h1>" % esc(title),
            '<div class="meta">%s to %s UTC (%.0f s)</div>' % (
                esc(iso(report["started"])), esc(iso(report["ended"])),
                report["ended"] - report["started"]), _legend(colours)]
    if fleet:
        clusters = report.get("clusters") or {}
        body.append("<table><tr><th>cluster</th><th>wave</th><th>run</th><th>outcome</th>"
                    "<th>reason</th></tr>")
        waves = report.get("waves") or []
        for index, members in enumerate(waves):
            for host in members:
                info = clusters.get(host) or {}
                outcome = info.get("outcome") or "-"
                body.append('<tr><td>%s</td><td>%d</td><td>%s</td><td class="%s">%s</td><td>%s</td></tr>'
                            % (esc(host), index + 1, esc(info.get("action")),
                               "ok" if outcome in ("released", "kept") else "bad",
                               esc(outcome), esc(info.get("reason"))))
        body.append("</table>")
        for verdict in report.get("verdicts") or []:
            body.append('<div class="%s">%s %s</div>' % (
                "bad" if verdict["halt"] else "ok", _hms(verdict["time"]),
                esc(verdict["reason"])))
        body.append("<h2>Traffic per cluster</h2>")
        by_host = dict((r["cluster"], r) for r in releases)
        for members in waves:
            for host in members:
                rel = by_host.get(host) or dict(cluster=host, traffic=[], gates=[], pauses=[],
                                                decisions=[], ended=report["ended"])
                body.append(_row(rel, axis, colours, "%s (%s)" % (
                    host, (clusters.get(host) or {}).get("outcome") or "not released"),
                    bakes=report.get("bakes") or [], verdicts=report.get("verdicts") or []))
        body.append(_axis_labels(axis))
        for gate in report.get("gates") or []:
            body.append('<div class="%s">fleet gate %s: %s</div>' % (
                "ok" if gate["passed"] else "bad", esc(gate["name"]), esc(gate["message"])))
        for rel in releases:
            body.append("<h2>%s: %s %s</h2>" % (esc(rel["cluster"]), esc(rel["app"]), esc(rel["version"])))
            body.append(_release_tables(rel))
    else:
        body.append(_row(report, axis, colours, "%s on %s" % (report["app"], report["cluster"])))
        body.append(_axis_labels(axis))
        body.append(_release_tables(report))
    return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>%s</title>'
            '<style>%s</style></head><body>%s</body></html>\n'
            % (esc(title), CSS, "\n".join(body)))
