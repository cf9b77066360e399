"""The release report of the bluegreen role over its gateway, contour and knative backends:
the recorder fed the task results of real runs (recorded from
tests/integration/fleet/test_report_backends.py on the testbed, the namespace shortened to
"shop"; only the keys the report reads are kept)."""
import re

from ansible_collections.progressive.delivery.plugins.module_utils.report.collect import Recorder
from ansible_collections.progressive.delivery.plugins.module_utils.report.render import render
from ansible_collections.progressive.delivery.plugins.module_utils.report import traffic

GATEWAY = "progressive.delivery.gateway_traffic"
CONTOUR = "progressive.delivery.contour_delegate"
KNATIVE = "progressive.delivery.knative_traffic"
GATES = "progressive.delivery.gate_check"
FACT = "ansible.builtin.set_fact"


class Run(object):
    """Feeds a recorder one task after another, one second each."""

    def __init__(self, host="c1"):
        self.rec, self.host, self.t = Recorder(), host, 100.0

    def task(self, action, name, args=None, result=None, failed=False, check_mode=False):
        self.rec.task(self.host, action, name, args or {}, result or {}, self.t, self.t + 1,
                      failed=failed, check_mode=check_mode)
        self.t += 1

    def facts(self, name, **facts):
        self.task(FACT, name, result=dict(ansible_facts=facts))

    def gate(self, label, name, passed):
        self.task(GATES, "Gates | evaluate pod, HTTP and Prometheus gates | " + label,
                  dict(gates=[]), dict(passed=passed, results=[dict(
                      name=name, type="http", passed=passed, message="%s says %s" % (name, passed),
                      values=dict(succeeded=3 if passed else 0))]), failed=False)

    def report(self):
        (report,) = self.rec.reports()
        return report


def splits(report):
    return [t["split"] for t in report["traffic"]]


def ordered(report):
    times = [t["time"] for t in report["traffic"]]
    starts = [s["start"] for s in report["steps"]]
    return times == sorted(times) and starts == sorted(starts) and all(
        s["start"] <= s["end"] for s in report["steps"])


# --- gateway: the weighted rule of an HTTPRoute --------------------------------------------
ROUTE = dict(name="shop", namespace="shop", path="/")


def gateway_release(run, post_gate=True):
    label = "shop blue"
    run.facts("Blue/green | the HTTPRoute of this release | " + label,
              bluegreen_gateway_candidate="shop-blue", bluegreen_gateway_preview_route="shop-preview")
    run.task(GATEWAY, "Blue/green | what is live, would the switch change anything (check mode) | " + label,
             ROUTE, dict(changed=True, weights={"shop-blue": 100, "shop-green": 0},
                         previous_weights={"shop-green": 100}), check_mode=True)
    run.task(GATEWAY, "Blue/green | the candidate at 0% in the rule, preview header rule to it | " + label,
             ROUTE, dict(changed=True, weights={"shop-blue": 0, "shop-green": 100},
                         previous_weights={"shop-green": 100}))
    run.gate("preview of shop blue", "preview", True)
    run.task(GATEWAY, "Blue/green | the rule to 100% candidate, without the preview header rule | " + label,
             ROUTE, dict(changed=True, weights={"shop-blue": 100, "shop-green": 0},
                         previous_weights={"shop-blue": 0, "shop-green": 100}))
    run.gate("live shop blue", "smoke", post_gate)
    if not post_gate:
        run.task("ansible.builtin.fail", "Gates | stop on a failed gate | live shop blue",
                 result=dict(msg="gate(s) failed for live shop blue: smoke"), failed=True)
        run.task(GATEWAY, "Blue/green | the rule back to the split live before | " + label,
                 ROUTE, dict(changed=True, weights={"shop-green": 100},
                             previous_weights={"shop-blue": 100, "shop-green": 0}))


