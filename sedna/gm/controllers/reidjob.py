"""ReidJob: one pod from ``spec.template``; batch-job status (gm.md §4.4)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sedna.gm.controllers import base, workerstatus
from sedna.gm.controllers.base import Context, Controller, Observed, Plan, Refs, StatusWrite
from sedna.gm.runtime.workers import Owner, Worker, build_pod

KIND = "ReidJob"


def references(obj: dict) -> list[tuple[str, str]]:
    return []


def build_workers(obj: dict, refs: Refs, ctx: Context) -> list[dict]:
    owner = Owner(KIND, base.meta(obj))
    env = {"WORKER_NAME": ctx.suffix(), "JOB_NAME": owner.name, "NAMESPACE": owner.namespace,
           "LC_SERVER": ctx.config.lc_server}
    if base.spec(obj).get("kafkaSupport"):
        env["KAFKA_ENABLED"] = "true"
    return [build_pod(owner, Worker("reid", env=env), base.spec(obj).get("template"))]


def reconcile(obj: dict, observed: Observed, refs: Refs, ctx: Context) -> Plan:
    plan = Plan()
    workerstatus.run_job_status(obj, observed, ctx, KIND, plan, lambda: build_workers(obj, refs, ctx),
                                lambda: workerstatus.replacement(observed.pods, lambda: build_workers(obj, refs, ctx)))
    return plan


def upstream(obj: dict, content: Any, now: datetime) -> list[StatusWrite]:
    """Upstream parses the report and writes nothing; we validate its shape so a bad report is an error."""
    if content is not None and not isinstance(content, dict):
        raise ValueError("report content must be a JSON object")
    return []


CONTROLLER = Controller(KIND, "reidjobs", reconcile, references, None, upstream)
