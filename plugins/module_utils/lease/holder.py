# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The default holder identity of a release lease: who is releasing, readable by the
operator of the job that is refused.

- In an AWX / Automation Controller job: "AWX job 42 on https://awx.example.com". AWX puts
  JOB_ID, INVENTORY_ID and (since 2.x) AWX_HOST in the environment of ansible-playbook, which
  a module run on the controller (the roles' localhost) inherits.
- Otherwise: "alice@build-1 ansible-playbook pid 4242 started 2026-12-06T03:05:12Z": the
  ansible-playbook process the module runs under (found by walking up the parent
  processes), so every task of one run has the same identity and two runs never share one
  (a pid is reused only after its process ended, and the start time tells the two apart).
  Where no ansible-playbook process is found (a module run on a remote host), the module's
  parent process stands in, which differs between tasks: pass ``holder`` there.

A killed job never gives its lease back. When the holder's ansible-playbook process ran on
this machine (the same kernel boot and the same process namespace, so /proc shows it), a
later run can see that it is gone and take the lease at once: ``process_identity`` is
kept in the Lease, ``holder_alive`` judges it. Elsewhere (an AWX job's pod, another
machine) nothing can be seen, and the lease is taken only once it expired or with takeover.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import getpass
import os
import socket

from ansible_collections.progressive.delivery.plugins.module_utils.lease.holding import show_time

MAX_ANCESTORS = 32


def awx_job(environ):
    """'AWX job 42 on https://awx.example.com' when the environment is an AWX job's."""
    job = environ.get("JOB_ID")
    if not job or not (environ.get("AWX_HOST") or environ.get("INVENTORY_ID")):
        return None
    text = "AWX job %s" % job
    if environ.get("AWX_HOST"):
        text += " on %s" % environ["AWX_HOST"]
    return text


def playbook_process(pid, read_process):
    """(pid, start epoch) of the outermost ansible-playbook process above ``pid``; Ansible's
    workers are forks of it and look the same, so the walk goes on to the top one. None
    when there is none. ``read_process(pid)`` -> (parent pid, argv, start epoch) or None."""
    found = None
    for unused in range(MAX_ANCESTORS):
        info = read_process(pid)
        if info is None:
            break
        parent, argv, started = info
        if any(os.path.basename(arg) == "ansible-playbook" for arg in argv[:3]):
            found = (pid, started)
        if parent in (0, 1, pid):
            break
        pid = parent
    return found


def default_holder(environ, read_process, pid, user=None, host=None, context=None):
    """The identity described above; ``context`` (the roles pass the inventory host) tells
    apart two releases of one job."""
    text = awx_job(environ)
    if text is None:
        user = user or environ.get("USER") or environ.get("LOGNAME") or "unknown"
        host = host or "localhost"
        found = playbook_process(pid, read_process)
        if found is not None:
            text = "%s@%s ansible-playbook pid %d started %s" % (
                user, host, found[0], show_time(found[1]))
        else:
            info = read_process(pid)
            parent = info[0] if info else pid
            text = "%s@%s pid %d" % (user, host, parent)
    if context:
        text += " (%s)" % context
    return text


def read_linux_process(pid, proc="/proc"):
    """(parent pid, argv, start epoch) from /proc, or None (no /proc, process gone)."""
    try:
        with open(os.path.join(proc, str(pid), "stat")) as handle:
            stat = handle.read()
        with open(os.path.join(proc, str(pid), "cmdline"), "rb") as handle:
            argv = [a.decode("utf-8", "replace") for a in handle.read().split(b"\0") if a]
        # the command name in parentheses may hold spaces: the fields follow the last ")"
        fields = stat[stat.rindex(")") + 2:].split()
        parent, start_ticks = int(fields[1]), int(fields[19])
        return parent, argv, _boot_time(proc) + start_ticks / float(os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


def _boot_time(proc):
    with open(os.path.join(proc, "stat")) as handle:
        for line in handle:
            if line.startswith("btime "):
                return int(line.split()[1])
    return 0


def this_holder(context=None):
    """default_holder for the running module."""
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry (containers with arbitrary uids)
        user = None
    return default_holder(os.environ, read_linux_process, os.getpid(), user=user,
                          host=socket.gethostname(), context=context)


def process_identity(pid, read_process, boot_id, pid_namespace):
    """What identifies the ansible-playbook process above ``pid`` on this machine, as a
    dict for the Lease (None when there is none): the kernel boot and process namespace it
    runs in, its pid and start time (a pid reused by a later process starts later)."""
    found = playbook_process(pid, read_process)
    if found is None or not boot_id or not pid_namespace:
        return None
    return dict(boot_id=boot_id, pid_namespace=pid_namespace, pid=found[0],
                start=round(found[1], 2))


def holder_alive(recorded, boot_id, pid_namespace, read_process):
    """False only when the holder's process is known to be gone: it ran in this boot and
    this process namespace, and its pid is not running, or runs a later process. True when
    that cannot be seen from here (another machine, container, or nothing recorded)."""
    if not isinstance(recorded, dict) or not recorded.get("pid"):
        return True
    if recorded.get("boot_id") != boot_id or recorded.get("pid_namespace") != pid_namespace:
        return True
    info = read_process(recorded["pid"])
    return info is not None and round(info[2], 2) == recorded.get("start")


def _first_line(path):
    try:
        with open(path) as handle:
            return handle.readline().strip() or None
    except OSError:
        return None


def _pid_namespace():
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


class ThisMachine(object):
    """The running module's view of processes: its playbook process, and whether a
    recorded holder's process still runs."""

    def __init__(self):
        self.boot_id = _first_line("/proc/sys/kernel/random/boot_id")
        self.pid_namespace = _pid_namespace()

    def identity(self):
        return process_identity(os.getpid(), read_linux_process, self.boot_id,
                                self.pid_namespace)

    def alive(self, recorded):
        return holder_alive(recorded, self.boot_id, self.pid_namespace, read_linux_process)
