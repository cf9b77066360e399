# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stand-ins for the two Knative Serving pieces that need a data plane.

The real Knative controller (configurations, revisions, routes, services, labeler,
serverless services, gc) runs unchanged next to this process. What it cannot have on the
testbed is the autoscaler (it scrapes pod metrics) and a networking layer (it programs
and probes gateways). This process plays both, reading and writing only the API server:

* PodAutoscaler (class kpa): does what the KPA reconciler does, with the Routes'
  programmed traffic standing in for request metrics: a revision that some Route's
  status.traffic gives a percent > 0 wants one pod (as if requests kept arriving), any
  other revision none, within the min/max-scale bounds (no floor once Unreachable), after
  it has come up once at its initial scale. It creates/updates the ServerlessService like
  the KPA (the real SKS reconciler then makes the revision's Services and Endpoints),
  patches the Deployment's spec.replicas like the KPA's scaler, and writes the PA status
  with the KPA's condition logic (Active/ScaleTargetInitialized/SKSReady/Ready,
  desiredScale, actualScale, serviceName, metricsServiceName).
* KIngress (networking.internal.knative.dev Ingress) of our ingress class: marked
  NetworkConfigured and LoadBalancerReady with fixed public/private load balancer names,
  as a networking layer does after its probes pass. Nothing is probed.

