"""k8s_bluegreen's input validation: every problem at once, each with its field path."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.bluegreen.validation import (
    validate,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.field_errors import (
    ValidationError,
)


def params(**overrides):
    base = dict(name="myapp", namespace="blue-green", version="v2", state="promoted",
                service="myapp-lan")
    base.update(overrides)
    return base


def test_validation_reports_every_problem_at_once():
    with pytest.raises(ValidationError) as err:
        validate(params(namespace="Bad_NS", version="v 2", app_labels={"version": "x"},
                        replicas=-1))
    fields = [e.path for e in err.value.errors]
    assert fields == ["namespace", "version", "app_labels.version", "replicas"]
    assert "'Bad_NS' is not a valid DNS-1123 label" in str(err.value)


def test_version_is_required_to_promote_but_not_to_roll_back():
    with pytest.raises(ValidationError, match="version: is required when state=promoted"):
        validate(params(version=None))
    assert validate(params(version=None, state="rolled_back")).version is None


def test_definition_namespace_mismatch_and_conflicting_labels():
    definition = {"metadata": {"namespace": "other"},
                  "spec": {"template": {"metadata": {"labels": {"app": "other", "version": "v9"}},
                                        "spec": {"containers": [{"name": "c", "image": "i"}]}}}}
    with pytest.raises(ValidationError) as err:
        validate(params(definition=definition))
    text = str(err.value)
    assert "definition.metadata.namespace: 'other' does not match namespace 'blue-green'" in text
    assert "definition.spec.template.metadata.labels.app: is 'other' but app_labels says" in text
    assert "labels.version: is 'v9' but version is 'v2'" in text


def test_invalid_preview_regex_is_rejected():
    with pytest.raises(ValidationError, match=r"ingress.preview_path: '/green\(' is not a valid"):
        validate(params(service=None, ingress={"name": "nginx", "preview_path": "/green("}))


def test_rewrite_target_needs_enough_capture_groups():
    with pytest.raises(ValidationError, match=r"uses \$2 but preview_path '/green/\(.\*\)' has"):
        validate(params(service=None, ingress={"name": "nginx", "preview_path": "/green/(.*)",
                                               "preview_rewrite_target": "/$2"}))


def test_rewrite_target_defaults_to_last_group():
    spec = validate(params(service=None, ingress={"name": "nginx",
                                                  "preview_path": "/green(/|$)(.*)"}))
    assert spec.ingress["preview_rewrite_target"] == "/$2"
    assert spec.ingress["preview_ingress"] == "nginx-preview"


def test_promote_needs_a_service_or_an_ingress():
    with pytest.raises(ValidationError, match="needs a live Service"):
        validate(params(service=None))


def test_preview_service_must_differ_from_live():
    with pytest.raises(ValidationError, match="is the live Service"):
        validate(params(preview_service="myapp-lan"))