def test_gateway_a_promoted_release_has_its_traffic_line_with_the_candidate_as_its_version():
    run = Run()
    gateway_release(run)
    report = run.report()
    assert (report["kind"], report["app"], report["version"], report["namespace"]) == (
        "bluegreen", "shop", "blue", "shop")
    assert report["previous"] == "shop-green" and report["targets"] == {"blue": "shop-blue"}
    # the check-mode prediction (all on blue) is not traffic: green 100 -> blue 100
    assert splits(report) == [{"shop-green": 100, "blue": 0}, {"shop-green": 0, "blue": 100}]
    assert [s["name"] for s in report["steps"]] == [
        "deploy and preview", "gates: preview of shop blue", "promote", "gates: live shop blue"]
    assert report["steps"][2]["traffic"] == {"shop-green": 0, "blue": 100}
    assert [(d["time"], d["decision"], d["why"]) for d in report["decisions"]] == [
        (report["steps"][2]["end"], "promote", "gates passed before the switch: preview (preview of shop blue)")]
    assert report["outcome"] == "promoted"
    assert ordered(report)


def test_gateway_a_rolled_back_release_names_the_failed_gate():
    run = Run()
    gateway_release(run, post_gate=False)
    report = run.report()
    assert splits(report) == [{"shop-green": 100, "blue": 0}, {"shop-green": 0, "blue": 100},
                              {"shop-green": 100, "blue": 0}]
    assert report["steps"][-1]["name"] == "roll back"
    assert [d["decision"] for d in report["decisions"]] == ["promote", "rollback"]
    assert report["decisions"][-1]["why"] == "gate failed: smoke: smoke says False"
    assert report["outcome"] == "rolled_back"
    page = render(report)
    for label in ("shop-green", "blue"):
        assert "<title>%s</title></polyline>" % label in page
    assert ordered(report)


def test_gateway_a_preview_hostnames_route_is_not_live_traffic():
    run = Run()
    run.facts("Blue/green | the HTTPRoute of this release | shop blue",
              bluegreen_gateway_candidate="shop-blue", bluegreen_gateway_preview_route="shop-preview")
    run.task(GATEWAY, "Blue/green | the candidate at 0% in the rule | shop blue", ROUTE,
             dict(changed=True, weights={"shop-blue": 0, "shop-green": 100},
                  previous_weights={"shop-green": 100}))
    run.task(GATEWAY, "Blue/green | preview hostname, a second route to the candidate | shop blue",
             dict(ROUTE, name="shop-preview"),
             dict(changed=True, weights={"shop-blue": 100}, previous_weights={}))
    report = run.report()
    assert splits(report) == [{"shop-green": 100, "blue": 0}] and report["outcome"] == "in_progress"


def test_a_canarys_traffic_task_and_a_direct_call_make_no_blue_green_release():
    run = Run()
    run.facts("Blue/green | the HTTPRoute of this release | shop blue",
              bluegreen_gateway_candidate="shop-blue")
    run.task(GATEWAY, "Canary | traffic | web v2 abort", ROUTE,
             dict(changed=True, weights={"shop-green": 100}, previous_weights={"shop-blue": 100}))
    run.task(GATEWAY, "send 10% to the canary", ROUTE,
             dict(changed=True, weights={"shop-blue": 10, "shop-green": 90},
                  previous_weights={"shop-green": 100}))
    assert run.rec.reports() == []


def test_a_failed_traffic_call_is_a_failed_step():
    run = Run()
    run.facts("Blue/green | the HTTPRoute of this release | shop blue",
              bluegreen_gateway_candidate="shop-blue")
    run.task(GATEWAY, "Blue/green | the rule to 100% candidate | shop blue", ROUTE,
             dict(msg="HTTPRoute shop: not Accepted after 60s"), failed=True)
    report = run.report()
    assert [(s["name"], s["status"]) for s in report["steps"]] == [("change traffic", "failed")]
    assert report["failures"][0]["message"] == "HTTPRoute shop: not Accepted after 60s"
    assert report["outcome"] == "failed"


