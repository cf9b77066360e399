"""An in-memory stand-in for the collection's REST client (k8s/client.py's Kube), for unit
tests of the engine and of backends' decisions on recorded objects.

It keeps objects by (kind, namespace, name), bumps resourceVersion and generation on every
write, honours a resourceVersion precondition in a merge patch, a replace or an apply (409
when stale) and a JSON patch's ``test`` operations (a bare 422, as the API server), and lets a test script another writer (``before_write``) or a controller
(``after_write``, e.g. ``complete_rollouts``: it sees the store after each write, as a
controller sees a watch event, and may set status; the write's answer is the object as
written, before that). Every write request is kept in ``sent`` with its body, so a test can
check what was sent (a patch's resourceVersion precondition, say); dry runs are kept there
too but are not ``writes()``.

``watch`` yields the changes a test scripted in ``events[(kind, name)]`` (callables that
change the stored object, one MODIFIED event each), then ends; so a backend's wait on a
predicate is exercised on recorded objects. Timing and the real controllers are the
testbed's business.
"""

import copy
from collections import namedtuple

from ansible_collections.progressive.delivery.plugins.module_utils.engine import (
    as_rolled_out,
    json_patch,
    value_at,
)

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    JSON_PATCH,
    KubeError,
    merge_patch,
)


Sent = namedtuple("Sent", "verb kind name body dry_run")


