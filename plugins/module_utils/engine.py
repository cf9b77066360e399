# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release engine: the one reconciler every traffic module runs on.

A call goes: read the objects -> plan (a pure function of what was read and the
parameters) -> in check mode, simulate the writes instead of sending them -> write each
object once, with the resourceVersion it was read at -> on 409 (someone else wrote in
between) read again and plan again, never overwrite -> wait, by watching, for the proof
that the change took effect -> on rejection let the backend put things back -> report.

A backend (one per system: bluegreen, canary, contour, knative, rollout, gateway, ...)
supplies the parts that know the system:

- ``observe(engine)``: read what the call acts on (through ``engine.get``/``engine.list``,
  so check mode sees its own simulated writes);
- ``plan(observed)``: the writes to make, a list of ``Write`` (empty when in place);
- ``prove(engine, observed, writes)``: wait for the proof (optional);
- ``rejected(engine, observed, writes, error)``: put things back and raise (optional);
- ``report(engine, first, observed, writes)``: the module result's own keys.

``Engine.run(backend)`` is that sequence; backends whose call has several phases (a
blue/green promotion first rolls out the Deployment, then switches) call the same
building blocks (``reconcile``, ``write``, ``prove``, ``result``) in their own order.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import copy
import time
from collections import namedtuple

