"""Server-side printing: ``meta.k8s.io/v1`` Table responses as ``kubectl get`` asks for them."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from sedna.local.apiserver.resources import ResourceDef


def age(timestamp: str | None) -> str:
    if not timestamp:
        return "<unknown>"
    try:
        then = datetime.fromisoformat(timestamp[:-1] + "+00:00" if timestamp.endswith("Z") else timestamp)
    except (TypeError, ValueError):
        return "<invalid>"
    if then.tzinfo is None:
        then = then.replace(tzinfo=timezone.utc)
    seconds = max(0, int((datetime.now(timezone.utc) - then).total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 48:
        return f"{hours}h"
    return f"{hours // 24}d"


def json_path(obj: Any, path: str) -> Any:
    """The subset of JSONPath used by printer columns: ``.a.b``, ``.a[0].b``, ``.a[*].b``, ``.a[-1:].b``."""
    tokens = re.findall(r"\.([^.\[\]]+)|\[(-?\d+:?|\*)\]", path.strip().lstrip("{").rstrip("}"))
    values = [obj]
    for name, index in tokens:
        nxt = []
        for value in values:
            if name:
                if isinstance(value, dict) and name in value:
                    nxt.append(value[name])
            elif index == "*":
                if isinstance(value, list):
                    nxt.extend(value)
            elif isinstance(value, list) and index.endswith(":"):
                nxt.extend(value[int(index[:-1]):])
            elif isinstance(value, list) and -len(value) <= int(index) < len(value):
                nxt.append(value[int(index)])
        values = nxt
    if not values:
        return None
    return values[0] if len(values) == 1 else ",".join(str(v) for v in values)


def _col(name: str, type_: str = "string", description: str = "", priority: int = 0, fmt: str = "") -> dict:
    return {"name": name, "type": type_, "format": fmt, "description": description, "priority": priority}


def _restartable(container: dict[str, Any] | None) -> bool:
    """A sidecar: an init container with ``restartPolicy: Always``."""
    return bool(container) and container.get("restartPolicy") == "Always"


def _later(current: str, candidate: Any) -> str:
    return candidate if isinstance(candidate, str) and candidate > current else current


def _terminated_reason(terminated: dict[str, Any], prefix: str = "") -> str:
    if terminated.get("reason"):
        return prefix + terminated["reason"]
    if terminated.get("signal"):
        return f"{prefix}Signal:{terminated['signal']}"
    return f"{prefix}ExitCode:{terminated.get('exitCode', 0)}"


def pod_summary(pod: dict[str, Any]) -> tuple[str, str, str]:
    """READY, STATUS and RESTARTS as kubectl's pod printer computes them (``1/2``, ``Completed``, ``3 (5m ago)``).

    STATUS is the phase (or ``status.reason``), replaced by ``Init:N/M`` / ``Init:<reason>`` while init
    containers run or failed, then by the reason of an app container that is waiting or terminated (``Completed``,
    ``Error``, ``CrashLoopBackOff``, ``ExitCode:N``), back to ``Running`` (``NotReady``) while another container
    still runs, and ``Terminating`` for a pod being deleted that has not finished.
    """
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    phase = status.get("phase") or ""
    reason = status.get("reason") or phase or "Unknown"
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"
    inits = {c.get("name"): c for c in spec.get("initContainers") or [] if isinstance(c, dict)}
    total = len(spec.get("containers") or []) + sum(1 for c in inits.values() if _restartable(c))
    ready = restarts = sidecar_restarts = 0
    last_restart = sidecar_last_restart = ""
    initializing = False
    init_statuses = status.get("initContainerStatuses") or []
    for i, cs in enumerate(init_statuses):
        state = cs.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting")
        restarts += int(cs.get("restartCount") or 0)
        finished = ((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt")
        last_restart = _later(last_restart, finished)
        sidecar = _restartable(inits.get(cs.get("name")))
        if sidecar:
            sidecar_restarts += int(cs.get("restartCount") or 0)
            sidecar_last_restart = _later(sidecar_last_restart, finished)
        if terminated and terminated.get("exitCode", 0) == 0:
            continue
        if sidecar and cs.get("started"):
            ready += 1 if cs.get("ready") else 0
            continue
        if terminated:
            reason = _terminated_reason(terminated, "Init:")
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(inits)}"
        initializing = True
        break
    initialized = any(c.get("type") == "Initialized" and c.get("status") == "True"
                      for c in status.get("conditions") or [])
    if not initializing or initialized:
        restarts, last_restart = sidecar_restarts, sidecar_last_restart
        running = False
        for cs in reversed(status.get("containerStatuses") or []):
            state = cs.get("state") or {}
            terminated, waiting = state.get("terminated"), state.get("waiting")
            restarts += int(cs.get("restartCount") or 0)
            last_restart = _later(last_restart, ((cs.get("lastState") or {}).get("terminated") or {}).get(
                "finishedAt"))
            if waiting and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated:
                reason = _terminated_reason(terminated)
            elif cs.get("ready") and state.get("running") is not None:
                running = True
                ready += 1
        if reason == "Completed" and running:
            pod_ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                            for c in status.get("conditions") or [])
            reason = "Running" if pod_ready else "NotReady"
    if pod["metadata"].get("deletionTimestamp"):
        if status.get("reason") == "NodeLost":
            reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            reason = "Terminating"
    shown_restarts = str(restarts)
    if restarts and last_restart:
        shown_restarts = f"{restarts} ({age(last_restart)} ago)"
    return f"{ready}/{total}", reason, shown_restarts


def _pod_cells(pod: dict[str, Any]) -> list[Any]:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    ready, reason, restarts = pod_summary(pod)
    gates = spec.get("readinessGates") or []
    if gates:
        true_types = {c.get("type") for c in status.get("conditions") or [] if c.get("status") == "True"}
        gates_text = f"{sum(1 for g in gates if g.get('conditionType') in true_types)}/{len(gates)}"
    else:
        gates_text = "<none>"
    return [pod["metadata"]["name"], ready, reason, restarts, age(pod["metadata"].get("creationTimestamp")),
            status.get("podIP") or "<none>", spec.get("nodeName") or "<none>",
            status.get("nominatedNodeName") or "<none>", gates_text]


_POD_DONE = {"Succeeded": {"type": "Completed", "status": "True", "reason": "Succeeded",
                           "message": "The pod has completed successfully."},
             "Failed": {"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}}


def _builtin(rd: ResourceDef) -> tuple[list[dict], Any] | None:
    name = _col("Name", fmt="name", description="Name must be unique within a namespace.")
    created = _col("Age", "date", "CreationTimestamp is a timestamp representing the server time when this "
                                  "object was created.")
    if rd.plural == "pods":
        return ([name, _col("Ready", description="The aggregate readiness state of this pod for accepting "
                                                 "traffic."),
                 _col("Status", description="The aggregate status of the containers in this pod."),
                 _col("Restarts", "string", "The number of times the containers in this pod have been restarted "
                                            "and when the last container in this pod has restarted."), created,
                 _col("IP", priority=1, description="IP address allocated to the pod."),
                 _col("Node", priority=1, description="Name of the node assigned to the pod."),
                 _col("Nominated Node", priority=1, description="Name of the node nominated for the pod."),
                 _col("Readiness Gates", priority=1, description="Pod readiness gates.")], _pod_cells)
    if rd.plural == "deployments":
        def cells(d):
            st, sp = d.get("status") or {}, d.get("spec") or {}
            return [d["metadata"]["name"], f"{st.get('readyReplicas', 0)}/{sp.get('replicas', 1)}",
                    st.get("updatedReplicas", 0), st.get("availableReplicas", 0),
                    age(d["metadata"].get("creationTimestamp"))]
        return [name, _col("Ready"), _col("Up-to-date", "integer"), _col("Available", "integer"), created], cells
    if rd.plural == "replicasets":
        def cells(r):
            st, sp = r.get("status") or {}, r.get("spec") or {}
            return [r["metadata"]["name"], sp.get("replicas", 1), st.get("replicas", 0), st.get("readyReplicas", 0),
                    age(r["metadata"].get("creationTimestamp"))]
        return [name, _col("Desired", "integer"), _col("Current", "integer"), _col("Ready", "integer"), created], cells
    if rd.plural == "namespaces":
        return [name, _col("Status"), created], lambda n: [
            n["metadata"]["name"], (n.get("status") or {}).get("phase", "Active"),
            age(n["metadata"].get("creationTimestamp"))]
    if rd.plural == "nodes":
        def cells(n):
            ready = next((c.get("status") for c in (n.get("status") or {}).get("conditions") or []
                          if c.get("type") == "Ready"), "Unknown")
            roles = ",".join(sorted(k.split("/", 1)[1] for k in n["metadata"].get("labels") or {}
                                    if k.startswith("node-role.kubernetes.io/"))) or "<none>"
            version = ((n.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion", "")
            state = {"True": "Ready", "False": "NotReady"}.get(ready, "Unknown")
            return [n["metadata"]["name"], state, roles, age(n["metadata"].get("creationTimestamp")), version]
        return [name, _col("Status"), _col("Roles"), created, _col("Version")], cells
    if rd.plural == "services":
        def cells(s):
            sp = s.get("spec") or {}
            ports = ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in sp.get("ports") or [])
            return [s["metadata"]["name"], sp.get("type", "ClusterIP"), sp.get("clusterIP") or "<none>", "<none>",
                    ports or "<none>", age(s["metadata"].get("creationTimestamp"))]
        return [name, _col("Type"), _col("Cluster-IP"), _col("External-IP"), _col("Port(s)"), created], cells
    if rd.plural in ("configmaps", "secrets"):
        def cells(o):
            return [o["metadata"]["name"], len(o.get("data") or {}) + len(o.get("binaryData") or {}),
                    age(o["metadata"].get("creationTimestamp"))]
        if rd.plural == "secrets":
            return [name, _col("Type"), _col("Data", "integer"), created], lambda o: [
                o["metadata"]["name"], o.get("type", "Opaque"), len(o.get("data") or {}),
                age(o["metadata"].get("creationTimestamp"))]
        return [name, _col("Data", "integer"), created], cells
    if rd.plural == "events" and not rd.group:
        def cells(e):
            involved = e.get("involvedObject") or {}
            return [e.get("lastTimestamp") and age(e.get("lastTimestamp")) or age(
                e["metadata"].get("creationTimestamp")), e.get("type", ""), e.get("reason", ""),
                f"{(involved.get('kind') or '').lower()}/{involved.get('name', '')}", e.get("message", "")]
        return [_col("Last Seen"), _col("Type"), _col("Reason"), _col("Object"), _col("Message")], cells
    return None


def table(rd: ResourceDef, objects: list[dict[str, Any]], list_meta: dict[str, Any],
          include_object: str = "Metadata") -> dict[str, Any]:
    builtin = None if rd.is_custom else _builtin(rd)
    if builtin is not None:
        columns, cells_of = builtin
    else:
        columns = [_col("Name", fmt="name", description="Name must be unique within a namespace.")]
        printer = (rd.crd_version or {}).get("additionalPrinterColumns") or []
        for col in printer:
            columns.append(_col(col.get("name", ""), col.get("type", "string"), col.get("description", ""),
                                int(col.get("priority", 0)), col.get("format", "")))
        if not printer:
            columns.append(_col("Age", "date"))

        def cells_of(obj):
            row = [obj["metadata"]["name"]]
            for col in printer:
                value = json_path(obj, col.get("jsonPath", ""))
                if col.get("type") == "date" and isinstance(value, str):
                    value = age(value)
                row.append(value)
            if not printer:
                row.append(age(obj["metadata"].get("creationTimestamp")))
            return row
    rows = []
    for obj in objects:
        row = {"cells": cells_of(obj)}
        if rd.plural == "pods" and not rd.group and (obj.get("status") or {}).get("phase") in _POD_DONE:
            row["conditions"] = [_POD_DONE[obj["status"]["phase"]]]
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": obj["metadata"]}
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta,
            "columnDefinitions": columns, "rows": rows}
