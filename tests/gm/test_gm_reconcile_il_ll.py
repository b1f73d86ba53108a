"""Incremental and lifelong learning: stage machine tables, worker env, routing, LC reports."""

import copy
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from gm_testlib import (
    NOW,
    as_observed,
    ctx,
    dataset,
    env_of,
    model,
    refs,
    s3_secret,
    sample,
    validate,
)

from sedna.gm.controllers import incrementallearningjob as il
from sedna.gm.controllers import lifelonglearningjob as ll
from sedna.gm.controllers import stages
from sedna.gm.controllers.base import Observed

IL_SAMPLES = ["incrementallearningjob_v1alpha1.yaml", "incremental_learning_helmet_detection.yaml",
              "incremental_learning_dog_croissants_classification.yaml"]


def il_refs(obj):
    sp = obj["spec"]
    objs = [dataset(sp["dataset"]["name"], "/data/helmet/train.txt", node="edge-node"),
            model(sp["initialModel"]["name"], "/models/base/model.pb"),
            model(sp["deploySpec"]["model"]["name"], "/models/deploy/model.pb"), s3_secret()]
    if (sp.get("evalSpec") or {}).get("initialEvalModel"):
        objs.append(model(sp["evalSpec"]["initialEvalModel"]["name"], "/models/eval/model.pb"))
    return refs(*objs)


def lc_report(obj, module, phase, status, inp=None, output=None):
    content = {"phase": phase, "status": status, "input": inp or {}, "output": output}
    writes = module.upstream(obj, content, NOW)
    if writes:
        obj["status"] = writes[0].status
    return obj


def sync(module, obj, observed, r):
    plan = module.reconcile(obj, observed, r, ctx())
    if plan.status is not None:
        obj["status"] = plan.status
    ann = obj["metadata"].setdefault("annotations", {})
    ann.update(plan.annotations)
    for d in plan.delete:
        observed.pods = [p for p in observed.pods if p["metadata"]["name"] != d["name"]]
    new = as_observed(plan.create, phase="Pending")
    for i, p in enumerate(new.pods):
        p["metadata"]["name"] = p["metadata"]["generateName"] + f"{len(observed.pods) + i:05d}"
    observed.pods += new.pods
    return plan


def states(obj):
    return [(c["stage"], c["type"]) for c in obj["status"]["conditions"]]


@pytest.mark.parametrize("name", IL_SAMPLES)
def test_il_sample_full_loop(name):
    obj = sample(name, "IncrementalLearningJob")
    n = obj["metadata"]["name"]
    r = il_refs(obj)
    observed = Observed()
    plan = sync(il, obj, observed, r)
    # first sync: inference pod + (Train, Waiting)
    assert [m["metadata"]["generateName"] for m in plan.create] == [f"{n}-inference-"]
    inf = plan.create[0]
    validate(inf)
    env = env_of(inf)
    assert env["MODEL_URL"] == "/home/data/models/deploy/model.pb"
    assert env["HEM_NAME"] == obj["spec"]["deploySpec"]["hardExampleMining"]["name"]
    assert env["WORKER_NAME"].startswith("inferworker-") and env["JOB_NAME"] == n
    assert inf["spec"]["hostNetwork"] is True
    assert states(obj) == [("Train", "Waiting")]
    assert sync(il, obj, observed, r).is_empty()            # Waiting: nothing until the LC reports

    # LC: train trigger fired
    inp = {"models": [{"format": "pb", "url": "/models/base/model.pb"}],
           "dataURL": "/output/data/train/1/data.txt", "outputDir": "/output/train/1"}
    lc_report(obj, il, "Train", "Ready", inp)
    plan = sync(il, obj, observed, r)
    assert states(obj)[-2:] == [("Train", "Ready"), ("Train", "Starting")]
    train = plan.create[0]
    validate(train)
    assert train["metadata"]["generateName"] == f"{n}-train-"
    tenv = env_of(train)
    assert tenv["BASE_MODEL_URL"] == "/home/data/models/base/model.pb"
    assert tenv["MODEL_URL"] == "/home/data/output/train/1"
    assert tenv["TRAIN_DATASET_URL"] == "/home/data/output/data/train/1/data.txt"
    assert tenv["ORIGINAL_DATASET_URL"] == "/home/data/data/helmet/train.txt"
    assert tenv["WORKER_NAME"].startswith("train-worker-")
    assert train["spec"]["restartPolicy"] == "OnFailure" and train["spec"]["hostNetwork"] is True
    assert sync(il, obj, observed, r).is_empty()            # pod Pending: wait

    # pod runs on edge-node -> Running + annotation
    observed.pods[-1]["status"]["phase"] = "Running"
    observed.pods[-1]["spec"]["nodeName"] = "train-node"      # as scheduled
    plan = sync(il, obj, observed, r)
    assert states(obj)[-1] == ("Train", "Running")
    assert plan.annotations == {"sedna.io/Train": "train-node"}
    assert sync(il, obj, observed, r).is_empty()

    # worker finishes -> Completed -> (Eval, Waiting) in the same sync
    observed.pods[-1]["status"]["phase"] = "Succeeded"
    sync(il, obj, observed, r)
    assert states(obj)[-2:] == [("Train", "Completed"), ("Eval", "Waiting")]

    # eval round
    lc_report(obj, il, "eval", "ready", {"models": [{"url": "/output/train/1/model.pb"},
                                                    {"url": "/models/deploy/model.pb"}],
                                         "dataURL": "/output/data/eval/1/data.txt"})
    plan = sync(il, obj, observed, r)
    evalpod = plan.create[0]
    validate(evalpod)
    eenv = env_of(evalpod)
    assert evalpod["metadata"]["generateName"] == f"{n}-eval-"
    assert eenv["MODEL_URLS"] == "/home/data/output/train/1/model.pb;/home/data/models/deploy/model.pb"
    assert eenv["TEST_DATASET_URL"] == "/home/data/output/data/eval/1/data.txt"
    observed.pods[-1]["status"]["phase"] = "Failed"
    sync(il, obj, observed, r)
    # eval failed -> back to (Train, Waiting)
    assert states(obj)[-3:] == [("Eval", "Starting"), ("Eval", "Failed"), ("Train", "Waiting")]


