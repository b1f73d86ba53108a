"""The train -> eval -> deploy stage machine shared by incremental and lifelong learning (gm.md §5.2, §6.2).

Conditions are an append-only list; the last one is the current ``(stage, type)``. ``advance`` runs the
machine to a fixed point in one sync (upstream takes one step per sync and relies on the status update
re-triggering it), so running a sync twice changes nothing the second time.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sedna.api.common import condition_data
from sedna.gm.controllers import base, health
from sedna.gm.controllers.base import Context, Downstream, Event, Plan, Refs
from sedna.gm.controllers.workerstatus import BACKOFF_REASON, DEFAULT_BACKOFF_LIMIT

STAGES = ("Train", "Eval", "Deploy")
NEXT_STAGE = {"Train": "Eval", "Eval": "Deploy", "Deploy": "Train"}
WORKER_TYPE = {"Train": "train", "Eval": "eval", "Deploy": "inference"}
CONDITION_INDEX_ANNOTATION = "sedna.io/condition-index"
ACTIVE_PHASES = ("Pending", "Running")
MAX_STEPS = 12


@dataclass
class Machine:
    """Kind-specific hooks of the stage machine."""

    kind: str
    hot_update: bool
    annotate_deploy: bool                     # write sedna.io/Deploy when the inference pod runs
    deploy_ready_restarts: bool               # (Deploy, Ready) restarts the inference pod
    build_pod: Callable[[str, dict], dict]    # (stage, condition input) -> pod manifest
    check_refs: Callable[[str], list[str]]    # stage -> missing references before creating its pod
    backoff_limit: int = DEFAULT_BACKOFF_LIMIT    # failures of a train/eval pod before its stage fails
    nodes: set[str] | None = None             # the cluster's nodes, for the worker health (None = unknown)


def job_dataset_node(obj: dict, refs: Refs) -> str:
    """The ``nodeName`` of the learning job's Dataset (``""`` while the Dataset is unknown)."""
    dataset = refs.datasets.get(base.ref_name(base.spec(obj).get("dataset"))) or {}
    return base.spec(dataset).get("nodeName") or ""


def pushed_job(obj: dict, kind: str, refs: Refs) -> dict:
    """The learning job as pushed to an LC, with the Secret of its ``credentialName`` if it has one."""
    secret = base.spec(obj).get("credentialName")
    return base.pushed_object(obj, kind, refs.secrets.get(secret) if secret else None)


def condition_input(cond: dict | None) -> dict[str, Any]:
    return condition_data(cond).get("input") or {}


def current_state(st: dict) -> tuple[str, str]:
    last = base.last_condition(st)
    if last is None:
        return "Train", ""
    return last.get("stage") or "Train", last.get("type") or ""


def _pod_order(pod: dict) -> tuple[str, int]:
    meta = base.meta(pod)
    try:
        index = int((meta.get("annotations") or {}).get(CONDITION_INDEX_ANNOTATION, "-1"))
    except ValueError:
        index = -1
    return meta.get("creationTimestamp") or "9999", index


def latest_pod(pods: list[dict], kind: str, stage: str) -> dict | None:
    label = f"{kind.lower()}.sedna.io/worker-type"
    mine = [p for p in pods if (base.meta(p).get("labels") or {}).get(label) == WORKER_TYPE[stage]
            and not base.is_deleting(p)]
    return max(mine, key=_pod_order) if mine else None


def _append(st: dict, stage: str, ctype: str, ctx: Context, reason: str = "", message: str = "") -> None:
    cond = {"type": ctype, "status": "True", "stage": stage,
            "lastHeartbeatTime": ctx.now_str, "lastTransitionTime": ctx.now_str}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    st.setdefault("conditions", []).append(cond)


def advance(st: dict, pods: list[dict], machine: Machine, ctx: Context, plan: Plan,
            node_annotations: dict[str, str]) -> None:
    """Run the stage machine; new pods are added to ``plan.create`` and treated as Pending from then on. Every
    transition is an Event (failures already posted their Warning)."""
    before = len(st.get("conditions") or [])
    _advance(st, pods, machine, ctx, plan, node_annotations)
    for cond in (st.get("conditions") or [])[before:]:
        if cond.get("type") != "Failed":
            plan.events.append(Event("Normal", f"{cond.get('stage')}{cond.get('type')}",
                                     f"{cond.get('stage')} stage: {cond.get('type')}"))


