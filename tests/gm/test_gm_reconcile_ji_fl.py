"""JointInferenceService and FederatedLearningJob reconcile tables, including the upstream samples."""

import copy
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from gm_testlib import (
    NOW_STR,
    as_observed,
    ctx,
    dataset,
    env_of,
    model,
    pod_spec,
    refs,
    s3_secret,
    sample,
    validate,
)

from sedna.gm.controllers import federatedlearningjob as fl
from sedna.gm.controllers import jointinferenceservice as ji
from sedna.gm.controllers.base import Observed

JI_SAMPLES = ["jointinferenceservice_v1alpha1.yaml", "joint_inference_helmet_detection_inference.yaml"]


def ji_refs(obj, big_url="s3://bucket/big/model.pb"):
    little = obj["spec"]["edgeWorker"]["model"]["name"]
    big = obj["spec"]["cloudWorker"]["model"]["name"]
    return refs(model(little, "/data/little-model/model.pb"), model(big, big_url, "mysecret"), s3_secret())


@pytest.mark.parametrize("name", JI_SAMPLES)
def test_ji_sample_creates_exact_workers(name):
    obj = sample(name, "JointInferenceService")
    n = obj["metadata"]["name"]
    plan = ji.reconcile(obj, Observed(), ji_refs(obj), ctx(lc_server="http://lc:9100"))
    kinds = [(m["kind"], m["metadata"].get("name")) for m in plan.create]
    assert kinds == [("Deployment", f"{n}-deployment-cloud"), ("Service", f"{n}-cloud"),
                     ("Deployment", f"{n}-deployment-edge")]
    for m in plan.create:
        validate(m)
    cloud, svc, edge = plan.create
    cloud_env, edge_env = env_of(cloud), env_of(edge)
    assert {k: cloud_env[k] for k in ("NAMESPACE", "SERVICE_NAME", "BIG_MODEL_BIND_PORT", "MODEL_URL")} == {
        "NAMESPACE": "default", "SERVICE_NAME": n, "BIG_MODEL_BIND_PORT": "5000",
        "MODEL_URL": "/downloads/bucket/big/model.pb"}
    assert cloud_env["WORKER_NAME"].startswith("cloudworker-")
    assert "LC_SERVER" not in cloud_env and "HEM_NAME" not in cloud_env
    hem = obj["spec"]["edgeWorker"]["hardExampleMining"]
    assert edge_env["HEM_NAME"] == hem["name"]
    assert json.loads(edge_env["HEM_PARAMETERS"]) == [
        {"key": p["key"], "value": p["value"]} for p in hem.get("parameters") or []] or \
        edge_env["HEM_PARAMETERS"] == "null"
    assert edge_env["BIG_MODEL_IP"] == f"{n}-cloud.default" and edge_env["BIG_MODEL_PORT"] == "5000"
    assert edge_env["LC_SERVER"] == "http://lc:9100"
    assert edge_env["MODEL_URL"] == "/home/data/data/little-model/model.pb"
    assert edge_env["DATA_PATH_PREFIX"] == "/home/data"
    assert edge_env["WORKER_NAME"].startswith("edgeworker-")
    # user env kept first, in order
    user = [e["name"] for e in obj["spec"]["edgeWorker"]["template"]["spec"]["containers"][0].get("env", [])]
    assert [e["name"] for e in pod_spec(edge)["containers"][0]["env"]][:len(user)] == user
    # cloud model comes from s3 with the secret -> initializer with credentials
    init = pod_spec(cloud)["initContainers"][0]
    assert {e["name"] for e in init["env"]} >= {"S3_ENDPOINT_URL", "ACCESS_KEY_ID", "SECRET_ACCESS_KEY"}
    assert svc["spec"]["ports"][0]["port"] == 5000
    assert plan.status["startTime"] == NOW_STR
    assert [c["type"] for c in plan.status["conditions"]] == ["Running"]
    assert pod_spec(edge)["nodeName"] == obj["spec"]["edgeWorker"]["template"]["spec"]["nodeName"]


def _converge(module, obj, r, phase="Running"):
    """Apply plan 1 to the object and observed world; return the second plan."""
    c = ctx()
    plan = module.reconcile(obj, Observed(), r, c)
    obj = copy.deepcopy(obj)
    obj["status"] = plan.status
    return obj, as_observed(plan.create, phase), module.reconcile


