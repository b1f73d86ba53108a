"""What the CR says about failing, unplaced and recovering workers, per kind (pure reconcile tables)."""

import copy
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from gm_testlib import SAMPLES, as_observed, ctx, model, refs, s3_secret, sample
from test_gm_reconcile_il_ll import IL_SAMPLES, LL_SAMPLES, _at, il_refs, ll_refs
from test_gm_reconcile_il_ll import sync as il_sync
from test_gm_reconcile_ji_fl import FL_SAMPLES, fl_refs

from sedna.gm.controllers import featureextractionservice as fe
from sedna.gm.controllers import federatedlearningjob as fl
from sedna.gm.controllers import incrementallearningjob as il
from sedna.gm.controllers import jointinferenceservice as ji
from sedna.gm.controllers import lifelonglearningjob as ll
from sedna.gm.controllers import objectsearchservice as oss
from sedna.gm.controllers import objecttrackingservice as ots
from sedna.gm.controllers import reidjob, videoanalyticsjob, workerstatus
from sedna.gm.controllers.base import Observed

pytestmark = pytest.mark.skipif(not SAMPLES.is_dir(), reason="needs ../shared/reference/samples")
NODES = {"cloud-node", "edge-node", "edge1", "edge2"}


def crash(pod, exit_code=3, restarts=0):
    pod["status"] = {"phase": "Running", "containerStatuses": [{
        "name": "w", "ready": False, "restartCount": restarts,
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}},
        "lastState": {"terminated": {"exitCode": exit_code, "reason": "Error"}}}]}


def healthy(pod):
    pod["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                     "containerStatuses": [{"name": "w", "ready": True, "restartCount": 0,
                                            "state": {"running": {}}}]}


def ji_world():
    obj = sample("jointinferenceservice_v1alpha1.yaml")
    little, big = obj["spec"]["edgeWorker"]["model"]["name"], obj["spec"]["cloudWorker"]["model"]["name"]
    r = refs(model(little, "/m/little.pb"), model(big, "/m/big.pb"), s3_secret())
    first = ji.reconcile(obj, Observed(), r, ctx())
    obj["status"] = first.status
    observed = as_observed(first.create)
    for dep in observed.deployments:       # one pod per Deployment, labelled as the Deployment's pods are
        observed.pods.append({"metadata": {"name": dep["metadata"]["name"] + "-p1", "labels": dict(
            dep["spec"]["template"]["metadata"]["labels"])}, "spec": {"nodeName": "edge-node"}, "status": {}})
        healthy(observed.pods[-1])
    observed.nodes = set(NODES)
    return obj, observed, r


def apply(obj, plan):
    if plan.status is not None:
        obj["status"] = plan.status
    return obj


def test_service_crash_loop_is_degraded_naming_pod_and_exit_code_then_recovers():
    obj, observed, r = ji_world()
    apply(obj, ji.reconcile(obj, observed, r, ctx()))
    assert obj["status"]["active"] == 2 and obj["status"]["conditions"][-1]["type"] == "Running"
    cloud = next(p for p in observed.pods if "cloud" in p["metadata"]["name"])
    crash(cloud, exit_code=3, restarts=2)
    plan = ji.reconcile(obj, observed, r, ctx())
    cond = plan.status["conditions"][-1]
    assert (cond["type"], cond["reason"]) == ("Degraded", "CrashLoopBackOff")
    assert cloud["metadata"]["name"] in cond["message"] and "last exit code 3" in cond["message"]
    assert "worker cloud" in cond["message"]
    assert (plan.status["active"], plan.status["failed"]) == (1, 1)
    assert [(e.type, e.reason) for e in plan.events] == [("Warning", "CrashLoopBackOff")]
    apply(obj, plan)
    # one more restart: same state, message refreshed in place, no new condition, no new Event
    crash(cloud, exit_code=3, restarts=3)
    again = ji.reconcile(obj, observed, r, ctx())
    assert len(again.status["conditions"]) == len(obj["status"]["conditions"]) and not again.events
    assert "3 restarts" in again.status["conditions"][-1]["message"]
    apply(obj, again)
    healthy(cloud)
    back = ji.reconcile(obj, observed, r, ctx())
    assert back.status["conditions"][-1]["type"] == "Running" and back.status["active"] == 2
    assert [(e.type, e.reason) for e in back.events] == [("Normal", "Recovered")]
    apply(obj, back)
    assert ji.reconcile(obj, observed, r, ctx()).is_empty()


