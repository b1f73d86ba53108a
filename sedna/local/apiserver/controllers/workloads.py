"""The deployment and replica set controllers and a minimal scheduler.

Deployment → ReplicaSet (named ``<deployment>-<pod-template-hash>``) → Pods, with RollingUpdate (maxSurge /
maxUnavailable) and Recreate strategies, revision history cleanup and Kubernetes-like status and conditions.
Pods are only created and deleted here; running them is the process runtime's job, which reports readiness
through the pods' ``Ready`` condition.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import time
from typing import Any

from sedna.local.apiserver import errors
from sedna.local.apiserver.api import API, now, parse_stamp
from sedna.local.apiserver.controllers.base import Controller, controller_ref
from sedna.local.apiserver.controllers.gc import OwnerIndex
from sedna.local.apiserver.store import Event

log = logging.getLogger(__name__)

PODS = "/pods"
RS = "apps/replicasets"
DEPLOY = "apps/deployments"
NODES = "/nodes"
HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
_SAFE = "bcdfghjklmnpqrstvwxz2456789"


def template_hash(template: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    return "".join(_SAFE[b % len(_SAFE)] for b in digest[:10])


def pod_ready(pod: dict[str, Any]) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def ready_since(pod: dict[str, Any]) -> float | None:
    """When the pod became ready (epoch seconds), or None when it is not ready."""
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready" and cond.get("status") == "True":
            return parse_stamp(cond.get("lastTransitionTime")) or 0.0
    return None


def _alive(obj: dict[str, Any]) -> bool:
    return not obj["metadata"].get("deletionTimestamp")


def _scaled(value: Any, total: int, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        fraction = int(value[:-1]) * total / 100
        return math.ceil(fraction) if round_up else math.floor(fraction)
    return int(value or 0)


def _strip_hash(template: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(template)
    labels = (out.get("metadata") or {}).get("labels")
    if labels is not None:
        labels.pop(HASH_LABEL, None)
    return out


class _Owned:
    def __init__(self, api: API, owners: OwnerIndex):
        self.api, self.owners = api, owners

    def owned(self, owner: dict[str, Any], bucket: str) -> list[dict[str, Any]]:
        uid = owner["metadata"]["uid"]
        out = []
        for dep_bucket, ns, name in self.owners.dependents(uid):
            if dep_bucket != bucket:
                continue
            obj = self.api.store.get(dep_bucket, ns, name)
            if obj is not None and (controller_ref(obj) or {}).get("uid") == uid:
                out.append(obj)
        return out


class ReplicaSetController(Controller):
    name = "replicaset-controller"

    def __init__(self, api: API, owners: OwnerIndex):
        super().__init__(api)
        self.rel = _Owned(api, owners)
        self.pod_rd = api.registry.get("", "v1", "pods")
        self.rs_rd = api.registry.get("apps", "v1", "replicasets")

    def resync_all(self) -> None:
        for rs in self.store.items(RS):
            self.enqueue((rs["metadata"]["namespace"], rs["metadata"]["name"]))

    def on_event(self, event: Event) -> None:
        if event.bucket == RS:
            self.enqueue((event.obj["metadata"]["namespace"], event.obj["metadata"]["name"]))
        elif event.bucket == PODS:
            ref = controller_ref(event.obj)
            if ref and ref.get("kind") == "ReplicaSet":
                self.enqueue((event.obj["metadata"]["namespace"], ref.get("name")))

    def sync(self, key) -> None:
        ns, name = key
        rs = self.store.get(RS, ns, name)
        if rs is None or not _alive(rs):
            return
        # finished pods (Succeeded/Failed) no longer count; the controller makes replacements
        pods = [p for p in self.rel.owned(rs, PODS) if _alive(p) and
                (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
        want = int((rs.get("spec") or {}).get("replicas", 1))
        if len(pods) < want:
            for _ in range(want - len(pods)):
                pods.append(self._create_pod(rs))
        elif len(pods) > want:
            # like Kubernetes: unscheduled, then not running, then not ready pods go first; newest first
            newest_first = sorted(pods, key=lambda p: p["metadata"]["creationTimestamp"], reverse=True)
            doomed = sorted(newest_first, key=lambda p: (bool(p["spec"].get("nodeName")),
                                                         (p.get("status") or {}).get("phase") == "Running",
                                                         pod_ready(p)))
            for pod in doomed[:len(pods) - want]:
                try:
                    self.api.delete(self.pod_rd, ns, pod["metadata"]["name"])
                except errors.APIError as exc:
                    if exc.code != 404:
                        raise
            pods = doomed[len(pods) - want:]
        ready = sum(1 for p in pods if pod_ready(p))
        # available = ready for at least minReadySeconds (by the Ready condition's lastTransitionTime)
        min_ready = int((rs.get("spec") or {}).get("minReadySeconds") or 0)
        available, wait = ready, None
        if min_ready > 0:
            available, clock = 0, time.time()
            for p in pods:
                since = ready_since(p)
                if since is None:
                    continue
                if clock - since >= min_ready:
                    available += 1
                else:
                    wait = min(wait or min_ready, min_ready - (clock - since))
            if wait is not None:
                self.enqueue_later(key, wait + 0.5)
        labels = (((rs.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
        status = {
            "replicas": len(pods),
            "fullyLabeledReplicas": sum(1 for p in pods if all(
                (p["metadata"].get("labels") or {}).get(k) == v for k, v in labels.items())),
            "readyReplicas": ready,
            "availableReplicas": available,
            "observedGeneration": rs["metadata"].get("generation", 1),
        }
        status = {k: v for k, v in status.items() if v or k in ("replicas", "observedGeneration")}
        if (rs.get("status") or {}) != status:
            updated = copy.deepcopy(rs)
            updated["status"] = status
            self.api.update(self.rs_rd, ns, name, updated, subresource="status")

    def _create_pod(self, rs: dict[str, Any]) -> dict[str, Any]:
        template = copy.deepcopy((rs.get("spec") or {}).get("template") or {})
        meta = template.get("metadata") or {}
        pod = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "generateName": rs["metadata"]["name"] + "-",
                "namespace": rs["metadata"]["namespace"],
                "labels": meta.get("labels") or {},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs["metadata"]["name"],
                                     "uid": rs["metadata"]["uid"], "controller": True,
                                     "blockOwnerDeletion": True}],
            },
            "spec": template.get("spec") or {},
        }
        if meta.get("annotations"):
            pod["metadata"]["annotations"] = meta["annotations"]
        created, _ = self.api.create(self.pod_rd, rs["metadata"]["namespace"], pod)
        return created


class DeploymentController(Controller):
    name = "deployment-controller"

    def __init__(self, api: API, owners: OwnerIndex):
        super().__init__(api)
        self.rel = _Owned(api, owners)
        self.rs_rd = api.registry.get("apps", "v1", "replicasets")
        self.deploy_rd = api.registry.get("apps", "v1", "deployments")

    def resync_all(self) -> None:
        for d in self.store.items(DEPLOY):
            self.enqueue((d["metadata"]["namespace"], d["metadata"]["name"]))

    def on_event(self, event: Event) -> None:
        if event.bucket == DEPLOY:
            self.enqueue((event.obj["metadata"]["namespace"], event.obj["metadata"]["name"]))
        elif event.bucket == RS:
            ref = controller_ref(event.obj)
            if ref and ref.get("kind") == "Deployment":
                self.enqueue((event.obj["metadata"]["namespace"], ref.get("name")))

    def _scale(self, rs: dict[str, Any], replicas: int) -> dict[str, Any]:
        if rs["spec"].get("replicas") == replicas:
            return rs
        updated = copy.deepcopy(rs)
        updated["spec"]["replicas"] = replicas
        obj, _ = self.api.update(self.rs_rd, rs["metadata"]["namespace"], rs["metadata"]["name"], updated)
        return obj

    def sync(self, key) -> None:
        ns, name = key
        d = self.store.get(DEPLOY, ns, name)
        if d is None or not _alive(d):
            return
        spec = d.get("spec") or {}
        desired = int(spec.get("replicas", 1))
        template = spec.get("template") or {}
        rss = sorted(self.rel.owned(d, RS), key=lambda r: int(r["metadata"].get("annotations", {})
                                                               .get(REVISION, "0")))
        new_rs = next((r for r in rss if _strip_hash(r["spec"].get("template") or {}) == template), None)
        old_rss = [r for r in rss if r is not new_rs and _alive(r)]
        max_revision = max([int(r["metadata"].get("annotations", {}).get(REVISION, "0")) for r in rss] or [0])
        created = False
        strategy = spec.get("strategy") or {}
        recreate = strategy.get("type") == "Recreate"
        rolling = strategy.get("rollingUpdate") or {}
        max_surge = 0 if recreate else _scaled(rolling.get("maxSurge", "25%"), desired, True)
        max_unavailable = 0 if recreate else _scaled(rolling.get("maxUnavailable", "25%"), desired, False)
        if not recreate and max_surge == 0 and max_unavailable == 0:
            max_unavailable = 1
        if spec.get("paused"):
            self._write_status(d, new_rs, rss, desired, max_unavailable, False)
            return
        if new_rs is None:
            start = desired if not any(r["spec"].get("replicas") for r in old_rss) else 0
            new_rs = self._create_rs(d, template, start, max_revision + 1)
            created = True
        elif int(new_rs["metadata"].get("annotations", {}).get(REVISION, "0")) < max_revision:
            updated = copy.deepcopy(new_rs)
            updated["metadata"].setdefault("annotations", {})[REVISION] = str(max_revision + 1)
            new_rs, _ = self.api.update(self.rs_rd, ns, new_rs["metadata"]["name"], updated)
        if recreate:
            for r in old_rss:
                self._scale(r, 0)
            old_pods = sum(len([p for p in self.rel.owned(r, PODS)]) for r in old_rss)
            if old_pods == 0:
                new_rs = self._scale(new_rs, desired)
        elif not any(r["spec"].get("replicas") for r in old_rss):
            new_rs = self._scale(new_rs, desired)
        else:
            new_rs, old_rss = self._roll(new_rs, old_rss, desired, max_surge, max_unavailable)
        self._cleanup(d, [r for r in old_rss if r is not new_rs])
        revision = new_rs["metadata"].get("annotations", {}).get(REVISION)
        if revision and d["metadata"].get("annotations", {}).get(REVISION) != revision:
            updated = copy.deepcopy(d)
            updated["metadata"].setdefault("annotations", {})[REVISION] = revision
            d, _ = self.api.update(self.deploy_rd, ns, name, updated)
        rss = [new_rs] + old_rss
        self._write_status(d, new_rs, rss, desired, max_unavailable, created)

    def _roll(self, new_rs, old_rss, desired, max_surge, max_unavailable):
        def spec_sum():
            return sum(int(r["spec"].get("replicas", 0)) for r in [new_rs] + old_rss)

        def available(r):
            return int((r.get("status") or {}).get("availableReplicas", 0))

        current = int(new_rs["spec"].get("replicas", 0))
        if current < desired:
            room = desired + max_surge - spec_sum()
            if room > 0:
                new_rs = self._scale(new_rs, current + min(room, desired - current))
        elif current > desired:
            new_rs = self._scale(new_rs, desired)
        min_available = desired - max_unavailable
        new_unavailable = int(new_rs["spec"].get("replicas", 0)) - available(new_rs)
        max_scaled_down = spec_sum() - min_available - new_unavailable
        if max_scaled_down <= 0:
            return new_rs, old_rss
        old_rss = sorted(old_rss, key=lambda r: r["metadata"]["creationTimestamp"])
        result = []
        for r in old_rss:
            unhealthy = int(r["spec"].get("replicas", 0)) - available(r)
            take = min(max_scaled_down, max(unhealthy, 0))
            if take > 0:
                r = self._scale(r, int(r["spec"]["replicas"]) - take)
                max_scaled_down -= take
            result.append(r)
        old_rss = result
        total_down = sum(available(r) for r in [new_rs] + old_rss) - min_available
        result = []
        for r in old_rss:
            replicas = int(r["spec"].get("replicas", 0))
            if total_down > 0 and replicas > 0:
                take = min(replicas, total_down)
                r = self._scale(r, replicas - take)
                total_down -= take
            result.append(r)
        return new_rs, result

    def _create_rs(self, d, template, replicas, revision):
        phash = template_hash(template)
        rs_template = copy.deepcopy(template)
        rs_template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = phash
        selector = copy.deepcopy(d["spec"].get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = phash
        labels = dict((template.get("metadata") or {}).get("labels") or {}, **{HASH_LABEL: phash})
        desired = int(d["spec"].get("replicas", 1))
        rs = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {
                "name": f"{d['metadata']['name']}-{phash}", "namespace": d["metadata"]["namespace"],
                "labels": labels,
                "annotations": {REVISION: str(revision), "deployment.kubernetes.io/desired-replicas": str(desired),
                                "deployment.kubernetes.io/max-replicas": str(desired)},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": d["metadata"]["name"],
                                     "uid": d["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}],
            },
            "spec": {"replicas": replicas, "selector": selector, "template": rs_template,
                     "minReadySeconds": d["spec"].get("minReadySeconds", 0)},
        }
        try:
            obj, _ = self.api.create(self.rs_rd, d["metadata"]["namespace"], rs)
        except errors.APIError as exc:
            if exc.code != 409:
                raise
            # a replica set of that name exists without being ours (hash collision or orphan): adopt by name
            obj = self.store.get(RS, d["metadata"]["namespace"], rs["metadata"]["name"])
        return obj

    def _cleanup(self, d, old_rss) -> None:
        limit = int(d["spec"].get("revisionHistoryLimit", 10))
        idle = [r for r in old_rss if not r["spec"].get("replicas") and not (r.get("status") or {}).get("replicas")]
        idle.sort(key=lambda r: int(r["metadata"].get("annotations", {}).get(REVISION, "0")))
        for r in idle[:max(0, len(idle) - limit)]:
            try:
                self.api.delete(self.rs_rd, r["metadata"]["namespace"], r["metadata"]["name"])
            except errors.APIError as exc:
                if exc.code != 404:
                    raise

    def _write_status(self, d, new_rs, rss, desired, max_unavailable, created) -> None:
        def s(r, key):
            return int((r.get("status") or {}).get(key, 0)) if r is not None else 0
        rss = [r for r in rss if r is not None]
        available = sum(s(r, "availableReplicas") for r in rss)
        status = {
            "observedGeneration": d["metadata"].get("generation", 1),
            "replicas": sum(s(r, "replicas") for r in rss),
            "updatedReplicas": s(new_rs, "replicas"),
            "readyReplicas": sum(s(r, "readyReplicas") for r in rss),
            "availableReplicas": available,
            "unavailableReplicas": max(0, desired - available),
        }
        status = {k: v for k, v in status.items() if v or k in ("observedGeneration",)}
        old_conditions = {c["type"]: c for c in (d.get("status") or {}).get("conditions") or []}
        rs_name = new_rs["metadata"]["name"] if new_rs is not None else ""
        if available >= desired - max_unavailable:
            avail = ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
        else:
            avail = ("False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.")
        complete = (status.get("updatedReplicas", 0) == desired and status.get("replicas", 0) == desired
                    and available == desired)
        if complete:
            prog = ("True", "NewReplicaSetAvailable", f'ReplicaSet "{rs_name}" has successfully progressed.')
        elif created:
            prog = ("True", "NewReplicaSetCreated", f'Created new replica set "{rs_name}"')
        elif old_conditions.get("Progressing", {}).get("reason") == "NewReplicaSetCreated" and \
                rs_name in old_conditions["Progressing"].get("message", "") and status.get("updatedReplicas", 0) == 0:
            prog = ("True", "NewReplicaSetCreated", old_conditions["Progressing"]["message"])
        else:
            prog = ("True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.')
        old_status = d.get("status") or {}
        progressed = any(old_status.get(k, 0) != status.get(k, 0)
                         for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas"))
        deadline = d["spec"].get("progressDeadlineSeconds")
        old_prog = old_conditions.get("Progressing") or {}
        if not complete and not created and not progressed and isinstance(deadline, int) and old_prog:
            last = parse_stamp(old_prog.get("lastUpdateTime"))
            if old_prog.get("reason") == "ProgressDeadlineExceeded" or (
                    last is not None and time.time() - last > deadline):
                prog = ("False", "ProgressDeadlineExceeded", f'ReplicaSet "{rs_name}" has timed out progressing.')
        if not complete and isinstance(deadline, int):
            self.enqueue_later((d["metadata"]["namespace"], d["metadata"]["name"]), deadline + 1.0)
        conditions = []
        stamp = now()
        for ctype, (cstatus, reason, message) in (("Available", avail), ("Progressing", prog)):
            old = old_conditions.get(ctype)
            same = old and (old.get("status"), old.get("reason"), old.get("message")) == (cstatus, reason, message)
            if same and not (ctype == "Progressing" and progressed):
                conditions.append(old)
                continue
            if same:      # progress made: only the update time moves
                conditions.append(dict(old, lastUpdateTime=stamp))
                continue
            conditions.append({"type": ctype, "status": cstatus, "lastUpdateTime": stamp,
                               "lastTransitionTime": old["lastTransitionTime"] if old and old.get("status") ==
                               cstatus else stamp, "reason": reason, "message": message})
        status["conditions"] = conditions
        if (d.get("status") or {}) != status:
            updated = copy.deepcopy(d)
            updated["status"] = status
            self.api.update(self.deploy_rd, d["metadata"]["namespace"], d["metadata"]["name"], updated,
                            subresource="status")


class Scheduler(Controller):
    """Binds pods without ``spec.nodeName`` to a node that fits (selector, affinity, taints), fewest pods first."""
    name = "scheduler"

    def __init__(self, api: API):
        super().__init__(api)
        self.pod_rd = api.registry.get("", "v1", "pods")

    def resync_all(self) -> None:
        for pod in self.store.items(PODS):
            if not pod["spec"].get("nodeName"):
                self.enqueue((pod["metadata"]["namespace"], pod["metadata"]["name"]))

    def on_event(self, event: Event) -> None:
        if event.bucket == PODS and event.type != "DELETED":
            spec = event.obj.get("spec") or {}
            if not spec.get("nodeName") and spec.get("schedulerName", "default-scheduler") == "default-scheduler":
                self.enqueue((event.obj["metadata"]["namespace"], event.obj["metadata"]["name"]))
        elif event.bucket == NODES and event.type != "DELETED":
            for pod in self.store.items(PODS):
                if not pod["spec"].get("nodeName"):
                    self.enqueue((pod["metadata"]["namespace"], pod["metadata"]["name"]))

    def sync(self, key) -> None:
        ns, name = key
        pod = self.store.get(PODS, ns, name)
        if pod is None or pod["spec"].get("nodeName") or not _alive(pod):
            return
        nodes = [n for n in self.store.items(NODES) if node_fits(pod, n)]
        if not nodes:
            total = self.store.count(NODES)
            self._set_scheduled(pod, None, f"0/{total} nodes are available: no node matches the pod's "
                                           "node selector, affinity or tolerations.")
            return
        load: dict[str, int] = {}
        for other in self.store.items(PODS):
            node = other["spec"].get("nodeName")
            if node:
                load[node] = load.get(node, 0) + 1
        best = min(nodes, key=lambda n: (load.get(n["metadata"]["name"], 0), n["metadata"]["name"]))
        self._set_scheduled(pod, best["metadata"]["name"], "")

    def _set_scheduled(self, pod, node: str | None, message: str) -> None:
        updated = copy.deepcopy(pod)
        conditions = [c for c in (updated.get("status") or {}).get("conditions") or []
                      if c.get("type") != "PodScheduled"]
        if node:
            updated["spec"]["nodeName"] = node
            conditions.append({"type": "PodScheduled", "status": "True", "lastTransitionTime": now()})
        else:
            old = next((c for c in (pod.get("status") or {}).get("conditions") or []
                        if c.get("type") == "PodScheduled"), None)
            if old and old.get("message") == message:
                return
            conditions.append({"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                               "message": message, "lastTransitionTime": now()})
        updated.setdefault("status", {})["conditions"] = conditions
        bind_pod(self.api, updated)


def bind_pod(api: API, pod: dict[str, Any]) -> dict[str, Any]:
    """Write a pod's spec.nodeName and status together, as a binding does."""
    meta = pod["metadata"]
    current = api.store.get(PODS, meta["namespace"], meta["name"])
    if current is None:
        raise errors.not_found(api.registry.get("", "v1", "pods"), meta["name"])
    updated = copy.deepcopy(current)
    updated["spec"]["nodeName"] = pod["spec"].get("nodeName")
    updated["status"] = pod.get("status") or {}
    api.store.put(PODS, updated)
    return updated


