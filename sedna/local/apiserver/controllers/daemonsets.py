"""The DaemonSet controller: one pod of the template on every node the template fits.

As in Kubernetes (1.12+), a daemon pod is not bound by this controller: it carries a required node affinity
``matchFields metadata.name In [<node>]`` and the daemon tolerations, and the scheduler binds it. Which nodes
"fit" is the scheduler's own rule (:func:`node_fits`: nodeSelector, node affinity, taints) applied to the
template, except that a NotReady node still gets its pod (its pod waits, as a real daemon pod does).

The decision is the pure :func:`plan` (``daemonset, nodes, pods -> what to create and delete``); the controller
only feeds it from the store and carries it out. Updates follow ``updateStrategy``: ``RollingUpdate`` replaces
out-of-date pods at most ``maxUnavailable`` (default 1) at a time, counting pods that are not ready as
unavailable; ``OnDelete`` replaces a pod only when someone deletes it. Failed pods are deleted and recreated.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from typing import Any

from sedna.local.apiserver import errors
from sedna.local.apiserver.api import API
from sedna.local.apiserver.controllers.base import Controller, controller_ref
from sedna.local.apiserver.controllers.gc import OwnerIndex
from sedna.local.apiserver.controllers.workloads import (
    NODES,
    PODS,
    _alive,
    _Owned,
    _scaled,
    node_fits,
    pod_ready,
    template_hash,
)
from sedna.local.apiserver.store import Event

log = logging.getLogger(__name__)

DS = "apps/daemonsets"
HASH_LABEL = "controller-revision-hash"
#: what the DaemonSet controller adds to every daemon pod (Kubernetes' daemon tolerations)
DAEMON_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
]


@dataclass
class DaemonPlan:
    create_on: list[str] = field(default_factory=list)      # node names that need a pod
    delete: list[str] = field(default_factory=list)         # pod names
    status: dict[str, Any] = field(default_factory=dict)


def daemon_pod_spec(template_spec: dict[str, Any], node: str) -> dict[str, Any]:
    """The template's pod spec pinned to ``node`` through required node affinity, with daemon tolerations."""
    spec = copy.deepcopy(template_spec)
    pin = {"key": "metadata.name", "operator": "In", "values": [node]}
    affinity = spec.setdefault("affinity", {}).setdefault("nodeAffinity", {})
    required = affinity.setdefault("requiredDuringSchedulingIgnoredDuringExecution", {})
    terms = required.get("nodeSelectorTerms") or [{}]
    # Kubernetes replaces matchFields of every term with the pin, keeping the label expressions
    required["nodeSelectorTerms"] = [{**term, "matchFields": [pin]} for term in terms]
    tolerations = spec.setdefault("tolerations", [])
    for tol in DAEMON_TOLERATIONS:
        if tol not in tolerations:
            tolerations.append(dict(tol))
    return spec


def _fits(template_spec: dict[str, Any], node: dict[str, Any]) -> bool:
    """Would the scheduler place the template on this node, readiness aside?"""
    pod = {"spec": {**template_spec, "tolerations": list(template_spec.get("tolerations") or [])
                    + DAEMON_TOLERATIONS}}
    return node_fits(pod, {"metadata": node["metadata"], "spec": node.get("spec") or {}})