@pytest.mark.parametrize("shape,reason", [
    ({"phase": "Pending"}, "NodeNotFound"),
    ({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                          "message": "0/2 nodes are available"}]}, "Unschedulable"),
])
def test_service_with_unplaced_pod_is_pending_with_reason(shape, reason):
    obj, observed, r = ji_world()
    edge = next(p for p in observed.pods if "edge" in p["metadata"]["name"])
    edge["status"] = shape
    edge["spec"] = {"nodeName": "ghost-node"} if reason == "NodeNotFound" else {}
    plan = ji.reconcile(obj, observed, r, ctx())
    cond = plan.status["conditions"][-1]
    assert (cond["type"], cond["reason"]) == ("Pending", reason)
    assert edge["metadata"]["name"] in cond["message"]
    if reason == "NodeNotFound":
        assert '"ghost-node"' in cond["message"]
    assert plan.status["active"] == 1


def test_feature_extraction_replicas_and_template_reach_the_deployment():
    obj = sample("feature-extraction-service.yaml")
    r = refs(model(obj["spec"]["model"]["name"], "/models/m3l.pth"))
    first = fe.reconcile(obj, Observed(), r, ctx())
    obj["status"] = first.status
    observed = as_observed(first.create)
    assert fe.reconcile(obj, observed, r, ctx()).is_empty()
    scaled = copy.deepcopy(obj)
    scaled["spec"]["replicas"] = obj["spec"]["replicas"] + 1
    plan = fe.reconcile(scaled, observed, r, ctx())
    assert [d["spec"]["replicas"] for d in plan.replace] == [obj["spec"]["replicas"] + 1]
    assert plan.replace[0]["spec"]["template"] == observed.deployments[0]["spec"]["template"]
    changed = copy.deepcopy(obj)
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "fe:v2"
    plan = fe.reconcile(changed, observed, r, ctx())
    assert plan.replace[0]["spec"]["template"]["spec"]["containers"][0]["image"] == "fe:v2"


@pytest.mark.parametrize("module,name", [(oss, "objectsearchservice_v1alpha1.yaml"),
                                         (ots, "objecttrackingservice_v1alpha1.yaml")])
def test_search_and_tracking_follow_reid_replicas(module, name):
    obj = sample(name)
    first = module.reconcile(obj, Observed(), refs(), ctx())
    obj["status"] = first.status
    observed = as_observed(first.create)
    obj["spec"]["reidWorkers"]["replicas"] = 2
    plan = module.reconcile(obj, observed, refs(), ctx())
    assert [(d["metadata"]["name"].rsplit("-", 1)[-1], d["spec"]["replicas"]) for d in plan.replace] == [
        ("reidworker", 2)]


def fl_world(limit=None):
    obj = sample(FL_SAMPLES[0])
    if limit is not None:
        obj["spec"]["backoffLimit"] = limit
    r = fl_refs(obj)
    first = fl.reconcile(obj, Observed(), r, ctx())
    obj["status"] = first.status
    observed = as_observed(first.create)
    observed.nodes = None
    return obj, observed, r


def test_fl_backoff_limit_counts_restarts_across_pods():
    obj, observed, r = fl_world(limit=2)
    trainers = [p for p in observed.pods if "train" in p["metadata"]["name"]]
    crash(trainers[0], exit_code=5, restarts=0)          # 1 failure
    crash(trainers[1], exit_code=5, restarts=1)          # 2 failures -> 3 in all > 2
    plan = fl.reconcile(obj, observed, r, ctx())
    cond = plan.status["conditions"][-1]
    assert (cond["type"], cond["reason"], plan.status["phase"]) == ("Failed", "BackoffLimitExceeded", "Failed")
    assert "last exit code 5" in cond["message"] and trainers[1]["metadata"]["name"] in cond["message"]
    # the job's pods that still run are deleted, as the Job controller does
    assert {d["name"] for d in plan.delete} == {p["metadata"]["name"] for p in observed.pods}
    assert plan.events[-1].reason == "BackoffLimitExceeded"


def test_fl_within_backoff_limit_is_degraded_not_failed():
    obj, observed, r = fl_world()
    crash(observed.pods[1], exit_code=5, restarts=1)
    plan = fl.reconcile(obj, observed, r, ctx())
    cond = plan.status["conditions"][-1]
    assert (cond["type"], cond["reason"], plan.status["phase"]) == ("Degraded", "CrashLoopBackOff", "Running")


def test_job_on_missing_node_is_pending_with_reason():
    obj, observed, r = fl_world()
    observed.nodes = {"cloud-node"}
    for pod in observed.pods:
        pod["status"] = {"phase": "Pending"}
        pod["spec"]["nodeName"] = pod["spec"].get("nodeName") or "cloud-node"
    plan = fl.reconcile(obj, observed, r, ctx())
    cond = plan.status["conditions"][-1]
    assert (plan.status["phase"], cond["type"], cond["reason"]) == ("Pending", "Pending", "NodeNotFound")
    assert "does not exist" in cond["message"]