def node_fits(pod: dict[str, Any], node: dict[str, Any]) -> bool:
    spec = pod.get("spec") or {}
    node_spec = node.get("spec") or {}
    labels = node["metadata"].get("labels") or {}
    if node_spec.get("unschedulable"):
        return False
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready" and cond.get("status") == "False":
            return False
    for k, v in (spec.get("nodeSelector") or {}).items():
        if labels.get(k) != v:
            return False
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    terms = required.get("nodeSelectorTerms") or []
    if terms and not any(_term_matches(t, node) for t in terms):
        return False
    tolerations = spec.get("tolerations") or []
    for taint in node_spec.get("taints") or []:
        if taint.get("effect") not in ("NoSchedule", "NoExecute"):
            continue
        if not any(_tolerates(t, taint) for t in tolerations):
            return False
    return True


def _term_matches(term: dict[str, Any], node: dict[str, Any]) -> bool:
    labels = node["metadata"].get("labels") or {}
    checks = [(e, labels.get(e.get("key"))) for e in term.get("matchExpressions") or []]
    checks += [(e, node["metadata"]["name"] if e.get("key") == "metadata.name" else None)
               for e in term.get("matchFields") or []]
    for expr, value in checks:
        op, values = expr.get("operator"), expr.get("values") or []
        ok = {"In": value in values, "NotIn": value not in values, "Exists": value is not None,
              "DoesNotExist": value is None}.get(op)
        if op in ("Gt", "Lt"):
            try:
                ok = (int(value) > int(values[0])) if op == "Gt" else (int(value) < int(values[0]))
            except (TypeError, ValueError, IndexError):
                ok = False
        if not ok:
            return False
    return True


def _tolerates(toleration: dict[str, Any], taint: dict[str, Any]) -> bool:
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    if toleration.get("operator") == "Exists":
        return not toleration.get("key") or toleration["key"] == taint.get("key")
    return toleration.get("key") == taint.get("key") and toleration.get("value", "") == taint.get("value", "")
