"""JointInferenceService: a cloud (big model) and an edge (small model + HEM) Deployment (gm.md §4.2)."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from sedna.gm.controllers import base, workerstatus
from sedna.gm.controllers.base import (
    Context,
    Controller,
    Downstream,
    Event,
    Observed,
    Plan,
    Refs,
    StatusWrite,
)
from sedna.gm.runtime.names import deployment_name, service_host, service_name
from sedna.gm.runtime.storage import Mount
from sedna.gm.runtime.workers import Owner, Worker, build_deployment, build_hpa, build_service

KIND = "JointInferenceService"
BIG_MODEL_PORT = 5000
SIDES = ("Cloud", "Edge")


def references(obj: dict) -> list[tuple[str, str]]:
    sp = base.spec(obj)
    return [("Model", base.ref_name((sp.get("cloudWorker") or {}).get("model"))),
            ("Model", base.ref_name((sp.get("edgeWorker") or {}).get("model")))]


def _worker(obj: dict, side: str, refs: Refs, ctx: Context) -> Worker:
    sp = base.spec(obj)
    name, ns = base.meta(obj)["name"], base.namespace(obj)
    section = sp.get("cloudWorker" if side == "Cloud" else "edgeWorker") or {}
    model = refs.models.get(base.ref_name(section.get("model"))) or {}
    mounts = [Mount([base.spec(model).get("url", "")], "MODEL_URL", refs.secret_of(model), download=True)]
    env = {"NAMESPACE": ns, "SERVICE_NAME": name}
    if side == "Cloud":
        env["BIG_MODEL_BIND_PORT"] = str(BIG_MODEL_PORT)
        env["WORKER_NAME"] = f"cloudworker-{ctx.suffix()}"
    else:
        env["BIG_MODEL_IP"] = service_host(name, "cloud", ns)
        env["BIG_MODEL_PORT"] = str(BIG_MODEL_PORT)
        env.update(base.hem_env(section.get("hardExampleMining")))
        env["LC_SERVER"] = ctx.config.lc_server
        env["WORKER_NAME"] = f"edgeworker-{ctx.suffix()}"
    return Worker(side, env=env, mounts=mounts)


def _template_of(obj: dict, side: str) -> dict:
    return (base.spec(obj).get("cloudWorker" if side == "Cloud" else "edgeWorker") or {}).get("template") or {}


def _hpa_of(obj: dict, side: str) -> dict | None:
    return (base.spec(obj).get("cloudWorker" if side == "Cloud" else "edgeWorker") or {}).get("hpa")


TEMPLATE_HASH_ANNOTATION = base.TEMPLATE_HASH_ANNOTATION


def _template_hash(obj: dict, side: str) -> str:
    section = base.spec(obj).get("cloudWorker" if side == "Cloud" else "edgeWorker") or {}
    return base.spec_hash({"template": section.get("template"), "model": section.get("model"),
                           "hem": section.get("hardExampleMining")})


def desired_deployment(obj: dict, side: str, refs: Refs, ctx: Context) -> dict:
    owner = Owner(KIND, base.meta(obj))
    dep = build_deployment(owner, _worker(obj, side, refs, ctx), _template_of(obj, side), replicas=1)
    return base.stamp_hash(dep, _template_hash(obj, side))


def reconcile(obj: dict, observed: Observed, refs: Refs, ctx: Context) -> Plan:
    sync = base.begin_service_sync(obj, ctx)
    if sync is None:
        return Plan()
    plan, st, before, first_sync = sync.plan, sync.status, sync.before, sync.first_sync
    owner = Owner(KIND, base.meta(obj))
    name = owner.name
    deps = {d["metadata"]["name"]: d for d in observed.deployments}
    services = {s["metadata"]["name"] for s in observed.services}
    hpas = {h["metadata"]["name"]: h for h in observed.hpas}
    missing_sides = [side for side in SIDES if deployment_name(name, side) not in deps]
    missing = base.missing_refs(refs, references(obj)) if missing_sides else []
    if missing:
        base.pending_for_refs(st, missing, ctx, plan)
        if st != before:
            plan.status = st
        return plan
    for side in SIDES:
        dep_name = deployment_name(name, side)
        if dep_name not in deps:
            plan.create.append(desired_deployment(obj, side, refs, ctx))
        else:
            # Spec changed: replace the Deployment's pod template, keep its identity and replicas (HPA's).
            update = base.deployment_update(deps[dep_name], lambda side=side: desired_deployment(obj, side, refs, ctx),
                                            _template_hash(obj, side), None)
            if update is not None:
                plan.replace.append(update)
        if side == "Cloud" and service_name(name, "cloud") not in services:
            plan.create.append(build_service(owner, "cloud", BIG_MODEL_PORT))
        hpa = _hpa_of(obj, side)
        hpa_name = f"hpa-{dep_name}"
        if hpa:
            manifest = build_hpa(owner, dep_name, hpa)
            if hpa_name in hpas:
                if hpas[hpa_name].get("spec") != manifest["spec"]:
                    current = copy.deepcopy(hpas[hpa_name])
                    current["spec"] = manifest["spec"]
                    current.pop("status", None)
                    plan.replace.append(current)
            else:
                plan.create.append(manifest)
        elif hpa_name in hpas:
            plan.delete.append({"kind": "HorizontalPodAutoscaler", "name": hpa_name})
    # Deployments created by this plan do not count as failed; a Deployment that reports Progressing=False is a
    # terminal failure (upstream), the health of its pods a recoverable one (Degraded / Pending / Running).
    dep_failed = 0 if first_sync else sum(1 for d in observed.deployments if not base.deployment_active(d))
    summary = workerstatus.observe_workers(observed.pods, observed, ctx, plan)
    if dep_failed > 0:
        base.append_condition(st, "Failed", ctx.now_str, "workerFailed", "the worker of service failed")
        plan.events.append(Event("Warning", "workerFailed", "the worker of service failed"))
        st["active"] = summary.active
    else:
        workerstatus.service_workers(st, summary, ctx, plan, KIND)
    st["failed"] = dep_failed + summary.failed
    if st != before:
        plan.status = st
    return plan


def downstream(obj: dict, refs: Refs, deleted: bool) -> list[Downstream]:
    node = (((base.spec(obj).get("edgeWorker") or {}).get("template") or {}).get("spec") or {}).get("nodeName")
    if not node:
        return []
    m = base.meta(obj)
    if deleted:
        return [Downstream(node, "jointinferenceservice", base.namespace(obj), m["name"], "delete")]
    return [Downstream(node, "jointinferenceservice", base.namespace(obj), m["name"], "insert",
                       base.pushed_object(obj, KIND, None))]


def upstream(obj: dict, content: Any, now: datetime) -> list[StatusWrite]:
    owner_info = ((content or {}).get("output") or {}).get("ownerInfo")
    if not isinstance(owner_info, dict):
        return []
    st = base.status_for_report(obj)
    st["metrics"] = base.metrics_from_owner_info(owner_info)
    return [StatusWrite("jointinferenceservices", base.namespace(obj), base.meta(obj)["name"], st)]


CONTROLLER = Controller(KIND, "jointinferenceservices", reconcile, references, downstream, upstream,
                        needs_finalizer=True)