def _advance(st: dict, pods: list[dict], machine: Machine, ctx: Context, plan: Plan,
             node_annotations: dict[str, str]) -> None:
    pods = list(pods)
    for _ in range(MAX_STEPS):
        stage, ctype = current_state(st)
        if stage not in STAGES:
            stage = "Train"
        pod = latest_pod(pods, machine.kind, stage)
        phase = base.pod_phase(pod) if pod is not None else "Unknown"
        if ctype == "":
            _append(st, "Train", "Waiting", ctx)
        elif ctype == "Waiting":
            return
        elif ctype == "Ready":
            if stage in ("Train", "Eval"):
                if phase not in ACTIVE_PHASES:
                    if base.warn_missing(plan, machine.check_refs(stage), f"cannot start {stage} worker: "):
                        return
                    new = machine.build_pod(stage, condition_input(base.last_condition(st)))
                    new["metadata"].setdefault("annotations", {})[CONDITION_INDEX_ANNOTATION] = str(
                        len(st.get("conditions") or []))
                    plan.create.append(new)
                    pods.append(new)
                _append(st, stage, "Starting", ctx)
            elif machine.hot_update and not machine.deploy_ready_restarts:
                _append(st, "Deploy", "Starting", ctx)
            else:
                if base.warn_missing(plan, machine.check_refs("Deploy"), "cannot start inference worker: "):
                    return
                if pod is None or "name" in base.meta(pod):
                    # Restart the inference worker on the deployed model (a pod planned earlier in this
                    # same sync, which has no name yet, already is that restart).
                    if pod is not None:
                        plan.delete.append({"kind": "Pod", "name": pod["metadata"]["name"]})
                        pods.remove(pod)
                    new = machine.build_pod("Deploy", condition_input(base.last_condition(st)))
                    new["metadata"].setdefault("annotations", {})[CONDITION_INDEX_ANNOTATION] = str(
                        len(st.get("conditions") or []))
                    plan.create.append(new)
                    pods.append(new)
                _append(st, "Deploy", "Completed", ctx)
        elif ctype in ("Starting", "Running"):
            worker = health.pod_health(pod, machine.nodes, ctx.now) if pod is not None and "name" in base.meta(pod) else None
            if worker is not None and worker.failures > machine.backoff_limit and stage in ("Train", "Eval"):
                # A crash-looping train/eval worker (restartPolicy OnFailure) fails its stage, as a Job would.
                message = (f"the {stage} worker reached the backoff limit ({worker.failures} failures > "
                           f"backoffLimit {machine.backoff_limit}): {worker.describe()}")
                _append(st, stage, "Failed", ctx, BACKOFF_REASON, message)
                plan.events.append(Event("Warning", BACKOFF_REASON, message))
                plan.delete.append({"kind": "Pod", "name": base.meta(pod)["name"]})
                pods.remove(pod)
                continue
            if phase == "Running":
                node = ((pod or {}).get("spec") or {}).get("nodeName") or ""
                if stage in ("Train", "Eval") or machine.annotate_deploy:
                    if node:
                        node_annotations[f"sedna.io/{stage}"] = node
                    if ctype == "Running":
                        return
                    _append(st, stage, "Running", ctx)
                else:
                    _append(st, stage, "Completed", ctx)
            elif phase == "Succeeded":
                _append(st, stage, "Completed", ctx)
            elif phase == "Failed":
                detail = worker.describe() if worker is not None else f"the {stage} worker failed"
                _append(st, stage, "Failed", ctx, "workerFailed", detail)
                plan.events.append(Event("Warning", "workerFailed", f"the {stage} worker failed: {detail}"))
            elif phase == "Unknown":
                # The stage's worker vanished (deleted out of band): fail the stage so the loop restarts.
                _append(st, stage, "Failed", ctx)
                plan.events.append(Event("Warning", "workerFailed", f"the {stage} worker pod is gone"))
            else:
                return
        elif ctype == "Completed":
            _append(st, NEXT_STAGE[stage], "Waiting", ctx)
        elif ctype == "Failed":
            _append(st, "Train", "Waiting", ctx)
        else:
            return


def lc_condition(st: dict, content: Any, now: str) -> dict:
    """The condition an LC report appends (gm-lc-protocol §4.2); raises ValueError on a bad stage/type."""
    if not isinstance(content, dict):
        raise ValueError("report content must be a JSON object")  # noqa: TRY004 - ValueError = rejected report
    phase = str(content.get("phase") or "").lower()
    stage = {"train": "Train", "eval": "Eval", "deploy": "Deploy"}.get(phase)
    if stage is None:
        raise ValueError(f"invalid phase {content.get('phase')!r}: want train, eval or deploy")
    report = str(content.get("status") or "").lower()
    ctype = {"ready": "Ready", "completed": "Completed", "failed": "Failed", "waiting": "Waiting"}.get(report)
    if ctype is None:
        raise ValueError(f"invalid status {content.get('status')!r}: want ready, completed, failed or waiting")
    data = {"input": content.get("input") or {}, "output": content.get("output") or {}}
    return {"type": ctype, "status": "True", "stage": stage, "message": "reported by lc",
            "data": json.dumps(data, sort_keys=True), "lastHeartbeatTime": now, "lastTransitionTime": now}


def append_lc_condition(st: dict, cond: dict) -> bool:
    """Append unless it repeats the last condition exactly (a report re-sent without a message id)."""
    last = base.last_condition(st)
    if last and all(last.get(k) == cond.get(k) for k in ("type", "stage", "message", "data")):
        return False
    st.setdefault("conditions", []).append(cond)
    return True


def delete_to(nodes: list[str], kind: str, ns: str, name: str) -> list[Downstream]:
    seen: list[str] = []
    for node in nodes:
        if node and node not in seen:
            seen.append(node)
    return [Downstream(n, kind, ns, name, "delete") for n in seen]
