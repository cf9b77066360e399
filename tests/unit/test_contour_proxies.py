"""Reading Contour proxies: delegations, the child's routes, and traffic shares."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.contour import (
    proxies as px,
)

from contour_objects import MKT, ROOT_NS, child, root, spec


# --- reading delegations and routes ----------------------------------------------
def test_delegations_of_an_httpproxy_root_skip_header_includes():
    obj = root(includes=[
        {"name": "blog", "namespace": MKT, "conditions": [{"prefix": "/blog"}]},
        {"name": "api", "conditions": [{"prefix": "/api"}, {"header": {"name": "x"}}]},
        {"name": "home"},
    ])
    assert px.delegations("httpproxy", obj) == [
        (0, "/blog", px.ChildRef("blog", MKT)), (2, "/", px.ChildRef("home", ROOT_NS))]


def test_duplicate_delegation_of_the_path_is_refused():
    obj = root(includes=[{"name": "blog", "namespace": MKT, "conditions": [{"prefix": "/blog"}]},
                         {"name": "blog2", "namespace": MKT,
                          "conditions": [{"prefix": "/blog"}]}])
    with pytest.raises(px.PlanError, match="delegates /blog 2 times"):
        px.find_delegation(spec(), obj)


@pytest.mark.parametrize("include, route_prefix, expected", [
    ("/blog", None, "/blog"),
    ("/blog", "/", "/blog/"),
    ("/blog/", "/admin", "/blog/admin"),
    ("/", None, "/"),
    ("/", "/x", "/x"),
])
def test_route_paths_join_like_contour(include, route_prefix, expected):
    route = {"services": [{"name": "s", "port": 80}]}
    if route_prefix:
        route["conditions"] = [{"prefix": route_prefix}]
    routes = px.child_routes("httpproxy", child(routes=[route]), include)
    assert [path for _i, path, _route in routes] == [expected]


def test_find_route_prefers_exact_then_ignores_trailing_slash():
    routes = [{"conditions": [{"prefix": "/"}], "services": [{"name": "a", "port": 80}]},
              {"conditions": [{"prefix": "/admin"}], "services": [{"name": "b", "port": 80}]},
              {"conditions": [{"prefix": "/admin"}, {"header": {"name": "x"}}],
               "services": [{"name": "c", "port": 80}]}]
    obj = child(routes=routes)
    assert px.find_route(spec(), obj)[0] == 0  # /blog/ is the route for /blog
    assert px.find_route(spec(route_path="/blog/admin"), obj)[0] == 1
    assert px.find_route(spec(route_path="/blog/other"), obj) == (None, None)


def test_two_routes_for_one_path_is_a_plan_error():
    routes = [{"services": [{"name": "a", "port": 80}]},
              {"conditions": [{"prefix": "/"}], "services": [{"name": "b", "port": 80}]},
              {"services": [{"name": "c", "port": 80}]}]
    with pytest.raises(px.PlanError, match="2 routes for /blog"):
        px.find_route(spec(), child(routes=routes))


@pytest.mark.parametrize("weights, shares", [
    ([5, 95], [5.0, 95.0]),
    ([100, 0], [100.0, 0.0]),
    ([20, 30, 20], [28.57, 42.86, 28.57]),
    ([None, None], [50.0, 50.0]),
    ([3, None], [100.0, 0.0]),
])
def test_traffic_shares_follow_contours_rules(weights, shares):
    services = [dict(name="s%d" % i, weight=w) for i, w in enumerate(weights)]
    assert [px.traffic_shares(services)["s%d" % i] for i in range(len(weights))] == shares