def test_gateway_a_fleet_rolling_back_a_cluster_released_by_an_earlier_job():
    """The resumed fleet: no release of the cluster in this run, only the fleet's rollback
    through the backend's rollback tasks (after its validate.yml set the names)."""
    run = Run("cluster-a")
    run.facts("Fleet | the waves", fleet_report_release="myapp-v2", fleet_report_strategy="bluegreen",
              fleet_report_version="v2", fleet_plan=[["cluster-a"]])
    run.facts("Fleet | go on or halt", fleet_verdict=dict(halt=True, failed=["cluster-a"],
                                                          reason="wave 1: cluster-a failed"))
    run.facts("Blue/green | the HTTPRoute of this release | myapp v2",
              bluegreen_gateway_candidate="myapp-v2", bluegreen_gateway_preview_route="myapp-preview")
    run.task(GATEWAY, "Blue/green | the rule back to the split live before | myapp v2",
             dict(name="myapp", namespace="fleet"),
             dict(changed=True, weights={"myapp-lan": 100},
                  previous_weights={"myapp-lan": 0, "myapp-v2": 100}))
    (release,) = run.report()["releases"]
    assert (release["cluster"], release["version"]) == ("cluster-a", "v2")
    assert splits(release) == [{"myapp-lan": 0, "v2": 100}, {"myapp-lan": 100, "v2": 0}]
    assert release["decisions"][-1] == dict(
        decision="rollback", why="the fleet halted: wave 1: cluster-a failed",
        time=release["traffic"][-1]["time"], time_iso=release["traffic"][-1]["time_iso"])
    assert release["outcome"] == "rolled_back"


# --- contour: the child proxy a path of the root is delegated to ---------------------------
def delegation(child):
    return dict(name=child, namespace="shop") if child else None


def delegate(path, child, previous):
    return dict(changed=True, path=path, delegation=delegation(child),
                previous_delegation=delegation(previous))


def test_contour_the_delegated_child_is_the_traffic_line_and_the_preview_path_is_not():
    run = Run()
    label = "blog blue"
    run.facts("Blue/green | the Contour objects of this release | " + label,
              bluegreen_child=dict(name="blog2", namespace="shop"), bluegreen_preview_root="root-preview")
    root = dict(name="root", namespace="shop")
    run.task(CONTOUR, "Blue/green | which child is live, would the switch change anything (check mode) | " + label,
             dict(root, path="/blog"), delegate("/blog", "blog2", "blog"), check_mode=True)
    run.task(CONTOUR, "Blue/green | preview path on the live host to the candidate | " + label,
             dict(root, path="/blog-preview"), delegate("/blog-preview", "blog2", None))
    run.task(CONTOUR, "Blue/green | switch the delegated path to the candidate's child | " + label,
             dict(root, path="/blog"), delegate("/blog", "blog2", "blog"))
    run.task(CONTOUR, "Blue/green | remove the preview path | " + label,
             dict(root, path="/blog-preview"), delegate("/blog-preview", None, "blog2"))
    run.gate("live blog blue", "post", False)
    run.task(CONTOUR, "Blue/green | switch the delegated path back to the previous child | " + label,
             dict(root, path="/blog"), delegate("/blog", "blog", "blog2"))
    report = run.report()
    assert report["targets"] == {"blue": "shop/blog2"} and report["previous"] == "shop/blog"
    assert splits(report) == [{"shop/blog": 100, "blue": 0}, {"shop/blog": 0, "blue": 100},
                              {"shop/blog": 100, "blue": 0}]
    assert [s["name"] for s in report["steps"]] == ["promote", "gates: live blog blue", "roll back"]
    assert [d["decision"] for d in report["decisions"]] == ["promote", "rollback"]
    assert report["outcome"] == "rolled_back" and ordered(report)


# --- knative: the revisions of a Service ----------------------------------------------------
def revisions(*targets):
    return [dict(revision=r, percent=p, tag=t, latest_revision=False, url=None) for r, p, t in targets]