def _at(obj, *conds):
    obj["status"] = {"startTime": "t", "conditions": [
        {"stage": s, "type": t, "status": "True", "data": json.dumps(d) if d else None} for s, t, d in conds]}
    return obj


def test_il_deploy_ready_restarts_inference_pod():
    obj = sample(IL_SAMPLES[0])
    r = il_refs(obj)
    observed = Observed()
    sync(il, obj, observed, r)
    old_inf = observed.pods[0]["metadata"]["name"]
    observed.pods[0]["status"]["phase"] = "Running"
    _at(obj, ("Deploy", "Waiting", None), ("Deploy", "Ready", {"input": {}}))
    plan = sync(il, obj, observed, r)
    assert plan.delete == [{"kind": "Pod", "name": old_inf}]
    assert [m["metadata"]["generateName"] for m in plan.create] == [f"{obj['metadata']['name']}-inference-"]
    assert states(obj)[-2:] == [("Deploy", "Completed"), ("Train", "Waiting")]


def test_il_hot_update():
    obj = sample(IL_SAMPLES[0])
    obj["spec"]["deploySpec"]["model"]["hotUpdateEnabled"] = True
    obj["spec"]["deploySpec"]["model"]["pollPeriodSeconds"] = 15
    r = il_refs(obj)
    observed = Observed()
    plan = sync(il, obj, observed, r)
    env = env_of(plan.create[0])
    assert env["MODEL_HOT_UPDATE"] == "true" and env["MODEL_POLL_PERIOD_SECONDS"] == "15"
    path = f"/var/lib/sedna/model-hot-update/default/incrementallearningjob/{obj['metadata']['name']}" \
           "/model_config.json"
    assert plan.annotations == {"sedna.io/model-hot-update-config": path}
    observed.pods[0]["status"]["phase"] = "Running"
    observed.pods[0]["spec"]["nodeName"] = "edge-node"
    _at(obj, ("Deploy", "Waiting", None), ("Deploy", "Ready", {"input": {}}))
    plan = sync(il, obj, observed, r)
    assert not plan.create and not plan.delete
    assert states(obj)[-2:] == [("Deploy", "Starting"), ("Deploy", "Running")]
    assert plan.annotations == {"sedna.io/Deploy": "edge-node"}
    # worker reports the hot update done
    lc_report(obj, il, "deploy", "completed")
    sync(il, obj, observed, r)
    assert states(obj)[-2:] == [("Deploy", "Completed"), ("Train", "Waiting")]


