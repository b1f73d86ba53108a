"""Truthful status on the single-machine cluster: real GM, LCs and node agents running pods as processes.

A worker that crash-loops, a job over its backoffLimit, a replicas change, pods bound to a node that does not
exist and pods no node accepts — each must show in the CR with the reason, the pod and the exit code, and a
recovered worker must show as Running again.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from gm_cluster import LocalCluster
from support_procs import wait_for

pytestmark = [pytest.mark.timeout(240)]

NODES = ("cloud-node", "edge-node")
API = "sedna.io/v1alpha1"
SLEEP = "import time; time.sleep(3600)"


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    c = LocalCluster(tmp_path_factory.mktemp("truthful") / "cluster", restart_backoff=1.0,
                     cidr=f"127.{random.randint(100, 250)}.0.0/16",
                     env={"LC_DATASET_POLL_SECONDS": "1", "LC_TRIGGER_PERIOD_SECONDS": "1"})   # the LCs
    c.up()
    try:
        yield c
    finally:
        print(c.logs())
        c.down()


def container(code: str) -> dict:
    return {"name": "w", "image": "python", "command": ["python", "-c", code]}


def template(code: str, node: str | None = None, **spec) -> dict:
    out = {"spec": {"containers": [container(code)], **spec}}
    if node:
        out["spec"]["nodeName"] = node
    return out


def models(local: LocalCluster, tmp: Path, *names: str) -> None:
    """Models whose URL is a folder that exists on every node (a hostPath the pods mount)."""
    folder = tmp / "models"
    for node in NODES:
        (local.data_dir / "nodes" / node / str(folder).lstrip("/")).mkdir(parents=True, exist_ok=True)
    for name in names:
        local.create({"apiVersion": API, "kind": "Model", "metadata": {"name": name},
                      "spec": {"url": f"{folder}/{name}.pb", "format": "pb"}})


def status(local: LocalCluster, kind: str, name: str) -> dict:
    return (local.get(kind, name) or {}).get("status") or {}


def current(local: LocalCluster, kind: str, name: str) -> dict:
    return (status(local, kind, name).get("conditions") or [{}])[-1]


def events(local: LocalCluster, name: str) -> list[dict]:
    return [e for e in local.list("Event") if e["involvedObject"]["name"] == name]


def test_crash_loop_is_degraded_with_pod_and_exit_code_then_recovers(local, tmp_path):
    models(local, tmp_path, "ji-big", "ji-little")
    flag = tmp_path / "cloud-may-run"
    crashy = f"import os, sys, time\nif not os.path.exists({str(flag)!r}):\n    sys.exit(3)\ntime.sleep(3600)"
    local.create({"apiVersion": API, "kind": "JointInferenceService", "metadata": {"name": "ji-crash"}, "spec": {
        "cloudWorker": {"model": {"name": "ji-big"}, "template": template(crashy, "cloud-node")},
        "edgeWorker": {"model": {"name": "ji-little"}, "hardExampleMining": {"name": "IBT"},
                       "template": template(SLEEP, "edge-node")}}})
    started = time.monotonic()
    cond = wait_for(lambda: (c := current(local, "JointInferenceService", "ji-crash")).get("type") == "Degraded"
                    and c, 30, "Degraded condition")
    assert time.monotonic() - started < 30
    pod = next(p for p in local.list("Pod", selector="jointinferenceservice.sedna.io/worker-type=cloud")
               if p["metadata"]["name"].startswith("ji-crash-"))
    assert cond["reason"] == "CrashLoopBackOff"
    assert pod["metadata"]["name"] in cond["message"] and "last exit code 3" in cond["message"]
    assert "worker cloud" in cond["message"]
    st = status(local, "JointInferenceService", "ji-crash")
    assert st["failed"] >= 1 and st["active"] <= 1
    wait_for(lambda: any(e["type"] == "Warning" and e["reason"] == "CrashLoopBackOff"
                         for e in events(local, "ji-crash")), 15, "Warning event")
    # the printer columns show the condition and its reason
    table = local.sedna("get", "ji", "ji-crash")
    assert "Degraded" in table.stdout and "CrashLoopBackOff" in table.stdout, table.stdout

    flag.write_text("ok")
    wait_for(lambda: current(local, "JointInferenceService", "ji-crash").get("type") == "Running"
             and status(local, "JointInferenceService", "ji-crash").get("active") == 2, 60, "recovery to Running")
    assert status(local, "JointInferenceService", "ji-crash")["failed"] == 0
    wait_for(lambda: any(e["reason"] == "Recovered" for e in events(local, "ji-crash")), 15, "Recovered event")


def _job(local: LocalCluster, tmp_path: Path, kind: str, name: str) -> str:
    """Create a job of ``kind`` whose one crashing worker exits 5 under restartPolicy OnFailure, backoffLimit 2;
    returns the pod label selector of the job."""
    crash = template("import sys; sys.exit(5)", "cloud-node", restartPolicy="OnFailure")
    if kind == "ReidJob":
        spec = {"backoffLimit": 2, "template": crash}
    elif kind == "VideoAnalyticsJob":
        models(local, tmp_path, f"{name}-model")
        spec = {"backoffLimit": 2, "model": {"name": f"{name}-model"}, "template": crash}
    else:                  # FL: the aggregator runs, the trainer crash-loops (train workers get OnFailure)
        models(local, tmp_path, f"{name}-model")
        local.create({"apiVersion": API, "kind": "Dataset", "metadata": {"name": f"{name}-ds"},
                      "spec": {"url": str(tmp_path / "train.txt"), "format": "txt", "nodeName": "edge-node"}})
        spec = {"backoffLimit": 2,
                "aggregationWorker": {"model": {"name": f"{name}-model"}, "template": template(SLEEP, "cloud-node")},
                "trainingWorkers": [{"dataset": {"name": f"{name}-ds"},
                                     "template": template("import sys; sys.exit(5)", "edge-node")}]}
    local.create({"apiVersion": API, "kind": kind, "metadata": {"name": name}, "spec": spec})
    return f"{kind.lower()}.sedna.io/name={name}"


@pytest.mark.parametrize("kind", ["ReidJob", "VideoAnalyticsJob", "FederatedLearningJob"])
def test_backoff_limit_fails_the_job_after_the_third_failure(local, tmp_path, kind):
    name = f"{kind.lower()[:6]}-crash"
    selector = _job(local, tmp_path, kind, name)
    st = wait_for(lambda: (s := status(local, kind, name)).get("phase") == "Failed" and s, 60, f"{kind} Failed")
    cond = st["conditions"][-1]
    assert (cond["type"], cond["reason"]) == ("Failed", "BackoffLimitExceeded")
    assert "last exit code 5" in cond["message"] and "3 failures > backoffLimit 2" in cond["message"]
    assert cond["message"].count(f"(pod {name}-") == 1           # names the pod
    wait_for(lambda: any(e["type"] == "Warning" and e["reason"] == "BackoffLimitExceeded"
                         for e in events(local, name)), 15, "BackoffLimitExceeded event")
    # the job's pods are deleted, as the Job controller does, and nothing replaces them
    wait_for(lambda: not local.list("Pod", selector=selector), 30, "pods deleted")
    time.sleep(2)
    assert not local.list("Pod", selector=selector)
    assert status(local, kind, name)["phase"] == "Failed"


def test_feature_extraction_crash_loop_is_degraded(local, tmp_path):
    models(local, tmp_path, "fe-crash-model")
    local.create({"apiVersion": API, "kind": "FeatureExtractionService", "metadata": {"name": "fe-crash"},
                  "spec": {"model": {"name": "fe-crash-model"}, "replicas": 1,
                           "selector": {"matchLabels": {"app": "fe-crash"}},
                           "template": {"metadata": {"labels": {"app": "fe-crash"}},
                                        "spec": {"containers": [container("import sys; sys.exit(4)")]}}}})
    cond = wait_for(lambda: (c := current(local, "FeatureExtractionService", "fe-crash")).get("type")
                    == "Degraded" and c, 30, "FE Degraded")
    assert cond["reason"] == "CrashLoopBackOff" and "last exit code 4" in cond["message"]
    assert "(pod fe-crash-deployment-fe-" in cond["message"]
    assert status(local, "FeatureExtractionService", "fe-crash")["active"] == 0


def test_replicas_change_scales_the_deployment(local, tmp_path):
    models(local, tmp_path, "fe-model")
    fe = local.create({"apiVersion": API, "kind": "FeatureExtractionService", "metadata": {"name": "fe-scale"},
                       "spec": {"model": {"name": "fe-model"}, "replicas": 1,
                                "selector": {"matchLabels": {"app": "fe-scale"}},
                                "template": {"metadata": {"labels": {"app": "fe-scale"}},
                                             "spec": {"containers": [container(SLEEP)]}}}})
    wait_for(lambda: status(local, "FeatureExtractionService", "fe-scale").get("active") == 1, 60,
             "FE active 1 from its running pod")
    fe = local.get("FeatureExtractionService", "fe-scale")
    fe["spec"]["replicas"] = 2
    local.replace(fe)
    wait_for(lambda: (local.get("Deployment", "fe-scale-deployment-fe") or {}).get("spec", {}).get("replicas") == 2,
             30, "Deployment scaled to 2")
    wait_for(lambda: status(local, "FeatureExtractionService", "fe-scale").get("active") == 2, 60,
             "FE active 2 from its running pods")
    assert current(local, "FeatureExtractionService", "fe-scale")["type"] == "Running"


def test_pods_on_a_missing_node_are_pending_with_the_reason(local, tmp_path):
    """Upstream's MistNet-like sample: trainers bound to nodes that do not exist."""
    models(local, tmp_path, "fl-model")
    for name in ("ds-a", "ds-b"):
        local.create({"apiVersion": API, "kind": "Dataset", "metadata": {"name": f"fl-{name}"},
                      "spec": {"url": str(tmp_path / f"{name}.txt"), "format": "txt", "nodeName": "edge-9"}})
    local.create({"apiVersion": API, "kind": "FederatedLearningJob", "metadata": {"name": "fl-ghost"}, "spec": {
        "aggregationWorker": {"model": {"name": "fl-model"}, "template": template(SLEEP, "cloud-node")},
        "trainingWorkers": [{"dataset": {"name": f"fl-{n}"}, "template": template(SLEEP, "edge-9")}
                            for n in ("ds-a", "ds-b")]}})
    st = wait_for(lambda: (s := status(local, "FederatedLearningJob", "fl-ghost")).get("phase") == "Pending"
                  and s, 30, "FL Pending")
    cond = st["conditions"][-1]
    assert (cond["type"], cond["reason"]) == ("Pending", "NodeNotFound")
    assert 'node "edge-9", which does not exist' in cond["message"] and "(pod fl-ghost-train-" in cond["message"]
    assert st["active"] <= 1


