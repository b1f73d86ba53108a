"""Dataset, Model, ReidJob, VideoAnalyticsJob, FeatureExtractionService, ObjectSearch/TrackingService."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from gm_testlib import NOW, NOW_STR, as_observed, ctx, env_of, model, refs, s3_secret, sample, validate

from sedna.gm.controllers import all_controllers
from sedna.gm.controllers import dataset as ds
from sedna.gm.controllers import featureextractionservice as fe
from sedna.gm.controllers import model as mdl
from sedna.gm.controllers import objectsearchservice as oss
from sedna.gm.controllers import objecttrackingservice as ots
from sedna.gm.controllers import reidjob as reid
from sedna.gm.controllers import videoanalyticsjob as va
from sedna.gm.controllers.base import Observed


def test_registry_has_every_kind():
    assert set(all_controllers()) == {
        "dataset", "model", "jointinferenceservice", "federatedlearningjob", "incrementallearningjob",
        "lifelonglearningjob", "objectsearchservice", "objecttrackingservice", "reidjob", "videoanalyticsjob",
        "featureextractionservice"}


def test_dataset_downstream_with_credential_and_upstream():
    obj = sample("dataset_v1alpha1.yaml")
    node = obj["spec"]["nodeName"]
    msgs = ds.downstream(obj, refs(), False)
    assert [(m.node, m.kind, m.operation) for m in msgs] == [(node, "dataset", "insert")]
    assert msgs[0].content["kind"] == "Dataset" and msgs[0].content["spec"] == obj["spec"]
    assert "annotations" not in msgs[0].content["metadata"]
    obj["spec"]["credentialName"] = "mysecret"
    msgs = ds.downstream(obj, refs(s3_secret()), False)
    assert json.loads(msgs[0].content["metadata"]["annotations"]["sedna.io/credential"])["ACCESS_KEY_ID"] == "AK"
    assert "annotations" not in obj["metadata"]                     # the stored object is untouched
    assert [m.operation for m in ds.downstream(obj, refs(), True)] == ["delete"]
    obj["spec"]["nodeName"] = ""
    assert ds.downstream(obj, refs(), False) == []
    writes = ds.upstream(obj, {"numberOfSamples": 12}, NOW)
    assert writes[0].plural == "datasets" and writes[0].status == {"numberOfSamples": 12, "updateTime": NOW_STR}
    for bad in ({}, {"numberOfSamples": "x"}, {"numberOfSamples": -1}, [1]):
        with pytest.raises(ValueError):
            ds.upstream(obj, bad, NOW)


def test_dataset_and_model_missing_secret_event():
    obj = sample("dataset_v1alpha1.yaml")
    obj["spec"]["credentialName"] = "nope"
    plan = ds.reconcile(obj, Observed(), refs(), ctx())
    assert plan.events[0].reason == "MissingReference" and '"nope"' in plan.events[0].message
    assert ds.reconcile(obj, Observed(), refs(s3_secret("nope")), ctx()).is_empty()
    m = model("m", "s3://b/m", "nope")
    assert mdl.reconcile(m, Observed(), refs(), ctx()).events
    assert mdl.reconcile(model("m", "/m"), Observed(), refs(), ctx()).is_empty()


def test_model_dependants():
    job = sample("incrementallearningjob_v1alpha1.yaml")
    other = sample("incrementallearningjob_v1alpha1.yaml")
    other["metadata"]["namespace"] = "elsewhere"
    assert mdl.dependants(model("deploy-model", "/m"), [job, other]) == [job]
    assert mdl.dependants(model("unrelated", "/m"), [job]) == []


@pytest.mark.parametrize("module,name,kind,port", [
    (reid, "reid-job.yaml", "ReidJob", None),
    (va, "video-analytics-job.yaml", "VideoAnalyticsJob", 4000),
])
def test_batch_jobs(module, name, kind, port):
    obj = sample(name)
    n = obj["metadata"]["name"]
    r = refs(model((obj["spec"].get("model") or {}).get("name", "none"), "s3://b/yolox.pth", "mysecret"),
             s3_secret())
    plan = module.reconcile(obj, Observed(), r, ctx(lc_server="http://lc:1"))
    for m in plan.create:
        validate(m)
    pods = [m for m in plan.create if m["kind"] == "Pod"]
    assert len(pods) == 1
    env = env_of(pods[0])
    assert env["JOB_NAME"] == n and env["NAMESPACE"] == "default" and env["LC_SERVER"] == "http://lc:1"
    assert len(env["WORKER_NAME"]) == 5
    assert ("KAFKA_ENABLED" in env) == bool(obj["spec"].get("kafkaSupport"))
    assert pods[0]["spec"].get("restartPolicy") == obj["spec"]["template"]["spec"].get("restartPolicy")
    services = [m for m in plan.create if m["kind"] == "Service"]
    if port:
        assert env["MODEL_URL"] == "/downloads/b/yolox.pth" and env["MODEL_NAME"] == obj["spec"]["model"]["name"]
        assert [(s["metadata"]["name"], s["spec"]["ports"][0]["port"]) for s in services] == [
            (f"{n}-videoanalytics", port)]
    else:
        assert services == []
    obj["status"] = plan.status
    observed = as_observed(plan.create, "Succeeded")
    done = module.reconcile(obj, observed, r, ctx())
    assert done.status["phase"] == "Succeeded" and done.status["conditions"][-1]["type"] == "Completed"
    assert done.events[-1].reason == "Completed"
    obj["status"] = done.status
    assert module.reconcile(obj, observed, r, ctx()).is_empty()
    assert module.upstream(obj, {"output": {"ownerInfo": {"a": 1}}}, NOW) == []


def test_feature_extraction():
    obj = sample("feature-extraction-service.yaml")
    n = obj["metadata"]["name"]
    r = refs(model(obj["spec"]["model"]["name"], "/models/m3l.pth"))
    plan = fe.reconcile(obj, Observed(), r, ctx())
    for m in plan.create:
        validate(m)
    assert [(m["kind"], m["metadata"]["name"]) for m in plan.create] == [
        ("Deployment", f"{n}-deployment-fe"), ("Service", f"{n}-fe")]
    dep = plan.create[0]
    assert dep["spec"]["replicas"] == obj["spec"]["replicas"]
    env = env_of(dep)
    assert env["SERVICE_NAME"] == n and env["KAFKA_ENABLED"] == "true"
    assert env["MODEL_URL"] == "/home/data/models/m3l.pth"
    obj["status"] = plan.status
    observed = as_observed(plan.create)
    observed.pods = as_observed([{"kind": "Pod", "metadata": {"generateName": "p-"}, "spec": {}}]).pods
    again = fe.reconcile(obj, observed, r, ctx())
    assert again.status["active"] == 1 and again.status["conditions"][-1]["type"] == "Running"
    obj["status"] = again.status
    assert fe.reconcile(obj, observed, r, ctx()).is_empty()
    observed.pods[0]["status"]["phase"] = "Failed"
    failed = fe.reconcile(obj, observed, r, ctx())
    assert failed.status["conditions"][-1]["type"] == "Failed"
    writes = fe.upstream(obj, {"output": {"ownerInfo": {"fps": 3, "startTime": "x"}}}, NOW)
    assert writes[0].status["metrics"] == [{"key": "fps", "value": "3"}]


def test_object_search_service():
    obj = sample("objectsearchservice_v1alpha1.yaml")
    n = obj["metadata"]["name"]
    plan = oss.reconcile(obj, Observed(), refs(), ctx())
    for m in plan.create:
        validate(m)
    names = [(m["kind"], m["metadata"].get("name") or m["metadata"]["generateName"]) for m in plan.create]
    assert names == [("Deployment", f"{n}-deployment-reidworker"), ("Service", f"{n}-reidworker"),
                     ("Deployment", f"{n}-deployment-userworker"), ("Service", f"{n}-userworker"),
                     ("Pod", f"{n}-trackingworker-"), ("Pod", f"{n}-trackingworker-")]
    assert plan.create[0]["spec"]["replicas"] == 5
    assert plan.create[1]["spec"]["ports"][0]["port"] == 9378
    assert plan.create[3]["spec"]["ports"][0]["port"] == 9379
    assert env_of(plan.create[0]) == {e["name"]: e.get("value") for e in
                                      obj["spec"]["reidWorkers"]["template"]["spec"]["containers"][0]["env"]}
    uenv = env_of(plan.create[2])
    assert uenv["SERVICE_NAME"] == n and uenv["WORKER_NAME"].startswith("userworker-")
    tenv = env_of(plan.create[4])
    assert tenv["USERWORKER_URL"] == f"{n}-userworker.default:9379"
    assert tenv["EDGEMESH_URL"] == f"{n}-reidworker.default:9378"
    assert plan.status["conditions"][-1]["type"] == "Running" and plan.status["active"] == 0
    obj["status"] = plan.status
    observed = as_observed(plan.create)
    seen = oss.reconcile(obj, observed, refs(), ctx())         # the two tracking pods observed Running
    assert seen.status["active"] == 2 and not seen.create
    obj["status"] = seen.status
    assert oss.reconcile(obj, observed, refs(), ctx()).is_empty()
    # pods of the reid/user Deployments carry the CR labels too; they are not tracking workers
    dep_pod = {"kind": "Pod", "metadata": {"generateName": "d-", "labels": dict(
        plan.create[0]["spec"]["template"]["metadata"]["labels"])}, "spec": {}}
    with_dep_pods = as_observed([dep_pod])
    assert [m["kind"] for m in oss.reconcile(obj, Observed(deployments=observed.deployments,
                                                          services=observed.services,
                                                          pods=with_dep_pods.pods), refs(), ctx()).create] == [
        "Pod", "Pod"]
    # a restart in the middle of creating the tracking pods completes the set
    half = Observed(deployments=observed.deployments, services=observed.services, pods=observed.pods[:1])
    assert [m["metadata"]["annotations"]["sedna.io/worker-index"] for m in
            oss.reconcile(obj, half, refs(), ctx()).create] == ["tracking-1"]
    observed.pods[0]["status"]["phase"] = "Failed"
    failed = oss.reconcile(obj, observed, refs(), ctx())
    assert failed.status["conditions"][-1]["reason"] == "podFailed" and failed.status["failed"] == 1


def test_object_tracking_service():
    obj = sample("objecttrackingservice_v1alpha1.yaml")
    n = obj["metadata"]["name"]
    plan = ots.reconcile(obj, Observed(), refs(), ctx())
    for m in plan.create:
        validate(m)
    kinds = [m["kind"] for m in plan.create]
    assert kinds == ["Deployment", "Service", "Pod", "Pod"]
    tenv = env_of(plan.create[2])
    assert tenv["EDGEMESH_URL"] == f"{n}-reidworker.default:9378" and "USERWORKER_URL" not in tenv
    obj["status"] = plan.status
    observed = as_observed(plan.create)
    seen = ots.reconcile(obj, observed, refs(), ctx())
    assert seen.status["active"] == 2 and not seen.create
    obj["status"] = seen.status
    assert ots.reconcile(obj, observed, refs(), ctx()).is_empty()
    observed.deployments.clear()
    plan = ots.reconcile(obj, observed, refs(), ctx())
    assert [m["kind"] for m in plan.create] == ["Deployment"]      # recreated, not failed


@pytest.mark.parametrize("spec", [
    {}, {"trainingWorkers": [{}], "aggregationWorker": {}}, {"trackingWorkers": [{}], "reidWorkers": {}},
    {"dataset": {}, "deploySpec": {}, "trainSpec": {}, "evalSpec": {}},
])
def test_sparse_specs_never_crash(spec):
    """Objects the CRD schema would reject still produce a plan (or a ValueError for reports), never a crash."""
    for c in all_controllers().values():
        obj = {"kind": c.kind, "metadata": {"name": "x", "namespace": "d", "uid": "u"}, "spec": spec}
        plan = c.reconcile(obj, Observed(), refs(), ctx())
        for manifest in plan.create:
            assert manifest["metadata"]["ownerReferences"][0]["uid"] == "u"
        if c.downstream:
            c.downstream(obj, refs(), False)
            c.downstream(obj, refs(), True)
        if c.upstream:
            for content in ({"phase": "train", "status": "ready"}, None, {"output": {"models": [1, "x"]}}):
                try:
                    c.upstream(obj, content, NOW)
                except ValueError:
                    pass
