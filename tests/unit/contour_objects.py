"""Contour proxies, Services and module parameters as the unit tests use them."""

from ansible_collections.progressive.delivery.plugins.module_utils.contour import (
    proxies as px,
    validation as cv,
)

ROOT_NS = "root-ingressroute"
MKT = "marketing"


def params(**overrides):
    base = dict(name="root-blog", namespace=ROOT_NS, path="/blog",
                child=dict(name="blog2", namespace=MKT))
    base.update(overrides)
    return base


def spec(**overrides):
    return cv.validate(params(**overrides))


def httpproxy(name, namespace, spec_body, rv="10", generation=1, status=None):
    obj = {"apiVersion": "projectcontour.io/v1", "kind": "HTTPProxy",
           "metadata": {"name": name, "namespace": namespace, "resourceVersion": rv,
                        "generation": generation},
           "spec": spec_body}
    if status is not None:
        obj["status"] = status
    return obj


def root(includes=None, routes=None, tls="yangcs-net"):
    body = {"virtualhost": {"fqdn": "yangcs.net"}}
    if tls:
        body["virtualhost"]["tls"] = {"secretName": tls}
    body["includes"] = includes if includes is not None else [
        {"name": "blog", "namespace": MKT, "conditions": [{"prefix": "/blog"}]}]
    if routes:
        body["routes"] = routes
    return httpproxy("root-blog", ROOT_NS, body, rv="100", generation=3)


def child(name="blog2", services=None, routes=None):
    if routes is None:
        routes = [{"services": services or [{"name": "blue", "port": 80}]}]
    return httpproxy(name, MKT, {"routes": routes}, rv="200")


def svc(name, ports=(80,)):
    return {"metadata": {"name": name, "namespace": MKT},
            "spec": {"ports": [{"port": p} for p in ports]}}


def observed(root_obj=None, child_obj=None, services=None, root_ns=True, child_ns=True,
             tls_secret=px.UNCHECKED, tls_delegations=()):
    return px.Observed(root=root_obj, root_namespace_exists=root_ns, child=child_obj,
                       child_namespace_exists=child_ns, services=services or {},
                       tls_secret=tls_secret, tls_delegations=list(tls_delegations))


def fields(exc_info):
    return [e.path for e in exc_info.value.errors]
