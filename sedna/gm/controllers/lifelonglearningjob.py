"""LifelongLearningJob: the IL stage machine with a knowledge base instead of a deploy model (gm.md §6)."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from sedna.gm.controllers import base, stages, workerstatus
from sedna.gm.controllers.base import Context, Controller, Downstream, Observed, Plan, Refs, StatusWrite
from sedna.gm.runtime.storage import Mount
from sedna.gm.runtime.workers import Owner, Worker, build_pod

KIND = "LifelongLearningJob"
LOWER = "lifelonglearningjob"
DNS_POLICY = "ClusterFirstWithHostNet"


def references(obj: dict) -> list[tuple[str, str]]:
    sp = base.spec(obj)
    out = [("Dataset", base.ref_name(sp.get("dataset")))]
    if sp.get("credentialName"):
        out.append(("Secret", sp["credentialName"]))
    return out


def _initial_training_done(st: dict) -> tuple[bool, str]:
    """Whether a (Train, Completed) exists, and the first output model URL of the newest one that has models."""
    done, index = False, ""
    for cond in st.get("conditions") or []:
        if cond.get("stage") == "Train" and cond.get("type") == "Completed":
            done = True
            models = (stages.condition_data(cond).get("output") or {}).get("models") or []
            if models and isinstance(models[0], dict) and models[0].get("url"):
                index = models[0]["url"]
    return done, index


def build_stage_pod(obj: dict, stage: str, inp: dict, st: dict, refs: Refs, ctx: Context) -> dict:
    sp = base.spec(obj)
    owner = Owner(KIND, base.meta(obj))
    job_secret = refs.secrets.get(sp.get("credentialName") or "")
    dataset = refs.datasets.get(base.ref_name(sp.get("dataset"))) or {}
    env = {"NAMESPACE": owner.namespace, "JOB_NAME": owner.name, "LC_SERVER": ctx.config.lc_server}
    if inp.get("dataIndexURL"):
        original = Mount([inp["dataIndexURL"]], "ORIGINAL_DATASET_URL", refs.secret_of(dataset), download=True,
                         indirect=True)
    else:
        original = Mount([base.spec(dataset).get("url", "")], "ORIGINAL_DATASET_URL", refs.secret_of(dataset),
                         download=True)
    if stage == "Train":
        env["WORKER_NAME"] = f"train-worker-{ctx.suffix()}"
        env["KB_SERVER"] = ctx.config.kb_server
        done, index = _initial_training_done(st)
        env["HAS_COMPLETED_INITIAL_TRAINING"] = "true" if done else "false"
        if done:
            env["CLOUD_KB_INDEX"] = index
        mounts = [Mount([inp.get("outputDir", "")], "OUTPUT_URL", job_secret, download=False),
                  Mount([inp.get("dataURL", "")], "TRAIN_DATASET_URL", job_secret, download=True), original]
        worker = Worker("Train", env=env, mounts=mounts, host_network=True, restart_policy="OnFailure",
                        dns_policy=DNS_POLICY)
        return build_pod(owner, worker, (sp.get("trainSpec") or {}).get("template"))
    if stage == "Eval":
        env["WORKER_NAME"] = f"eval-worker-{ctx.suffix()}"
        env["KB_SERVER"] = ctx.config.kb_server
        urls = [m.get("url", "") for m in inp.get("models") or [] if isinstance(m, dict) and m.get("url")]
        mounts = [Mount(urls, "MODEL_URLS", job_secret, download=True),
                  Mount([inp.get("outputDir", "")], "OUTPUT_URL", job_secret, download=False),
                  Mount([inp.get("dataURL", "")], "TEST_DATASET_URL", refs.secret_of(dataset), download=True),
                  original]
        worker = Worker("Eval", env=env, mounts=mounts, host_network=True, restart_policy="OnFailure",
                        dns_policy=DNS_POLICY)
        return build_pod(owner, worker, (sp.get("evalSpec") or {}).get("template"))
    output_dir = str(sp.get("outputDir") or "")
    env["WORKER_NAME"] = f"inferworker-{ctx.suffix()}"
    env["OUTPUT_URL"] = output_dir
    mounts = [Mount([output_dir.rstrip("/") + "/deploy/index.pkl"], "MODEL_URLS", job_secret, download=False)]
    worker = Worker("inference", env=env, mounts=mounts, host_network=True, dns_policy=DNS_POLICY)
    return build_pod(owner, worker, (sp.get("deploySpec") or {}).get("template"))


def reconcile(obj: dict, observed: Observed, refs: Refs, ctx: Context) -> Plan:
    plan = Plan()
    st = base.status(obj)
    before = copy.deepcopy(st)
    annotations = base.meta(obj).get("annotations") or {}
    node_annotations: dict[str, str] = {}
    machine = stages.Machine(
        KIND, hot_update=False, annotate_deploy=True, deploy_ready_restarts=True,
        build_pod=lambda stage, inp: build_stage_pod(obj, stage, inp, st, refs, ctx),
        check_refs=lambda stage: base.missing_refs(refs, references(obj)),
        backoff_limit=workerstatus.backoff_limit(obj), nodes=observed.nodes)
    if "startTime" not in st:
        if base.warn_missing(plan, base.missing_refs(refs, references(obj))):
            return plan
        st["startTime"] = ctx.now_str
    pods = [p for p in observed.pods if not base.is_deleting(p)]
    stages.advance(st, pods, machine, ctx, plan, node_annotations)
    plan.annotations = {k: v for k, v in node_annotations.items() if annotations.get(k) != v}
    if st != before:
        plan.status = st
    return plan


def downstream(obj: dict, refs: Refs, deleted: bool) -> list[Downstream]:
    ns, name = base.namespace(obj), base.meta(obj)["name"]
    ann = base.meta(obj).get("annotations") or {}
    ds = stages.job_dataset_node(obj, refs)
    nodes = {"Train": ann.get("sedna.io/Train", ""), "Eval": ann.get("sedna.io/Eval", ""),
             "Deploy": ann.get("sedna.io/Deploy", "")}
    if deleted:
        return stages.delete_to([ds, *nodes.values()], LOWER, ns, name)
    st = base.status(obj)
    if not ds or not st.get("conditions"):
        return []
    job = stages.pushed_job(obj, KIND, refs)
    stage, ctype = stages.current_state(st)
    node = nodes.get(stage, "")
    if ctype == "Waiting":
        return [Downstream(ds, LOWER, ns, name, "insert", job)]
    if ctype == "Running" and node:
        return [Downstream(node, LOWER, ns, name, "insert", job)]
    if ctype in ("Completed", "Failed") and node and node not in (ds, nodes["Deploy"]):
        return stages.delete_to([node], LOWER, ns, name)
    return []


def _count(value: Any) -> int:
    try:
        return max(int(value or 0), 0)
    except (TypeError, ValueError):
        return 0


def knowledge_base(models: list[dict], previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """``status.knowledgeBase`` recomputed from a report's output models (gm.md §6.4), with its counts filled.

    Upstream leaves ``numberOfTrainSamples`` at the labeled-unseen count and ``numberOfUnseenSample`` at 0.
    Here a model's ``numberOfTrainSamples`` is its task's sample count from the report's ``task_samples``
    (train and update reports carry it), else what the previous status said for that model; the sample
    counts come from the train report that carried them and are kept through eval reports (which do not).
    """
    previous = previous or {}
    before = {m.get("modelID"): m for m in ((previous.get("AIModels") or {}).get("listOfAIModels") or [])
              if isinstance(m, dict)}
    classes = list((models[0] or {}).get("classes") or [])
    ai_models: list[dict] = []
    labeled = unseen = 0
    carried = False
    for model in models:
        labeled += _count(model.get("number_of_labeled_unseen_sample"))
        unseen += _count(model.get("number_of_unseen_sample"))
        task_samples = model.get("task_samples") if isinstance(model.get("task_samples"), dict) else {}
        carried = carried or bool(task_samples)
        for model_id, metrics in (model.get("current_metric") or {}).items():
            value = next(iter(metrics.values()), 0.0) if isinstance(metrics, dict) and metrics else 0.0
            samples = task_samples.get(model_id)
            if samples is None:
                samples = (before.get(str(model_id)) or {}).get("numberOfTrainSamples",
                                                                model.get("number_of_labeled_unseen_sample"))
            ai_models.append({"modelID": str(model_id), "averagePrecision": float(value),
                              "numberOfTrainSamples": _count(samples)})
    samples_block = {"numberOfLabeledUnseenSample": labeled, "numberOfUnseenSample": unseen}
    if not carried and isinstance(previous.get("samples"), dict):
        samples_block = dict(previous["samples"])          # an eval report: the last train's counts stay
    return {"AIModels": {"numberOfAIModels": len(ai_models), "listOfAIModels": ai_models},
            "AIClasses": {"numberOfAIClasses": len(classes), "listOfAIClasses": classes},
            "samples": samples_block}


def upstream(obj: dict, content: Any, now: datetime) -> list[StatusWrite]:
    st = base.status_for_report(obj)
    cond = stages.lc_condition(st, content, base.fmt_time(now))
    models = ((content.get("output") or {}).get("models") or []) if isinstance(content, dict) else []
    changed = False
    if models and all(isinstance(m, dict) for m in models):
        kb = knowledge_base(models, st.get("knowledgeBase"))
        changed = st.get("knowledgeBase") != kb
        st["knowledgeBase"] = kb
    if not stages.append_lc_condition(st, cond) and not changed:
        return []
    return [StatusWrite("lifelonglearningjobs", base.namespace(obj), base.meta(obj)["name"], st)]


CONTROLLER = Controller(KIND, "lifelonglearningjobs", reconcile, references, downstream, upstream,
                        needs_finalizer=True, push_on_status=True)
