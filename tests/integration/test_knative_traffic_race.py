"""knative_traffic against other writers of the same Knative Service, on the testbed.

A client updating an unrelated annotation every 20 ms must not make the module lose (its
write is conditional on spec.traffic only, not on the resourceVersion); a real change of
spec.traffic between the module's read and its write must not be overwritten unseen (the
write's JSON patch test fails on the API server, the module reads again, checks and plans
again on the other block and warns; a block that keeps changing ends in a failure)."""

import threading

import pytest

from test_knative_traffic import (
    IMAGE_GO,
    create_service,
    ensure_knative,
    ok,
    template,
    traffic,
    update_template,
    wait_latest_created,
    wait_ready,
)

from ansible_collections.progressive.delivery.plugins.module_utils.engine import ConflictError
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    JSON_PATCH,
    MERGE_PATCH,
)
from ansible_collections.progressive.delivery.plugins.module_utils.knative import common as kn
from ansible_collections.progressive.delivery.plugins.module_utils.knative.traffic_backend import (
    run_traffic,
)
from ansible_collections.progressive.delivery.plugins.module_utils.knative.traffic_validation import (
    validate,
)

pytestmark = pytest.mark.reliability

SVC = "race"
R1, R2 = SVC + "-00001", SVC + "-00002"


@pytest.fixture(scope="module")
def knative(kubeconfig):
    return ensure_knative(kubeconfig)


def two_revisions(kube, namespace):
    create_service(kube, namespace, SVC, template(IMAGE_GO, {"TARGET": "One"}))
    wait_ready(kube, kn.KSERVICE, namespace, SVC)
    update_template(kube, kn.KSERVICE, namespace, SVC, template(IMAGE_GO, {"TARGET": "Two"}))
    wait_latest_created(kube, kn.KSERVICE, namespace, SVC, R2)
    return wait_ready(kube, kn.KSERVICE, namespace, SVC)


def split(first, second):
    return [{"revision": R1, "percent": first}, {"revision": R2, "percent": second}]


def pinned(obj):
    return [(e.get("revisionName"), e.get("percent", 0)) for e in obj["spec"]["traffic"]]


def test_an_annotation_writer_every_20ms_does_not_make_the_module_lose(knative, namespace):
    kube = knative
    two_revisions(kube, namespace)
    stop = threading.Event()
    count = [0]
    errors = []

    def annotate():
        """Another client (CI stamping a build number, say) patching one annotation."""
        while not stop.is_set():
            count[0] += 1
            try:
                kube.patch(kn.KSERVICE, namespace, SVC, {"metadata": {"annotations": {
                    "ci.example.com/build": str(count[0])}}}, MERGE_PATCH)
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
                return
            stop.wait(0.02)

    thread = threading.Thread(target=annotate, daemon=True)
    thread.start()
    try:
        before = count[0]
        results = [traffic(namespace, service=SVC, traffic=split(first, 100 - first))
                   for first in (90, 50, 10, 100)]
    finally:
        stop.set()
        thread.join(5)
    assert not errors, errors
    assert count[0] - before > 20, "the other writer wrote %d times" % (count[0] - before)
    for result, first in zip(results, (90, 50, 10, 100)):
        ok(result)
        assert result["changed"] and "warnings" not in result, result
        assert [(e["revision"], e["percent"]) for e in result["traffic"]] == [
            (R1, first), (R2, 100 - first)]
    svc = kube.get(kn.KSERVICE, namespace, SVC)
    assert pinned(svc) == [(R1, 100), (R2, 0)]
    assert kn.is_ready(svc)
    assert svc["metadata"]["annotations"]["ci.example.com/build"] == str(count[0])


class ChangesTrafficBeforeWrites(object):
    """The real client, but before each of our first ``times`` writes of spec.traffic
    another client changes the block (a person running `kn service update --traffic`)."""

    def __init__(self, kube, namespace, blocks):
        self.kube, self.namespace, self.blocks = kube, namespace, list(blocks)
        self.their_writes = []

    def __getattr__(self, name):
        return getattr(self.kube, name)

    def patch(self, resource, namespace, name, patch, content_type=MERGE_PATCH, **kw):
        if content_type == JSON_PATCH and self.blocks:
            theirs = self.blocks.pop(0)
            self.kube.patch(resource, namespace, name, {"spec": {"traffic": theirs}})
            self.their_writes.append(theirs)
        return self.kube.patch(resource, namespace, name, patch, content_type, **kw)


def spec_for(namespace, traffic_targets):
    return validate(dict(namespace=namespace, service=SVC, traffic=traffic_targets,
                         kind="Service"), strict=False)


def test_a_concurrent_change_of_the_block_is_seen_and_planned_again(knative, namespace):
    """Re-plans: the API server refuses the write whose block changed since it was read;
    the module reads their block, checks the request against it and writes, saying so."""
    kube = knative
    two_revisions(kube, namespace)
    theirs = [{"revisionName": R1, "latestRevision": False, "percent": 100}]
    racing = ChangesTrafficBeforeWrites(kube, namespace, [theirs])
    result = run_traffic(racing, spec_for(namespace, split(30, 70)), wait_timeout=60)
    assert racing.their_writes == [theirs]
    assert result["previous_traffic"] == theirs
    assert len(result["warnings"]) == 1
    assert "spec.traffic was changed by another writer while this call was writing it " \
        "([@latest 100%%] -> [%s 100%%])" % R1 in result["warnings"][0], result["warnings"]
    assert pinned(kube.get(kn.KSERVICE, namespace, SVC)) == [(R1, 30), (R2, 70)]


def test_a_block_that_keeps_changing_is_never_overwritten(knative, namespace):
    """Fails: another writer changing spec.traffic before every attempt wins every time;
    the module gives up naming the object and leaves their last block in place."""
    kube = knative
    two_revisions(kube, namespace)
    blocks = [[{"revisionName": R1, "latestRevision": False, "percent": 100 - n},
               {"revisionName": R2, "latestRevision": False, "percent": n}]
              for n in range(1, 6)]
    racing = ChangesTrafficBeforeWrites(kube, namespace, blocks)
    with pytest.raises(ConflictError) as err:
        run_traffic(racing, spec_for(namespace, split(50, 50)), wait_timeout=60)
    assert "Service %s/%s was changed by another writer 4 times" % (namespace, SVC) in \
        str(err.value)
    last = racing.their_writes[-1]
    svc = kube.get(kn.KSERVICE, namespace, SVC)
    assert pinned(svc) == [(e["revisionName"], e["percent"]) for e in last]
