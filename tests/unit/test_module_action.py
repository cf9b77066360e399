"""The action plugin's choices (run a module in the task's worker process, or as its own
process) and its call of a module's main(): the arguments as AnsibleModule reads them, the
result as the module prints it, the environment given back."""
import json
import os
import sys

from ansible.module_utils import basic
from ansible.module_utils.basic import AnsibleModule

from ansible_collections.progressive.delivery.plugins.plugin_utils.module_action import (
    call_main,
    encode_arguments,
    environment,
    interpreter_of,
    preload,
    same_python,
    why_not_here,
)

HERE = sys.executable


def same(value):
    return value


# --- which Python the host runs modules with ------------------------------------------
def test_the_host_variable_names_the_interpreter():
    assert interpreter_of({"ansible_python_interpreter": "/opt/py/bin/python"}, None, same) == "/opt/py/bin/python"


def test_a_delegated_task_uses_the_delegate_hosts_interpreter():
    task_vars = {"ansible_python_interpreter": "/controller/python",
                 "ansible_delegated_vars": {"k8s-admin": {"ansible_python_interpreter": "/admin/python"}}}
    assert interpreter_of(task_vars, "k8s-admin", same) == "/admin/python"
    assert interpreter_of({"ansible_python_interpreter": "/controller/python"}, "elsewhere", same) is None


def test_an_interpreter_left_to_discovery_is_unknown_until_discovered(monkeypatch):
    monkeypatch.delenv("ANSIBLE_PYTHON_INTERPRETER", raising=False)
    assert interpreter_of({}, None, same) is None
    discovered = {"ansible_facts": {"discovered_interpreter_python": "/usr/bin/python3"}}
    assert interpreter_of(discovered, None, same) == "/usr/bin/python3"


def test_the_interpreter_setting_counts_when_the_host_sets_none(monkeypatch):
    monkeypatch.setenv("ANSIBLE_PYTHON_INTERPRETER", "/from/the/setting/python")
    assert interpreter_of({}, None, same) == "/from/the/setting/python"


def test_the_interpreter_is_templated():
    task_vars = {"ansible_python_interpreter": "{{ ansible_playbook_python }}"}
    assert interpreter_of(task_vars, None, lambda v: v.replace("{{ ansible_playbook_python }}", HERE)) == HERE


# --- the same Python ----------------------------------------------------------------------
def test_the_controllers_own_python_is_the_same():
    assert same_python(HERE, HERE)
    assert same_python(os.path.join(os.path.dirname(HERE), ".", os.path.basename(HERE)), HERE)


def test_a_link_in_the_same_folder_is_the_same_python(tmp_path):
    real = tmp_path / "python3.11"
    real.write_text("")
    (tmp_path / "python").symlink_to(real)
    assert same_python(str(tmp_path / "python"), str(real))


def test_a_venv_reached_through_a_link_is_the_same_python(tmp_path):
    real = tmp_path / "venv" / "bin"
    real.mkdir(parents=True)
    (real / "python").write_text("")
    (tmp_path / "linked-venv").symlink_to(tmp_path / "venv")
    assert same_python(str(tmp_path / "linked-venv" / "bin" / "python"), str(real / "python"))


def test_the_file_a_venv_links_to_is_another_python(tmp_path):
    # a venv's bin/python -> /usr/bin/python3.11: the same file, other packages
    base = tmp_path / "usr" / "bin"
    base.mkdir(parents=True)
    (base / "python3.11").write_text("")
    venv_bin = tmp_path / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "python").symlink_to(base / "python3.11")
    assert not same_python(str(base / "python3.11"), str(venv_bin / "python"))
    assert not same_python(str(venv_bin / "python"), str(base / "python3.11"))


def test_no_interpreter_is_not_the_same_python():
    assert not same_python(None, HERE)
    assert not same_python("", HERE)


# --- when the module runs here ---------------------------------------------------------------
def test_a_local_task_with_the_controllers_python_runs_here():
    assert why_not_here("local", None, 0, HERE, None) is None
    assert why_not_here("local", None, 0, HERE, True) is None
    assert why_not_here("local", None, 0, HERE, "yes") is None


def test_each_reason_to_run_the_module_as_its_own_process():
    assert why_not_here("local", None, 0, HERE, False) == "progressive_delivery_in_process is false"
    assert why_not_here("local", None, 0, HERE, "no") == "progressive_delivery_in_process is false"
    assert why_not_here("ssh", None, 0, HERE, None) == "the connection is ssh"
    assert why_not_here("local", True, 0, HERE, None) == "the task uses become"
    assert why_not_here("local", None, 30, HERE, None) == "the task is async"
    assert why_not_here("local", None, 0, "/usr/bin/python3", None) == (
        "the host's Python (/usr/bin/python3) is not the controller's (%s)" % HERE)
    assert why_not_here("local", None, 0, None, None).startswith("the host's Python (None)")


