"""Dataset: pushed to the LC of ``spec.nodeName``; the LC reports its sample count (gm.md §4.1)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sedna.gm.controllers import base
from sedna.gm.controllers.base import (
    Context,
    Controller,
    Downstream,
    Observed,
    Plan,
    Refs,
    StatusWrite,
)

KIND = "Dataset"


references = base.credential_references


def reconcile(obj: dict, observed: Observed, refs: Refs, ctx: Context) -> Plan:
    """Datasets own no workers; the only decision is to flag a missing credential Secret."""
    plan = Plan()
    base.warn_missing(plan, base.missing_refs(refs, references(obj)))
    return plan


def downstream(obj: dict, refs: Refs, deleted: bool) -> list[Downstream]:
    node = base.spec(obj).get("nodeName")
    if not node:
        return []
    ns, name = base.namespace(obj), base.meta(obj)["name"]
    if deleted:
        return [Downstream(node, "dataset", ns, name, "delete")]
    return [Downstream(node, "dataset", ns, name, "insert", base.pushed_object(obj, KIND, refs.secret_of(obj)))]


def upstream(obj: dict, content: Any, now: datetime) -> list[StatusWrite]:
    if not isinstance(content, dict) or "numberOfSamples" not in content:
        raise ValueError("dataset report needs numberOfSamples")
    try:
        count = int(content["numberOfSamples"])
    except (TypeError, ValueError):
        raise ValueError(f"numberOfSamples must be an integer, got {content['numberOfSamples']!r}") from None
    if count < 0:
        raise ValueError("numberOfSamples must not be negative")
    return [StatusWrite("datasets", base.namespace(obj), base.meta(obj)["name"],
                        {"numberOfSamples": count, "updateTime": base.fmt_time(now)})]


CONTROLLER = Controller(KIND, "datasets", reconcile, references, downstream, upstream,
                        has_children=False, needs_finalizer=True)
