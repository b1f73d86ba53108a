"""Helpers of the deployment tests: the chart rendered by Helm's own engine (helm-python-sdk), by kind/name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "sedna"
K8S_VERSION = "1.30.0"


def render(values: dict[str, Any] | None = None, namespace: str = "sedna"):
    pytest.importorskip("helm_python", reason="helm-python-sdk (the dev/helm extra) renders the chart")
    from sedna.local.chart import render as render_chart

    return render_chart(CHART, values or {}, release="sedna", namespace=namespace)


def by_kind(rendered) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["kind"], o["metadata"]["name"]): o for o in rendered.manifests}


def container(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["spec"]["template"]["spec"]["containers"][0]


def env(obj: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(obj).get("env") or []}
