"""zip_import: modules in a zip (as Ansible ships them) are compiled once, and look exactly as
the zip importer would make them (names, __file__, __path__, tracebacks with source lines).
Each case runs in a fresh interpreter so the test run's own import system is untouched."""

import json
import os
import subprocess
import sys
import textwrap
import zipfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
ZIP_IMPORT = os.path.join(ROOT, "plugins", "module_utils", "zip_import.py")

PACKAGE = {
    "pdzt/__init__.py": "",
    "pdzt/a.py": "VALUE = 1\n\n\ndef fail():\n    raise ValueError('from a')  # the line\n",
    "pdzt/sub/__init__.py": "from pdzt.sub import b  # noqa\n",
    "pdzt/sub/b.py": "from pdzt import a\n\nVALUE = a.VALUE + 1\n",
}

# Imports pdzt.sub (and through it pdzt.sub.b and pdzt.a) and reports what it saw.
PROBE = textwrap.dedent("""
    import builtins, json, sys, traceback
    archive, zip_import_path, install = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
    compiled = {}
    real_compile = builtins.compile

    def counting_compile(source, filename, *args, **kwargs):
        if archive in str(filename):
            compiled[filename] = compiled.get(filename, 0) + 1
        return real_compile(source, filename, *args, **kwargs)

    builtins.compile = counting_compile
    sys.path.insert(0, archive)
    if install:
        import importlib.util
        spec = importlib.util.spec_from_file_location("zip_import", zip_import_path)
        zip_import = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(zip_import)
        zip_import.install("pdzt.")
    import pdzt.sub
    import pdzt.a
    try:
        pdzt.a.fail()
    except ValueError:
        tb = traceback.format_exc()
    mods = dict((n, dict(file=m.__file__, path=getattr(m, "__path__", None),
                         loader=type(m.__loader__).__name__, package=m.__package__))
                for n, m in sys.modules.items() if n.startswith("pdzt"))
    print(json.dumps(dict(compiled=compiled, modules=mods, traceback=tb,
                          value=pdzt.sub.b.VALUE)))
""")


@pytest.fixture
def archive(tmp_path):
    path = str(tmp_path / "payload.zip")
    with zipfile.ZipFile(path, "w") as handle:
        for name, text in PACKAGE.items():
            handle.writestr(name, text)
    return path


def probe(archive, install):
    out = subprocess.run([sys.executable, "-c", PROBE, archive, ZIP_IMPORT, "1" if install else "0"],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def test_each_module_in_the_zip_is_compiled_once(archive):
    seen = probe(archive, install=True)
    submodules = ["pdzt/a.py", "pdzt/sub/__init__.py", "pdzt/sub/b.py"]
    for name in submodules:
        assert seen["compiled"][archive + "/" + name] == 1, seen["compiled"]
    assert seen["value"] == 2


def test_the_zip_importer_alone_compiles_them_twice(archive):
    """Why the finder exists: Python's zip importer compiles a module to tell its file name."""
    seen = probe(archive, install=False)
    assert seen["compiled"][archive + "/pdzt/sub/b.py"] == 2, seen["compiled"]


def test_modules_look_as_the_zip_importer_makes_them(archive):
    plain, fast = probe(archive, install=False), probe(archive, install=True)
    for name in ("pdzt.a", "pdzt.sub", "pdzt.sub.b"):
        assert fast["modules"][name]["loader"] == "ZipSourceLoader"
        assert plain["modules"][name]["loader"] == "zipimporter"
        for key in ("file", "path", "package"):
            assert fast["modules"][name][key] == plain["modules"][name][key], (name, key)
    # The top-level package (no parent path) is left to the zip importer.
    assert fast["modules"]["pdzt"]["loader"] == "zipimporter"
    assert fast["traceback"] == plain["traceback"]
    assert "raise ValueError('from a')  # the line" in fast["traceback"]
    assert archive + "/pdzt/a.py\", line 5" in fast["traceback"]


def test_not_installed_when_loaded_from_disk():
    """In the unit tests (and a collection on disk) importing it changes nothing."""
    from ansible_collections.progressive.delivery.plugins.module_utils import zip_import

    assert not [f for f in sys.meta_path if isinstance(f, zip_import.ZipSourceFinder)]
    assert zip_import.ZipSourceFinder().find_spec(
        "ansible_collections.progressive.delivery.plugins.module_utils.k8s.client",
        [os.path.join(ROOT, "plugins", "module_utils", "k8s")]) is None


def test_the_collection_from_a_zip_loads_through_it(tmp_path):
    """The collection's module_utils zipped as Ansible zips them: importing zip_import first
    (as every module does) loads the rest compiled once."""
    path = str(tmp_path / "collection.zip")
    base = "ansible_collections/progressive/delivery/"
    with zipfile.ZipFile(path, "w") as handle:
        for package in ("ansible_collections/", "ansible_collections/progressive/", base,
                        base + "plugins/", base + "plugins/module_utils/"):
            handle.writestr(package + "__init__.py", "")
        for folder, unused, files in os.walk(os.path.join(ROOT, "plugins", "module_utils")):
            for name in files:
                if name.endswith(".py"):
                    full = os.path.join(folder, name)
                    handle.write(full, base + os.path.relpath(full, ROOT))
    code = textwrap.dedent("""
        import json, sys
        sys.path.insert(0, sys.argv[1])
        from ansible_collections.progressive.delivery.plugins.module_utils import zip_import
        from ansible_collections.progressive.delivery.plugins.module_utils import module_entry
        from ansible_collections.progressive.delivery.plugins.module_utils.bluegreen import backend
        print(json.dumps(dict((n, type(m.__loader__).__name__) for n, m in sys.modules.items()
                              if n.startswith("ansible_collections.progressive"))))
    """)
    loaders = json.loads(subprocess.run([sys.executable, "-c", code, path], capture_output=True,
                                        text=True, check=True).stdout)
    prefix = "ansible_collections.progressive.delivery.plugins.module_utils."
    assert loaders[prefix + "zip_import"] == "zipimporter"  # it is what installs the finder
    assert loaders[prefix + "k8s.client"] == "ZipSourceLoader"
    assert loaders[prefix + "bluegreen.backend"] == "ZipSourceLoader"
    others = [n for n, kind in loaders.items()
              if n.startswith(prefix) and n != prefix + "zip_import" and kind != "ZipSourceLoader"]
    assert not others