from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import (
    FIELD_MANAGER,
    JSON_PATCH,
    KubeError,
    merge_patch,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.objects import copied
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.wait import (
    WaitError,
    WaitFailed,
)
# How many times a write may lose to another writer (409) before the call gives up.
CONFLICT_RETRIES = 3
VERBS = ("create", "patch", "json_patch", "apply", "replace", "delete")


class Write(namedtuple("Write", "verb resource namespace name body description")):
    """One write of one object. ``body``: the object (create, apply, replace), a JSON
    merge patch (patch; put ``metadata.resourceVersion`` in it to make it conditional)
    or a JSON patch (json_patch: a list of RFC 6902 operations; a ``test`` operation makes
    it conditional on one field only, see ``lost_race``). ``description`` is the line the
    module reports in ``actions``."""

    def __new__(cls, verb, resource, namespace, name, body=None, description=None):
        if verb not in VERBS:
            raise ValueError("unknown write verb %r" % (verb,))
        return super(Write, cls).__new__(cls, verb, resource, namespace, name, body,
                                         description or "%s %s %s/%s" % (
                                             verb, resource.kind, namespace, name))

    @property
    def key(self):
        return (self.resource.kind, self.namespace, self.name)


class ConflictError(KubeError):
    """Another writer kept winning: the call stopped rather than overwrite its change."""


class Engine(object):
    """State of one module call: the client, check mode, the deadline, what was written."""

    def __init__(self, kube, check_mode=False, wait=True, wait_timeout=300,
                 diff_view=None, clock=time.monotonic, dry_run_create=False):
        self.check_mode = check_mode
        # check mode: send creates as server dry runs too (the server validates and
        # defaults the new object), for backends whose check mode promises that
        self.dry_run_create = dry_run_create
        self.wait = bool(wait) and not check_mode
        self.wait_timeout = wait_timeout
        self.clock = clock
        self.deadline = clock() + wait_timeout
        self.diff_view = diff_view or _default_view
        self.actions = []
        self.warnings = []
        self.before = {}
        self.after = {}
        self.written = {}    # (kind, namespace, name) -> object as our last write left it
        self.originals = {}  # the same keys -> object as read before our first write to it
        self.simulated = {}  # check mode: the same, for the reads that follow
        self.conflicts = 0
        self.reads = ReadCache()
        # backends wait, prove and restore through ``engine.kube``: their reads refresh
        # the cache, their watches and writes forget it (CachingClient)
        self.kube = CachingClient(kube, self.reads)

    @property
    def changed(self):
        return bool(self.actions)

    def remaining(self):
        """Seconds left of the call's wait budget (at least 1)."""
        return max(1, self.deadline - self.clock())

    # --- reading ---------------------------------------------------------
    def get(self, resource, namespace, name):
        """The object, or None; in check mode as the simulated writes left it. Read once
        per call: again only after this call wrote it, waited, or lost a 409."""
        key = (resource.kind, namespace, name)
        if key in self.simulated:
            return copied(self.simulated[key])
        found, obj = self.reads.get(resource, namespace, name)
        if not found:
            obj = self.reads.put(resource, namespace, name,
                                 self.kube.unwrapped.get_or_none(resource, namespace, name))
        return copied(obj)

    def list(self, resource, namespace, label_selector=None, shared=False):
        """The items of a list; in check mode with the simulated writes folded in. Read
        once per call, like ``get``. ``shared``: the items the call holds rather than a
        copy, for a caller that only reads them (copying a namespace's 100 Deployments
        costs more than reading them)."""
        items = self.reads.get_list(resource, namespace, label_selector)
        if items is None:
            listed = self.kube.unwrapped.list(resource, namespace, label_selector=label_selector)
            items = self.reads.put_list(resource, namespace, label_selector,
                                        listed.get("items") or [])
        items = list(items) if shared else copied(items)
        if not self.simulated:
            return items
        by_name = dict(((resource.kind, namespace, i["metadata"]["name"]), i) for i in items)
        # A simulated object joins a label-selected list only if it was in it already:
        # matching labels is the server's business.
        for key, obj in self.simulated.items():
            if key[:2] == (resource.kind, namespace) and (
                    label_selector is None or key in by_name):
                by_name[key] = copied(obj)
        return [obj for obj in by_name.values() if obj is not None]

    # --- writing ---------------------------------------------------------
    def write(self, write, current=None, changed=None):
        """Send one write (or, in check mode, simulate it); record the diff and action.
        ``current``: the object as read, when the caller has it (saves a read).
        ``changed(current, result)``: for a write whose effect only the server knows (a
        server-side apply of what may be there already), whether it changed anything;
        when it did not, nothing is recorded (no action, no diff, nothing simulated)."""
        if current is None and write.verb != "create":
            current = self.get(write.resource, write.namespace, write.name)
        label = "%s/%s" % (write.resource.kind, write.name)
        before = self.diff_view(current)
        if self.check_mode:
            result = simulate(write, current, self.kube.unwrapped, self.dry_run_create)
        else:
            result = self._send(write)
            self.reads.written(write.resource, write.namespace, write.name, current, result,
                               moved_kinds(write))
        if changed is not None and current is not None and not changed(current, result):
            return result
        self.before.setdefault(label, before)
        # What a restore on rejection puts back: the state before this call touched it.
        self.originals.setdefault(write.key, copied(current))
        if self.check_mode:
            self.simulated[write.key] = result
        self.written[write.key] = result
        self.after[label] = self.diff_view(result)
        self.actions.append(write.description)
        return result

    def _send(self, write):
        # the client itself: the engine forgets just what it wrote (ReadCache.written)
        kube, r, ns, name, body = self.kube.unwrapped, write.resource, write.namespace, \
            write.name, write.body
        if write.verb == "create":
            return kube.create(r, ns, body)
        if write.verb == "patch":
            return kube.patch(r, ns, name, body)
        if write.verb == "json_patch":
            return kube.patch(r, ns, name, body, JSON_PATCH)
        if write.verb == "apply":
            return kube.apply(r, ns, name, body, FIELD_MANAGER)
        if write.verb == "replace":
            return kube.replace(r, ns, name, body)
        kube.delete(r, ns, name)
        return None

    def reconcile(self, observe, plan, one_at_a_time=False, settle=None, max_writes=8):
        """Read, plan, write; the one place a 409 is handled.

        Plans on a fresh read and writes what the plan says. A 409 means someone else
        wrote in between: read and plan again (at most CONFLICT_RETRIES times), so their
        change is seen, never overwritten. With ``one_at_a_time`` only the plan's first
        write is made, then ``settle(write)`` waits for its effect and the plan is made
        again on fresh reads, until it is empty (a canary scales one Deployment, waits,
        then the other). Returns (first observed, last observed, every write made).
        """
        first = None
        made = []
        while True:
            observed = observe()
            first = observed if first is None else first
            writes = list(plan(observed) or [])
            if not writes:
                return first, observed, made
            if one_at_a_time and len(made) >= max_writes:
                raise KubeError(0, "NotSettled", "the objects did not settle after %d writes "
                                "(%s); is something else changing them?"
                                % (len(made), "; ".join(w.description for w in made)))
            batch = writes[:1] if one_at_a_time else writes
            trying = None
            try:
                for write in batch:
                    trying = write
                    self.write(write)
                    made.append(write)
                    if settle is not None and self.wait:
                        settle(write)
                        self.reads.forget()  # time passed: plan again on fresh reads
            except KubeError as exc:
                if not self.lost_race(exc, trying):
                    raise
                self.reads.forget()  # the re-plan must see the other writer's change
                self.conflicts += 1
                if self.conflicts > CONFLICT_RETRIES:
                    raise ConflictError(
                        409, "Conflict", "%s was changed by another writer %d times while "
                        "this call tried to write it; nothing of theirs was overwritten. "
                        "Last answer: %s" % (_where(batch), self.conflicts, exc), exc.body)
                continue
            if not one_at_a_time:
                return first, observed, made

    def lost_race(self, exc, write):
        """The write lost to another writer: a 409 (the resourceVersion read is stale, or
        the object was created meanwhile), or a JSON patch whose ``test`` operation no
        longer holds. The API server answers the latter with a bare 422 ("the server
        rejected our request due to an error in our request", the test's own words are
        not returned), so the field is read again to tell it from a refused value."""
        if exc.conflict:
            return True
        if exc.status != 422 or write.verb != "json_patch":
            return False
        live = self.kube.get_or_none(write.resource, write.namespace, write.name)
        return live is None or any(
            value_at(live, _pointer(op["path"])) != op.get("value")
            for op in write.body if op["op"] == "test")

    def latest(self, resource, namespace, name, read):
        """The object as this call's last write left it, else ``read`` (no request)."""
        return self.written.get((resource.kind, namespace, name), read)

    @contextlib.contextmanager
    def accounting(self, live=None):
        """An error raised inside (a 403 midway, a timeout) leaves with what this call had
        written (``exc.actions``) and, from ``live()``, what is live now (``exc.live``),
        so the failure can say what it left behind (module_entry puts both in the
        message). ``live`` must not read the cluster: the error may be a lost permission."""
        try:
            yield
        except (KubeError, WaitError) as exc:
            if getattr(exc, "actions", None) is None and not self.check_mode:
                exc.actions = list(self.actions)
                exc.live = live() if live is not None else None
            raise

    # --- proving ---------------------------------------------------------
    def prove(self, proof, rejected=None):
        """Run ``proof()`` (a wait) when waiting is on; on a WaitError call
        ``rejected(error)``, which puts things back and raises, or re-raise."""
        if not self.wait:
            return None
        try:
            return proof()
        except WaitError as exc:
            if rejected is None:
                raise
            return rejected(exc)

    def saw(self, resource, namespace, name, obj):
        """The object as a wait last saw it (the final event of its watch): the freshest
        read there is, kept so that a report made right after does not read it again."""
        self.reads.refresh(resource, namespace, name, obj)
        return obj

    def still_written(self, resource, namespace, name, path):
        """After a proof: the field at ``path`` (e.g. ("spec", "selector")) of an object
        this call wrote still holds what it wrote. Another writer reverting it right after
        the switch would otherwise leave a success reported over traffic that went back;
        raise WaitFailed naming who changed it (from metadata.managedFields)."""
        written = self.written.get((resource.kind, namespace, name))
        if not self.wait or written is None:
            return
        live = self.kube.get_or_none(resource, namespace, name)
        wanted, now = value_at(written, path), value_at(live, path)
        if live is not None and now == wanted:
            return
        where = "%s %s/%s %s" % (resource.kind, namespace, name, ".".join(path))
        if live is None:
            raise WaitFailed("%s: the object was deleted after this call wrote it" % where)
        others = other_managers(live, path)
        raise WaitFailed("%s was changed by %s after this call wrote it: now %r, written %r; "
                         "traffic is not where this call put it" % (
                             where, " and ".join(others) or "another writer", now, wanted),
                         live)

    # --- reporting -------------------------------------------------------
    def result(self, **extra):
        """The skeleton every module returns: changed, actions, diff, warnings."""
        result = dict(changed=self.changed, actions=list(self.actions),
                      diff=dict(before=self.before, after=self.after))
        if self.warnings:
            result["warnings"] = list(self.warnings)
        result.update(extra)
        return result

    # --- the standard call -----------------------------------------------
    def run(self, backend):
        """observe -> plan -> write (409: again) -> prove (reject: restore) -> report."""
        with self.accounting():
            return self._run(backend)

    def _run(self, backend):
        first, observed, writes = self.reconcile(
            lambda: backend.observe(self), backend.plan,
            one_at_a_time=getattr(backend, "one_at_a_time", False),
            settle=getattr(backend, "settle", None))
        prove = getattr(backend, "prove", None)
        if prove is not None and (writes or getattr(backend, "prove_unchanged", False)):
            rejected = getattr(backend, "rejected", None)
            self.prove(lambda: prove(self, observed, writes),
                       rejected and (lambda exc: rejected(self, observed, writes, exc)))
        return self.result(**backend.report(self, first, observed, writes))


def account(exc):
    """What a call that failed midway had written and what is live (Engine.accounting)."""
    if getattr(exc, "actions", None) is None:
        return {}
    found = dict(changed=bool(exc.actions), actions=list(exc.actions))
    if getattr(exc, "live", None):
        found["live"] = exc.live
    return found


def account_text(exc):
    """The same, as the end of the failure message."""
    if getattr(exc, "actions", None) is None:
        return ""
    text = ("; written by this call before it stopped: %s" % "; ".join(exc.actions)
            if exc.actions else "; nothing was written by this call")
    if getattr(exc, "live", None):
        text += "; %s" % exc.live
    return text


class ReadCache(object):
    """What one call has read: objects by (kind, namespace, name), lists by (kind,
    namespace, label selector); an object is also found in an unselected list of its
    kind and namespace. A write forgets the object and the lists of its kind and
    namespace, unless the server's answer shows nothing changed (the same
    resourceVersion); ``forget()`` drops everything (after a watch, a 409, a settle, a
    write made past the engine); reads made past it (``CachingClient``) refresh it.

    A write also sets ``moved``: controllers answer it by changing objects of other
    kinds (a Deployment's ReplicaSets and pods, a Service's EndpointSlices), so the first
    read past the engine after it (the wait or proof that follows the write) forgets what
    was read before: everything, or only the kinds the write is known to move
    (``moved_kinds``). Keying this on the read rather than on the watch matters: a wait
    whose first read already satisfies it never watches."""

    def __init__(self):
        self.objects = {}
        self.lists = {}
        self.moved = set()  # kinds to forget at the next read past the engine (or ALL_KINDS)

    def get(self, resource, namespace, name):
        """(found, the object or None when it does not exist)."""
        key = (resource.kind, namespace, name)
        if key in self.objects:
            return True, self.objects[key]
        items = self.lists.get((resource.kind, namespace, None))
        if items is None:
            return False, None
        for item in items:
            if (item.get("metadata") or {}).get("name") == name:
                return True, item
        return True, None

    def put(self, resource, namespace, name, obj):
        self.objects[(resource.kind, namespace, name)] = obj
        return obj

    def get_list(self, resource, namespace, label_selector):
        return self.lists.get((resource.kind, namespace, label_selector or None))

    def put_list(self, resource, namespace, label_selector, items):
        items = [_with_kind(item, resource) for item in items]
        self.lists[(resource.kind, namespace, label_selector or None)] = items
        return items

    def written(self, resource, namespace, name, before, after, moves=None):
        """``moves``: the kinds the write makes controllers change (None: any kind)."""
        if before is not None and after is not None and _version(before) is not None \
                and _version(before) == _version(after):
            return  # the server kept the object as it was (an apply that changed nothing)
        if moves is None or ALL_KINDS in self.moved:
            self.moved = set([ALL_KINDS])
        else:
            self.moved.update(moves)
        self.objects.pop((resource.kind, namespace, name), None)
        for key in list(self.lists):
            if key[:2] == (resource.kind, namespace):
                del self.lists[key]

    def forget(self):
        self.objects.clear()
        self.lists.clear()
        self.moved = set()

    def read_past(self):
        """A read past the engine is about to happen: after a write, drop what it moved."""
        if ALL_KINDS in self.moved:
            self.forget()
            return
        moved, self.moved = self.moved, set()
        self._drop(lambda key: key[0] in moved)

    def _drop_kind(self, resource, namespace):
        self._drop(lambda key: key[:2] == (resource.kind, namespace))

    def _drop(self, matches):
        for store in (self.objects, self.lists):
            for key in [key for key in store if matches(key)]:
                del store[key]

    def refresh(self, resource, namespace, name, obj):
        """A read made past the cache: the object as it is now."""
        for key in list(self.lists):
            if key[:2] == (resource.kind, namespace):
                del self.lists[key]  # they may hold an older copy of it
        self.put(resource, namespace, name, copied(obj))

    def refresh_list(self, resource, namespace, label_selector, field_selector, items):
        """A list made past the cache: it supersedes what the cache holds of that kind."""
        name = (field_selector or "").partition("metadata.name=")[2]
        if field_selector and name and "," not in name and not label_selector:
            self.refresh(resource, namespace, name,
                         _with_kind(items[0], resource) if items else None)
            return
        self._drop_kind(resource, namespace)
        if not field_selector:
            self.put_list(resource, namespace, label_selector, copied(items))


class CachingClient(object):
    """The client as backends use it (``engine.kube``) for their waits, proofs and
    restores. What it reads is fresher than the engine's copy: a GET or a list narrowed to
    one name (how a wait reads) replaces that object in the cache, any other list replaces
    what the cache holds of that kind and namespace. A watch (the call waits for the
    cluster to move), a write made past the engine, or the first read after one of the
    engine's writes forgets everything read so far (``ReadCache.moved``)."""

    MOVES = ("watch", "create", "patch", "apply", "replace", "delete")

    def __init__(self, kube, reads):
        self.unwrapped = kube
        self._reads = reads

    def __getattr__(self, name):
        attr = getattr(self.unwrapped, name)
        if name not in self.MOVES:
            return attr

        def moving(*args, **kwargs):
            self._reads.forget()
            return attr(*args, **kwargs)
        return moving

    def get(self, resource, namespace, name):
        self._reads.read_past()
        obj = self.unwrapped.get(resource, namespace, name)
        self._reads.refresh(resource, namespace, name, obj)
        return obj

    def get_or_none(self, resource, namespace, name):
        self._reads.read_past()
        obj = self.unwrapped.get_or_none(resource, namespace, name)
        self._reads.refresh(resource, namespace, name, obj)
        return obj

    def list(self, resource, namespace=None, label_selector=None, field_selector=None):
        self._reads.read_past()
        listed = self.unwrapped.list(resource, namespace, label_selector=label_selector,
                                     field_selector=field_selector)
        self._reads.refresh_list(resource, namespace, label_selector, field_selector,
                                 listed.get("items") or [])
        return listed


ALL_KINDS = "*"


def moved_kinds(write):
    """The kinds of object controllers change in answer to ``write``, when that is known to
    be fewer than all; None otherwise. A Service patch of its selector and metadata moves
    its EndpointSlices (and Endpoints) only: Deployments and pods do not follow Services,
    and what else reads a Service (Ingress, HTTPProxy, HTTPRoute) cares about its name and
    ports. That keeps a blue/green switch from reading the rest of its objects again for
    its report."""
    body = write.body if isinstance(write.body, dict) else {}
    if write.verb == "patch" and write.resource.kind == "Service" \
            and set(body) <= set(["metadata", "spec"]) \
            and set(body.get("spec") or {}) <= set(["selector"]):
        return ("EndpointSlice", "Endpoints")
    return None


def _version(obj):
    return (obj.get("metadata") or {}).get("resourceVersion")


def _with_kind(item, resource):
    """List items come without kind and apiVersion; a GET answer has them."""
    obj = dict(item)
    obj.setdefault("kind", resource.kind)
    obj.setdefault("apiVersion", resource.api_version)
    return obj


def simulate(write, current, kube=None, dry_run_create=False):
    """Check mode: the object as the write would leave it, without writing. Server-side
    apply merges by field ownership, which only the server knows: it is sent as a
    dry run (a create too, with ``dry_run_create``). A Deployment is shown as rolled
    out, so a plan that waits on it goes on."""
    if write.verb == "create":
        result = kube.create(write.resource, write.namespace, write.body, dry_run=True) \
            if dry_run_create else copy.deepcopy(write.body)
    elif write.verb == "patch":
        result = merge_patch(current, write.body)
    elif write.verb == "json_patch":
        result = json_patch(current, write.body)
    elif write.verb == "replace":
        result = copy.deepcopy(write.body)
    elif write.verb == "apply":
        result = kube.apply(write.resource, write.namespace, write.name, write.body,
                            FIELD_MANAGER, dry_run=True)
    else:
        return None
    return as_rolled_out(result)


def as_rolled_out(obj):
    """A Deployment with its status as if its rollout had completed."""
    if not obj or obj.get("kind") != "Deployment":
        return obj
    obj = copied(obj)
    replicas = (obj.get("spec") or {}).get("replicas", 1)
    meta = obj.setdefault("metadata", {})
    meta.setdefault("resourceVersion", "0")
    obj["status"] = dict(observedGeneration=meta.get("generation", 1), replicas=replicas,
                         updatedReplicas=replicas, readyReplicas=replicas,
                         availableReplicas=replicas)
    return obj


def json_patch(current, operations):
    """Check mode: the object as an RFC 6902 patch of object members would leave it
    (``test``, ``add``, ``replace``, ``remove``; list indexes are not needed here)."""
    result = copy.deepcopy(current) if isinstance(current, dict) else {}
    for op in operations:
        keys = _pointer(op["path"])
        parent = result
        for key in keys[:-1]:
            parent = parent.setdefault(key, {})
        if op["op"] in ("add", "replace"):
            parent[keys[-1]] = copy.deepcopy(op["value"])
        elif op["op"] == "remove":
            parent.pop(keys[-1], None)
        elif op["op"] != "test":
            raise ValueError("unsupported JSON patch operation %r" % (op["op"],))
    return result


def _pointer(path):
    """A JSON pointer ("/spec/traffic") as keys."""
    return [k.replace("~1", "/").replace("~0", "~") for k in path.split("/")[1:]]


def value_at(obj, path):
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def other_managers(obj, path):
    """Field managers other than ours that own the field at ``path``, newest first."""
    found = []
    entries = sorted((obj.get("metadata") or {}).get("managedFields") or [],
                     key=lambda e: e.get("time") or "", reverse=True)
    for entry in entries:
        fields = entry.get("fieldsV1") or {}
        for key in path:
            fields = fields.get("f:" + key) if isinstance(fields, dict) else None
        if fields is not None and entry.get("manager") != FIELD_MANAGER:
            found.append("%s (%s at %s)" % (entry.get("manager"), entry.get("operation"),
                                            entry.get("time")))
    return found


def _default_view(obj):
    return obj


def _where(writes):
    return ", ".join("%s %s/%s" % (w.resource.kind, w.namespace, w.name) for w in writes)
