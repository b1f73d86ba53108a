"""A tiny scheduler: which node an unbound pod goes to (pure functions).

Filters: the node is Ready and schedulable, matches ``spec.nodeSelector`` and the required node affinity
(``matchExpressions`` In/NotIn/Exists/DoesNotExist/Gt/Lt and ``matchFields`` on ``metadata.name``), and its
NoSchedule/NoExecute taints are tolerated. Among the feasible nodes the one with the fewest non-terminal pods
wins, ties broken by name, so the choice is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass
class Decision:
    node: str | None
    message: str = ""


def node_ready(node: Mapping[str, Any]) -> bool:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def _match_expression(expr: Mapping[str, Any], value: str | None) -> bool:
    op, values = expr.get("operator", ""), [str(v) for v in expr.get("values") or []]
    if op == "In":
        return value is not None and value in values
    if op == "NotIn":
        return value is None or value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt"):
        try:
            left, right = int(value or ""), int(values[0])
        except (ValueError, IndexError):
            return False
        return left > right if op == "Gt" else left < right
    return False


def _term_matches(term: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    meta = node.get("metadata") or {}
    labels = meta.get("labels") or {}
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not exprs and not fields:
        return False    # an empty term matches nothing
    for expr in exprs:
        if not _match_expression(expr, labels.get(expr.get("key", ""))):
            return False
    for expr in fields:
        value = meta.get("name") if expr.get("key") == "metadata.name" else None
        if not _match_expression(expr, value):
            return False
    return True


def _tolerated(taint: Mapping[str, Any], tolerations: Iterable[Mapping[str, Any]]) -> bool:
    for tol in tolerations:
        if tol.get("effect") and tol.get("effect") != taint.get("effect"):
            continue
        op = tol.get("operator") or "Equal"
        if not tol.get("key") and op == "Exists":
            return True
        if tol.get("key") != taint.get("key"):
            continue
        if op == "Exists" or (tol.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def unfit_reason(pod: Mapping[str, Any], node: Mapping[str, Any]) -> str:
    """Why ``node`` cannot take ``pod`` ("" when it can)."""
    spec = pod.get("spec") or {}
    if not node_ready(node):
        return "node(s) were not ready"
    if (node.get("spec") or {}).get("unschedulable"):
        return "node(s) were unschedulable"
    labels = (node.get("metadata") or {}).get("labels") or {}
    for key, value in (spec.get("nodeSelector") or {}).items():
        if labels.get(key) != str(value):
            return "node(s) didn't match Pod's node affinity/selector"
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    terms = required.get("nodeSelectorTerms")
    if terms is not None and not any(_term_matches(t, node) for t in terms):
        return "node(s) didn't match Pod's node affinity/selector"
    tolerations = spec.get("tolerations") or []
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not _tolerated(taint, tolerations):
            return "node(s) had untolerated taint"
    return ""


def choose_node(pod: Mapping[str, Any], nodes: Iterable[Mapping[str, Any]], load: Mapping[str, int]) -> Decision:
    """Pick a node for ``pod``; ``load`` counts the non-terminal pods already on each node."""
    nodes = list(nodes)
    feasible: list[str] = []
    reasons: dict[str, int] = {}
    for node in nodes:
        why = unfit_reason(pod, node)
        if why:
            reasons[why] = reasons.get(why, 0) + 1
        else:
            feasible.append(node["metadata"]["name"])
    if not feasible:
        detail = ", ".join(f"{n} {why}" for why, n in sorted(reasons.items()))
        message = f"0/{len(nodes)} nodes are available" + (f": {detail}." if detail else ".")
        return Decision(None, message)
    feasible.sort(key=lambda name: (load.get(name, 0), name))
    return Decision(feasible[0])