@pytest.mark.parametrize("conds,phase,expect", [
    ([("Train", "")], None, [("Train", "Waiting")]),
    ([("Train", "Starting")], "Pending", []),
    ([("Train", "Starting")], "Running", [("Train", "Running")]),
    ([("Train", "Starting")], "Succeeded", [("Train", "Completed"), ("Eval", "Waiting")]),
    ([("Train", "Running")], "Failed", [("Train", "Failed"), ("Train", "Waiting")]),
    ([("Train", "Running")], None, [("Train", "Failed"), ("Train", "Waiting")]),
    ([("Eval", "Completed")], None, [("Deploy", "Waiting")]),
    ([("Deploy", "Completed")], None, [("Train", "Waiting")]),
    ([("Deploy", "Failed")], None, [("Train", "Waiting")]),
])
def test_stage_machine_table(conds, phase, expect):
    obj = sample(IL_SAMPLES[0])
    r = il_refs(obj)
    observed = Observed()
    sync(il, obj, observed, r)                       # creates the inference pod
    observed.pods[0]["status"]["phase"] = "Running"
    obj["status"]["conditions"] = [{"stage": s, "type": t, "status": "True"} for s, t in conds if t]
    if phase:
        stage = conds[-1][0]
        pod = il.build_stage_pod(obj, stage, {}, r, ctx())
        observed.pods += as_observed([pod], phase).pods
    before = len(obj["status"]["conditions"])
    sync(il, obj, observed, r)
    assert states(obj)[before:] == expect


def test_il_missing_refs_blocks_start_and_train():
    obj = sample(IL_SAMPLES[0])
    r = il_refs(obj)
    del r.datasets[obj["spec"]["dataset"]["name"]]
    plan = il.reconcile(obj, Observed(), r, ctx())
    assert not plan.create and plan.status is None
    assert plan.events[0].reason == "MissingReference" and obj["spec"]["dataset"]["name"] in plan.events[0].message
    assert plan.requeue_after


def test_il_lc_report_validation():
    obj = sample(IL_SAMPLES[0])
    with pytest.raises(ValueError, match="phase"):
        il.upstream(obj, {"phase": "inference", "status": "ready"}, NOW)
    with pytest.raises(ValueError, match="status"):
        il.upstream(obj, {"phase": "train", "status": "running"}, NOW)
    writes = il.upstream(obj, {"phase": "Train", "status": "Ready", "input": {"dataURL": "/d"}, "output": None}, NOW)
    cond = writes[0].status["conditions"][-1]
    assert (cond["stage"], cond["type"], cond["message"]) == ("Train", "Ready", "reported by lc")
    assert json.loads(cond["data"]) == {"input": {"dataURL": "/d"}, "output": {}}
    obj["status"] = writes[0].status
    assert il.upstream(obj, {"phase": "Train", "status": "Ready", "input": {"dataURL": "/d"}}, NOW) == []


def test_il_routing_table():
    obj = sample(IL_SAMPLES[0])
    obj["spec"]["credentialName"] = "mysecret"
    r = il_refs(obj)
    assert il.downstream(obj, r, False) == []                 # no conditions yet
    _at(obj, ("Train", "Waiting", None))
    msgs = il.downstream(obj, r, False)
    assert [(m.node, m.kind, m.name) for m in msgs] == [
        ("edge-node", "model", obj["spec"]["initialModel"]["name"]),
        ("edge-node", "incrementallearningjob", obj["metadata"]["name"])]
    cred = json.loads(msgs[1].content["metadata"]["annotations"]["sedna.io/credential"])
    assert cred == {"s3-endpoint": "minio:9000", "s3-usehttps": "0", "ACCESS_KEY_ID": "AK",
                    "SECRET_ACCESS_KEY": "SK"}
    obj["metadata"]["annotations"] = {"sedna.io/Train": "cloud-1", "sedna.io/Eval": "edge-2"}
    _at(obj, ("Train", "Running", None))
    assert [(m.node, m.operation) for m in il.downstream(obj, r, False)] == [("cloud-1", "insert")]
    _at(obj, ("Eval", "Running", None))
    assert [(m.node, m.operation) for m in il.downstream(obj, r, False)] == [
        ("cloud-1", "delete"), ("edge-2", "insert")]
    _at(obj, ("Eval", "Completed", None))
    assert [(m.node, m.operation) for m in il.downstream(obj, r, False)] == []   # eval node is the deploy node
    _at(obj, ("Train", "Completed", None))
    assert [(m.node, m.operation) for m in il.downstream(obj, r, False)] == [("cloud-1", "delete")]
    _at(obj, ("Deploy", "Waiting", None))
    assert [(m.node, m.kind, m.operation) for m in il.downstream(obj, r, False)] == [
        ("edge-2", "model", "insert"), ("edge-2", "incrementallearningjob", "insert")]
    _at(obj, ("Train", "Ready", None))
    assert il.downstream(obj, r, False) == []
    assert sorted(m.node for m in il.downstream(obj, r, True)) == ["cloud-1", "edge-2", "edge-node"]