Everything is driven by watches (PodAutoscalers, ServerlessServices, revision
Deployments, Ingresses, Routes); one worker thread reconciles one key at a time.
"""
from __future__ import annotations

import argparse
import copy
import datetime
import logging
import os
import re
import signal
import sys
import threading

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

LOG = logging.getLogger("knative-standin")

AUTOSCALING = ("autoscaling.internal.knative.dev", "v1alpha1")
SERVING = ("serving.knative.dev", "v1")
NETWORKING = ("networking.internal.knative.dev", "v1alpha1")
SYSTEM_NAMESPACE = "knative-serving"

KPA_CLASS = "kpa.autoscaling.knative.dev"
CLASS_ANNOTATION = "autoscaling.knative.dev/class"
INGRESS_CLASS_ANNOTATIONS = ("networking.knative.dev/ingress.class", "networking.knative.dev/ingress-class")
REVISION_LABEL = "serving.knative.dev/revision"
METRIC_ANNOTATION = "autoscaling.knative.dev/metric"
# Annotation keys in the order Knative reads them (new spelling first).
MIN_SCALE = ("autoscaling.knative.dev/min-scale", "autoscaling.knative.dev/minScale")
MAX_SCALE = ("autoscaling.knative.dev/max-scale", "autoscaling.knative.dev/maxScale")
INITIAL_SCALE = ("autoscaling.knative.dev/initial-scale", "autoscaling.knative.dev/initialScale")

PROGRESS_DEADLINE = "serving.knative.dev/progress-deadline"
ACTIVATION_TIMEOUT_BUFFER = 10.0  # seconds the KPA adds to the progress deadline
MIN_ACTIVATORS = 2  # the KPA's floor for SKS numActivators
NO_PRIVATE_SERVICE_NAME = "No Private Service Name"
NO_TRAFFIC = ("NoTraffic", "The target is not receiving traffic.")
QUEUED = ("Queued", "Requests to the target are being buffered as resources are provisioned.")
FAILED_GENERATION_BUMP = ("NewObservedGenFailure", "unsuccessfully observed a new generation")

PA_DEPENDENTS = ("Active", "ScaleTargetInitialized", "SKSReady")
INGRESS_DEPENDENTS = ("NetworkConfigured", "LoadBalancerReady")


# ---------------------------------------------------------------- conditions

def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def parse_time(value: str | None) -> datetime.datetime:
    if not value:
        return datetime.datetime.min.replace(tzinfo=datetime.timezone.utc)
    return datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


def format_time(value: datetime.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


class Conditions:
    """Knative's living condition set (knative.dev/pkg/apis), same rules: the happy
    condition `Ready` follows its dependents, a False dependent beats an Unknown one, the
    most recently changed wins, and lastTransitionTime only moves when a condition changes.
    Times are datetimes in memory, RFC 3339 strings on the wire."""

    def __init__(self, dependents: tuple[str, ...], status: dict):
        self.dependents = dependents
        self.original = {c["type"]: c for c in status.get("conditions") or []}
        self.conds = {t: dict(c, lastTransitionTime=parse_time(c.get("lastTransitionTime")))
                      for t, c in self.original.items()}

    def get(self, ctype: str) -> dict | None:
        return self.conds.get(ctype)

    def is_status(self, ctype: str, status: str) -> bool:
        c = self.conds.get(ctype)
        return bool(c) and c["status"] == status

    def set(self, ctype: str, status: str, reason: str = "", message: str = "") -> None:
        cond = {"type": ctype, "status": status}
        if reason:
            cond["reason"] = reason
        if message:
            cond["message"] = message
        old = self.conds.get(ctype)
        if old and {k: v for k, v in old.items() if k != "lastTransitionTime"} == cond:
            return
        cond["lastTransitionTime"] = now()
        self.conds[ctype] = cond

    def initialize(self) -> None:
        if "Ready" not in self.conds:
            self.set("Ready", "Unknown")
        status = "True" if self.conds["Ready"]["status"] == "True" else "Unknown"
        for t in self.dependents:
            if t not in self.conds:
                self.set(t, status)

    def mark_true(self, ctype: str) -> None:
        self.set(ctype, "True")
        self._recompute(ctype)

    def mark_false(self, ctype: str, reason: str, message: str) -> None:
        self.set(ctype, "False", reason, message)
        if ctype in self.dependents:
            self.set("Ready", "False", reason, message)

    def mark_unknown(self, ctype: str, reason: str, message: str) -> None:
        self.set(ctype, "Unknown", reason, message)
        for t in self.dependents:
            if self.is_status(t, "False"):
                if not self.is_status("Ready", "False"):
                    self.mark_false("Ready", reason, message)
                return
        if ctype in self.dependents:
            self.set("Ready", "Unknown", reason, message)

    def _recompute(self, ctype: str) -> None:
        unhappy = self._unhappy_dependent()
        if unhappy is not None:
            self.set("Ready", unhappy["status"], unhappy.get("reason", ""), unhappy.get("message", ""))
        elif ctype != "Ready":
            self.set("Ready", "True")

    def _unhappy_dependent(self) -> dict | None:
        present = sorted((c for t, c in self.conds.items() if t in self.dependents),
                         key=lambda c: c["lastTransitionTime"], reverse=True)
        for wanted in ("False", "Unknown"):
            for c in present:
                if c["status"] == wanted:
                    return c
        if len(present) < len(self.dependents):
            return {"status": "Unknown"}
        return None

    def to_list(self) -> list[dict]:
        """Conditions as stored: unchanged ones keep their original timestamp, all
        changed ones share one new timestamp (Knative's groomConditionsTransitionTime)."""
        stamp = format_time(now())
        out = []
        for ctype in sorted(self.conds):
            cond = {k: v for k, v in self.conds[ctype].items() if k != "lastTransitionTime"}
            old = self.original.get(ctype)
            if old and {k: v for k, v in old.items() if k != "lastTransitionTime"} == cond:
                cond["lastTransitionTime"] = old.get("lastTransitionTime")
            else:
                cond["lastTransitionTime"] = stamp
            out.append(cond)
        return out


def begin_reconcile(obj: dict, dependents: tuple[str, ...]) -> tuple[dict, Conditions]:
    """Knative's PreProcessReconcile: initialise conditions, Ready Unknown on a new generation."""
    status = copy.deepcopy(obj.get("status") or {})
    conds = Conditions(dependents, status)
    conds.initialize()
    if status.get("observedGeneration") != obj["metadata"].get("generation"):
        conds.mark_unknown("Ready", *FAILED_GENERATION_BUMP)
    return status, conds


def end_reconcile(obj: dict, status: dict, conds: Conditions) -> dict:
    status["observedGeneration"] = obj["metadata"].get("generation")
    status["conditions"] = conds.to_list()
    return status


# ---------------------------------------------------------------- PodAutoscaler

def annotation_int(annotations: dict, keys: tuple[str, ...]) -> int | None:
    for key in keys:
        if key in annotations:
            try:
                return int(annotations[key])
            except ValueError:
                return None
    return None


def autoscaler_config(data: dict) -> dict:
    def number(key, default):
        try:
            return int(float(data.get(key, default)))
        except ValueError:
            return default
    return {"min-scale": number("min-scale", 0), "max-scale": number("max-scale", 0),
            "initial-scale": number("initial-scale", 1),
            "allow-zero-initial-scale": data.get("allow-zero-initial-scale", "false").lower() == "true",
            "enable-scale-to-zero": data.get("enable-scale-to-zero", "true").lower() != "false"}


def go_duration(text: str | None) -> float | None:
    """Seconds in a Go duration string ("600s", "1m30s", "2h"); None if not one."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text or "")
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * units[u] for n, u in parts)


def activation_timeout(pa: dict, deployment_cfg: dict) -> float:
    """How long the KPA lets a revision try to come up: its progress deadline + 10s."""
    deadline = go_duration((pa["metadata"].get("annotations") or {}).get(PROGRESS_DEADLINE))
    if deadline is None:
        deadline = go_duration(deployment_cfg.get("progress-deadline", "600s")) or 600.0
    return deadline + ACTIVATION_TIMEOUT_BUFFER


def scale_bounds(pa: dict, cfg: dict) -> tuple[int, int]:
    """PodAutoscaler.ScaleBounds: no floor for an unreachable revision."""
    annotations = pa["metadata"].get("annotations") or {}
    low = 0
    if pa["spec"].get("reachability") != "Unreachable":
        low = annotation_int(annotations, MIN_SCALE)
        low = cfg["min-scale"] if low is None else low
    high = annotation_int(annotations, MAX_SCALE)
    return low, cfg["max-scale"] if high is None else high


def initial_scale(pa: dict, cfg: dict) -> int:
    wanted = annotation_int(pa["metadata"].get("annotations") or {}, INITIAL_SCALE)
    if wanted is None or (wanted == 0 and not cfg["allow-zero-initial-scale"]):
        return cfg["initial-scale"]
    return wanted


def desired_scale(pa: dict, cfg: dict, initialized: bool, has_traffic: bool, given_up: bool) -> int:
    """The KPA's scaler with a traffic signal instead of the metric pipeline: one pod's
    worth of requests while a Route sends the revision a share, none otherwise; the
    initial scale until the revision has come up once, unless it was given up on (it
    could not come up within its activation timeout, or is already inactive) and has no
    traffic; then the min/max bounds (no floor for an Unreachable revision) and
    enable-scale-to-zero."""
    low, high = scale_bounds(pa, cfg)
    start = initial_scale(pa, cfg)
    if not initialized and given_up and not has_traffic:
        want = low = 0
    elif not initialized:
        want = max(start, 1) if has_traffic else start
        low = max(low, start) if start > 1 else low
    else:
        want = 1 if has_traffic and pa["spec"].get("reachability") != "Unreachable" else 0
    want = max(want, low)
    if high > 0:
        want = min(want, high)
    if want == 0 and not cfg["enable-scale-to-zero"]:
        want = 1
    return want


def active_threshold(pa: dict, cfg: dict, initialized: bool) -> int:
    low = scale_bounds(pa, cfg)[0]
    return max(low, initial_scale(pa, cfg)) if not initialized else max(low, 1)


def compute_active(status: dict, conds: Conditions, want: int, ready: int, min_ready: int) -> None:
    """The KPA's computeActiveCondition, verbatim in logic."""
    if ready >= min_ready and status.get("serviceName"):
        conds.mark_true("ScaleTargetInitialized")
    inactive = conds.is_status("Active", "False")
    activating = conds.is_status("Active", "Unknown")
    if want == 0 or min_ready == 0:
        if activating and min_ready > 0:
            conds.mark_false("Active", "TimedOut", "The target could not be activated.")
        else:
            conds.mark_false("Active", *NO_TRAFFIC)
    elif ready < min_ready:
        if want > 0 or not inactive:
            conds.mark_unknown("Active", *QUEUED)
        else:
            conds.mark_false("Active", *NO_TRAFFIC)
    elif want > 0 or not inactive:
        conds.mark_true("Active")


def compute_status(status: dict, conds: Conditions, want: int, ready: int, min_ready: int) -> None:
    status["actualScale"] = ready
    # A restarted KPA has no metrics yet: it keeps the last known desired scale.
    previous = status.get("desiredScale")
    if not (want == -1 and previous is not None and previous >= 0):
        status["desiredScale"] = want
    compute_active(status, conds, want, ready, min_ready)


def sks_for(pa: dict, mode: str) -> dict:
    """resources.MakeSKS: the ServerlessService the KPA keeps next to its PA."""
    meta = pa["metadata"]
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k == METRIC_ANNOTATION}
    return {
        "apiVersion": "/".join(NETWORKING), "kind": "ServerlessService",
        "metadata": {
            "name": meta["name"], "namespace": meta["namespace"],
            "labels": dict(meta.get("labels") or {}), "annotations": annotations,
            "ownerReferences": [{"apiVersion": pa["apiVersion"], "kind": pa["kind"], "name": meta["name"],
                                 "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}],
        },
        "spec": {"mode": mode, "numActivators": MIN_ACTIVATORS, "objectRef": pa["spec"]["scaleTargetRef"],
                 "protocolType": pa["spec"].get("protocolType", "http1")},
    }


def routed_share(routes: list, revision: str) -> int:
    """The percent of requests the Routes' programmed traffic sends to the revision."""
    return sum(t.get("percent") or 0 for r in routes for t in (r.get("status") or {}).get("traffic") or []
               if t.get("revisionName") == revision)


def owned_by(obj: dict, owner: dict) -> bool:
    return any(ref.get("controller") and ref.get("uid") == owner["metadata"]["uid"]
               for ref in obj["metadata"].get("ownerReferences") or [])


def is_ready(obj: dict | None) -> bool:
    if not obj:
        return False
    status = obj.get("status") or {}
    return (status.get("observedGeneration") == obj["metadata"].get("generation")
            and any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or []))


def ready_message(obj: dict) -> str:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c["type"] == "Ready":
            return c.get("message", "")
    return ""


# ---------------------------------------------------------------- Ingress

def ingress_status(ing: dict, public: str, private: str) -> dict:
    """What a networking layer writes once its gateways are programmed and probed."""
    status, conds = begin_reconcile(ing, INGRESS_DEPENDENTS)
    conds.mark_true("NetworkConfigured")
    status["publicLoadBalancer"] = {"ingress": [{"domainInternal": public}]}
    status["privateLoadBalancer"] = {"ingress": [{"domainInternal": private}]}
    conds.mark_true("LoadBalancerReady")
    return end_reconcile(ing, status, conds)


def ingress_class(ing: dict) -> str | None:
    annotations = ing["metadata"].get("annotations") or {}
    for key in INGRESS_CLASS_ANNOTATIONS:
        if key in annotations:
            return annotations[key]
    return None


def same_status(old: dict | None, new: dict) -> bool:
    return (old or {}) == new


# ---------------------------------------------------------------- the process

class WorkQueue:
    """Keys to reconcile, each at most once in the queue."""

    def __init__(self):
        self._cv = threading.Condition()
        self._keys: list = []

    def add(self, key) -> None:
        with self._cv:
            if key not in self._keys:
                self._keys.append(key)
                self._cv.notify()

    def add_after(self, key, seconds: float) -> None:
        timer = threading.Timer(seconds, self.add, (key,))
        timer.daemon = True
        timer.start()

    def get(self):
        with self._cv:
            while not self._keys:
                self._cv.wait()
            return self._keys.pop(0)


class StandIn:
    def __init__(self, api: client.ApiClient, ingress_class_name: str, public_lb: str, private_lb: str):
        self.custom = client.CustomObjectsApi(api)
        self.apps = client.AppsV1Api(api)
        self.core = client.CoreV1Api(api)
        self.ingress_class = ingress_class_name
        self.public_lb, self.private_lb = public_lb, private_lb
        self.queue = WorkQueue()

    # -- reads and writes

    def get(self, group_version, plural, ns, name) -> dict | None:
        try:
            return self.custom.get_namespaced_custom_object(*group_version, ns, plural, name)
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def write_status(self, group_version, plural, obj: dict, status: dict) -> None:
        body = dict(obj, status=status)  # carries resourceVersion: a 409 means re-read
        self.custom.replace_namespaced_custom_object_status(
            *group_version, obj["metadata"]["namespace"], plural, obj["metadata"]["name"], body)

    # -- PodAutoscaler

    def reconcile_pa(self, ns: str, name: str) -> None:
        pa = self.get(AUTOSCALING, "podautoscalers", ns, name)
        if pa is None or pa["metadata"].get("deletionTimestamp"):
            return
        if (pa["metadata"].get("annotations") or {}).get(CLASS_ANNOTATION, KPA_CLASS) != KPA_CLASS:
            return
        cfg = autoscaler_config(self.core.read_namespaced_config_map("config-autoscaler", SYSTEM_NAMESPACE).data or {})
        status, conds = begin_reconcile(pa, PA_DEPENDENTS)
        initialized = conds.is_status("ScaleTargetInitialized", "True")

        sks = self.get(NETWORKING, "serverlessservices", ns, name)
        if sks is None or not (sks.get("status") or {}).get("privateServiceName"):
            # Like the KPA: an SKS with its private Service comes before anything else.
            if sks is None:
                self.create_sks(pa, "Proxy")
            conds.mark_unknown("SKSReady", "NotReady", NO_PRIVATE_SERVICE_NAME)
            compute_status(status, conds, -1, 0, active_threshold(pa, cfg, initialized))
            self.finish_pa(pa, status, conds)
            return
        status["metricsServiceName"] = sks["status"]["privateServiceName"]

        routes = self.custom.list_namespaced_custom_object(*SERVING, ns, "routes")["items"]
        has_traffic = routed_share(routes, name) > 0
        timeout = activation_timeout(pa, self.core.read_namespaced_config_map("config-deployment",
                                                                              SYSTEM_NAMESPACE).data or {})
        active = conds.get("Active")
        activating_for = (now() - active["lastTransitionTime"]).total_seconds() if active["status"] == "Unknown" else -1
        given_up = activating_for > timeout or active["status"] == "False"
        if not initialized and not has_traffic and 0 <= activating_for <= timeout:
            self.queue.add_after(("pa", ns, name), timeout - activating_for + 0.5)  # look again then
        want = desired_scale(pa, cfg, initialized, has_traffic, given_up)
        deployment = self.scale(pa, want)
        sks = self.reconcile_sks(pa, sks, "Serve" if want > 0 else "Proxy")
        if sks is None:
            conds.mark_false("Active", "NotOwned",
                             f'There is an existing ServerlessService "{name}" that we do not own.')
            self.finish_pa(pa, status, conds)
            return
        status["serviceName"] = (sks.get("status") or {}).get("serviceName", "")
        if is_ready(sks):
            conds.mark_true("SKSReady")
        else:
            conds.mark_unknown("SKSReady", "NotReady", ready_message(sks))
        ready = ((deployment or {}).get("status") or {}).get("readyReplicas") or 0
        compute_status(status, conds, want, ready, active_threshold(pa, cfg, initialized))
        self.finish_pa(pa, status, conds)

    def finish_pa(self, pa: dict, status: dict, conds: Conditions) -> None:
        status = end_reconcile(pa, status, conds)
        if not same_status(pa.get("status"), status):
            self.write_status(AUTOSCALING, "podautoscalers", pa, status)
            summary = ", ".join(f"{c['type']}={c['status']}{'/' + c['reason'] if c.get('reason') else ''}"
                                for c in status["conditions"])
            LOG.info("pa %s/%s: desired=%s actual=%s %s", pa["metadata"]["namespace"], pa["metadata"]["name"],
                     status.get("desiredScale"), status.get("actualScale"), summary)

    def create_sks(self, pa: dict, mode: str) -> None:
        try:
            self.custom.create_namespaced_custom_object(*NETWORKING, pa["metadata"]["namespace"],
                                                        "serverlessservices", sks_for(pa, mode))
            LOG.info("sks %s/%s: created (%s)", pa["metadata"]["namespace"], pa["metadata"]["name"], mode)
        except ApiException as e:
            if e.status != 409:
                raise

    def reconcile_sks(self, pa: dict, sks: dict, mode: str) -> dict | None:
        if not owned_by(sks, pa):
            return None
        want = sks_for(pa, mode)["spec"]
        if sks["spec"] != want:
            sks = self.custom.replace_namespaced_custom_object(
                *NETWORKING, sks["metadata"]["namespace"], "serverlessservices", sks["metadata"]["name"],
                dict(sks, spec=want))
            LOG.info("sks %s/%s: mode %s", sks["metadata"]["namespace"], sks["metadata"]["name"], mode)
        return sks

    def scale(self, pa: dict, want: int) -> dict | None:
        """Set the Deployment's replicas the way the KPA's scaler does: a JSON patch of
        spec.replicas on the scale target (the upstream RBAC grants no deployments/scale)."""
        ref = pa["spec"]["scaleTargetRef"]
        ns = pa["metadata"]["namespace"]
        if ref.get("kind") != "Deployment":
            LOG.warning("pa %s/%s: scale target kind %s is not supported", ns, pa["metadata"]["name"], ref.get("kind"))
            return None
        try:
            deployment = self.apps.read_namespaced_deployment(ref["name"], ns)
        except ApiException as e:
            if e.status == 404:
                return None  # the revision reconciler makes it; its watch event brings us back
            raise
        current = deployment.spec.replicas if deployment.spec.replicas is not None else 1
        if want >= 0 and current != want:
            patch = [{"op": "replace", "path": "/spec/replicas", "value": want}]
            deployment = self.apps.patch_namespaced_deployment(ref["name"], ns, patch)
            LOG.info("deployment %s/%s: replicas %d -> %d", ns, ref["name"], current, want)
        return {"status": {"readyReplicas": deployment.status.ready_replicas if deployment.status else 0}}

    # -- Ingress

    def reconcile_ingress(self, ns: str, name: str) -> None:
        ing = self.get(NETWORKING, "ingresses", ns, name)
        if ing is None or ing["metadata"].get("deletionTimestamp") or ingress_class(ing) != self.ingress_class:
            return
        status = ingress_status(ing, self.public_lb, self.private_lb)
        if not same_status(ing.get("status"), status):
            self.write_status(NETWORKING, "ingresses", ing, status)
            LOG.info("ingress %s/%s: Ready (generation %s)", ns, name, ing["metadata"].get("generation"))

    # -- plumbing

    def enqueue_namespace_pas(self, ns: str) -> None:
        """A Route's traffic changed: any revision of the namespace may gain or lose its share."""
        for pa in self.custom.list_namespaced_custom_object(*AUTOSCALING, ns, "podautoscalers")["items"]:
            self.queue.add(("pa", ns, pa["metadata"]["name"]))

    def reconcile(self, key) -> None:
        kind, ns, name = key
        if kind == "pa":
            self.reconcile_pa(ns, name)
        elif kind == "route":
            self.enqueue_namespace_pas(ns)
        else:
            self.reconcile_ingress(ns, name)

    def work(self) -> None:
        failures: dict = {}
        while True:
            key = self.queue.get()
            try:
                self.reconcile(key)
                failures.pop(key, None)
            except ApiException as e:
                failures[key] = failures.get(key, 0) + 1
                delay = min(0.1 * 2 ** failures[key], 10.0)
                level = logging.DEBUG if e.status == 409 else logging.WARNING
                LOG.log(level, "%s %s/%s: HTTP %s %s; retry in %.1fs", *key, e.status, e.reason, delay)
                self.queue.add_after(key, delay)
            except Exception:  # keep serving the other keys; the watch brings this one back
                LOG.exception("%s %s/%s failed", *key)
                self.queue.add_after(key, 5.0)

    def watches(self) -> list[tuple[str, object, tuple, dict, object]]:
        """(name, list function, args, kwargs, object -> key or None)."""
        def custom_key(kind):
            return lambda obj: (kind, obj["metadata"]["namespace"], obj["metadata"]["name"])

        def deployment_key(obj):
            rev = (obj.metadata.labels or {}).get(REVISION_LABEL)
            return ("pa", obj.metadata.namespace, rev) if rev else None

        return [
            ("podautoscalers", self.custom.list_cluster_custom_object, (*AUTOSCALING, "podautoscalers"), {},
             custom_key("pa")),
            ("serverlessservices", self.custom.list_cluster_custom_object, (*NETWORKING, "serverlessservices"), {},
             custom_key("pa")),
            ("deployments", self.apps.list_deployment_for_all_namespaces, (), {"label_selector": REVISION_LABEL},
             deployment_key),
            ("ingresses", self.custom.list_cluster_custom_object, (*NETWORKING, "ingresses"), {},
             custom_key("ingress")),
            ("routes", self.custom.list_cluster_custom_object, (*SERVING, "routes"), {}, custom_key("route")),
        ]


def resource_version(listing) -> str:
    if isinstance(listing, dict):
        return listing["metadata"]["resourceVersion"]
    return listing.metadata.resource_version


def items(listing) -> list:
    return listing["items"] if isinstance(listing, dict) else listing.items


def watch_forever(name, list_fn, args, kwargs, to_key, queue: WorkQueue, synced: threading.Event) -> None:
    """List (enqueue everything), then watch from that resourceVersion; list again when
    the watch ends or its resourceVersion expires. The periodic relist doubles as a resync."""
    while True:
        try:
            listing = list_fn(*args, **kwargs)
            for obj in items(listing):
                key = to_key(obj)
                if key:
                    queue.add(key)
            synced.set()
            stream = watch.Watch().stream(list_fn, *args, resource_version=resource_version(listing),
                                          timeout_seconds=300, allow_watch_bookmarks=True, **kwargs)
            for event in stream:
                if event["type"] == "ERROR":
                    break  # typically 410 Gone: list again
                if event["type"] == "BOOKMARK":
                    continue
                key = to_key(event["object"])
                if key:
                    queue.add(key)
        except Exception as e:  # API server restarting, connection reset...: list again
            LOG.warning("watch %s: %s; listing again in 1s", name, e)
            threading.Event().wait(1.0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    p.add_argument("--kubeconfig", required=True)
    p.add_argument("--ingress-class", required=True, help="the KIngress class this process answers for")
    p.add_argument("--public-lb", required=True, help="status.publicLoadBalancer domainInternal")
    p.add_argument("--private-lb", required=True, help="status.privateLoadBalancer domainInternal")
    p.add_argument("--ready-file", help="written (with our pid) once every watch has listed")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))

    api = config.new_client_from_config(config_file=args.kubeconfig)
    standin = StandIn(api, args.ingress_class, args.public_lb, args.private_lb)
    synced = []
    for name, list_fn, fn_args, kwargs, to_key in standin.watches():
        event = threading.Event()
        synced.append(event)
        threading.Thread(target=watch_forever, name=f"watch-{name}", daemon=True,
                         args=(name, list_fn, fn_args, kwargs, to_key, standin.queue, event)).start()
    worker = threading.Thread(target=standin.work, name="worker", daemon=True)
    worker.start()
    for event in synced:
        event.wait()
    LOG.info("watching podautoscalers, serverlessservices, revision deployments, routes and ingresses (class %s)",
             args.ingress_class)
    if args.ready_file:
        with open(args.ready_file, "w") as f:
            f.write(str(os.getpid()))
    worker.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
