"""Contour's verdict on a proxy (the proof predicate) and the views in the result."""

from ansible_collections.progressive.delivery.plugins.module_utils.contour import (
    status as cs,
)

from contour_objects import MKT, ROOT_NS, child, httpproxy, root, spec


# --- Contour's status ---------------------------------------------------------------
def status(valid, generation, errors=(), description=None):
    cond = {"type": "Valid", "status": "True" if valid else "False",
            "observedGeneration": generation,
            "reason": "Valid" if valid else "ErrorPresent",
            "message": "Valid HTTPProxy" if valid else
            "At least one error present, see Errors for details",
            "errors": [dict(type=t, reason=r, message=m, status="True") for t, r, m in errors]}
    current = "valid" if valid else ("orphaned" if any(e[0] == "Orphaned" for e in errors)
                                     else "invalid")
    return {"currentStatus": current, "description": description or cond["message"],
            "conditions": [cond]}


def test_valid_for_the_generation_is_done():
    obj = httpproxy("r", "ns", {}, generation=4, status=status(True, 4))
    check = cs.proxy_valid(4)(obj)
    assert check.done and not check.failed


def test_stale_status_is_waited_for():
    obj = httpproxy("r", "ns", {}, generation=4, status=status(True, 3))
    check = cs.proxy_valid(4)(obj)
    assert not check.done and not check.failed
    assert "has not processed generation 4" in check.message


def test_no_status_yet_is_waited_for():
    check = cs.proxy_valid(1)(httpproxy("r", "ns", {}))
    assert not check.done and not check.failed


def test_orphaned_is_waited_for_invalid_fails_with_contours_words():
    orphan = httpproxy("blog2", MKT, {}, status=status(False, 1, [
        ("Orphaned", "Orphaned", "this HTTPProxy is not part of a delegation chain")]))
    check = cs.proxy_valid(1)(orphan)
    assert not check.done and not check.failed and "orphaned" in check.message
    invalid = httpproxy("root-blog", ROOT_NS, {}, generation=2, status=status(False, 2, [
        ("IncludeError", "IncludeNotFound", "include marketing/nope not found")]))
    check = cs.proxy_valid(2)(invalid)
    assert check.failed
    assert check.message == ("HTTPProxy root-ingressroute/root-blog is invalid: "
                             "IncludeNotFound: include marketing/nope not found")


def test_deleted_while_waiting_fails():
    assert cs.proxy_valid(1)(None).failed


def test_status_report_and_views():
    obj = root()
    obj["status"] = status(False, 3, [("TLSError", "SecretNotValid", "Secret not found")])
    report = cs.status_report(obj)
    assert report["current"] == "invalid" and not report["valid"]
    assert report["observed_generation"] == 3 and report["generation"] == 3
    assert report["errors"] == [dict(type="TLSError", reason="SecretNotValid",
                                     message="Secret not found")]
    assert cs.status_report(httpproxy("x", "y", {})) is None
    view = cs.proxy_view(spec(), obj, "root")
    assert view["delegations"] == [dict(path="/blog", name="blog", namespace=MKT)]
    assert view["fqdn"] == "yangcs.net" and view["tls_secret"] == "yangcs-net"
    child_view = cs.diff_view(spec(), child(services=[{"name": "blue", "port": 80,
                                                       "weight": 3}]), "child")
    assert child_view == dict(name="blog2", namespace=MKT, routes=[
        dict(path="/blog", services=[dict(name="blue", port=80, weight=3)])])
