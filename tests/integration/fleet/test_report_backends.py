"""The release report of the bluegreen role over its gateway, contour and knative backends,
on the shared testbed's real controllers: a release whose gate on live traffic fails, so
that it previews, promotes and rolls back. The report's traffic line is checked against the
traffic module results of the run that wrote it (every change of the live split, in order,
the candidate under its version), with the steps, the decisions and ordered times, and the
HTML page draws a line for each side."""
import json
import os

import pytest

from playbooks import role_play, run_playbook, write_playbook
from test_bluegreen_role_backends import (
    contour_setup,
    contour_vars,
    gateway_setup,
    gateway_vars,
    knative_setup,
    knative_vars,
)

# backend -> (CRD, set-up, role vars, traffic module, candidate target, live before, the
# split the live object has after each change made by the run)
BACKENDS = {
    "gateway": ("httproutes.gateway.networking.k8s.io", gateway_setup, gateway_vars,
                "gateway_traffic", "shop-blue", "shop-green"),
    "contour": ("httpproxies.projectcontour.io", contour_setup, contour_vars,
                "contour_delegate", "{ns}/blog2", "{ns}/blog"),
    "knative": ("services.serving.knative.dev", knative_setup, knative_vars,
                "knative_traffic", "hello-00002", "hello-00001"),
}


def run_split(module, result):
    """The live split a traffic module's result says the object has now."""
    if module == "gateway_traffic":
        return dict(result["weights"])
    if module == "contour_delegate":
        d = result["delegation"]
        return {"%s/%s" % (d["namespace"], d["name"]): 100}
    split = {}
    for target in result["traffic"]:
        split[target["revision"]] = split.get(target["revision"], 0) + target["percent"]
    return split


def nonzero(split):
    return dict((k, v) for k, v in split.items() if v)


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_the_report_of_a_release_that_rolls_back_has_its_traffic_line(
        backend, kube, namespace, tmp_path, require_crd):
    crd, setup, make_vars, module, cand, live = BACKENDS[backend]
    cand, live = cand.format(ns=namespace), live.format(ns=namespace)
    require_crd(crd)
    setup(kube, namespace)
    role_vars = make_vars(namespace, tmp_path, post_gate="false")
    version, app = role_vars["bluegreen_version"], role_vars["bluegreen_app"]
    reports = tmp_path / "reports"
    result = run_playbook(write_playbook(tmp_path, role_play("progressive.delivery.bluegreen", role_vars)),
                          extra_vars={"release_report_dir": str(reports)},
                          environ=dict(os.environ, ANSIBLE_CALLBACKS_ENABLED="progressive.delivery.release_report"))
    assert result.failed and result.custom_stats["bluegreen_outcome"] == "rolled_back", result.summary()

    (path,) = reports.glob("bluegreen-%s-%s-localhost-*.json" % (app, version))
    report = json.loads(path.read_text())
    assert (report["app"], report["version"], report["previous"]) == (app, version, live)
    assert report["targets"] == {version: cand}

    # every change of the live split the run made, in order, the candidate as its version
    # (compared without the 0% entries: the report names every target in every sample, a
    # module only those in its object)
    ran = []
    for name, res in result.tasks():
        args = (res.get("invocation") or {}).get("module_args") or {}
        if not name.startswith("Blue/green") or res.get("skipped") or "check mode" in name:
            continue  # not a change (a check-mode call is a prediction)
        if not ("weights" in res or "delegation" in res or "traffic" in res):
            continue
        if args.get("name", "").endswith("-preview") or (
                module == "contour_delegate" and args.get("path") != "/blog"):
            continue  # the preview objects
        split = nonzero({(version if t == cand else t): p for t, p in run_split(module, res).items()})
        if not ran or ran[-1] != split:
            ran.append(split)
    assert len(ran) >= 2 and ran[-2] == {version: 100}, ran   # promoted, then rolled back
    traffic = [t["split"] for t in report["traffic"]]
    shown = []
    for split in traffic:
        if not shown or shown[-1] != nonzero(split):
            shown.append(nonzero(split))
    assert shown[-len(ran):] == ran, (traffic, ran)
    # blue 100 -> green 100 -> blue 100 again
    assert traffic[0] == {live: 100, version: 0}, traffic
    assert {live: 0, version: 100} in traffic, traffic
    assert traffic[-1] == {live: 100, version: 0}, traffic
    times = [t["time"] for t in report["traffic"]]
    assert times == sorted(times) and report["started"] <= times[0] <= times[-1] <= report["ended"]
    assert [t["time_iso"] for t in report["traffic"]] == sorted(t["time_iso"] for t in report["traffic"])

    steps = [s["name"] for s in report["steps"]]
    assert "promote" in steps and steps[-1] == "roll back", steps
    assert steps.index("promote") < steps.index("roll back")
    if backend != "contour":   # contour previews on another path: the live one is not touched
        assert steps.index("deploy and preview") < steps.index("promote"), steps
    assert [s["start"] for s in report["steps"]] == sorted(s["start"] for s in report["steps"])
    promote = [s for s in report["steps"] if s["name"] == "promote"][0]
    assert promote["traffic"] == {live: 0, version: 100}
    assert [d["decision"] for d in report["decisions"]] == ["promote", "rollback"]
    assert report["decisions"][-1]["why"].startswith("gate failed: post"), report["decisions"]
    assert report["outcome"] == "rolled_back"
    assert [g["name"] for g in report["gates"] if not g["passed"]] == ["post"]

    # the page draws a line for each side and names the failed gate
    page = path.with_suffix(".html").read_text()
    for label in (live, version):
        assert "<title>%s</title></polyline>" % label in page, label
    assert "post failed" in page
