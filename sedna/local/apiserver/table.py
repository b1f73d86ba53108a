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
        then = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return "<invalid>"
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
    """The subset of JSONPath used by printer columns: ``.a.b``, ``.a[0].b``, ``.a[*].b``."""
    tokens = re.findall(r"\.([^.\[\]]+)|\[(\d+|\*)\]", path.strip().lstrip("{").rstrip("}"))
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
            elif isinstance(value, list) and int(index) < len(value):
                nxt.append(value[int(index)])
        values = nxt
    if not values:
        return None
    return values[0] if len(values) == 1 else ",".join(str(v) for v in values)


def _col(name: str, type_: str = "string", description: str = "", priority: int = 0, fmt: str = "") -> dict:
    return {"name": name, "type": type_, "format": fmt, "description": description, "priority": priority}


def _pod_cells(pod: dict[str, Any]) -> list[Any]:
    status = pod.get("status") or {}
    containers = (pod.get("spec") or {}).get("containers") or []
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for s in statuses if s.get("ready"))
    restarts = sum(int(s.get("restartCount", 0)) for s in statuses)
    phase = status.get("reason") or status.get("phase") or "Unknown"
    for s in statuses:
        waiting = (s.get("state") or {}).get("waiting")
        terminated = (s.get("state") or {}).get("terminated")
        if waiting and waiting.get("reason"):
            phase = waiting["reason"]
        elif terminated and terminated.get("reason") and phase not in ("Succeeded", "Failed"):
            phase = terminated["reason"]
    if pod["metadata"].get("deletionTimestamp"):
        phase = "Terminating"
    return [pod["metadata"]["name"], f"{ready}/{len(containers)}", phase, restarts,
            age(pod["metadata"].get("creationTimestamp")), status.get("podIP") or "<none>",
            (pod.get("spec") or {}).get("nodeName") or "<none>"]


def _builtin(rd: ResourceDef) -> tuple[list[dict], Any] | None:
    name = _col("Name", fmt="name", description="Name must be unique within a namespace.")
    created = _col("Age", "date", "CreationTimestamp is a timestamp representing the server time when this "
                                  "object was created.")
    if rd.plural == "pods":
        return ([name, _col("Ready"), _col("Status"), _col("Restarts", "string"), created,
                 _col("IP", priority=1), _col("Node", priority=1)], _pod_cells)
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
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": obj["metadata"]}
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta,
            "columnDefinitions": columns, "rows": rows}
