"""knative_traffic against the real Knative Serving controller on the testbed.

Seed 000 (standalone Configuration + Route, blue/green between two revisions) and seed 004
(a Knative Service: env and image updates make revisions; 50/50, 50/25/25; sums of 110
and 90 refused with nothing written), idempotence, check mode, and the rollback when a
forced split leaves the Route not Ready. The helpers at the top are shared with
test_knative_revision_report.py.
"""

import os
import subprocess
import sys

import pytest

from modules import run_module

from ansible_collections.progressive.delivery.plugins.module_utils.knative import common as kn
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.connection import (
    build_api_client,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import Kube
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.conditions import (
    Check,
    condition_is,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import wait_for

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TESTBED = os.path.join(REPO, "tests", "testbed", "testbed.py")
# The seeds' images: the testbed skips resolving gcr.io tags against a registry.
IMAGE_BLUE = "gcr.io/knative-samples/knative-route-demo:blue"
IMAGE_GREEN = "gcr.io/knative-samples/knative-route-demo:green"
IMAGE_GO = "gcr.io/knative-samples/helloworld-go"
IMAGE_RUST = "gcr.io/knative-samples/helloworld-rust"
NEVER_READY = {"testbed.progressive.delivery/readiness": "never"}
TIMEOUT = 120


@pytest.fixture(scope="session")
def knative(kubeconfig):
    return ensure_knative(kubeconfig)


def ensure_knative(kubeconfig):
    """Knative Serving on the testbed (`up --with knative` is idempotent); on kind the
    cluster must have it already."""
    if os.environ.get("PD_TESTBED") != "kind":
        res = subprocess.run([sys.executable, TESTBED, "up", "--with", "knative"],
                             capture_output=True, text=True, check=False)
        if res.returncode:
            pytest.fail("`testbed.py up --with knative` failed:\n%s\n%s"
                        % (res.stdout[-3000:], res.stderr[-3000:]), pytrace=False)
    kube = Kube(build_api_client({"kubeconfig": kubeconfig}))
    return kube


def container(image, env=None):
    body = {"image": image}
    if env:
        body["env"] = [{"name": k, "value": v} for k, v in sorted(env.items())]
    return body


def template(image, env=None, labels=None, annotations=None):
    meta = {}
    if labels:
        meta["labels"] = dict(labels)
    if annotations:
        meta["annotations"] = dict(annotations)
    body = {"spec": {"containers": [container(image, env)]}}
    if meta:
        body["metadata"] = meta
    return body


def create_configuration(kube, namespace, name, tpl):
    return kube.create(kn.CONFIGURATION, namespace, {
        "apiVersion": kn.CONFIGURATION.api_version, "kind": "Configuration",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"template": tpl}})


def create_service(kube, namespace, name, tpl):
    return kube.create(kn.KSERVICE, namespace, {
        "apiVersion": kn.KSERVICE.api_version, "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"template": tpl}})


def update_template(kube, resource, namespace, name, tpl):
    """A new template (as `kubectl apply` of an edited file, or `kn service update`)."""
    return kube.patch(resource, namespace, name, {"spec": {"template": tpl}})


def wait_ready(kube, resource, namespace, name, timeout=TIMEOUT):
    return wait_for(kube, resource, namespace, name, condition_is("Ready"), timeout)


def wait_latest_created(kube, resource, namespace, name, revision, timeout=TIMEOUT):
    """The Configuration/Service has created ``revision`` (after a template change)."""
    def created(obj):
        got = kn.status(obj).get("latestCreatedRevisionName")
        return Check(got == revision, "latestCreatedRevisionName is %s" % got)
    return wait_for(kube, resource, namespace, name, created, timeout)


def traffic(namespace, check=False, diff=False, **params):
    params.setdefault("wait_timeout", TIMEOUT)
    return run_module("knative_traffic", check=check, diff=diff, namespace=namespace, **params)


def revision_info(namespace, check=False, **params):
    return run_module("knative_revision_info", check=check, namespace=namespace, **params)


def ok(result):
    assert not result.get("failed"), result.get("msg") or result
    return result


def split_of(obj):
    """status.traffic as (revision, percent, tag) triples."""
    return [(e.get("revisionName"), int(e.get("percent") or 0), e.get("tag"))
            for e in kn.status(obj).get("traffic") or []]


def spec_split(obj):
    return [(e.get("revisionName") or "@latest", int(e.get("percent") or 0), e.get("tag"))
            for e in (obj.get("spec") or {}).get("traffic") or []]


def result_split(result):
    return [(e["revision"], e["percent"], e["tag"]) for e in result["traffic"]]


def rv(obj):
    return obj["metadata"]["resourceVersion"]


def target(revision, percent, tag=None):
    item = {"revision": revision, "percent": percent}
    if tag:
        item["tag"] = tag
    return item


# ---------------------------------------------------------------------------
# seed 000: Configuration + standalone Route
# ---------------------------------------------------------------------------
APP = "blue-green-demo"


def blue_live(kube, namespace):
    """Revision 1 (blue) behind a new Route at 100%, as the first steps of seed 000."""
    create_configuration(kube, namespace, APP, template(IMAGE_BLUE, {"T_VERSION": "blue"}))
    result = ok(traffic(namespace, route=APP, traffic=[target("@latest_created", 100)]))
    return result


def green_created(kube, namespace, tpl=None):
    update_template(kube, kn.CONFIGURATION, namespace, APP,
                    tpl or template(IMAGE_GREEN, {"T_VERSION": "green"}))
    wait_latest_created(kube, kn.CONFIGURATION, namespace, APP, APP + "-00002")
    return APP + "-00002"


def test_seed000_blue_green_between_two_revisions(knative, namespace):
    kube = knative
    # revision 1 at 100%: the Route does not exist yet and is created with that block
    step1 = blue_live(kube, namespace)
    blue = APP + "-00001"
    assert step1["changed"] and step1["actions"][0].startswith("create Route")
    assert result_split(step1) == [(blue, 100, None)]
    route = kube.get(kn.ROUTE, namespace, APP)
    assert spec_split(route) == [(blue, 100, None)]
    assert split_of(route) == [(blue, 100, None)]
    assert kn.is_ready(route)
    url = step1["url"]
    assert url.startswith("http://%s.%s." % (APP, namespace)), url
    assert url == kn.status(route)["url"]

    # revision 2 at 0% with tag v2 and its own URL v2-<route>.<ns>.<domain>
    green = green_created(kube, namespace)
    step2 = ok(traffic(namespace, route=APP, traffic=[
        target(blue, 100), target("@latest_created", 0, "v2")]))
    assert result_split(step2) == [(blue, 100, None), (green, 0, "v2")]
    v2_url = url.replace("http://", "http://v2-", 1)
    assert step2["tag_urls"] == {"v2": v2_url}
    route = kube.get(kn.ROUTE, namespace, APP)
    assert split_of(route) == [(blue, 100, None), (green, 0, "v2")]
    assert [e.get("url") for e in kn.status(route)["traffic"]] == [None, v2_url]

    # 50/50
    step3 = ok(traffic(namespace, route=APP, traffic=[
        target(blue, 50), target(green, 50, "v2")]))
    assert result_split(step3) == [(blue, 50, None), (green, 50, "v2")]
    assert split_of(kube.get(kn.ROUTE, namespace, APP)) == [(blue, 50, None), (green, 50, "v2")]

    # 100% to revision 2, tag v1 kept on revision 1 (tag v2 dropped)
    final = [target(blue, 0, "v1"), target(green, 100)]
    step4 = ok(traffic(namespace, route=APP, traffic=final))
    assert result_split(step4) == [(blue, 0, "v1"), (green, 100, None)]
    assert step4["tag_urls"] == {"v1": url.replace("http://", "http://v1-", 1)}
    route = kube.get(kn.ROUTE, namespace, APP)
    assert split_of(route) == [(blue, 0, "v1"), (green, 100, None)]

    # the same call again changes nothing, writes nothing
    again = ok(traffic(namespace, route=APP, traffic=final))
    assert again["changed"] is False and again["actions"] == []
    assert rv(kube.get(kn.ROUTE, namespace, APP)) == rv(route)

    # rollback: everything back to revision 1 in one write
    back = ok(traffic(namespace, route=APP, traffic=[target(blue, 100),
                                                     target(green, 0, "v2")]))
    assert back["changed"]
    route = kube.get(kn.ROUTE, namespace, APP)
    assert split_of(route) == [(blue, 100, None), (green, 0, "v2")]


def test_check_mode_writes_nothing_and_diff_shows_the_block(knative, namespace):
    kube = knative
    blue_live(kube, namespace)
    green = green_created(kube, namespace)
    wait_ready(kube, kn.REVISION, namespace, green)
    before = kube.get(kn.ROUTE, namespace, APP)
    result = ok(traffic(namespace, check=True, diff=True, route=APP, traffic=[
        target(APP + "-00001", 50), target("@latest_created", 50, "v2")]))
    assert result["changed"] is True
    assert result_split(result) == [(APP + "-00001", 50, None), (green, 50, "v2")]
    assert result["diff"]["before"]["spec"]["traffic"] == before["spec"]["traffic"]
    assert [e["percent"] for e in result["diff"]["after"]["spec"]["traffic"]] == [50, 50]
    after = kube.get(kn.ROUTE, namespace, APP)
    assert rv(after) == rv(before)
    assert after["spec"] == before["spec"]


def test_not_ready_revision_is_refused_then_forced_and_rolled_back(knative, namespace):
    kube = knative
    blue_live(kube, namespace)
    # revision 2's pods never become ready on the testbed
    green = green_created(kube, namespace, template(IMAGE_GREEN, {"T_VERSION": "green"},
                                                    labels=NEVER_READY))
    before = kube.get(kn.ROUTE, namespace, APP)
    refused = traffic(namespace, route=APP, wait_timeout=5, traffic=[
        target(APP + "-00001", 50), target(green, 50, "v2")])
    assert refused.get("failed")
    assert "traffic[1].revision: revision '%s' is not Ready" % green in refused["msg"]
    assert "cannot receive 50%" in refused["msg"]
    assert rv(kube.get(kn.ROUTE, namespace, APP)) == rv(before)

    # at 0% with a tag it may be referenced ...
    # ... but forcing 50% leaves the Route not Ready: the module puts the block back
    forced = traffic(namespace, route=APP, force=True, wait_timeout=15, traffic=[
        target(APP + "-00001", 50), target(green, 50, "v2")])
    assert forced.get("failed"), forced
    assert "did not become Ready" in forced["msg"]
    assert "was put back" in forced["msg"], forced["msg"]
    assert forced["rolled_back"] is True
    route = wait_ready(kube, kn.ROUTE, namespace, APP)
    assert spec_split(route) == [(APP + "-00001", 100, None)]
    assert split_of(route) == [(APP + "-00001", 100, None)]


def test_failed_revision_is_refused_and_forcing_it_is_undone(knative, namespace):
    kube = knative
    blue_live(kube, namespace)
    # never-ready pods and an 8 s progress deadline: Knative fails revision 2 quickly
    green = green_created(kube, namespace, template(
        IMAGE_GREEN, {"T_VERSION": "green"}, labels=NEVER_READY,
        annotations={"serving.knative.dev/progress-deadline": "8s"}))
    before = kube.get(kn.ROUTE, namespace, APP)
    # the module waits for the starting revision to settle, then refuses even 0%
    refused = traffic(namespace, route=APP, traffic=[
        target(APP + "-00001", 100), target(green, 0, "v2")])
    assert refused.get("failed")
    (error,) = refused["errors"]
    assert error["field"] == "traffic[1].revision"
    assert error["message"].startswith("revision '%s' failed (Ready=False "
                                       "(ProgressDeadlineExceeded: " % green)
    assert rv(kube.get(kn.ROUTE, namespace, APP)) == rv(before)

    # forced, Knative marks the Route failed at once and the module puts the block back
    forced = traffic(namespace, route=APP, force=True, traffic=[
        target(APP + "-00001", 50), target(green, 50, "v2")])
    assert forced.get("failed")
    assert "(Knative reported a failure)" in forced["msg"]
    assert 'Revision "%s" failed to become ready.' % green in forced["msg"]
    assert "the previous traffic block [%s-00001 100%%] was put back" % APP in forced["msg"]
    assert forced["rolled_back"] is True
    assert result_split(forced) == [(APP + "-00001", 100, None)]
    route = kube.get(kn.ROUTE, namespace, APP)
    assert spec_split(route) == [(APP + "-00001", 100, None)]
    assert kn.is_ready(route)


def test_bad_input_on_a_route_writes_nothing(knative, namespace):
    kube = knative
    blue_live(kube, namespace)
    create_configuration(kube, namespace, "other", template(IMAGE_GO))
    wait_latest_created(kube, kn.CONFIGURATION, namespace, "other", "other-00001")
    before = kube.get(kn.ROUTE, namespace, APP)
    result = traffic(namespace, route=APP, traffic=[
        target(APP + "-00001", 60, "V1"), target("other-00001", 30),
        target(APP + "-00009", 20, "v1"), target(APP + "-00001", -10, "v1")])
    assert result.get("failed")
    fields = [(e["field"], e["message"]) for e in result["errors"]]
    assert ("traffic[0].tag", fields[0][1]) == fields[0] and "DNS-1035" in fields[0][1]
    assert ("traffic[3].percent", "invalid value for traffic percent -10, expected 0 <= "
            "percent <= 100") in fields
    assert ("traffic[3].tag", "duplicate tag 'v1' (also on traffic[2]): every tag names one "
            "target") in fields
    assert ("traffic[1].revision", "revision 'other-00001' belongs to Configuration other, "
            "not to Configuration %s" % APP) in fields
    assert ("traffic[2].revision", "revision '%s-00009' not found in namespace %s"
            % (APP, namespace)) in fields
    assert rv(kube.get(kn.ROUTE, namespace, APP)) == rv(before)


# ---------------------------------------------------------------------------
# seed 004: a Knative Service
# ---------------------------------------------------------------------------
SVC = "hello"


def hello_with_three_revisions(kube, namespace):
    """kn service create hello --env TARGET=First; update --env TARGET=Second; update
    --image helloworld-rust: revisions hello-00001..3."""
    create_service(kube, namespace, SVC, template(IMAGE_GO, {"TARGET": "First"}))
    wait_ready(kube, kn.KSERVICE, namespace, SVC)
    update_template(kube, kn.KSERVICE, namespace, SVC, template(IMAGE_GO, {"TARGET": "Second"}))
    wait_latest_created(kube, kn.KSERVICE, namespace, SVC, SVC + "-00002")
    wait_ready(kube, kn.KSERVICE, namespace, SVC)
    update_template(kube, kn.KSERVICE, namespace, SVC, template(IMAGE_RUST, {"TARGET": "Second"}))
    wait_latest_created(kube, kn.KSERVICE, namespace, SVC, SVC + "-00003")
    return wait_ready(kube, kn.KSERVICE, namespace, SVC)


def test_seed004_splits_on_a_service(knative, namespace):
    kube = knative
    svc = hello_with_three_revisions(kube, namespace)
    r1, r2, r3 = SVC + "-00001", SVC + "-00002", SVC + "-00003"
    assert [e["revisionName"] for e in kn.status(svc)["traffic"]] == [r3]

    # sums of 110 and 90: refused with Knative's words, nothing written
    for percents, total in (((50, 60), 110), ((50, 40), 90)):
        result = traffic(namespace, service=SVC, traffic=[target(r3, percents[0]),
                                                          target(r2, percents[1])])
        assert result.get("failed")
        assert "given traffic percents sum to %d, want 100" % total in result["msg"]
        assert result["errors"] == [{"field": "traffic", "message":
                                     "given traffic percents sum to %d, want 100" % total}]
        assert rv(kube.get(kn.KSERVICE, namespace, SVC)) == rv(svc)

    # kn service update hello --traffic hello-00003=50 --traffic hello-00002=50
    fifty = ok(traffic(namespace, service=SVC, traffic=[target(r3, 50), target(r2, 50)]))
    assert result_split(fifty) == [(r3, 50, None), (r2, 50, None)]
    svc = kube.get(kn.KSERVICE, namespace, SVC)
    assert split_of(svc) == [(r3, 50, None), (r2, 50, None)]
    assert kn.is_ready(svc)
    route = kube.get(kn.ROUTE, namespace, SVC)  # the Service's Route follows
    assert split_of(route) == [(r3, 50, None), (r2, 50, None)]

    # three ways, with a tag on the oldest revision
    three = ok(traffic(namespace, service=SVC, traffic=[
        target(r3, 50), target(r2, 25), target(r1, 25, "first")]))
    assert result_split(three) == [(r3, 50, None), (r2, 25, None), (r1, 25, "first")]
    assert three["tag_urls"]["first"] == three["url"].replace("http://", "http://first-", 1)
    assert split_of(kube.get(kn.KSERVICE, namespace, SVC)) == [
        (r3, 50, None), (r2, 25, None), (r1, 25, "first")]

    info = ok(revision_info(namespace, service=SVC))
    percents = dict((r["name"], (r["traffic_percent"], r["tags"])) for r in info["revisions"])
    assert percents == {r3: (50, []), r2: (25, []), r1: (25, ["first"])}

    # back to following the latest revision; again is a no-op
    latest = [target("@latest", 100)]
    back = ok(traffic(namespace, service=SVC, traffic=latest))
    assert result_split(back) == [(r3, 100, None)]
    assert back["traffic"][0]["latest_revision"] is True
    svc = kube.get(kn.KSERVICE, namespace, SVC)
    again = ok(traffic(namespace, service=SVC, traffic=latest))
    assert again["changed"] is False
    assert rv(kube.get(kn.KSERVICE, namespace, SVC)) == rv(svc)


def test_tags_and_untag_on_a_service(knative, namespace):
    kube = knative
    hello_with_three_revisions(kube, namespace)
    r2, r3 = SVC + "-00002", SVC + "-00003"
    tagged = ok(traffic(namespace, service=SVC, tags=[{"revision": r2, "tag": "old"},
                                                      {"revision": "@latest", "tag": "current"}]))
    assert result_split(tagged) == [(r3, 100, "current"), (r2, 0, "old")]
    assert sorted(tagged["tag_urls"]) == ["current", "old"]
    svc = kube.get(kn.KSERVICE, namespace, SVC)
    again = ok(traffic(namespace, service=SVC, tags=[{"revision": r2, "tag": "old"},
                                                     {"revision": "@latest", "tag": "current"}]))
    assert again["changed"] is False and rv(kube.get(kn.KSERVICE, namespace, SVC)) == rv(svc)
    untagged = ok(traffic(namespace, service=SVC, untag=["old", "current"]))
    assert result_split(untagged) == [(r3, 100, None)]


def test_revision_of_another_service_is_refused(knative, namespace):
    kube = knative
    create_service(kube, namespace, SVC, template(IMAGE_GO))
    create_service(kube, namespace, "other", template(IMAGE_GO))
    svc = wait_ready(kube, kn.KSERVICE, namespace, SVC)
    wait_ready(kube, kn.KSERVICE, namespace, "other")
    result = traffic(namespace, service=SVC, traffic=[target(SVC + "-00001", 50),
                                                      target("other-00001", 50)])
    assert result.get("failed")
    assert result["errors"] == [{"field": "traffic[1].revision", "message":
                                 "revision 'other-00001' belongs to Service other "
                                 "(Configuration other), not to Service hello"}]
    assert rv(kube.get(kn.KSERVICE, namespace, SVC)) == rv(svc)


def test_without_wait_then_an_identical_call_waits_for_the_split(knative, namespace):
    kube = knative
    create_service(kube, namespace, SVC, template(IMAGE_GO, {"TARGET": "First"}))
    wait_ready(kube, kn.KSERVICE, namespace, SVC)
    update_template(kube, kn.KSERVICE, namespace, SVC, template(IMAGE_GO, {"TARGET": "Second"}))
    wait_latest_created(kube, kn.KSERVICE, namespace, SVC, SVC + "-00002")
    wait_ready(kube, kn.KSERVICE, namespace, SVC)
    split = [target(SVC + "-00001", 50), target(SVC + "-00002", 50)]
    first = ok(traffic(namespace, service=SVC, wait=False, traffic=split))
    assert first["changed"] is True
    written = kube.get(kn.KSERVICE, namespace, SVC)
    second = ok(traffic(namespace, service=SVC, traffic=split))
    assert second["changed"] is False
    assert second["ready"] is True
    assert result_split(second) == [(SVC + "-00001", 50, None), (SVC + "-00002", 50, None)]
    assert kube.get(kn.KSERVICE, namespace, SVC)["metadata"]["generation"] == \
        written["metadata"]["generation"]
