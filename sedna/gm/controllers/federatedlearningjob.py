"""FederatedLearningJob: one aggregation pod + Service and one training pod per participant (gm.md §4.3)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sedna.gm.controllers import base, workerstatus
from sedna.gm.controllers.base import (
    Context,
    Controller,
    Downstream,
    Observed,
    Plan,
    Refs,
    StatusWrite,
)
from sedna.gm.runtime.names import service_host, service_name
from sedna.gm.runtime.storage import Mount
from sedna.gm.runtime.workers import Owner, Worker, build_pod, build_service

KIND = "FederatedLearningJob"
AGG_PORT = 7363
GENERATION_ANNOTATION = "sedna.io/job-generation"
INDEX_ANNOTATION = "sedna.io/worker-index"          # "aggregation" or "train-<i>": which spec entry a pod is
FL_TIME_KEYS = ("lastHeartbeatTime", "lastProbeTime")


def references(obj: dict) -> list[tuple[str, str]]:
    sp = base.spec(obj)
    out = [("Model", base.ref_name((sp.get("aggregationWorker") or {}).get("model")))]
    if sp.get("pretrainedModel"):
        out.append(("Model", base.ref_name(sp["pretrainedModel"])))
    for tw in sp.get("trainingWorkers") or []:
        out.append(("Dataset", base.ref_name(tw.get("dataset"))))
    s3 = (sp.get("transmitter") or {}).get("s3") or {}
    if s3.get("credentialName"):
        out.append(("Secret", s3["credentialName"]))
    return out


def _common(obj: dict, refs: Refs) -> tuple[dict[str, str], list[Mount]]:
    sp = base.spec(obj)
    env: dict[str, str] = {}
    mounts: list[Mount] = []
    s3 = (sp.get("transmitter") or {}).get("s3")
    env["TRANSMITTER"] = "s3" if s3 else "ws"
    if s3:
        secret = refs.secrets.get(s3.get("credentialName") or "")
        mounts.append(Mount([s3.get("aggDataPath", "")], "AGG_DATA_PATH", secret, download=False))
    model = refs.models.get(base.ref_name((sp.get("aggregationWorker") or {}).get("model"))) or {}
    mounts.append(Mount([base.spec(model).get("url", "")], "MODEL_URL", refs.secret_of(model), download=True))
    if sp.get("pretrainedModel"):
        pre = refs.models.get(base.ref_name(sp["pretrainedModel"])) or {}
        mounts.append(Mount([base.spec(pre).get("url", "")], "PRETRAINED_MODEL_URL", refs.secret_of(pre),
                            download=True))
    return env, mounts


def worker_indices(obj: dict) -> list[str]:
    return ["aggregation"] + [f"train-{i}" for i in range(len(base.spec(obj).get("trainingWorkers") or []))]


def build_workers(obj: dict, refs: Refs, ctx: Context, only: set[str] | None = None) -> list[dict]:
    """Aggregator pod, its Service and the training pods; ``only`` restricts pods to those worker indices."""
    sp = base.spec(obj)
    m = base.meta(obj)
    owner = Owner(KIND, m)
    ns, name = owner.namespace, owner.name
    trainers = sp.get("trainingWorkers") or []
    common_env, common_mounts = _common(obj, refs)
    generation = {GENERATION_ANNOTATION: str(m.get("generation", ""))}
    agg_env = {"NAMESPACE": ns, "WORKER_NAME": f"aggworker-{ctx.suffix()}", "JOB_NAME": name,
               "JOB_UID": str(m.get("uid", "")), "AGG_BIND_PORT": str(AGG_PORT), "PARTICIPANTS_COUNT": str(len(trainers)), **common_env}
    agg = Worker("Aggregation", env=agg_env, mounts=list(common_mounts), restart_policy="OnFailure")
    out = []
    if only is None or "aggregation" in only:
        out.append(_annotate(build_pod(owner, agg, (sp.get("aggregationWorker") or {}).get("template")),
                             {**generation, INDEX_ANNOTATION: "aggregation"}))
    if only is None:
        out.append(build_service(owner, "aggregation", AGG_PORT))
    model_name = base.ref_name((sp.get("aggregationWorker") or {}).get("model"))
    for i, tw in enumerate(trainers):
        if only is not None and f"train-{i}" not in only:
            continue
        ds_name = base.ref_name(tw.get("dataset"))
        dataset = refs.datasets.get(ds_name) or {}
        env = {"AGG_IP": service_host(name, "aggregation", ns), "AGG_PORT": str(AGG_PORT),
               "WORKER_NAME": f"trainworker-{ctx.suffix()}", "JOB_NAME": name, "NAMESPACE": ns,
               "PARTICIPANTS_COUNT": str(len(trainers)), "MODEL_NAME": model_name, "DATASET_NAME": ds_name,
               "LC_SERVER": ctx.config.lc_server, **common_env}
        mounts = list(common_mounts) + [Mount([base.spec(dataset).get("url", "")], "TRAIN_DATASET_URL",
                                              refs.secret_of(dataset), download=True)]
        worker = Worker("train", env=env, mounts=mounts, host_network=True, restart_policy="OnFailure")
        out.append(_annotate(build_pod(owner, worker, tw.get("template")),
                             {**generation, INDEX_ANNOTATION: f"train-{i}"}))
    return out


def missing_workers(obj: dict, pods: list[dict]) -> set[str]:
    """Worker indices without a pod (deleted out of band). Pods without the index annotation (made by an
    older GM) make the answer empty: then we cannot tell which entry they are."""
    present = set()
    for pod in pods:
        index = (base.meta(pod).get("annotations") or {}).get(INDEX_ANNOTATION)
        if index is None:
            return set()
        present.add(index)
    return set(worker_indices(obj)) - present


def _annotate(pod: dict, annotations: dict[str, str]) -> dict:
    pod["metadata"].setdefault("annotations", {}).update(annotations)
    return pod


def reconcile(obj: dict, observed: Observed, refs: Refs, ctx: Context) -> Plan:
    plan = Plan()
    st = base.status(obj)
    if base.has_condition(st, "Complete", "Failed"):
        return plan
    name = base.meta(obj)["name"]
    pods = [p for p in observed.pods if not base.is_deleting(p)]
    generation = str(base.meta(obj).get("generation", ""))
    stale = [p for p in pods if generation and (base.meta(p).get("annotations") or {}).get(
        GENERATION_ANNOTATION, generation) != generation]
    if stale:
        # Spec changed while running: replace all workers of this job (and only this job).
        plan.delete.extend({"kind": "Pod", "name": p["metadata"]["name"]} for p in pods)
        pods = []
    if not pods:
        missing = base.missing_refs(refs, references(obj))
        if missing:
            base.pending_for_refs(st, missing, ctx, plan)
            if st != base.status(obj):
                plan.status = st
            return plan
    services = {s["metadata"]["name"] for s in observed.services}

    def create() -> list[dict]:
        workers = build_workers(obj, refs, ctx)
        return [w for w in workers if w["kind"] == "Pod" or w["metadata"]["name"] not in services]

    def replace() -> list[dict]:
        failed = workerstatus.failed_without_replacement(
            pods, lambda p: (base.meta(p).get("annotations") or {}).get(INDEX_ANNOTATION, ""))
        failed.discard("")
        return build_workers(obj, refs, ctx, only=failed) if failed else []

    workerstatus.run_job_status(obj, Observed(pods=pods, nodes=observed.nodes), ctx, KIND, plan, create,
                                replace, time_keys=FL_TIME_KEYS)
    finished = base.has_condition(plan.status or st, "Complete", "Failed")
    if pods and not finished:
        # A worker pod deleted out of band is recreated (upstream recreates it on the delete event).
        lost = missing_workers(obj, pods)
        if lost:
            plan.create.extend(build_workers(obj, refs, ctx, only=lost))
    if pods and service_name(name, "aggregation") not in services and not base.has_condition(
            plan.status or st, "Complete", "Failed"):
        plan.create.append(build_service(Owner(KIND, base.meta(obj)), "aggregation", AGG_PORT))
    return plan


def _nodes(obj: dict) -> list[str]:
    out: list[str] = []
    for tw in base.spec(obj).get("trainingWorkers") or []:
        node = ((tw.get("template") or {}).get("spec") or {}).get("nodeName")
        if node and node not in out:
            out.append(node)
    return out


def downstream(obj: dict, refs: Refs, deleted: bool) -> list[Downstream]:
    ns, name = base.namespace(obj), base.meta(obj)["name"]
    if deleted:
        return [Downstream(n, "federatedlearningjob", ns, name, "delete") for n in _nodes(obj)]
    doc = base.pushed_object(obj, KIND, None)
    return [Downstream(n, "federatedlearningjob", ns, name, "insert", doc) for n in _nodes(obj)]


def upstream(obj: dict, content: Any, now: datetime) -> list[StatusWrite]:
    content = content or {}
    output = content.get("output") or {}
    writes: list[StatusWrite] = []
    ns = base.namespace(obj)
    models = output.get("models") or []
    if models and isinstance(models[0], dict):
        metrics = models[0].get("metrics")
        if isinstance(metrics, dict) and metrics:
            model_name = base.ref_name((base.spec(obj).get("aggregationWorker") or {}).get("model"))
            writes.append(StatusWrite("models", ns, model_name, {
                "metrics": base.metrics_from_owner_info(metrics), "updateTime": base.fmt_time(now)}))
    owner_info = output.get("ownerInfo") or {}
    try:
        current_round = int(owner_info.get("currentRound") or 0)
    except (TypeError, ValueError):
        current_round = 0
    if current_round > 0:
        st = base.status_for_report(obj)
        message = f"Round {current_round} reaches at {owner_info.get('updateTime', '')}"
        last = base.last_condition(st) or {}
        if last.get("type") == "Training" and last.get("message") == message:
            return writes          # the same round reported again (by another trainer or a re-send)
        st.setdefault("conditions", []).append({
            "type": "Training", "status": "True", "reason": "DoTraining",
            "message": message,
            "lastHeartbeatTime": base.fmt_time(now), "lastProbeTime": base.fmt_time(now)})
        writes.append(StatusWrite("federatedlearningjobs", ns, base.meta(obj)["name"], st))
    return writes


CONTROLLER = Controller(KIND, "federatedlearningjobs", reconcile, references, downstream, upstream,
                        needs_finalizer=True)