@pytest.mark.parametrize("module,name", [(reidjob, "reid-job.yaml"),
                                         (videoanalyticsjob, "video-analytics-job.yaml")])
def test_single_pod_jobs_replace_a_failed_pod_until_the_limit(module, name):
    obj = sample(name)
    obj["spec"]["backoffLimit"] = 2
    r = refs(model(obj["spec"]["model"]["name"], "/m.pb")) if (obj["spec"].get("model")) else refs()
    first = module.reconcile(obj, Observed(), r, ctx())
    obj["status"] = first.status
    observed = as_observed([m for m in first.create])
    pods = []
    for attempt in range(3):
        pod = observed.pods[-1]
        pod["status"] = {"phase": "Failed", "containerStatuses": [{"name": "w", "restartCount": 0, "state": {
            "terminated": {"exitCode": 9, "reason": "Error"}}}]}
        pods.append(pod)
        plan = module.reconcile(obj, observed, r, ctx())
        apply(obj, plan)
        if attempt < 2:
            new = [m for m in plan.create if m["kind"] == "Pod"]
            assert len(new) == 1, attempt
            observed.pods += as_observed(new).pods
            observed.pods[-1]["metadata"]["name"] += f"-{attempt}"
    cond = obj["status"]["conditions"][-1]
    assert (cond["type"], cond["reason"]) == ("Failed", "BackoffLimitExceeded")
    assert "last exit code 9" in cond["message"] and obj["status"]["failed"] == 3


@pytest.mark.parametrize("module", [il, ll])
def test_learning_stage_fails_with_backoff_detail(module):
    if module is il:
        obj = sample(IL_SAMPLES[0])
        r = il_refs(obj)
    else:
        obj = sample(LL_SAMPLES[0])
        r = ll_refs(obj)
    obj["spec"]["backoffLimit"] = 2
    observed = Observed()
    il_sync(module, obj, observed, r)
    _at(obj, ("Train", "Waiting", None), ("Train", "Ready", {"input": {}}))
    il_sync(module, obj, observed, r)
    train = next(p for p in observed.pods if "-train-" in p["metadata"]["name"])
    crash(train, exit_code=7, restarts=2)
    plan = il_sync(module, obj, observed, r)
    failed = next(c for c in obj["status"]["conditions"] if c["type"] == "Failed")
    assert (failed["stage"], failed["reason"]) == ("Train", "BackoffLimitExceeded")
    assert "last exit code 7" in failed["message"] and train["metadata"]["name"] in failed["message"]
    assert {"kind": "Pod", "name": train["metadata"]["name"]} in plan.delete


def test_backoff_limit_default_is_batch_v1s():
    assert workerstatus.backoff_limit({"spec": {}}) == 6
    assert workerstatus.backoff_limit({"spec": {"backoffLimit": 0}}) == 0
    assert workerstatus.backoff_limit({"spec": {"backoffLimit": -1}}) == 6


@pytest.mark.parametrize("module,name", [(oss, "objectsearchservice_v1alpha1.yaml"),
                                         (ots, "objecttrackingservice_v1alpha1.yaml")])
def test_tracking_worker_template_change_replaces_only_that_pod(module, name):
    obj = sample(name)
    first = module.reconcile(obj, Observed(), refs(), ctx())
    obj["status"] = first.status
    observed = as_observed(first.create)
    assert not module.reconcile(obj, observed, refs(), ctx()).create
    tw = obj["spec"]["trackingWorkers"][1]["template"]["spec"]["containers"][0]
    tw["image"] = "tracking:v2"
    plan = module.reconcile(obj, observed, refs(), ctx())
    old = next(p for p in observed.pods if p["metadata"]["annotations"]["sedna.io/worker-index"] == "tracking-1")
    assert plan.delete == [{"kind": "Pod", "name": old["metadata"]["name"]}]
    new = [m for m in plan.create if m["kind"] == "Pod"]
    assert [p["metadata"]["annotations"]["sedna.io/worker-index"] for p in new] == ["tracking-1"]
    assert new[0]["spec"]["containers"][0]["image"] == "tracking:v2"


def test_learning_stage_transitions_are_events():
    obj = sample(IL_SAMPLES[0])
    r = il_refs(obj)
    observed = Observed()
    il_sync(il, obj, observed, r)
    _at(obj, ("Train", "Waiting", None), ("Train", "Ready", {"input": {}}))
    plan = il_sync(il, obj, observed, r)
    assert [(e.type, e.reason) for e in plan.events] == [("Normal", "TrainStarting")]
    train = next(p for p in observed.pods if "-train-" in p["metadata"]["name"])
    healthy(train)
    plan = il_sync(il, obj, observed, r)
    assert [(e.type, e.reason) for e in plan.events] == [("Normal", "TrainRunning")]