class FakeKube(object):
    def __init__(self, objects=(), before_write=None, after_write=None):
        self.store = {}
        self.rv = 100
        self.requests = []  # (verb, kind, name) for every call, reads included
        self.sent = []      # a Sent for every write request, dry runs included
        self.events = {}    # (kind, name) -> [change(obj)] that watch() plays
        self.before_write = before_write  # f(fake, verb, key) -> runs before each write
        self.after_write = after_write    # f(fake, key) -> runs after each write
        for obj in objects:
            self.put(obj, keep_version=True)

    # --- helpers for tests -------------------------------------------------
    def put(self, obj, keep_version=False):
        """Store ``obj`` as another writer would (a new resourceVersion); the initial
        objects keep a resourceVersion their fixture gives them."""
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        if not (keep_version and "resourceVersion" in meta):
            self.rv += 1
            meta["resourceVersion"] = str(self.rv)
        meta.setdefault("generation", 1)
        self.store[(obj["kind"], meta.get("namespace"), meta["name"])] = obj
        return copy.deepcopy(obj)

    def obj(self, kind, namespace, name):
        return copy.deepcopy(self.store.get((kind, namespace, name)))

    def writes(self):
        """(verb, kind, name) of every write request but dry runs (a refused one included)."""
        return [(s.verb, s.kind, s.name) for s in self.sent if not s.dry_run]

    def dry_runs(self):
        """(verb, kind, name) of every dry-run write request."""
        return [(s.verb, s.kind, s.name) for s in self.sent if s.dry_run]

    # --- the client's verbs ------------------------------------------------
    def get_or_none(self, resource, namespace, name):
        self.requests.append(("get", resource.kind, name))
        return self.obj(resource.kind, namespace, name)

    def get(self, resource, namespace, name):
        obj = self.get_or_none(resource, namespace, name)
        if obj is None:
            raise KubeError(404, "NotFound", '%s "%s" not found' % (resource.plural, name))
        return obj

    def list(self, resource, namespace=None, label_selector=None, field_selector=None):
        self.requests.append(("list", resource.kind, namespace))
        only = field_selector.split("=", 1)[1] if field_selector else None
        items = [copy.deepcopy(o) for (kind, ns, name), o in sorted(self.store.items())
                 if kind == resource.kind and ns == namespace and only in (None, name)]
        return {"metadata": {"resourceVersion": str(self.rv)}, "items": items}

    def _write(self, verb, resource, namespace, name, body=None, dry_run=False):
        self.requests.append((verb, resource.kind, name))
        self.sent.append(Sent(verb, resource.kind, name, copy.deepcopy(body), dry_run))
        key = (resource.kind, namespace, name)
        if self.before_write is not None:
            self.before_write(self, verb, key)
        return key

    def _precondition(self, resource, key, body):
        """409 when ``body`` names a resourceVersion the stored object no longer has."""
        current = self.store.get(key)
        wanted_rv = ((body or {}).get("metadata") or {}).get("resourceVersion")
        if current is not None and wanted_rv and \
                wanted_rv != current["metadata"]["resourceVersion"]:
            raise KubeError(409, "Conflict", "Operation cannot be fulfilled on %s \"%s\": the "
                            "object has been modified; please apply your changes to the "
                            "latest version and try again" % (resource.plural, key[2]))

    def _store(self, key, obj, bump_generation=True):
        meta = obj.setdefault("metadata", {})
        old = self.store.get(key)
        self.rv += 1
        meta["resourceVersion"] = str(self.rv)
        meta["generation"] = ((old or {}).get("metadata", {}).get("generation", 0)
                              + (1 if bump_generation else 0)) or 1
        self.store[key] = obj
        answer = copy.deepcopy(obj)  # the API server answers with the object as written,
        if self.after_write is not None:  # before any controller reacts to it
            self.after_write(self, key)
        return answer

    def create(self, resource, namespace, body, dry_run=False):
        key = self._write("create", resource, namespace, body["metadata"]["name"], body,
                          dry_run)
        if key in self.store:
            raise KubeError(409, "AlreadyExists", "%s \"%s\" already exists"
                            % (resource.plural, key[2]))
        obj = copy.deepcopy(body)
        obj["metadata"].setdefault("namespace", namespace)
        return obj if dry_run else self._store(key, obj)

    def patch(self, resource, namespace, name, patch, content_type=None, subresource=None,
              dry_run=False):
        key = self._write("patch", resource, namespace, name, patch, dry_run)
        current = self.store.get(key)
        if current is None:
            raise KubeError(404, "NotFound", '%s "%s" not found' % (resource.plural, name))
        if content_type == JSON_PATCH:
            self._tests_hold(current, patch)
            new = json_patch(current, patch)
        else:
            self._precondition(resource, key, patch)
            new = merge_patch(current, patch)
        return new if dry_run else self._store(key, new)

    @staticmethod
    def _tests_hold(current, operations):
        """A JSON patch's ``test`` operations, answered as the API server does: a bare
        422 that does not say which test failed."""
        for op in operations:
            if op["op"] == "test" and value_at(
                    current, op["path"].split("/")[1:]) != op.get("value"):
                raise KubeError(422, "Invalid", "the server rejected our request due to an "
                                "error in our request")

    def replace(self, resource, namespace, name, body):
        key = self._write("replace", resource, namespace, name, body)
        self._precondition(resource, key, body)
        return self._store(key, copy.deepcopy(body))

    def apply(self, resource, namespace, name, body, field_manager, dry_run=False):
        key = self._write("apply", resource, namespace, name, body, dry_run)
        self._precondition(resource, key, body)
        new = merge_patch(self.store.get(key) or {}, body)
        return new if dry_run else self._store(key, new)

    def delete(self, resource, namespace, name):
        key = self._write("delete", resource, namespace, name)
        self.store.pop(key, None)

    def watch(self, resource, namespace, resource_version, timeout, name=None,
              **unused):
        self.requests.append(("watch", resource.kind, name))
        key = (resource.kind, namespace, name)
        for change in self.events.pop((resource.kind, name), []):
            change(self.store[key])
            yield "MODIFIED", copy.deepcopy(self.store[key])


def complete_rollouts(fake, key):
    """An ``after_write`` controller: every Deployment written is rolled out at once."""
    if key[0] == "Deployment" and key in fake.store:
        obj = as_rolled_out(fake.store[key])
        fake.rv += 1  # a status update is a write of its own
        obj["metadata"]["resourceVersion"] = str(fake.rv)
        fake.store[key] = obj