# --- the call --------------------------------------------------------------------------------
def echo_main():
    module = AnsibleModule(argument_spec=dict(name=dict(type="str", required=True),
                                              token=dict(type="str", no_log=True)),
                           supports_check_mode=True)
    if module.params["name"] == "boom":
        raise RuntimeError("unexpected")
    if module.params["name"] == "bad":
        module.fail_json(msg="bad name: %s" % module.params["name"])
    module.exit_json(changed=not module.check_mode, name=module.params["name"],
                     check_mode=module.check_mode, diff_mode=module._diff,
                     seen=os.environ.get("PD_UNIT_ENV"), token_echo=module.params["token"])


def internal(**extra):
    args = dict(_ansible_check_mode=False, _ansible_diff=False, _ansible_no_log=False,
                _ansible_verbosity=0, _ansible_tmpdir=None, _ansible_keep_remote_files=False,
                _ansible_remote_tmp="/tmp")
    args.update(extra)
    return args


def result_of(out):
    return json.loads(out.strip().splitlines()[-1])


def test_the_module_gets_its_arguments_and_flags_and_prints_its_result():
    code, out, err = call_main(echo_main, encode_arguments(dict(internal(_ansible_check_mode=True, _ansible_diff=True),
                                                                name="web")))
    assert code == 0, err
    result = result_of(out)
    assert result["name"] == "web" and result["check_mode"] is True and result["diff_mode"] is True
    assert result["changed"] is False


def test_a_failed_module_exits_1_with_its_message():
    code, out, _err = call_main(echo_main, encode_arguments(dict(internal(), name="bad")))
    assert code == 1
    assert result_of(out)["msg"] == "bad name: bad" and result_of(out)["failed"] is True


def test_invalid_arguments_are_the_modules_own_error():
    code, out, _err = call_main(echo_main, encode_arguments(dict(internal(), name="web", nmae="typo")))
    assert code == 1
    assert "nmae" in result_of(out)["msg"]


def test_an_unexpected_exception_is_a_failure_with_its_traceback():
    code, out, err = call_main(echo_main, encode_arguments(dict(internal(), name="boom")))
    assert code == 1 and out == ""
    assert "RuntimeError: unexpected" in err and "Traceback" in err


def test_no_log_values_are_masked_in_the_result():
    code, out, _err = call_main(echo_main, encode_arguments(dict(internal(), name="web", token="s3cr3t-value")))
    assert code == 0
    assert "s3cr3t-value" not in out


def test_the_arguments_of_one_call_do_not_stay_for_the_next():
    before = basic._ANSIBLE_ARGS
    call_main(echo_main, encode_arguments(dict(internal(), name="first")))
    assert basic._ANSIBLE_ARGS is before
    code, out, _err = call_main(echo_main, encode_arguments(dict(internal(), name="second")))
    assert code == 0 and result_of(out)["name"] == "second"


def test_the_tasks_environment_is_seen_and_then_given_back(monkeypatch):
    monkeypatch.delenv("PD_UNIT_ENV", raising=False)
    monkeypatch.setenv("PD_UNIT_KEPT", "1")
    with environment({"PD_UNIT_ENV": "from-the-task", "PD_UNIT_KEPT": 2}):
        code, out, _err = call_main(echo_main, encode_arguments(dict(internal(), name="web")))
        assert os.environ["PD_UNIT_KEPT"] == "2"
    assert code == 0 and result_of(out)["seen"] == "from-the-task"
    assert "PD_UNIT_ENV" not in os.environ and os.environ["PD_UNIT_KEPT"] == "1"


def test_preload_imports_what_it_names_and_passes_over_what_this_ansible_lacks(monkeypatch):
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    preload(("colorsys", "ansible.module_utils._no_such_module_"))
    assert "colorsys" in sys.modules


def test_the_canary_step_action_preloads_the_backends_its_module_imports_on_use():
    from ansible_collections.progressive.delivery.plugins.action import canary_step  # noqa: F401
    from ansible_collections.progressive.delivery.plugins.module_utils.canary.step_traffic import (
        LAZY_IMPORTS,
    )
    import ast
    import importlib.util
    import os
    # every import made inside a function of the step's code is among them
    package = "ansible_collections.progressive.delivery.plugins.module_utils.canary"
    folder = os.path.dirname(importlib.import_module(package + ".step_traffic").__file__)
    lazy = set()
    for source in ("step_traffic.py", "step_prepare.py", "step_run.py"):
        with open(os.path.join(folder, source)) as handle:
            tree = ast.parse(handle.read())
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.ImportFrom) and node.module.startswith("ansible_collections"):
                    for alias in node.names:
                        name = "%s.%s" % (node.module, alias.name)
                        # ``from package import module`` or ``from module import name``
                        # (found without importing the module itself)
                        spec = importlib.util.find_spec(node.module)
                        lazy.add(name if spec.submodule_search_locations else node.module)
    assert lazy and sorted(name for name in lazy if name not in sys.modules) == []
    assert sorted(name for name in LAZY_IMPORTS if name not in sys.modules) == []
