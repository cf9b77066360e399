# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action every module of this collection runs through.

A module task normally costs a new Python process: Ansible packs the module and its
module_utils into a zip, writes it out, starts an interpreter, which unpacks and imports
it all again; about 0.3-0.5 s before the module's first request, per task, for work that
is often a tenth of that. When the task runs on the controller itself (a ``local``
connection, no ``become``, no ``async``) with the controller's own Python, nothing of that
is needed: this action runs the module's ``main()`` in the task's worker process, which is
Ansible's own fork for this one task, so nothing the module does outlives the task. The
module itself is unchanged: it gets its arguments and check/diff flags the way
AnsibleModule reads them and returns its result as JSON, which is parsed as Ansible parses
a module's output.

Anything else runs the module the usual way, as does every task when the variable
``progressive_delivery_in_process`` is false. ``-vvv`` says which way a task ran.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import importlib
import inspect
import io
import json
import os
import ssl
import sys
import traceback

from ansible import constants as C
from ansible.module_utils import basic
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible.vars.clean import remove_internal_keys

try:  # ansible-core 2.19 and later: arguments and results pass through a serialization profile
    from ansible.module_utils.common.json import Direction, get_module_encoder
    LEGACY_ENCODER = None
except ImportError:  # ansible-core 2.16-2.18
    from ansible.module_utils.common.json import AnsibleJSONEncoder as LEGACY_ENCODER
    Direction = get_module_encoder = None

display = Display()
# ansible-core 2.19 parses a module's output with the module's serialization profile
PROFILE_ARGUMENT = "profile" in inspect.signature(ActionBase._parse_returned_data).parameters

SWITCH = "progressive_delivery_in_process"
PROFILE = "legacy"  # the profile of a module that declares none, as these modules


def preload(names):
    """Import ``names`` in this process. ansible-playbook imports the action plugins before
    it forks a task's worker; what they import, each worker finds imported. Modules import
    some of what they use only when a call needs it (a module process then loads just
    that); an action plugin preloads those, or every worker would import them again."""
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:  # not in this ansible-core (the 2.19 serialization profiles)
            pass


# What every module call imports on first use: ansible-core 2.19's legacy serialization
# profile (the arguments in, the result out) and the parser of time strings.
preload(("ansible.module_utils._internal._json._profiles._module_legacy_c2m",
         "ansible.module_utils._internal._json._profiles._module_legacy_m2c",
         "_strptime"))
# OpenSSL sets itself up in a process on its first TLS context: once here, not in every
# worker (measured: a worker's first client 1.4 ms faster).
ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def interpreter_of(task_vars, delegate_to, template):
    """The Python the task's host runs modules with, as Ansible finds it: the host's
    ``ansible_python_interpreter``, else the ``interpreter_python`` setting, else the one
    discovered on the host by an earlier task. None when it is still to be discovered."""
    host_vars = task_vars
    if delegate_to:
        host_vars = (task_vars.get("ansible_delegated_vars") or {}).get(delegate_to) or {}
    value = host_vars.get("ansible_python_interpreter")
    if not value:
        value = C.config.get_config_value("INTERPRETER_PYTHON", variables=host_vars)
    if not value or str(value).startswith("auto"):
        value = (host_vars.get("ansible_facts") or {}).get("discovered_interpreter_python")
    return template(value) if value else None


def same_python(interpreter, executable):
    """Whether ``interpreter`` is ``executable``: the same file, run from the same folder
    (folders compared as they resolve: a venv reached through a link is the same venv).
    A venv's ``bin/python`` is a link to the Python the venv was made from, which is the
    same file with other packages; its ``python`` and ``python3`` are the same Python."""
    if not interpreter or not executable:
        return False
    interpreter = os.path.abspath(os.path.expanduser(str(interpreter)))
    executable = os.path.abspath(executable)
    return (os.path.realpath(os.path.dirname(interpreter)) == os.path.realpath(os.path.dirname(executable))
            and os.path.realpath(interpreter) == os.path.realpath(executable))


def why_not_here(connection, become, async_val, interpreter, switch):
    """Why the module must run as its own process; None when it can run in this one."""
    if switch is not None and not boolean(switch, strict=False):
        return "%s is false" % SWITCH
    if connection != "local":
        return "the connection is %s" % connection
    if become:
        return "the task uses become"
    if async_val:
        return "the task is async"
    if not same_python(interpreter, sys.executable):
        return "the host's Python (%s) is not the controller's (%s)" % (interpreter, sys.executable)
    return None


@contextlib.contextmanager
def environment(values):
    """os.environ with the task's ``environment:`` added, as the module process would get."""
    saved = dict(os.environ)
    os.environ.update({str(k): str(v) for k, v in values.items()})
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def encode_arguments(args):
    payload = {"ANSIBLE_MODULE_ARGS": args}
    if LEGACY_ENCODER is None:
        return json.dumps(payload, cls=get_module_encoder(PROFILE, Direction.CONTROLLER_TO_MODULE)).encode()
    return json.dumps(payload, cls=LEGACY_ENCODER, vault_to_text=True).encode()


def call_main(main, encoded_args):
    """Run a module's ``main()`` with its arguments; (exit code, stdout, stderr)."""
    saved = basic._ANSIBLE_ARGS, getattr(basic, "_ANSIBLE_PROFILE", None)
    basic._ANSIBLE_ARGS = encoded_args
    if hasattr(basic, "_ANSIBLE_PROFILE"):
        basic._ANSIBLE_PROFILE = PROFILE
    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception:  # what a module process would print as its traceback
        code = 1
        err.write(traceback.format_exc())
    finally:
        basic._ANSIBLE_ARGS = saved[0]
        if hasattr(basic, "_ANSIBLE_PROFILE"):
            basic._ANSIBLE_PROFILE = saved[1]
    return code, out.getvalue(), err.getvalue()


class ModuleAction(ActionBase):
    """Base of the collection's action plugins; MODULE is the module's short name."""

    MODULE = None
    MAIN = None
    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ModuleAction, self).run(tmp, task_vars)
        del tmp
        name = "progressive.delivery." + self.MODULE
        reason = why_not_here(
            getattr(self._connection, "transport", None),
            getattr(self._connection, "become", None) or self._play_context.become,
            self._task.async_val,
            interpreter_of(task_vars, self._task.delegate_to, self._templar.template),
            self._templar.template(task_vars.get(SWITCH)) if SWITCH in task_vars else None)
        if reason is None:
            display.vvv("%s runs in the task's worker process" % name)
            result.update(self._run_here(name, task_vars))
            return result
        display.vvv("%s runs as its own process: %s" % (name, reason))
        wrap_async = self._task.async_val and not self._connection.has_native_async
        result.update(self._execute_module(module_name=name, task_vars=task_vars, wrap_async=wrap_async))
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    def _run_here(self, name, task_vars):
        args = dict(self._task.args)
        self._update_module_args(name, args, task_vars)
        env = {}
        self._compute_environment_string(env)
        with environment(env):
            code, out, err = call_main(self.MAIN, encode_arguments(args))
        res = dict(rc=code, stdout=out, stderr=err)
        if PROFILE_ARGUMENT:
            data = self._parse_returned_data(res, PROFILE)
        else:
            data = self._parse_returned_data(res)
        remove_internal_keys(data)
        return data
