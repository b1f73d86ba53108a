"""IncrementalLearningJob: train/eval pods on demand, a long-running inference pod (gm.md §5)."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from sedna.gm.controllers import base, stages, workerstatus
from sedna.gm.controllers.base import Context, Controller, Downstream, Observed, Plan, Refs, StatusWrite
from sedna.gm.runtime.storage import Mount
from sedna.gm.runtime.workers import (
    HOT_UPDATE_ANNOTATION,
    HotUpdate,
    Owner,
    Worker,
    build_pod,
    hot_update_config_path,
)

KIND = "IncrementalLearningJob"
LOWER = "incrementallearningjob"


def references(obj: dict) -> list[tuple[str, str]]:
    sp = base.spec(obj)
    out = [("Dataset", base.ref_name(sp.get("dataset"))), ("Model", base.ref_name(sp.get("initialModel"))),
           ("Model", base.ref_name((sp.get("deploySpec") or {}).get("model")))]
    eval_model = base.ref_name((sp.get("evalSpec") or {}).get("initialEvalModel"))
    if eval_model:
        out.append(("Model", eval_model))
    if sp.get("credentialName"):
        out.append(("Secret", sp["credentialName"]))
    return out


def _hot(obj: dict) -> dict | None:
    model = (base.spec(obj).get("deploySpec") or {}).get("model") or {}
    if not model.get("hotUpdateEnabled"):
        return None
    return model


def _input_urls(inp: dict) -> list[str]:
    return [m.get("url", "") for m in inp.get("models") or [] if isinstance(m, dict) and m.get("url")]


def _original_dataset_mount(inp: dict, dataset: dict, refs: Refs) -> Mount:
    if inp.get("dataIndexURL"):
        return Mount([inp["dataIndexURL"]], "ORIGINAL_DATASET_URL", refs.secret_of(dataset), download=True,
                     indirect=True)
    return Mount([base.spec(dataset).get("url", "")], "ORIGINAL_DATASET_URL", refs.secret_of(dataset),
                 download=True)


def build_stage_pod(obj: dict, stage: str, inp: dict, refs: Refs, ctx: Context) -> dict:
    sp = base.spec(obj)
    owner = Owner(KIND, base.meta(obj))
    job_secret = refs.secrets.get(sp.get("credentialName") or "")
    dataset = refs.datasets.get(base.ref_name(sp.get("dataset"))) or {}
    env = {"NAMESPACE": owner.namespace, "JOB_NAME": owner.name, "LC_SERVER": ctx.config.lc_server}
    if stage == "Train":
        initial = refs.models.get(base.ref_name(sp.get("initialModel"))) or {}
        urls = _input_urls(inp)
        base_url = urls[0] if urls else base.spec(initial).get("url", "")
        base_secret = refs.secret_of(initial) if base_url == base.spec(initial).get("url") else job_secret
        env["WORKER_NAME"] = f"train-worker-{ctx.suffix()}"
        mounts = [Mount([base_url], "BASE_MODEL_URL", base_secret, download=True),
                  Mount([inp.get("outputDir", "")], "MODEL_URL", job_secret, download=False),
                  Mount([inp.get("dataURL", "")], "TRAIN_DATASET_URL", job_secret, download=True),
                  _original_dataset_mount(inp, dataset, refs)]
        worker = Worker("train", env=env, mounts=mounts, host_network=True, restart_policy="OnFailure")
        return build_pod(owner, worker, (sp.get("trainSpec") or {}).get("template"))
    if stage == "Eval":
        env["WORKER_NAME"] = f"eval-worker-{ctx.suffix()}"
        mounts = [Mount(_input_urls(inp), "MODEL_URLS", job_secret, download=True),
                  Mount([inp.get("dataURL", "")], "TEST_DATASET_URL", refs.secret_of(dataset), download=True),
                  _original_dataset_mount(inp, dataset, refs)]
        worker = Worker("Eval", env=env, mounts=mounts, host_network=True, restart_policy="OnFailure")
        return build_pod(owner, worker, (sp.get("evalSpec") or {}).get("template"))
    deploy = sp.get("deploySpec") or {}
    model = refs.models.get(base.ref_name(deploy.get("model"))) or {}
    env["WORKER_NAME"] = f"inferworker-{ctx.suffix()}"
    env.update(base.hem_env(deploy.get("hardExampleMining")))
    hot = _hot(obj)
    worker = Worker("inference", env=env, host_network=True,
                    mounts=[Mount([base.spec(model).get("url", "")], "MODEL_URL", refs.secret_of(model),
                                  download=True)],
                    hot_update=HotUpdate(int(hot.get("pollPeriodSeconds") or 60)) if hot else None)
    return build_pod(owner, worker, deploy.get("template"))


def _check_refs(obj: dict, refs: Refs, stage: str) -> list[str]:
    sp = base.spec(obj)
    wanted = [("Model", base.ref_name((sp.get("deploySpec") or {}).get("model")))]
    if stage != "Deploy":
        wanted += [("Model", base.ref_name(sp.get("initialModel"))), ("Dataset", base.ref_name(sp.get("dataset")))]
        if sp.get("credentialName"):
            wanted.append(("Secret", sp["credentialName"]))
    return base.missing_refs(refs, wanted)


def reconcile(obj: dict, observed: Observed, refs: Refs, ctx: Context) -> Plan:
    plan = Plan()
    st = base.status(obj)
    before = copy.deepcopy(st)
    annotations = base.meta(obj).get("annotations") or {}
    hot = _hot(obj)
    node_annotations: dict[str, str] = {}
    machine = stages.Machine(
        KIND, hot_update=hot is not None, annotate_deploy=hot is not None,
        deploy_ready_restarts=hot is None,
        build_pod=lambda stage, inp: build_stage_pod(obj, stage, inp, refs, ctx),
        check_refs=lambda stage: _check_refs(obj, refs, stage),
        backoff_limit=workerstatus.backoff_limit(obj), nodes=observed.nodes)
    pods = [p for p in observed.pods if not base.is_deleting(p)]
    if "startTime" not in st:
        if base.warn_missing(plan, base.missing_refs(refs, references(obj))):
            return plan
        st["startTime"] = ctx.now_str
        latest = stages.latest_pod(pods, KIND, "Deploy")
        if latest is None or base.pod_phase(latest) not in stages.ACTIVE_PHASES:
            pod = build_stage_pod(obj, "Deploy", {}, refs, ctx)
            plan.create.append(pod)
            pods.append(pod)
    elif stages.latest_pod(pods, KIND, "Deploy") is None and not _check_refs(obj, refs, "Deploy"):
        # The inference pod was deleted out of band: the job always serves (upstream only creates it at
        # start). A pod that failed is left alone, so a crashing worker does not become a create loop.
        pod = build_stage_pod(obj, "Deploy", {}, refs, ctx)
        plan.create.append(pod)
        pods.append(pod)
    stages.advance(st, pods, machine, ctx, plan, node_annotations)
    if hot is not None:
        node_annotations[HOT_UPDATE_ANNOTATION] = hot_update_config_path(Owner(KIND, base.meta(obj)))
    plan.annotations = {k: v for k, v in node_annotations.items() if annotations.get(k) != v}
    if st != before:
        plan.status = st
    return plan


def _model_message(refs: Refs, name: str, node: str, ns: str) -> list[Downstream]:
    model = refs.models.get(name) if name else None
    if model is None or not node:
        return []
    return [Downstream(node, "model", ns, name, "insert", base.pushed_object(model, "Model", refs.secret_of(model)))]


def downstream(obj: dict, refs: Refs, deleted: bool) -> list[Downstream]:
    sp = base.spec(obj)
    ns, name = base.namespace(obj), base.meta(obj)["name"]
    ann = base.meta(obj).get("annotations") or {}
    ds = stages.job_dataset_node(obj, refs)
    train, evaln = ann.get("sedna.io/Train", ""), ann.get("sedna.io/Eval", "")
    deploy = ann.get("sedna.io/Deploy", "") if HOT_UPDATE_ANNOTATION in ann else ""
    if deleted:
        return stages.delete_to([ds, train, evaln, deploy], LOWER, ns, name)
    st = base.status(obj)
    if not ds or not st.get("conditions"):
        return []
    hot = _hot(obj) is not None
    job = stages.pushed_job(obj, KIND, refs)
    deploy_model = base.ref_name((sp.get("deploySpec") or {}).get("model"))
    eval_model = base.ref_name((sp.get("evalSpec") or {}).get("initialEvalModel"))
    stage, ctype = stages.current_state(st)
    out: list[Downstream] = []

    def push(node: str) -> None:
        if node:
            out.append(Downstream(node, LOWER, ns, name, "insert", job))

    if ctype == "Waiting":
        if stage == "Train":
            out += _model_message(refs, base.ref_name(sp.get("initialModel")), ds, ns)
            push(ds)
        elif stage == "Eval":
            out += _model_message(refs, deploy_model, ds, ns)
            out += _model_message(refs, eval_model, ds, ns)
            push(ds)
        else:
            deploy = evaln
            out += _model_message(refs, deploy_model, evaln, ns)
            if eval_model and not hot:
                out += _model_message(refs, eval_model, deploy, ns)
            push(deploy)
    elif ctype == "Running":
        if stage == "Train":
            push(train)
        elif stage == "Eval":
            if train and train != evaln and train != ds:
                out += stages.delete_to([train], LOWER, ns, name)
            push(evaln)
        else:
            if evaln and evaln != deploy and evaln != ds:
                out += stages.delete_to([evaln], LOWER, ns, name)
            out += _model_message(refs, eval_model, deploy, ns)
            out += _model_message(refs, deploy_model, deploy, ns)
            push(deploy)
    elif ctype in ("Completed", "Failed"):
        if not hot:
            deploy = evaln
        node = {"Train": train, "Eval": evaln, "Deploy": deploy}.get(stage, "")
        if node and node not in (ds, deploy):
            out += stages.delete_to([node], LOWER, ns, name)
    return out


def upstream(obj: dict, content: Any, now: datetime) -> list[StatusWrite]:
    st = base.status_for_report(obj)
    cond = stages.lc_condition(st, content, base.fmt_time(now))
    if not stages.append_lc_condition(st, cond):
        return []
    return [StatusWrite("incrementallearningjobs", base.namespace(obj), base.meta(obj)["name"], st)]


CONTROLLER = Controller(KIND, "incrementallearningjobs", reconcile, references, downstream, upstream,
                        needs_finalizer=True, push_on_status=True)