def _pod_node(pod: dict[str, Any]) -> str | None:
    if pod["spec"].get("nodeName"):
        return pod["spec"]["nodeName"]
    terms = ((((pod["spec"].get("affinity") or {}).get("nodeAffinity") or {})
              .get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms") or [])
    for term in terms:
        for expr in term.get("matchFields") or []:
            if expr.get("key") == "metadata.name" and expr.get("values"):
                return expr["values"][0]
    return None


def plan(ds: dict[str, Any], nodes: list[dict[str, Any]], pods: list[dict[str, Any]]) -> DaemonPlan:
    """What to create and delete so that every fitting node runs exactly one up-to-date daemon pod."""
    spec = ds.get("spec") or {}
    template_spec = (spec.get("template") or {}).get("spec") or {}
    want_hash = template_hash(spec.get("template") or {})
    wanted = {n["metadata"]["name"] for n in nodes if _fits(template_spec, n)}
    out = DaemonPlan()
    by_node: dict[str, list[dict[str, Any]]] = {}
    for pod in pods:
        if not _alive(pod):
            continue
        node = _pod_node(pod)
        if (pod.get("status") or {}).get("phase") == "Failed" or node not in wanted:
            out.delete.append(pod["metadata"]["name"])
            continue
        by_node.setdefault(node, []).append(pod)
    outdated: list[dict[str, Any]] = []
    for node in sorted(wanted):
        mine = sorted(by_node.get(node, []), key=lambda p: p["metadata"]["creationTimestamp"])
        if not mine:
            out.create_on.append(node)
            continue
        out.delete.extend(p["metadata"]["name"] for p in mine[1:])     # keep the oldest
        if (mine[0]["metadata"].get("labels") or {}).get(HASH_LABEL) != want_hash:
            outdated.append(mine[0])
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") == "RollingUpdate" and outdated:
        budget = max(1, _scaled((strategy.get("rollingUpdate") or {}).get("maxUnavailable", 1), len(wanted),
                                round_up=True))
        unavailable = len(out.create_on) + sum(1 for node in wanted for p in by_node.get(node, [])[:1]
                                               if not pod_ready(p))
        # not-ready outdated pods go first: replacing them costs no availability
        for pod in sorted(outdated, key=pod_ready):
            if not pod_ready(pod):
                out.delete.append(pod["metadata"]["name"])
            elif unavailable < budget:
                out.delete.append(pod["metadata"]["name"])
                unavailable += 1
    current = [by_node[n][0] for n in sorted(wanted) if by_node.get(n)]
    ready = sum(1 for p in current if pod_ready(p))
    updated = sum(1 for p in current if (p["metadata"].get("labels") or {}).get(HASH_LABEL) == want_hash)
    out.status = {
        "desiredNumberScheduled": len(wanted),
        "currentNumberScheduled": len(current),
        "numberMisscheduled": sum(1 for p in pods if _alive(p) and _pod_node(p) not in wanted),
        "numberReady": ready,
        "numberAvailable": ready,
        "numberUnavailable": len(wanted) - ready,
        "updatedNumberScheduled": updated,
        "observedGeneration": ds["metadata"].get("generation", 1),
    }
    out.status = {k: v for k, v in out.status.items() if v or k in (
        "desiredNumberScheduled", "currentNumberScheduled", "numberMisscheduled", "numberReady",
        "observedGeneration")}
    return out


class DaemonSetController(Controller):
    name = "daemonset-controller"

    def __init__(self, api: API, owners: OwnerIndex):
        super().__init__(api)
        self.rel = _Owned(api, owners)
        self.pod_rd = api.registry.get("", "v1", "pods")
        self.ds_rd = api.registry.get("apps", "v1", "daemonsets")

    def _enqueue_all(self) -> None:
        for ds in self.store.items(DS):
            self.enqueue((ds["metadata"]["namespace"], ds["metadata"]["name"]))

    def resync_all(self) -> None:
        self._enqueue_all()

    def on_event(self, event: Event) -> None:
        if event.bucket == DS:
            self.enqueue((event.obj["metadata"]["namespace"], event.obj["metadata"]["name"]))
        elif event.bucket == PODS:
            ref = controller_ref(event.obj)
            if ref and ref.get("kind") == "DaemonSet":
                self.enqueue((event.obj["metadata"]["namespace"], ref.get("name")))
        elif event.bucket == NODES:
            self._enqueue_all()

    def sync(self, key) -> None:
        ns, name = key
        ds = self.store.get(DS, ns, name)
        if ds is None or not _alive(ds):
            return
        decided = plan(ds, list(self.store.items(NODES)), self.rel.owned(ds, PODS))
        for pod_name in decided.delete:
            try:
                self.api.delete(self.pod_rd, ns, pod_name)
            except errors.APIError as exc:
                if exc.code != 404:
                    raise
        for node in decided.create_on:
            self._create_pod(ds, node)
        if decided.create_on or decided.delete:
            return          # the pod events bring us back; status is written from what is then observed
        if {k: v for k, v in (ds.get("status") or {}).items() if k != "conditions"} != decided.status:
            updated = copy.deepcopy(ds)
            updated["status"] = decided.status
            self.api.update(self.ds_rd, ns, name, updated, subresource="status")

    def _create_pod(self, ds: dict[str, Any], node: str) -> None:
        template = (ds.get("spec") or {}).get("template") or {}
        meta = template.get("metadata") or {}
        labels = {**(meta.get("labels") or {}), HASH_LABEL: template_hash(template)}
        pod = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "generateName": ds["metadata"]["name"] + "-",
                "namespace": ds["metadata"]["namespace"],
                "labels": labels,
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": ds["metadata"]["name"],
                                     "uid": ds["metadata"]["uid"], "controller": True,
                                     "blockOwnerDeletion": True}],
            },
            "spec": daemon_pod_spec(template.get("spec") or {}, node),
        }
        if meta.get("annotations"):
            pod["metadata"]["annotations"] = dict(meta["annotations"])
        self.api.create(self.pod_rd, ds["metadata"]["namespace"], pod)
        log.info("daemonset %s/%s: pod for node %s created", ds["metadata"]["namespace"], ds["metadata"]["name"],
                 node)
