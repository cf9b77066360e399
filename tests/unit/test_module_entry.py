"""module_entry's checks that run before any request."""
import os

from ansible_collections.progressive.delivery.plugins.module_utils.module_entry import (
    missing_kubeconfig_file,
)


def test_a_list_of_existing_kubeconfig_files_is_accepted(tmp_path):
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("{}")
    second.write_text("{}")
    assert missing_kubeconfig_file(str(first) + os.pathsep + str(second)) is None


def test_the_missing_file_of_a_list_is_named_by_folder_and_name(tmp_path):
    first = tmp_path / "a.yaml"
    first.write_text("{}")
    value = str(first) + os.pathsep + str(tmp_path / "gone.yaml")
    assert missing_kubeconfig_file(value) == "kubeconfig: there is no file 'gone.yaml' in %s" % tmp_path


def test_a_kubeconfig_given_as_a_dict_or_not_given_is_not_a_file():
    assert missing_kubeconfig_file({"clusters": []}) is None
    assert missing_kubeconfig_file(None) is None
