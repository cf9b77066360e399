"""Make the collection importable as ansible_collections.progressive.delivery.

The repository root is the collection; build/ansible_collections/progressive/delivery is a
symlink to it (made by `make collection`, and here if missing)."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, "build")
LINK = os.path.join(COLLECTIONS, "ansible_collections", "progressive", "delivery")

if not os.path.exists(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    os.symlink(os.path.relpath(ROOT, os.path.dirname(LINK)), LINK)
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)


def pytest_sessionfinish(session, exitstatus):
    """In CI a skipped test is a failure: the tests skip only when the testbed lacks a
    component (Contour, Knative, Prometheus) that CI's bootstrap is meant to provide, so a
    skip there means a capability went untested while the run looked green."""
    if not os.environ.get("CI"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped and exitstatus == 0:
        reporter.ensure_newline()
        reporter.write_line("CI: %d test(s) skipped; a skip is not a pass here" % len(skipped),
                            red=True)
        for report in skipped:
            reason = report.longrepr
            if isinstance(reason, tuple):
                reason = reason[2]
            reporter.write_line("  skipped: %s (%s)" % (report.nodeid, reason))
        session.exitstatus = 1


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "reliability: faults, races and bad input a release must survive "
        "(select with -m reliability)")
    config.addinivalue_line(
        "markers", "alone: runs with no other test beside it (it restarts the testbed's "
        "control plane, or races another writer on timing); -m 'not alone' excludes it")