@pytest.mark.parametrize("kind", ["ObjectTrackingService", "ObjectSearchService"])
def test_pods_no_node_accepts_are_pending_unschedulable(local, kind):
    name = f"{kind[6:9].lower()}-unsched"
    spec = {"reidWorkers": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                            "template": {"metadata": {"labels": {"app": name}},
                                         "spec": {"containers": [container(SLEEP)]}}},
            "trackingWorkers": [{"template": template(SLEEP, nodeSelector={"edgeai/app": "tracking"})}]}
    if kind == "ObjectSearchService":
        spec["userWorker"] = {"template": template(SLEEP)}
    local.create({"apiVersion": API, "kind": kind, "metadata": {"name": name}, "spec": spec})
    cond = wait_for(lambda: (c := current(local, kind, name)).get("type") == "Pending" and c, 30, f"{kind} Pending")
    assert cond["reason"] == "Unschedulable" and f"(pod {name}-trackingworker-" in cond["message"]
    st = status(local, kind, name)
    assert st["failed"] == 0


@pytest.mark.parametrize("kind", ["IncrementalLearningJob", "LifelongLearningJob"])
def test_learning_stage_fails_when_its_worker_exceeds_the_backoff_limit(local, tmp_path, kind):
    """The LC counts the dataset and triggers training; the train worker exits 7 on every run."""
    name = f"{kind[:2].lower()}-crash"
    edge = local.data_dir / "nodes" / "edge-node"
    data = tmp_path / "data" / "train.txt"
    (edge / str(data.parent).lstrip("/")).mkdir(parents=True)
    (edge / str(data).lstrip("/")).write_text("".join(f"img{i}.jpg {i % 2}\n" for i in range(6)))
    out = tmp_path / "out"
    for node in NODES:
        (local.data_dir / "nodes" / node / str(out).lstrip("/")).mkdir(parents=True)
    local.create({"apiVersion": API, "kind": "Dataset", "metadata": {"name": f"{name}-ds"},
                  "spec": {"url": str(data), "format": "txt", "nodeName": "edge-node"}})
    trigger = {"condition": {"operator": ">", "threshold": 2, "metric": "num_of_samples"}}
    crash = template("import sys; sys.exit(7)", "edge-node")
    idle = template(SLEEP, "edge-node")
    if kind == "IncrementalLearningJob":
        models(local, tmp_path, f"{name}-base", f"{name}-deploy")
        spec = {"initialModel": {"name": f"{name}-base"},
                "trainSpec": {"template": crash, "trigger": trigger}, "evalSpec": {"template": idle},
                "deploySpec": {"model": {"name": f"{name}-deploy"}, "template": idle,
                               "hardExampleMining": {"name": "IBT"},
                               "trigger": {"condition": {"operator": ">", "threshold": 0.1,
                                                         "metric": "precision_delta"}}}}
    else:
        spec = {"trainSpec": {"template": crash, "trigger": trigger}, "evalSpec": {"template": idle},
                "deploySpec": {"template": idle}}
    local.create({"apiVersion": API, "kind": kind, "metadata": {"name": name}, "spec": {
        "dataset": {"name": f"{name}-ds", "trainProb": 0.5}, "outputDir": str(out), "backoffLimit": 2, **spec}})

    def failed_stage():
        return next((c for c in status(local, kind, name).get("conditions") or []
                     if c.get("type") == "Failed" and c.get("reason") == "BackoffLimitExceeded"), None)
    cond = wait_for(failed_stage, 120, f"{kind} stage Failed with BackoffLimitExceeded")
    assert cond["stage"] == "Train" and "last exit code 7" in cond["message"]
    assert f"(pod {name}-train-" in cond["message"] and "3 failures > backoffLimit 2" in cond["message"]
    wait_for(lambda: any(e["reason"] == "BackoffLimitExceeded" for e in events(local, name)), 15, "event")
