"""A Helm chart on the single-machine cluster: rendered by Helm's own engine, applied in Helm's install order.

Rendering uses ``helm-python-sdk`` (the ``helm`` extra), which embeds Helm's Go template engine, its values
schema check and its CRD handling, so what is applied here is what ``helm install`` would send to a real API
server: ``crds/`` first (Helm never templates them), then the templates' manifests sorted by kind as Helm's
install order sorts them. No cluster is contacted while rendering (``lookup`` finds nothing, so a generated
token is new on every render).

The pure parts — ``--set`` parsing, ordering, splitting rendered files into objects — are plain functions;
:func:`install` is the only one that talks to the API server.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from sedna.api.yamlio import load_all

log = logging.getLogger(__name__)

#: Helm's InstallOrder (pkg/release/util/kind_sorter.go); unknown kinds go last, in name order
INSTALL_ORDER = [
    "PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
    "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass",
    "PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole", "ClusterRoleList",
    "ClusterRoleBinding", "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList",
    "Service", "DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
    "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService",
]


class ChartError(RuntimeError):
    """The chart cannot be rendered (bad values, template error, helm-python-sdk missing); says why."""


@dataclass
class Rendered:
    crd_files: list[str] = field(default_factory=list)                 # text of the chart's crds/ files
    manifests: list[dict[str, Any]] = field(default_factory=list)     # in install order
    notes: str = ""

    @cached_property
    def crds(self) -> list[dict[str, Any]]:
        """The CRD objects, parsed on first use (several MB of YAML: seconds)."""
        return [doc for text in self.crd_files for doc in load_all(text) if isinstance(doc, dict) and doc]

    def objects(self) -> list[dict[str, Any]]:
        return [*self.crds, *self.manifests]


def parse_set(pairs: list[str]) -> dict[str, Any]:
    """``helm --set`` for the common cases: ``a.b=c`` with dotted paths; true/false/null and integers typed,
    ``a.b={x,y}`` a list; later pairs win. (Escapes and list indices are not supported.)"""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key or any(not part for part in key.split(".")):
            raise ChartError(f"--set {pair!r}: expected path.to.key=value")
        node = values
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = _typed(raw)
    return values


def _typed(raw: str) -> Any:
    if raw.startswith("{") and raw.endswith("}"):
        return [_typed(x.strip()) for x in raw[1:-1].split(",") if x.strip()]
    if raw in ("true", "false"):
        return raw == "true"
    if raw == "null":
        return None
    if raw.lstrip("-").isdigit() and not (len(raw.lstrip("-")) > 1 and raw.lstrip("-").startswith("0")):
        return int(raw)
    return raw


def merge_values(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep merge as Helm coalesces ``-f`` files and ``--set``: maps merge, anything else replaces."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_values(out[key], value)
        else:
            out[key] = value
    return out


def sort_for_install(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rank = {kind: i for i, kind in enumerate(INSTALL_ORDER)}
    return sorted(objs, key=lambda o: (rank.get(o.get("kind", ""), len(rank)),
                                       o.get("kind", "") if o.get("kind") not in rank else "",
                                       (o.get("metadata") or {}).get("name", "")))


def split_rendered(files: dict[str, str]) -> tuple[list[dict[str, Any]], str]:
    """Objects of the rendered template files (empty documents dropped) and the NOTES.txt text."""
    objs: list[dict[str, Any]] = []
    notes = ""
    for name in sorted(files):
        if name.endswith("NOTES.txt"):
            notes = files[name]
            continue
        for doc in load_all(files[name]):
            if isinstance(doc, dict) and doc:
                objs.append(doc)
    return objs, notes


def render(chart_dir: str | Path, values: dict[str, Any] | None = None, release: str = "sedna",
           namespace: str = "sedna") -> Rendered:
    """Render ``chart_dir`` as ``helm install RELEASE CHART -n NAMESPACE`` with these user values."""
    try:
        from helm_python.chart import Chart
    except ImportError:
        raise ChartError("rendering a chart needs helm-python-sdk: pip install 'sedna[helm]'") from None
    chart_dir = Path(chart_dir)
    if not (chart_dir / "Chart.yaml").is_file():
        raise ChartError(f"{chart_dir} is not a chart (no Chart.yaml)")
    try:
        chart = Chart.load(str(chart_dir))
        files = chart.render(values or {}, name=release, namespace=namespace, is_install=True)
        crd_files = chart.crds
    except Exception as exc:   # the SDK raises its own classes for values, template and load errors
        raise ChartError(f"helm could not render {chart_dir}: {exc}") from exc
    objs, notes = split_rendered(files)
    return Rendered(crd_files=[f["data"] for f in crd_files], manifests=sort_for_install(objs), notes=notes)


def install(client, rendered: Rendered, namespace: str) -> list[tuple[str, str]]:
    """Apply the rendered chart through a :class:`sedna.local.client.Client`: the release namespace (as
    ``--create-namespace``), the CRDs, then the manifests. Returns ``(kind/name, result)`` per object."""
    results = []
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    for obj in [ns, *rendered.objects()]:
        what = f"{str(obj.get('kind')).lower()}/{obj['metadata']['name']}"
        results.append((what, client.apply(obj, namespace)))
        if obj.get("kind") == "CustomResourceDefinition":
            client.forget_resources()
    return results