def test_ji_second_sync_is_a_no_op_and_spec_change_replaces_template():
    obj = sample(JI_SAMPLES[0])
    r = ji_refs(obj)
    obj, observed, _ = _converge(ji, obj, r)
    plan2 = ji.reconcile(obj, observed, r, ctx())
    assert plan2.is_empty(), plan2
    # spec change on the edge side: the edge Deployment's template is replaced, nothing created
    changed = copy.deepcopy(obj)
    changed["spec"]["edgeWorker"]["hardExampleMining"]["name"] = "CrossEntropy"
    plan3 = ji.reconcile(changed, observed, r, ctx())
    assert not plan3.create and len(plan3.replace) == 1
    replaced = plan3.replace[0]
    assert replaced["metadata"]["name"].endswith("-deployment-edge")
    assert env_of(replaced)["HEM_NAME"] == "CrossEntropy"
    validate(replaced)


def test_ji_failed_deployment_is_terminal():
    obj = sample(JI_SAMPLES[0])
    r = ji_refs(obj)
    obj, observed, _ = _converge(ji, obj, r)
    observed.deployments[0]["status"] = {"conditions": [
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]}
    plan = ji.reconcile(obj, observed, r, ctx())
    assert plan.status["conditions"][-1]["type"] == "Failed"
    assert plan.status["conditions"][-1]["reason"] == "workerFailed"
    assert plan.status["failed"] == 1 and plan.status["active"] == 0      # no pod observed Running and ready
    assert plan.events[0].type == "Warning"
    obj["status"] = plan.status
    assert ji.reconcile(obj, observed, r, ctx()).is_empty()


def test_ji_deleted_deployment_is_recreated():
    obj = sample(JI_SAMPLES[0])
    r = ji_refs(obj)
    obj, observed, _ = _converge(ji, obj, r)
    observed.deployments = [d for d in observed.deployments if not d["metadata"]["name"].endswith("-edge")]
    plan = ji.reconcile(obj, observed, r, ctx())
    assert [m["metadata"]["name"] for m in plan.create] == [f"{obj['metadata']['name']}-deployment-edge"]
    assert plan.status is None


def test_ji_hpa_create_update_delete():
    obj = sample(JI_SAMPLES[0])
    obj["spec"]["cloudWorker"]["hpa"] = {"minReplicas": 1, "maxReplicas": 2}
    r = ji_refs(obj)
    plan = ji.reconcile(obj, Observed(), r, ctx())
    hpas = [m for m in plan.create if m["kind"] == "HorizontalPodAutoscaler"]
    assert [h["metadata"]["name"] for h in hpas] == [f"hpa-{obj['metadata']['name']}-deployment-cloud"]
    validate(hpas[0])
    obj["status"] = plan.status
    observed = as_observed(plan.create)
    assert ji.reconcile(obj, observed, r, ctx()).is_empty()
    obj["spec"]["cloudWorker"]["hpa"]["maxReplicas"] = 5
    p = ji.reconcile(obj, observed, r, ctx())
    assert [h["spec"]["maxReplicas"] for h in p.replace if h["kind"] == "HorizontalPodAutoscaler"] == [5]
    del obj["spec"]["cloudWorker"]["hpa"]
    p = ji.reconcile(obj, observed, r, ctx())
    assert p.delete == [{"kind": "HorizontalPodAutoscaler", "name": hpas[0]["metadata"]["name"]}]


def test_ji_missing_model_gives_pending_condition_and_event():
    obj = sample(JI_SAMPLES[0])
    r = refs(model(obj["spec"]["edgeWorker"]["model"]["name"], "/m/a.pb"))
    plan = ji.reconcile(obj, Observed(), r, ctx())
    assert not plan.create
    cond = plan.status["conditions"][-1]
    assert cond["type"] == "Pending" and cond["reason"] == "MissingReference"
    assert obj["spec"]["cloudWorker"]["model"]["name"] in cond["message"]
    assert plan.events[0].reason == "MissingReference" and plan.requeue_after
    obj["status"] = plan.status
    again = ji.reconcile(obj, Observed(), r, ctx())
    assert again.status is None          # same message: no new condition
    # the model appears -> workers are created and the service runs
    plan = ji.reconcile(obj, Observed(), ji_refs(obj), ctx())
    assert len(plan.create) == 3 and plan.status["conditions"][-1]["type"] == "Running"


