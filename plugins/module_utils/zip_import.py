# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Load this collection's module_utils from a module's zip compiling each file once.

Ansible runs a module from a zip of Python sources (AnsiballZ: no bytecode), so every file
the module imports is compiled in every module process. Python's zip importer compiles each
file twice: once when the import system asks it for the file's name (``get_filename``
compiles to find out) and again to run it. For the 20-40 files of a module here that is
25-35 ms of CPU of each module's start-up, spent twice.

Importing this module (each module does, before the collection's other imports) puts a
finder in front of the import system for this collection's modules only, and only when the
collection itself was loaded from a zip: it reads the source through the zip importer and
compiles it once. Names, ``__file__``, ``__path__`` and tracebacks are what the zip importer
gives. Anywhere else (unit tests, a collection on disk) importing it changes nothing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import sys
import zipimport
from importlib.machinery import ModuleSpec

PREFIX = "ansible_collections.progressive.delivery."


class ZipSourceLoader(object):
    """Runs one module's source from a zip, compiled once."""

    def __init__(self, fullname, filename, source, is_package):
        self.name = fullname
        self.path = filename
        self._source = source
        self._is_package = is_package

    def create_module(self, spec):
        return None  # the default module object

    def get_source(self, fullname):
        return self._source

    def get_filename(self, fullname):
        return self.path

    def is_package(self, fullname):
        return self._is_package

    def get_code(self, fullname):
        return compile(self._source, self.path, "exec", dont_inherit=True)

    def exec_module(self, module):
        exec(self.get_code(module.__name__), module.__dict__)


def _zip_importer(entry):
    """The zip importer of a path entry, cached where the import system caches it."""
    importer = sys.path_importer_cache.get(entry)
    if importer is None and entry not in sys.path_importer_cache:
        try:
            importer = zipimport.zipimporter(entry)
        except zipimport.ZipImportError:
            return None  # not in a zip: leave the entry to the import system
        sys.path_importer_cache[entry] = importer
    return importer if isinstance(importer, zipimport.zipimporter) else None


class ZipSourceFinder(object):
    """Finds the modules named ``prefix...`` in zip entries of their package's path."""

    def __init__(self, prefix=PREFIX):
        self.prefix = prefix

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith(self.prefix) or not path:
            return None
        for entry in path:
            importer = _zip_importer(entry)
            if importer is None:
                continue
            try:
                is_package = importer.is_package(fullname)
                source = importer.get_source(fullname)
                # The names the zip importer gives (archive/prefix/name[/__init__].py).
                location = "%s/%s%s" % (importer.archive, importer.prefix,
                                        fullname.rpartition(".")[2])
            except zipimport.ZipImportError:
                continue  # not in this entry
            except Exception:  # pylint: disable=broad-except
                return None  # a zip importer unlike the one this was written for: its way
            if source is None:
                return None  # bytecode only: the zip importer's business
            filename = location + ("/__init__.py" if is_package else ".py")
            spec = ModuleSpec(fullname, ZipSourceLoader(fullname, filename, source, is_package),
                              origin=filename, is_package=is_package)
            spec.has_location = True
            if is_package:
                spec.submodule_search_locations = [location]
            return spec
        return None


def install(prefix=PREFIX):
    """Put one ZipSourceFinder for ``prefix`` first in sys.meta_path; return it."""
    for finder in sys.meta_path:
        if isinstance(finder, ZipSourceFinder) and finder.prefix == prefix:
            return finder
    finder = ZipSourceFinder(prefix)
    sys.meta_path.insert(0, finder)
    return finder


if isinstance(getattr(__spec__, "loader", None), zipimport.zipimporter):
    install()
