"""The floor: what the API itself costs. Plain Python (the standard library and PyYAML for
the kubeconfig) making the writes a release needs and watching for each one's effect,
one process per run, as the benchmarks start it:

    python tests/bench/floor.py bluegreen NS SERVICE VERSION_LABEL VERSION DEPLOYMENT N
    python tests/bench/floor.py canary-replicas NS STABLE CANARY IMAGE TOTAL WEIGHT...
    python tests/bench/floor.py canary-contour NS CHILD STABLE CANARY WEIGHT...
    python tests/bench/floor.py canary-knative NS KSVC IMAGE WEIGHT...
    python tests/bench/floor.py canary-gateway NS ROUTE STABLE CANARY WEIGHT...
    python tests/bench/floor.py contour-delegate NS ROOT PATH CHILD

Each canary case also writes a release record (one ConfigMap write per step), as the
role does. Nothing here is clever; it is the least a release can do.
"""

import base64
import http.client
import json
import os
import ssl
import sys
import tempfile
import time
from urllib.parse import urlencode, urlparse

import yaml

MERGE = "application/merge-patch+json"


class Api(object):
    def __init__(self, kubeconfig=None):
        path = kubeconfig or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
        with open(path) as handle:
            config = yaml.safe_load(handle)
        context = dict((c["name"], c["context"]) for c in config["contexts"])[
            config["current-context"]]
        cluster = dict((c["name"], c["cluster"]) for c in config["clusters"])[context["cluster"]]
        user = dict((u["name"], u["user"]) for u in config["users"])[context["user"]]
        url = urlparse(cluster["server"])
        self.host, self.port = url.hostname, url.port or 443
        self.ssl = ssl.create_default_context()
        if cluster.get("certificate-authority-data"):
            self.ssl.load_verify_locations(
                cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
        elif cluster.get("certificate-authority"):
            self.ssl.load_verify_locations(cluster["certificate-authority"])
        if cluster.get("insecure-skip-tls-verify"):
            self.ssl.check_hostname = False
            self.ssl.verify_mode = ssl.CERT_NONE
        self.headers = {"Accept": "application/json"}
        if user.get("token"):
            self.headers["Authorization"] = "Bearer " + user["token"]
        if user.get("client-certificate-data"):
            files = []
            for key in ("client-certificate-data", "client-key-data"):
                handle = tempfile.NamedTemporaryFile(delete=False)
                handle.write(base64.b64decode(user[key]))
                handle.close()
                files.append(handle.name)
            self.ssl.load_cert_chain(*files)
            for name in files:
                os.unlink(name)
        elif user.get("client-certificate"):
            self.ssl.load_cert_chain(user["client-certificate"], user.get("client-key"))
        self.conn = self._connect()

    def _connect(self, timeout=60):
        return http.client.HTTPSConnection(self.host, self.port, context=self.ssl,
                                           timeout=timeout)

    def request(self, method, path, body=None, content_type=MERGE, query=None):
        if query:
            path += "?" + urlencode(query)
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        self.conn.request(method, path, data, headers)
        response = self.conn.getresponse()
        text = response.read()
        if response.status >= 300:
            raise RuntimeError("%s %s: %s %s" % (method, path, response.status, text[:300]))
        return json.loads(text) if text else {}

    def wait(self, path, done, query=None, timeout=300):
        """List ``path`` (with ``query``), then watch from that list's resourceVersion
        until ``done(items by name)``; returns those items."""
        listed = self.request("GET", path, query=query)
        items = dict((i["metadata"]["name"], i) for i in listed.get("items") or [])
        if done(items):
            return items
        watch_query = dict(query or {}, watch="true", allowWatchBookmarks="true",
                           timeoutSeconds=str(int(timeout)),
                           resourceVersion=listed["metadata"]["resourceVersion"])
        conn = self._connect(timeout + 10)
        conn.request("GET", path + "?" + urlencode(watch_query), None, self.headers)
        response = conn.getresponse()
        try:
            while True:
                line = response.readline()
                if not line:
                    raise RuntimeError("watch of %s ended before the condition" % path)
                event = json.loads(line)
                if event["type"] == "BOOKMARK":
                    continue
                obj = event["object"]
                if event["type"] == "DELETED":
                    items.pop(obj["metadata"]["name"], None)
                else:
                    items[obj["metadata"]["name"]] = obj
                if done(items):
                    return items
        finally:
            conn.close()

    def wait_one(self, path, name, done, timeout=300):
        return self.wait(path, lambda items: name in items and done(items[name]),
                         query={"fieldSelector": "metadata.name=" + name}, timeout=timeout)


def ns_path(namespace, group, plural):
    base = "/api/v1" if group == "v1" else "/apis/" + group
    return "%s/namespaces/%s/%s" % (base, namespace, plural)


# --- predicates ----------------------------------------------------------------
def rolled_out(dep):
    spec, status = dep.get("spec") or {}, dep.get("status") or {}
    want = spec.get("replicas", 1)
    return (status.get("observedGeneration", 0) >= dep["metadata"]["generation"]
            and status.get("updatedReplicas", 0) == want
            and status.get("replicas", 0) == want
            and status.get("availableReplicas", 0) == want)


def condition_true(obj, kind, generation=None):
    """``kind`` is True for ``generation``; ``obj`` is an object (conditions in its status)
    or a Gateway API parent status (conditions at its top)."""
    status = obj.get("status") if isinstance(obj.get("status"), dict) else obj
    for cond in status.get("conditions") or []:
        if cond.get("type") == kind and cond.get("status") == "True":
            seen = cond.get("observedGeneration", status.get("observedGeneration"))
            return generation is None or seen == generation
    return False


# --- the release record -----------------------------------------------------------
def record(api, namespace, step, weight):
    path = ns_path(namespace, "v1", "configmaps")
    body = {"metadata": {"name": "floor-release", "annotations": {
        "progressive.delivery/canary-release": json.dumps({"step": step, "weight": weight})}}}
    if step == 0:
        api.request("POST", path, body, "application/json")
    else:
        api.request("PATCH", path + "/floor-release", body)


# --- the cases ----------------------------------------------------------------------
def bluegreen(api, namespace, service, label, version, deployment, replicas):
    """One PATCH of the live Service's selector, then a watch of its EndpointSlices until
    they list exactly ``replicas`` ready pods of the new version's Deployment."""
    path = ns_path(namespace, "v1", "services") + "/" + service
    api.request("PATCH", path, {"spec": {"selector": {label: version}}})
    prefix = deployment + "-"

    def serves(slices):
        names = [e["targetRef"]["name"] for s in slices.values() for e in s.get("endpoints") or []
                 if (e.get("conditions") or {}).get("ready") and e.get("targetRef")]
        return len(names) == int(replicas) and all(n.startswith(prefix) for n in names)
    api.wait(ns_path(namespace, "discovery.k8s.io/v1", "endpointslices"), serves,
             query={"labelSelector": "kubernetes.io/service-name=" + service})


def canary_replicas(api, namespace, stable, canary, image, total, *weights):
    """Per step: the canary's replicas, its rollout, the stable's, its rollout, the record;
    then promotion: the stable gets the new image and every replica, the canary none."""
    total = int(total)
    deployments = ns_path(namespace, "apps/v1", "deployments")
    current = api.request("GET", deployments + "/" + stable)

    def scale(name, replicas):
        api.request("PATCH", deployments + "/" + name, {"spec": {"replicas": replicas}})
        api.wait_one(deployments, name, rolled_out)

    for step, weight in enumerate(int(w) for w in weights):
        n = total if weight >= 100 else max(1, (total * weight + 99) // 100)
        if step == 0:
            body = json.loads(json.dumps(current))
            body["metadata"] = {"name": canary, "labels": {"track": "canary"}}
            body["spec"]["replicas"] = n
            body["spec"]["selector"]["matchLabels"]["track"] = "canary"
            body["spec"]["template"]["metadata"]["labels"]["track"] = "canary"
            body["spec"]["template"]["spec"]["containers"][0]["image"] = image
            body.pop("status", None)
            api.request("POST", deployments, body, "application/json")
            api.wait_one(deployments, canary, rolled_out)
        else:
            scale(canary, n)
        if weight < 100:
            scale(stable, total - n)
        record(api, namespace, step, weight)
    container = current["spec"]["template"]["spec"]["containers"][0]["name"]
    api.request("PATCH", deployments + "/" + stable, {"spec": {"replicas": total, "template": {
        "spec": {"containers": [{"name": container, "image": image}]}}}},
        "application/strategic-merge-patch+json")
    api.wait_one(deployments, stable, rolled_out)
    scale(canary, 0)
    record(api, namespace, len(weights), 100)


def canary_contour(api, namespace, child, stable, canary, *weights):
    """Per step: the child HTTPProxy's weights, then Contour's 'valid' for that
    generation, then the record."""
    proxies = ns_path(namespace, "projectcontour.io/v1", "httpproxies")
    current = api.request("GET", proxies + "/" + child)
    port = current["spec"]["routes"][0]["services"][0].get("port", 80)
    for step, weight in enumerate(int(w) for w in weights):
        routes = json.loads(json.dumps(current["spec"]["routes"]))
        routes[0]["services"] = [{"name": stable, "port": port, "weight": 100 - weight},
                                 {"name": canary, "port": port, "weight": weight}]
        written = api.request("PATCH", proxies + "/" + child, {"spec": {"routes": routes}})
        generation = written["metadata"]["generation"]
        api.wait_one(proxies, child, lambda p: (p.get("status") or {}).get(
            "currentStatus") == "valid" and condition_true(p, "Valid", generation))
        record(api, namespace, step, weight)


def canary_knative(api, namespace, ksvc, image, *weights):
    """The new template with traffic pinned to the stable revision, its revision Ready;
    per step the split, Ready for that generation, the record; then 100% on the latest."""
    services = ns_path(namespace, "serving.knative.dev/v1", "services")
    current = api.request("GET", services + "/" + ksvc)
    stable = current["status"]["latestReadyRevisionName"]
    template = json.loads(json.dumps(current["spec"]["template"]))
    template["spec"]["containers"][0]["image"] = image
    template.setdefault("metadata", {}).pop("name", None)
    written = api.request("PATCH", services + "/" + ksvc, {"spec": {
        "template": template, "traffic": [{"revisionName": stable, "percent": 100}]}})
    generation = written["metadata"]["generation"]
    ready = api.wait_one(services, ksvc, lambda s: condition_true(s, "Ready", generation)
                         and s["status"].get("latestReadyRevisionName") != stable)
    canary = ready[ksvc]["status"]["latestReadyRevisionName"]
    for step, weight in enumerate(int(w) for w in weights):
        traffic = [{"revisionName": stable, "percent": 100 - weight},
                   {"revisionName": canary, "percent": weight, "tag": "canary"}]
        if weight >= 100:
            traffic = [{"latestRevision": True, "percent": 100}]
        written = api.request("PATCH", services + "/" + ksvc, {"spec": {"traffic": traffic}})
        generation = written["metadata"]["generation"]
        api.wait_one(services, ksvc, lambda s: condition_true(s, "Ready", generation))
        record(api, namespace, step, weight)


def canary_gateway(api, namespace, route, stable, canary, *weights):
    """Per step: the HTTPRoute's backend weights, Accepted and ResolvedRefs for that
    generation, the record."""
    routes = ns_path(namespace, "gateway.networking.k8s.io/v1", "httproutes")
    current = api.request("GET", routes + "/" + route)
    port = current["spec"]["rules"][0]["backendRefs"][0].get("port", 80)

    def accepted(generation):
        def check(obj):
            parents = (obj.get("status") or {}).get("parents") or []
            return parents and all(condition_true(p, "Accepted", generation) and condition_true(
                p, "ResolvedRefs", generation) for p in parents)
        return check

    for step, weight in enumerate(int(w) for w in weights):
        rules = json.loads(json.dumps(current["spec"]["rules"]))
        rules[0]["backendRefs"] = [{"name": stable, "port": port, "weight": 100 - weight},
                                   {"name": canary, "port": port, "weight": weight}]
        written = api.request("PATCH", routes + "/" + route, {"spec": {"rules": rules}})
        api.wait_one(routes, route, accepted(written["metadata"]["generation"]))
        record(api, namespace, step, weight)


def contour_delegate(api, namespace, root, path, child):
    """The root HTTPProxy's include at ``path`` pointed at ``child`` (one GET of the root
    for its includes, one PATCH), then Contour's 'valid' for the root's new generation and
    for the child (Contour judges both in one pass)."""
    proxies = ns_path(namespace, "projectcontour.io/v1", "httpproxies")
    current = api.request("GET", proxies + "/" + root)
    includes = [i for i in current["spec"].get("includes") or []
                if not any(c.get("prefix") == path for c in i.get("conditions") or [])]
    includes.append({"name": child, "namespace": namespace, "conditions": [{"prefix": path}]})
    written = api.request("PATCH", proxies + "/" + root, {"spec": {"includes": includes}})
    generation = written["metadata"]["generation"]

    def valid(proxy, generation=None):
        return (proxy.get("status") or {}).get("currentStatus") == "valid" and \
            condition_true(proxy, "Valid", generation)
    api.wait_one(proxies, root, lambda p: valid(p, generation))
    api.wait_one(proxies, child, valid)


def knative_split(api, namespace, route, *pairs):
    """A standalone Route's ``spec.traffic`` set to revision/percent ``pairs`` (one PATCH),
    then Knative's Ready for that generation with that traffic in the Route's status."""
    routes = ns_path(namespace, "serving.knative.dev/v1", "routes")
    traffic = [{"revisionName": pairs[i], "percent": int(pairs[i + 1])}
               for i in range(0, len(pairs), 2)]
    written = api.request("PATCH", routes + "/" + route, {"spec": {"traffic": traffic}})
    generation = written["metadata"]["generation"]
    wanted = sorted((t["revisionName"], t["percent"]) for t in traffic)

    def done(obj):
        status = obj.get("status") or {}
        seen = sorted((t.get("revisionName"), t.get("percent")) for t in status.get("traffic") or [])
        return condition_true(obj, "Ready", generation) and seen == wanted
    api.wait_one(routes, route, done)


CASES = {"bluegreen": bluegreen, "canary-replicas": canary_replicas,
         "canary-contour": canary_contour, "canary-knative": canary_knative,
         "canary-gateway": canary_gateway, "contour-delegate": contour_delegate, "knative-split": knative_split}


def main(argv):
    if len(argv) < 2 or argv[1] not in CASES:
        sys.stderr.write(__doc__)
        return 2
    start = time.monotonic()
    CASES[argv[1]](Api(), *argv[2:])
    print(json.dumps({"seconds": time.monotonic() - start}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