def test_ji_downstream_and_upstream():
    obj = sample(JI_SAMPLES[0])
    msgs = ji.downstream(obj, refs(), False)
    assert [(m.node, m.kind, m.operation) for m in msgs] == [("edge-node", "jointinferenceservice", "insert")]
    assert msgs[0].content["kind"] == "JointInferenceService"
    assert [m.operation for m in ji.downstream(obj, refs(), True)] == ["delete"]
    writes = ji.upstream(obj, {"phase": "inference", "output": {"ownerInfo": {
        "inferenceNumber": 10, "hardExampleNumber": 2, "uploadCloudRatio": 0.2, "startTime": "x",
        "updateTime": "y", "note": "txt"}}}, __import__("gm_testlib").NOW)
    assert writes[0].status["metrics"] == [{"key": "inferenceNumber", "value": "10"},
                                           {"key": "hardExampleNumber", "value": "2"},
                                           {"key": "uploadCloudRatio", "value": "0.2"},
                                           {"key": "note", "value": "txt"}]
    assert ji.upstream(obj, {"phase": "inference", "output": None}, None) == []


# ---- federated learning ---------------------------------------------------------------------------------

FL_SAMPLES = ["federatedlearningjob_v1alpha1.yaml", "federatedlearningjob_v1alpha2.yaml",
              "federatedlearningjob_yolo_v1alpha1.yaml"]


def fl_refs(obj, extra=()):
    sp = obj["spec"]
    objs = [model(sp["aggregationWorker"]["model"]["name"], "/model/agg"), s3_secret()]
    if sp.get("pretrainedModel"):
        objs.append(model(sp["pretrainedModel"]["name"], "s3://b/pre/model.pb", "mysecret"))
    for i, tw in enumerate(sp["trainingWorkers"]):
        objs.append(dataset(tw["dataset"]["name"], f"/data/{i}/train.txt"))
    return refs(*objs, *extra)


@pytest.mark.parametrize("name", FL_SAMPLES)
def test_fl_sample_creates_exact_pods(name):
    obj = sample(name, "FederatedLearningJob")
    n = obj["metadata"]["name"]
    sp = obj["spec"]
    plan = fl.reconcile(obj, Observed(), fl_refs(obj), ctx(lc_server="http://lc:9100"))
    for m in plan.create:
        validate(m)
    pods = [m for m in plan.create if m["kind"] == "Pod"]
    svcs = [m for m in plan.create if m["kind"] == "Service"]
    assert len(pods) == 1 + len(sp["trainingWorkers"])
    assert [s["metadata"]["name"] for s in svcs] == [f"{n}-aggregation"]
    assert svcs[0]["spec"]["ports"][0]["port"] == 7363
    agg, trainers = pods[0], pods[1:]
    assert agg["metadata"]["generateName"] == f"{n}-aggregation-"
    assert agg["spec"]["restartPolicy"] == "OnFailure" and "hostNetwork" not in agg["spec"]
    transmitter = "s3" if (sp.get("transmitter") or {}).get("s3") else "ws"
    aenv = env_of(agg)
    assert {k: aenv[k] for k in ("NAMESPACE", "JOB_NAME", "AGG_BIND_PORT", "PARTICIPANTS_COUNT",
                                 "TRANSMITTER", "MODEL_URL")} == {
        "NAMESPACE": "default", "JOB_NAME": n, "AGG_BIND_PORT": "7363",
        "PARTICIPANTS_COUNT": str(len(sp["trainingWorkers"])), "TRANSMITTER": transmitter,
        "MODEL_URL": "/home/data/model/agg"}
    assert aenv["WORKER_NAME"].startswith("aggworker-")
    if sp.get("pretrainedModel"):
        assert aenv["PRETRAINED_MODEL_URL"] == "/downloads/b/pre/model.pb"
    for i, (pod, tw) in enumerate(zip(trainers, sp["trainingWorkers"])):
        env = env_of(pod)
        assert pod["metadata"]["generateName"] == f"{n}-train-"
        assert pod["spec"]["hostNetwork"] is True and pod["spec"]["restartPolicy"] == "OnFailure"
        assert pod["spec"]["nodeName"] == tw["template"]["spec"]["nodeName"]
        assert env["AGG_IP"] == f"{n}-aggregation.default" and env["AGG_PORT"] == "7363"
        assert env["MODEL_NAME"] == sp["aggregationWorker"]["model"]["name"]
        assert env["DATASET_NAME"] == tw["dataset"]["name"]
        assert env["TRAIN_DATASET_URL"] == f"/home/data/data/{i}/train.txt"
        assert env["LC_SERVER"] == "http://lc:9100" and env["TRANSMITTER"] == transmitter
        assert env["WORKER_NAME"].startswith("trainworker-")
    assert plan.status["phase"] == "Running"