def test_knative_the_candidate_revision_is_found_by_its_tag_and_shown_from_the_start():
    run = Run()
    label = "hello v2"
    run.facts("Blue/green | the Knative objects of this release | " + label, bluegreen_kn_tag="v2")
    svc = dict(namespace="shop", service="hello")
    base = dict(changed=True, name="hello", namespace="shop", kind="Service")
    run.task(KNATIVE, "Blue/green | pin all traffic to the live revision by name | " + label, svc,
             dict(base, traffic=revisions(("hello-00001", 100, None)), latest_ready_revision="hello-00001",
                  previous_traffic=[dict(latestRevision=True, percent=100)]))
    run.task(KNATIVE, "Blue/green | the candidate at 0% with its own tag URL | " + label, svc,
             dict(base, traffic=revisions(("hello-00001", 100, None), ("hello-00002", 0, "v2")),
                  previous_traffic=[dict(latestRevision=False, percent=100, revisionName="hello-00001")],
                  latest_ready_revision="hello-00002"))
    run.task(KNATIVE, "Blue/green | all traffic to the candidate, the old revision keeps a rollback tag | " + label,
             svc, dict(base, traffic=revisions(("hello-00002", 100, None), ("hello-00001", 0, "previous")),
                       previous_traffic=[dict(percent=100, revisionName="hello-00001"),
                                         dict(percent=0, revisionName="hello-00002", tag="v2")],
                       latest_ready_revision="hello-00002"))
    run.task(KNATIVE, "Blue/green | all traffic back to the previous revision | " + label, svc,
             dict(base, traffic=revisions(("hello-00001", 100, None)),
                  previous_traffic=[dict(percent=100, revisionName="hello-00002"),
                                    dict(percent=0, revisionName="hello-00001", tag="previous")],
                  latest_ready_revision="hello-00002"))
    report = run.report()
    assert report["targets"] == {"v2": "hello-00002"} and report["previous"] == "hello-00001"
    # the pin happened before the candidate existed: the line of v2 starts at 0% with it
    assert splits(report) == [{"hello-00001": 100, "v2": 0}, {"hello-00001": 0, "v2": 100},
                              {"hello-00001": 100, "v2": 0}]
    assert [s["name"] for s in report["steps"]] == ["deploy and preview", "promote", "roll back"]
    assert report["outcome"] == "rolled_back" and ordered(report)


def test_knative_a_rollback_without_the_release_names_the_revision_that_lost_the_traffic():
    run = Run()
    run.facts("Blue/green | the Knative objects of this release | hello v2", bluegreen_kn_tag="v2")
    run.task(KNATIVE, "Blue/green | all traffic back to the previous revision | hello v2",
             dict(namespace="shop", service="hello"),
             dict(changed=True, name="hello", namespace="shop", traffic=revisions(("hello-00001", 100, None)),
                  previous_traffic=[dict(percent=100, revisionName="hello-00002"),
                                    dict(percent=0, revisionName="hello-00001", tag="previous")]))
    report = run.report()
    assert report["targets"] == {"v2": "hello-00002"}
    assert splits(report) == [{"hello-00001": 0, "v2": 100}, {"hello-00001": 100, "v2": 0}]
    assert report["outcome"] == "rolled_back"


# --- the pure pieces -----------------------------------------------------------------------
def test_the_release_is_named_by_the_bluegreen_roles_task_label():
    assert traffic.bluegreen_release("progressive.delivery.bluegreen : Blue/green | promote | myapp v2") == (
        "myapp", "v2")
    assert traffic.bluegreen_release("Blue/green | promote | myapp") is None
    assert traffic.bluegreen_release("Canary | traffic | web v2") is None


def test_classify():
    assert traffic.classify({"a": 100}, {"a": 100, "b": 0}, "b") == "preview"
    assert traffic.classify({"a": 100, "b": 0}, {"a": 0, "b": 100}, "b") == "promote"
    assert traffic.classify({"a": 0, "b": 100}, {"a": 0, "b": 100}, "b") == "promote"  # already live
    assert traffic.classify({"a": 0, "b": 100}, {"a": 100}, "b") == "rollback"
    assert traffic.classify({"a": 100}, {"a": 100}, None) is None
    assert traffic.classify({"a": 100}, {"a": 100}, "b") is None


def test_the_page_is_self_contained_for_the_new_backends_too():
    run = Run()
    gateway_release(run, post_gate=False)
    page = render(run.report())
    assert not re.search(r'(src|href)=|@import|url\(|<script', page)


def test_a_check_mode_switch_of_the_service_backend_is_no_traffic():
    run = Run()
    run.task("progressive.delivery.k8s_bluegreen", "Blue/green | switch | shop blue",
             dict(name="shop", namespace="web", version="blue", state="promoted"),
             dict(changed=True, live_version="blue", previous_version="green"), check_mode=True)
    assert run.rec.reports() == []
