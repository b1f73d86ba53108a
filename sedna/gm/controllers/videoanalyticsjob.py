"""VideoAnalyticsJob: one pod + Service on port 4000; batch-job status (gm.md §4.5)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sedna.gm.controllers import base, workerstatus
from sedna.gm.controllers.base import Context, Controller, Observed, Plan, Refs, StatusWrite
from sedna.gm.runtime.names import service_name
from sedna.gm.runtime.storage import Mount
from sedna.gm.runtime.workers import Owner, Worker, build_pod, build_service

KIND = "VideoAnalyticsJob"
PORT = 4000


def references(obj: dict) -> list[tuple[str, str]]:
    return [("Model", base.ref_name(base.spec(obj).get("model")))]


def build_workers(obj: dict, refs: Refs, ctx: Context) -> list[dict]:
    owner = Owner(KIND, base.meta(obj))
    sp = base.spec(obj)
    model_name = base.ref_name(sp.get("model"))
    model = refs.models.get(model_name) or {}
    env = {"WORKER_NAME": ctx.suffix(), "JOB_NAME": owner.name, "NAMESPACE": owner.namespace,
           "MODEL_NAME": model_name, "LC_SERVER": ctx.config.lc_server}
    if sp.get("kafkaSupport"):
        env["KAFKA_ENABLED"] = "true"
    mounts = [Mount([base.spec(model).get("url", "")], "MODEL_URL", refs.secret_of(model), download=True)]
    return [build_pod(owner, Worker("videoanalytics", env=env, mounts=mounts), sp.get("template"))]


def reconcile(obj: dict, observed: Observed, refs: Refs, ctx: Context) -> Plan:
    plan = Plan()
    st = base.status(obj)
    if not observed.pods and not base.has_condition(st, "Completed", "Failed"):
        missing = base.missing_refs(refs, references(obj))
        if missing:
            base.pending_for_refs(st, missing, ctx, plan)
            if st != base.status(obj):
                plan.status = st
            return plan
    workerstatus.run_job_status(obj, observed, ctx, KIND, plan, lambda: build_workers(obj, refs, ctx),
                                lambda: workerstatus.replacement(observed.pods, lambda: build_workers(obj, refs, ctx)))
    done = base.has_condition(plan.status or st, "Completed", "Failed")
    if not done and service_name(base.meta(obj)["name"], "videoanalytics") not in {
            s["metadata"]["name"] for s in observed.services}:
        plan.create.append(build_service(Owner(KIND, base.meta(obj)), "videoanalytics", PORT))
    return plan


def upstream(obj: dict, content: Any, now: datetime) -> list[StatusWrite]:
    if content is not None and not isinstance(content, dict):
        raise ValueError("report content must be a JSON object")
    return []


CONTROLLER = Controller(KIND, "videoanalyticsjobs", reconcile, references, None, upstream)