def test_fl_s3_transmitter():
    obj = sample(FL_SAMPLES[0])
    obj["spec"]["transmitter"] = {"s3": {"aggDataPath": "s3://sedna/fl/", "credentialName": "mysecret"}}
    plan = fl.reconcile(obj, Observed(), fl_refs(obj), ctx())
    for pod in [m for m in plan.create if m["kind"] == "Pod"]:
        env = env_of(pod)
        assert env["TRANSMITTER"] == "s3" and env["AGG_DATA_PATH"] == "s3://sedna/fl/"
        assert env["S3_ENDPOINT_URL"] == "http://minio:9000" and env["ACCESS_KEY_ID"] == "AK"


@pytest.mark.parametrize("phases,expect_phase,expect_cond,counts,limit", [
    (["Running", "Running", "Running"], "Running", None, (3, 0, 0), None),
    (["Pending", "Running", "Succeeded"], "Running", None, (1, 1, 0), None),      # active = Running and ready
    (["Succeeded", "Succeeded", "Succeeded"], "Succeeded", "Complete", (0, 3, 0), None),
    # a failed worker is replaced while the job is within its backoffLimit (default 6), as a Job's pods are
    (["Running", "Failed", "Running"], "Running", None, (2, 0, 1), None),
    (["Running", "Failed", "Running"], "Failed", "Failed", (2, 0, 1), 0),
])
def test_fl_status_table(phases, expect_phase, expect_cond, counts, limit):
    obj = sample(FL_SAMPLES[0])
    if limit is not None:
        obj["spec"]["backoffLimit"] = limit
    r = fl_refs(obj)
    first = fl.reconcile(obj, Observed(), r, ctx())
    obj["status"] = first.status
    observed = as_observed(first.create)
    for pod, phase in zip(observed.pods, phases):
        pod["status"]["phase"] = phase
    plan = fl.reconcile(obj, observed, r, ctx())
    st = plan.status or obj["status"]
    assert st["phase"] == expect_phase
    assert (st["active"], st["succeeded"], st["failed"]) == counts
    if expect_cond:
        assert st["conditions"][-1]["type"] == expect_cond
        assert "lastProbeTime" in st["conditions"][-1] and "lastTransitionTime" not in st["conditions"][-1]
        if expect_cond == "Complete":
            assert st["completionTime"] == NOW_STR
        else:
            assert st["conditions"][-1]["reason"] == "BackoffLimitExceeded"
            assert "last exit code" not in st["conditions"][-1]["message"]      # phase only: no exit code known
            assert "backoffLimit 0" in st["conditions"][-1]["message"]
        obj["status"] = st
        assert fl.reconcile(obj, observed, r, ctx()).is_empty()   # terminal
    elif "Failed" in phases:
        assert [m["metadata"]["annotations"]["sedna.io/worker-index"] for m in plan.create] == ["train-0"]
    else:
        obj["status"] = st
        assert fl.reconcile(obj, observed, r, ctx()).is_empty()   # idempotent


