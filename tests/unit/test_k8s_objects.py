"""Object shapes shared by backends."""

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.objects import (
    deployment_body,
    view_head,
)


def test_deployment_body_from_a_definition_or_a_pod_template():
    definition = {"metadata": {"name": "web"}, "spec": {"replicas": 2}}
    body = deployment_body(definition, None)
    assert body == {"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "web"}, "spec": {"replicas": 2}}
    body["spec"]["replicas"] = 5
    assert definition["spec"]["replicas"] == 2  # the user's value is not changed
    template = {"spec": {"containers": [{"name": "c", "image": "x"}]}}
    assert deployment_body(None, template) == {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {},
        "spec": {"template": template}}


def test_view_head_keeps_only_the_named_annotations():
    obj = {"kind": "Service", "metadata": {"name": "web", "annotations": {
        "progressive.delivery/live-version": "v2", "team": "shop"}}}
    assert view_head(obj, ("progressive.delivery/",)) == {
        "kind": "Service", "name": "web",
        "annotations": {"progressive.delivery/live-version": "v2"}}
    assert view_head({"kind": "X", "metadata": {"name": "y"}}, ("a/",)) == {
        "kind": "X", "name": "y"}


def test_copied_is_a_deep_copy_and_takes_what_pickle_cannot():
    from ansible_collections.progressive.delivery.plugins.module_utils.k8s.objects import copied
    obj = {"metadata": {"name": "web", "labels": {"app": "web"}}, "items": [{"a": [1, 2]}]}
    copy = copied(obj)
    assert copy == obj
    copy["metadata"]["labels"]["app"] = "shop"
    copy["items"][0]["a"].append(3)
    assert obj == {"metadata": {"name": "web", "labels": {"app": "web"}}, "items": [{"a": [1, 2]}]}
    unpicklable = {"f": lambda: 1}  # not an API object; copied the slow way
    assert copied(unpicklable)["f"] is unpicklable["f"]
