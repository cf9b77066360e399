"""Every module's DOCUMENTATION, EXAMPLES and RETURN is YAML that parses: a colon followed
by a space inside a description turns it into a mapping and ansible-doc then shows nothing
for the module (ansible-test sanity finds it too, minutes later in CI)."""

import ast
import pathlib

import pytest
import yaml

MODULES = sorted((pathlib.Path(__file__).resolve().parents[2] / "plugins" / "modules").glob("*.py"))


def doc_blocks(path):
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and \
                getattr(node.targets[0], "id", None) in ("DOCUMENTATION", "EXAMPLES", "RETURN"):
            yield node.targets[0].id, node.value.value


@pytest.mark.parametrize("path", MODULES, ids=[p.stem for p in MODULES])
def test_documentation_examples_and_return_parse(path):
    blocks = dict(doc_blocks(path))
    assert sorted(blocks) == ["DOCUMENTATION", "EXAMPLES", "RETURN"]
    for name, text in blocks.items():
        try:
            parsed = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            pytest.fail("%s %s: %s" % (path.name, name, exc), pytrace=False)
        assert parsed, "%s %s is empty" % (path.name, name)
    assert yaml.safe_load(blocks["DOCUMENTATION"])["module"] == path.stem