def test_fl_spec_change_replaces_only_own_pods():
    obj = sample(FL_SAMPLES[0])
    obj["metadata"]["generation"] = 1
    r = fl_refs(obj)
    first = fl.reconcile(obj, Observed(), r, ctx())
    obj["status"] = first.status
    observed = as_observed(first.create)
    obj["metadata"]["generation"] = 2
    plan = fl.reconcile(obj, observed, r, ctx())
    assert sorted(d["name"] for d in plan.delete) == sorted(p["metadata"]["name"] for p in observed.pods)
    new_pods = [m for m in plan.create if m["kind"] == "Pod"]
    assert len(new_pods) == len(observed.pods)
    assert all(p["metadata"]["annotations"]["sedna.io/job-generation"] == "2" for p in new_pods)
    assert not [m for m in plan.create if m["kind"] == "Service"]   # service kept


def test_fl_missing_dataset_pending():
    obj = sample(FL_SAMPLES[0])
    r = fl_refs(obj)
    del r.datasets[obj["spec"]["trainingWorkers"][0]["dataset"]["name"]]
    plan = fl.reconcile(obj, Observed(), r, ctx())
    assert not plan.create and plan.status["conditions"][-1]["type"] == "Pending"
    assert obj["spec"]["trainingWorkers"][0]["dataset"]["name"] in plan.events[0].message


def test_fl_downstream_and_upstream():
    obj = sample(FL_SAMPLES[0])
    obj["spec"]["trainingWorkers"][1]["template"]["spec"]["nodeName"] = "edge-2"
    msgs = fl.downstream(obj, refs(), False)
    first = obj["spec"]["trainingWorkers"][0]["template"]["spec"]["nodeName"]
    assert [(m.node, m.operation) for m in msgs] == [(first, "insert"), ("edge-2", "insert")]
    assert [(m.node, m.operation) for m in fl.downstream(obj, refs(), True)] == [
        (first, "delete"), ("edge-2", "delete")]
    from gm_testlib import NOW
    writes = fl.upstream(obj, {"phase": "train", "status": "running", "output": {
        "models": [{"format": "pb", "url": "/m", "metrics": {"accuracy": 0.9}}],
        "ownerInfo": {"currentRound": 3, "updateTime": "T"}}}, NOW)
    assert [(w.plural, w.name) for w in writes] == [
        ("models", obj["spec"]["aggregationWorker"]["model"]["name"]), ("federatedlearningjobs", obj["metadata"]["name"])]
    assert writes[0].status == {"metrics": [{"key": "accuracy", "value": "0.9"}], "updateTime": NOW_STR}
    cond = writes[1].status["conditions"][-1]
    assert (cond["type"], cond["reason"], cond["message"]) == ("Training", "DoTraining", "Round 3 reaches at T")
    assert fl.upstream(obj, {"output": {"models": None, "ownerInfo": {"currentRound": 0}}}, NOW) == []


def test_fl_pod_deleted_out_of_band_is_recreated():
    obj = sample(FL_SAMPLES[0])
    r = fl_refs(obj)
    first = fl.reconcile(obj, Observed(), r, ctx())
    obj["status"] = first.status
    observed = as_observed(first.create)
    assert {p["metadata"]["annotations"]["sedna.io/worker-index"] for p in observed.pods} == {
        "aggregation", "train-0", "train-1"}
    gone = next(p for p in observed.pods if p["metadata"]["annotations"]["sedna.io/worker-index"] == "train-1")
    observed.pods.remove(gone)
    plan = fl.reconcile(obj, observed, r, ctx())
    assert [(m["kind"], m["metadata"]["annotations"]["sedna.io/worker-index"]) for m in plan.create] == [
        ("Pod", "train-1")]
    assert env_of(plan.create[0])["DATASET_NAME"] == obj["spec"]["trainingWorkers"][1]["dataset"]["name"]
    # pods of an older GM without the index annotation: nothing is guessed
    for p in observed.pods:
        del p["metadata"]["annotations"]["sedna.io/worker-index"]
    assert not fl.reconcile(obj, observed, r, ctx()).create


def test_fl_same_round_reported_twice_appends_one_condition():
    from gm_testlib import NOW
    obj = sample(FL_SAMPLES[0])
    report = {"output": {"models": None, "ownerInfo": {"currentRound": 2, "updateTime": "T2"}}}
    writes = fl.upstream(obj, report, NOW)
    obj["status"] = writes[0].status
    assert fl.upstream(obj, report, NOW) == []
    report["output"]["ownerInfo"]["currentRound"] = 3
    assert len(fl.upstream(obj, report, NOW)[0].status["conditions"]) == 2
