"""ObjectSearchService: ReID Deployment + Service, user-worker Deployment + Service, one pod per tracking
worker (gm.md §4.7). ``objecttrackingservice`` reuses these builders without the user worker."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sedna.gm.controllers import base, workerstatus
from sedna.gm.controllers.base import Context, Controller, Event, Observed, Plan, Refs, StatusWrite
from sedna.gm.runtime.names import deployment_name, service_host, service_name
from sedna.gm.runtime.workers import Owner, Worker, build_deployment, build_pod, build_service

KIND = "ObjectSearchService"
REID_PORT = 9378
USER_PORT = 9379
FAILED_MESSAGE = "the worker of service failed"
INDEX_ANNOTATION = "sedna.io/worker-index"


def references(obj: dict) -> list[tuple[str, str]]:
    return []


def _reid_hash(sp: dict) -> str:
    return base.spec_hash((sp.get("reidWorkers") or {}).get("template"))


def sync_worker_deployment(owner: Owner, worker_type: str, port: int, desired, spec_hash: str,
                           replicas: int | None, deps: dict[str, dict], services: set[str],
                           creates: list[dict], replaces: list[dict]) -> None:
    """One Deployment-backed worker: create its Deployment (``desired()``) or replace it when its template hash
    or replicas changed, and create its Service when missing."""
    name = deployment_name(owner.name, worker_type)
    if name not in deps:
        creates.append(desired())
    else:
        update = base.deployment_update(deps[name], desired, spec_hash, replicas)
        if update is not None:
            replaces.append(update)
    if service_name(owner.name, worker_type) not in services:
        creates.append(build_service(owner, worker_type, port))


def reid_objects(owner: Owner, sp: dict, deps: dict[str, dict], services: set[str]) -> tuple[list[dict], list[dict]]:
    """(objects to create, Deployments to replace) for the ReID worker: its Deployment follows
    ``reidWorkers.replicas`` and ``reidWorkers.template``."""
    out, replace = [], []
    reid = sp.get("reidWorkers") or {}
    replicas = reid.get("replicas")
    replicas = int(replicas) if replicas is not None else None

    def desired() -> dict:
        dep = build_deployment(owner, Worker("reidworker"), reid.get("template"), replicas)
        return base.stamp_hash(dep, _reid_hash(sp))

    sync_worker_deployment(owner, "reidworker", REID_PORT, desired, _reid_hash(sp), replicas, deps, services,
                           out, replace)
    return out, replace


def tracking_pods(owner: Owner, sp: dict, ctx: Context, with_user: bool, existing: list[dict] | None = None,
                  plan: Plan | None = None) -> list[dict]:
    """One pod per tracking worker that has none yet. Pods record their entry in ``sedna.io/worker-index``
    so a restart in the middle of creating them completes the set instead of failing the service, and the hash
    of their template entry in ``sedna.io/template-hash``: a pod whose entry changed is deleted (on ``plan``)
    and made again from the new template."""
    workers = sp.get("trackingWorkers") or []
    present = set()
    for pod in existing or []:
        annotations = base.meta(pod).get("annotations") or {}
        index = annotations.get(INDEX_ANNOTATION)
        if index is None:
            return []               # made by a GM that did not record indices: do not guess
        have = annotations.get(base.TEMPLATE_HASH_ANNOTATION)
        position = int(index.rsplit("-", 1)[-1]) if index.rsplit("-", 1)[-1].isdigit() else -1
        stale = have is not None and 0 <= position < len(workers) and have != base.spec_hash(
            workers[position].get("template"))
        if stale and plan is not None and base.meta(pod).get("name") and not base.is_deleting(pod):
            plan.delete.append({"kind": "Pod", "name": base.meta(pod)["name"]})
            continue
        present.add(index)
    out = []
    for i, tw in enumerate(workers):
        if f"tracking-{i}" in present:
            continue
        env = {"NAMESPACE": owner.namespace, "SERVICE_NAME": owner.name,
               "WORKER_NAME": f"trackingworker-{ctx.suffix()}"}
        if with_user:
            env["USERWORKER_URL"] = f"{service_host(owner.name, 'userworker', owner.namespace)}:{USER_PORT}"
        env["EDGEMESH_URL"] = f"{service_host(owner.name, 'reidworker', owner.namespace)}:{REID_PORT}"
        pod = build_pod(owner, Worker("trackingworker", env=env), tw.get("template"))
        annotations = pod["metadata"].setdefault("annotations", {})
        annotations[INDEX_ANNOTATION] = f"tracking-{i}"
        annotations[base.TEMPLATE_HASH_ANNOTATION] = base.spec_hash(tw.get("template"))
        out.append(pod)
    return out


def tracking_pods_of(obj: dict, observed: Observed) -> list[dict]:
    """The bare tracking-worker pods (the pods of the Deployments carry the CR's name/uid labels too)."""
    label = f"{obj.get('kind', KIND).lower()}.sedna.io/worker-type"
    return [p for p in observed.pods if (base.meta(p).get("labels") or {}).get(label) == "trackingworker"]


def service_status(obj: dict, observed: Observed, ctx: Context, plan: Plan, needed_deployments: int,
                   creates: list[dict], first_sync: bool, st: dict, before: dict) -> None:
    """Status algorithm of the search/tracking services; deployments that do not exist yet but are being
    created now are not failures. A missing or Failed tracking pod or a failed Deployment is terminal (upstream);
    the health of the running pods makes the service Degraded / Pending / Running."""
    needed_pods = len(base.spec(obj).get("trackingWorkers") or [])
    tracking = tracking_pods_of(obj, observed)
    live_pods = sum(1 for p in tracking if base.pod_phase(p) not in ("Succeeded", "Failed") and not base.is_deleting(p))
    live_pods += sum(1 for m in creates if m["kind"] == "Pod")
    active_deps = sum(1 for d in observed.deployments if base.deployment_active(d))
    active_deps += sum(1 for m in creates if m["kind"] == "Deployment")
    pod_failed = 0 if first_sync else max(needed_pods - live_pods, 0)
    dep_failed = 0 if first_sync else max(needed_deployments - active_deps, 0)
    summary = workerstatus.observe_workers(observed.pods, observed, ctx, plan)
    if pod_failed > 0:
        base.append_condition(st, "Failed", ctx.now_str, "podFailed", FAILED_MESSAGE)
        plan.events.append(Event("Warning", "podFailed", FAILED_MESSAGE))
        st["active"] = summary.active
    elif dep_failed > 0:
        base.append_condition(st, "Failed", ctx.now_str, "deploymentFailed", FAILED_MESSAGE)
        plan.events.append(Event("Warning", "deploymentFailed", FAILED_MESSAGE))
        st["active"] = summary.active
    else:
        workerstatus.service_workers(st, summary, ctx, plan, obj.get("kind") or KIND)
    # a Failed tracking pod is both missing from the live set and failing: count it once
    st["failed"] = dep_failed + max(pod_failed, summary.failed)
    if st != before:
        plan.status = st


def _user_hash(sp: dict) -> str:
    return base.spec_hash((sp.get("userWorker") or {}).get("template"))


def reconcile(obj: dict, observed: Observed, refs: Refs, ctx: Context) -> Plan:
    sync = base.begin_service_sync(obj, ctx)
    if sync is None:
        return Plan()
    plan, st, before, first_sync = sync.plan, sync.status, sync.before, sync.first_sync
    owner = Owner(KIND, base.meta(obj))
    sp = base.spec(obj)
    deps = {d["metadata"]["name"]: d for d in observed.deployments}
    services = {s["metadata"]["name"] for s in observed.services}
    creates, replaces = reid_objects(owner, sp, deps, services)

    def user_deployment() -> dict:
        env = {"NAMESPACE": owner.namespace, "SERVICE_NAME": owner.name,
               "WORKER_NAME": f"userworker-{ctx.suffix()}"}
        dep = build_deployment(owner, Worker("userworker", env=env), (sp.get("userWorker") or {}).get("template"), 1)
        return base.stamp_hash(dep, _user_hash(sp))

    sync_worker_deployment(owner, "userworker", USER_PORT, user_deployment, _user_hash(sp), None, deps, services,
                           creates, replaces)
    creates += tracking_pods(owner, sp, ctx, with_user=True, existing=tracking_pods_of(obj, observed), plan=plan)
    plan.create.extend(creates)
    plan.replace.extend(replaces)
    service_status(obj, observed, ctx, plan, 2, creates, first_sync, st, before)
    return plan


def upstream(obj: dict, content: Any, now: datetime) -> list[StatusWrite]:
    """Upstream's handler for this kind is a no-op; reports are accepted and ignored."""
    return []


CONTROLLER = Controller(KIND, "objectsearchservices", reconcile, references, None, upstream)
