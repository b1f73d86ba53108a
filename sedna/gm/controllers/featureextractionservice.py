"""FeatureExtractionService: one Deployment + Service on port 6000 (gm.md §4.6)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sedna.gm.controllers import base, workerstatus
from sedna.gm.controllers.base import Context, Controller, Event, Observed, Plan, Refs, StatusWrite
from sedna.gm.runtime.names import deployment_name, service_name
from sedna.gm.runtime.storage import Mount
from sedna.gm.runtime.workers import Owner, Worker, build_deployment, build_service

KIND = "FeatureExtractionService"
PORT = 6000


def references(obj: dict) -> list[tuple[str, str]]:
    return [("Model", base.ref_name(base.spec(obj).get("model")))]


def _replicas(obj: dict) -> int:
    return int(base.spec(obj).get("replicas") or 1)


def _spec_hash(obj: dict) -> str:
    sp = base.spec(obj)
    return base.spec_hash({"template": sp.get("template"), "model": sp.get("model"),
                           "kafka": sp.get("kafkaSupport")})


def build_workers(obj: dict, refs: Refs, ctx: Context) -> list[dict]:
    owner = Owner(KIND, base.meta(obj))
    sp = base.spec(obj)
    model = refs.models.get(base.ref_name(sp.get("model"))) or {}
    env = {"WORKER_NAME": ctx.suffix(), "NAMESPACE": owner.namespace, "SERVICE_NAME": owner.name,
           "LC_SERVER": ctx.config.lc_server}
    if sp.get("kafkaSupport"):
        env["KAFKA_ENABLED"] = "true"
    mounts = [Mount([base.spec(model).get("url", "")], "MODEL_URL", refs.secret_of(model), download=True)]
    dep = build_deployment(owner, Worker("fe", env=env, mounts=mounts), sp.get("template"), _replicas(obj))
    return [base.stamp_hash(dep, _spec_hash(obj))]


def reconcile(obj: dict, observed: Observed, refs: Refs, ctx: Context) -> Plan:
    """Upstream expects three Deployments (it counts spec fields); we expect the one it creates."""
    sync = base.begin_service_sync(obj, ctx)
    if sync is None:
        return Plan()
    plan, st, before, first_sync = sync.plan, sync.status, sync.before, sync.first_sync
    owner = Owner(KIND, base.meta(obj))
    deps = {d["metadata"]["name"]: d for d in observed.deployments}
    dep_name = deployment_name(owner.name, "fe")
    if dep_name not in deps:
        missing = base.missing_refs(refs, references(obj))
        if missing:
            base.pending_for_refs(st, missing, ctx, plan)
            if st != before:
                plan.status = st
            return plan
        plan.create.extend(build_workers(obj, refs, ctx))
    else:
        # replicas and template changes reach the Deployment (a missing Model only delays a template change)
        update = base.deployment_update(deps[dep_name], lambda: build_workers(obj, refs, ctx)[0], _spec_hash(obj),
                                        _replicas(obj))
        if update is not None and update["spec"]["template"] != deps[dep_name]["spec"].get("template"):
            missing = base.missing_refs(refs, references(obj))
            if missing:
                base.warn_missing(plan, missing, "cannot update the Deployment: ")
                update = base.deployment_update(deps[dep_name], lambda: deps[dep_name],
                                                base.meta(deps[dep_name]).get("annotations", {}).get(
                                                    base.TEMPLATE_HASH_ANNOTATION, ""), _replicas(obj))
        if update is not None:
            plan.replace.append(update)
    if service_name(owner.name, "fe") not in {s["metadata"]["name"] for s in observed.services}:
        plan.create.append(build_service(owner, "fe", PORT))
    failed_deps = sum(1 for d in observed.deployments if not base.deployment_active(d))
    # Pods appear asynchronously after the Deployment; a deployment failure or a Failed pod is terminal (upstream),
    # a crash-looping or unplaced pod makes the service Degraded / Pending until it recovers.
    summary = workerstatus.observe_workers(observed.pods, observed, ctx, plan)
    if not first_sync and (failed_deps > 0 or summary.failed_pods > 0):
        base.append_condition(st, "Failed", ctx.now_str, "workerFailed",
                              "the worker of FeatureExtractionService failed")
        plan.events.append(Event("Warning", "workerFailed", "the worker of FeatureExtractionService failed"))
        st["active"] = summary.active
    else:
        workerstatus.service_workers(st, summary, ctx, plan, KIND)
    st["failed"] = summary.failed
    if st != before:
        plan.status = st
    return plan


def upstream(obj: dict, content: Any, now: datetime) -> list[StatusWrite]:
    owner_info = ((content or {}).get("output") or {}).get("ownerInfo") if isinstance(content, dict) else None
    if not isinstance(owner_info, dict):
        return []
    st = base.status_for_report(obj)
    st["metrics"] = base.metrics_from_owner_info(owner_info)
    return [StatusWrite("featureextractionservices", base.namespace(obj), base.meta(obj)["name"], st)]


CONTROLLER = Controller(KIND, "featureextractionservices", reconcile, references, None, upstream)