# ---- lifelong learning ----------------------------------------------------------------------------------

LL_SAMPLES = ["lifelonglearningjobv1alpha1.yaml", "lifelong_learning_robot-dog-delivery.yaml"]


def ll_refs(obj):
    return refs(dataset(obj["spec"]["dataset"]["name"], "/data/ll/train.csv", node="edge-node"))


@pytest.mark.parametrize("name", LL_SAMPLES)
def test_ll_sample_loop(name):
    obj = sample(name, "LifelongLearningJob")
    n = obj["metadata"]["name"]
    r = ll_refs(obj)
    observed = Observed()
    plan = sync(ll, obj, observed, r)
    assert not plan.create                                      # no inference pod at start
    assert states(obj) == [("Train", "Waiting")]
    lc_report(obj, ll, "train", "ready", {"dataURL": "/out/data/train/1/data.csv", "outputDir": "/out/train/1"})
    plan = sync(ll, obj, observed, r)
    train = plan.create[0]
    validate(train)
    env = env_of(train)
    assert train["metadata"]["generateName"] == f"{n}-train-"
    assert train["spec"]["dnsPolicy"] == "ClusterFirstWithHostNet" and train["spec"]["hostNetwork"] is True
    assert env["HAS_COMPLETED_INITIAL_TRAINING"] == "false" and "CLOUD_KB_INDEX" not in env
    assert env["KB_SERVER"] == "http://localhost:9020"
    assert env["OUTPUT_URL"] == "/home/data/out/train/1"
    assert env["TRAIN_DATASET_URL"] == "/home/data/out/data/train/1/data.csv"
    observed.pods[-1]["status"]["phase"] = "Running"
    observed.pods[-1]["spec"]["nodeName"] = "cloud-1"
    plan = sync(ll, obj, observed, r)
    assert plan.annotations == {"sedna.io/Train": "cloud-1"}
    lc_report(obj, ll, "train", "completed", output={"models": [
        {"url": "/out/train/1/index.pkl", "classes": ["a", "b"], "number_of_labeled_unseen_sample": 4,
         "current_metric": {"m1": {"precision": 0.5}}}]})
    kb = obj["status"]["knowledgeBase"]
    assert kb == {"AIModels": {"numberOfAIModels": 1, "listOfAIModels": [
        {"modelID": "m1", "averagePrecision": 0.5, "numberOfTrainSamples": 4}]},
        "AIClasses": {"numberOfAIClasses": 2, "listOfAIClasses": ["a", "b"]},
        "samples": {"numberOfLabeledUnseenSample": 4, "numberOfUnseenSample": 0}}
    sync(ll, obj, observed, r)
    assert states(obj)[-1] == ("Eval", "Waiting")
    # deploy ready creates the inference pod
    _at(obj, *[(c["stage"], c["type"], json.loads(c["data"]) if c.get("data") else None)
               for c in obj["status"]["conditions"]], ("Deploy", "Ready", {"input": {}}))
    plan = sync(ll, obj, observed, r)
    inf = next(m for m in plan.create if m["metadata"]["generateName"] == f"{n}-inference-")
    validate(inf)
    ienv = env_of(inf)
    out = obj["spec"]["outputDir"].rstrip("/")
    assert ienv["OUTPUT_URL"] == obj["spec"]["outputDir"]
    assert ienv["MODEL_URLS"].endswith(f"{out}/deploy/index.pkl")
    # next train round knows about the completed initial training
    obj2 = copy.deepcopy(obj)
    for pod in observed.pods:
        pod["status"]["phase"] = "Succeeded"
    lc_report(obj2, ll, "train", "ready", {"dataURL": "/out/data/train/2/data.csv", "outputDir": "/out/train/2"})
    plan = sync(ll, obj2, observed, r)
    env = env_of(plan.create[0])
    assert env["HAS_COMPLETED_INITIAL_TRAINING"] == "true"
    assert env["CLOUD_KB_INDEX"] == "/out/train/1/index.pkl"


