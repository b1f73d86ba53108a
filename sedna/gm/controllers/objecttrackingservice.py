"""ObjectTrackingService: upstream ships only the schema. We run it like ObjectSearchService without the user
worker: a ReID Deployment + Service (port 9378) and one pod per tracking worker whose ``EDGEMESH_URL`` points
at the ReID service; status uses the same algorithm with one needed Deployment."""

from __future__ import annotations

from sedna.gm.controllers import base
from sedna.gm.controllers.base import Context, Controller, Observed, Plan, Refs
from sedna.gm.controllers.objectsearchservice import (
    reid_objects,
    service_status,
    tracking_pods,
    tracking_pods_of,
)
from sedna.gm.runtime.workers import Owner

KIND = "ObjectTrackingService"


def references(obj: dict) -> list[tuple[str, str]]:
    return []


def reconcile(obj: dict, observed: Observed, refs: Refs, ctx: Context) -> Plan:
    sync = base.begin_service_sync(obj, ctx)
    if sync is None:
        return Plan()
    plan, st, before, first_sync = sync.plan, sync.status, sync.before, sync.first_sync
    owner = Owner(KIND, base.meta(obj))
    sp = base.spec(obj)
    creates, replaces = reid_objects(owner, sp, {d["metadata"]["name"]: d for d in observed.deployments},
                                     {s["metadata"]["name"] for s in observed.services})
    creates += tracking_pods(owner, sp, ctx, with_user=False, existing=tracking_pods_of(obj, observed), plan=plan)
    plan.create.extend(creates)
    plan.replace.extend(replaces)
    service_status(obj, observed, ctx, plan, 1, creates, first_sync, st, before)
    return plan


CONTROLLER = Controller(KIND, "objecttrackingservices", reconcile, references, None, None)