def test_ll_routing():
    obj = sample(LL_SAMPLES[0])
    r = ll_refs(obj)
    _at(obj, ("Train", "Waiting", None))
    assert [(m.node, m.operation) for m in ll.downstream(obj, r, False)] == [("edge-node", "insert")]
    obj["metadata"]["annotations"] = {"sedna.io/Train": "cloud-1", "sedna.io/Deploy": "edge-node"}
    _at(obj, ("Train", "Running", None))
    assert [(m.node, m.operation) for m in ll.downstream(obj, r, False)] == [("cloud-1", "insert")]
    _at(obj, ("Train", "Completed", None))
    assert [(m.node, m.operation) for m in ll.downstream(obj, r, False)] == [("cloud-1", "delete")]
    assert sorted(m.node for m in ll.downstream(obj, r, True)) == ["cloud-1", "edge-node"]


def test_latest_pod_tie_break_by_condition_index():
    pods = [{"metadata": {"name": n, "creationTimestamp": "2026-01-01T00:00:00Z",
                          "labels": {"incrementallearningjob.sedna.io/worker-type": "train"},
                          "annotations": {stages.CONDITION_INDEX_ANNOTATION: i}}} for n, i in (("a", "9"), ("b", "1"))]
    assert stages.latest_pod(pods, "IncrementalLearningJob", "Train")["metadata"]["name"] == "a"


def test_il_train_pod_with_s3_output_and_index_file():
    """Remote dataset: the LC reports an index file; the GM mounts it indirectly through the initializer."""
    obj = sample(IL_SAMPLES[0])
    obj["spec"]["credentialName"] = "mysecret"
    obj["spec"]["outputDir"] = "s3://bucket/il"
    r = il_refs(obj)
    r.datasets[obj["spec"]["dataset"]["name"]]["spec"].update(url="s3://bucket/ds/train.txt",
                                                               credentialName="mysecret")
    inp = {"models": [{"format": "pb", "url": "/models/base/model.pb"}],
           "dataURL": "s3://bucket/il/data/train/1/data.txt",
           "dataIndexURL": "s3://bucket/il/data/train/1/dataIndex.txt", "outputDir": "s3://bucket/il/train/1"}
    pod = il.build_stage_pod(obj, "Train", inp, r, ctx())
    validate(pod)
    env = env_of(pod)
    assert env["MODEL_URL"] == "s3://bucket/il/train/1"                 # written by the worker, not downloaded
    assert env["S3_ENDPOINT_URL"] == "http://minio:9000"                 # ... so it gets the credentials
    assert env["TRAIN_DATASET_URL"] == "/downloads/bucket/il/data/train/1/data.txt"
    assert env["ORIGINAL_DATASET_URL"] == "/downloads/bucket/il/data/train/1/dataIndex.txt"
    assert env["BASE_MODEL_URL"] == "/home/data/models/base/model.pb"
    init = pod["spec"]["initContainers"][0]
    assert init["args"] == ["s3://bucket/il/data/train/1/data.txt", "/downloads/bucket/il/data/train/1/",
                            "s3://bucket/il/data/train/1/dataIndex.txt", "@/downloads/bucket/il/data/train/1/"]
    assert {e["name"]: e["value"] for e in init["env"]}["INDIRECT_URL_MARK"] == "@"


def test_il_inference_pod_deleted_out_of_band_is_recreated_but_failed_one_is_not():
    obj = sample(IL_SAMPLES[0])
    r = il_refs(obj)
    observed = Observed()
    sync(il, obj, observed, r)
    assert len(observed.pods) == 1
    observed.pods[0]["status"]["phase"] = "Failed"
    assert not sync(il, obj, observed, r).create
    observed.pods.clear()
    plan = sync(il, obj, observed, r)
    assert [m["metadata"]["generateName"] for m in plan.create] == [f"{obj['metadata']['name']}-inference-"]
    assert sync(il, obj, observed, r).is_empty()


def test_il_deploy_ready_without_inference_pod_creates_exactly_one():
    obj = sample(IL_SAMPLES[0])
    r = il_refs(obj)
    observed = Observed()
    sync(il, obj, observed, r)
    observed.pods.clear()
    _at(obj, ("Deploy", "Waiting", None), ("Deploy", "Ready", {"input": {}}))
    plan = sync(il, obj, observed, r)
    assert len(plan.create) == 1 and not plan.delete
    assert states(obj)[-2:] == [("Deploy", "Completed"), ("Train", "Waiting")]
