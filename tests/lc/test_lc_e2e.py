"""End to end: API emulator + real ``sedna gm`` + real ``sedna lc`` processes.

Dataset counts land in the CR status; an incremental learning job goes Train Waiting → (LC trigger) Train
Ready → train pod → worker report through the LC → Eval Waiting → (LC) Eval Ready → eval pod; a GM killed
while the LC reports loses nothing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import pytest
import support_reference
from lc_harness import wait_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gm"))
from gm_cluster import cluster_fixture, gm_fixture  # noqa: F401 - the fixtures

from sedna.api.yamlio import load
from sedna.common.tokens import node_token

pytestmark = [pytest.mark.timeout(240)]
TOKEN = "e2e-token"


# One API emulator and one GM for the module (gm_cluster's fixtures: starting them dominates the run time); each
# test uses its own node name and object names, so its LC only ever receives its own objects.


def conditions(cluster, kind, name):
    return [(c["stage"], c["type"]) for c in
            ((cluster.get(kind, name) or {}).get("status") or {}).get("conditions") or []]


def il_job(hot: bool, node: str) -> dict:
    doc = load((support_reference.require() / "samples" / "incrementallearningjob_v1alpha1.yaml").read_text())
    doc["metadata"]["namespace"] = "default"
    suffix = "-hot" if hot else "-copy"
    doc["metadata"]["name"] += suffix
    doc["spec"]["dataset"]["name"] += suffix
    doc["spec"]["initialModel"]["name"] += suffix
    doc["spec"]["deploySpec"]["model"]["name"] += suffix
    for spec in ("trainSpec", "evalSpec", "deploySpec"):
        doc["spec"][spec]["template"]["spec"]["nodeName"] = node
    doc["spec"]["trainSpec"]["trigger"] = {"checkPeriodSeconds": 60, "timer": {"start": "00:00", "end": "24:00"},
                                           "condition": {"operator": ">", "threshold": 5,
                                                         "metric": "num_of_samples"}}
    doc["spec"]["outputDir"] = "/output"
    if hot:
        doc["spec"]["deploySpec"]["model"].update(hotUpdateEnabled=True, pollPeriodSeconds=1)
    return doc


@pytest.mark.parametrize("hot", [False, True], ids=["copy-deploy", "hot-update"])
def test_lc_with_real_gm(cluster, gm, lc_process, tmp_path, hot):
    node = "edge-hot" if hot else "edge-copy"
    rootfs = tmp_path / "rootfs"
    (rootfs / "data").mkdir(parents=True)
    data = rootfs / "data" / "train.txt"
    data.write_text("".join(f"images/{i}.jpg {i % 2}\n" for i in range(20)))
    job = il_job(hot, node)
    name = job["metadata"]["name"]
    for mname, url in ((job["spec"]["initialModel"]["name"], "/models/base/model.pb"),
                       (job["spec"]["deploySpec"]["model"]["name"], "/models/deploy/model.pb")):
        cluster.create({"apiVersion": "sedna.io/v1alpha1", "kind": "Model",
                        "metadata": {"name": mname, "namespace": "default"}, "spec": {"url": url, "format": "pb"}})
    ds_name = job["spec"]["dataset"]["name"]
    cluster.create({"apiVersion": "sedna.io/v1alpha1", "kind": "Dataset",
                    "metadata": {"name": ds_name, "namespace": "default"},
                    "spec": {"url": "/data/train.txt", "format": "txt", "nodeName": node}})
    lc = lc_process(f"127.0.0.1:{gm.ws_port}", rootfs, NODENAME=node, SEDNA_CHANNEL_TOKEN=node_token(TOKEN, node))

    # dataset counted by the LC, written by the GM
    wait_for(lambda: ((cluster.get("Dataset", ds_name) or {}).get("status") or {}).get("numberOfSamples") == 20,
             timeout=30, what="Dataset status from the LC count")

    # IL: the LC's train trigger becomes a train pod with the LC's data file
    cluster.create(job)
    wait_for(lambda: ("Train", "Ready") in conditions(cluster, "IncrementalLearningJob", name), timeout=60,
             what="(Train, Ready) from the LC")
    ready = next(c for c in cluster.get("IncrementalLearningJob", name)["status"]["conditions"]
             if (c["stage"], c["type"]) == ("Train", "Ready"))
    assert ready["message"] == "reported by lc"
    assert '"dataURL":"/output/data/train/1/data.txt"' in ready["data"].replace(" ", "")
    assert len((rootfs / "output/data/train/1/data.txt").read_text().splitlines()) == 16   # floor(0.8 * 20)
    sel = f"incrementallearningjob.sedna.io/name={name},incrementallearningjob.sedna.io/worker-type=train"
    train = wait_for(lambda: cluster.list("Pod", selector=sel), timeout=30, what="train pod")[0]
    cluster.set_pod_phase(train, "Running", node=node)
    wait_for(lambda: ("Train", "Running") in conditions(cluster, "IncrementalLearningJob", name), timeout=30,
             what="(Train, Running)")

    # the worker reports through the LC's HTTP API; the GM advances the job to Eval and the LC triggers eval
    body = {"name": "train-worker-x", "namespace": "default", "ownerName": name,
            "ownerKind": "incrementallearningjob", "kind": "train", "status": "completed",
            "results": [{"format": "pb", "url": "/output/train/1/model.pb", "metrics": {}}]}
    r = lc.report("train-worker-x", body)
    assert r.status_code == 200, r.text
    wait_for(lambda: ("Eval", "Ready") in conditions(cluster, "IncrementalLearningJob", name), timeout=60,
             what="(Eval, Ready) from the LC")
    esel = f"incrementallearningjob.sedna.io/name={name},incrementallearningjob.sedna.io/worker-type=eval"
    wait_for(lambda: cluster.list("Pod", selector=esel), timeout=30, what="eval pod")
    assert (rootfs / "output/data/eval/1/data.txt").read_text().splitlines()[0] == "images/16.jpg 0"

    # eval worker: new model better by 0.3 → the LC's deploy trigger (the sample's un-indexed
    # ``precision_delta > 0.1``) fires, the trained model is copied over the deploy model, the GM restarts
    # inference and the job starts a new cycle
    eval_pod = cluster.list("Pod", selector=esel)[0]
    cluster.set_pod_phase(eval_pod, "Running", node=node)
    wait_for(lambda: ("Eval", "Running") in conditions(cluster, "IncrementalLearningJob", name), timeout=30,
             what="(Eval, Running)")
    (rootfs / "output/train/1").mkdir(parents=True)
    (rootfs / "output/train/1/model.pb").write_bytes(b"trained-round-1")
    body = {"name": "eval-worker-x", "namespace": "default", "ownerName": name,
            "ownerKind": "incrementallearningjob", "kind": "eval", "status": "completed",
            "results": [{"format": "pb", "url": "/output/train/1/model.pb", "metrics": {"precision": [0.8]}},
                        {"format": "pb", "url": "/models/deploy/model.pb", "metrics": {"precision": [0.5]}}]}
    assert lc.report("eval-worker-x", body).status_code == 200
    wait_for(lambda: ("Deploy", "Ready") in conditions(cluster, "IncrementalLearningJob", name), timeout=60,
             what="(Deploy, Ready) from the LC")
    if not hot:
        assert (rootfs / "models/deploy/model.pb").read_bytes() == b"trained-round-1"
    else:
        # hot update: the GM waits for the inference pod, then pushes (Deploy, Running) to this node, and the
        # LC publishes the model where the inference worker polls (gm.md §3.5)
        annotation = cluster.get("IncrementalLearningJob", name)["metadata"]["annotations"][
            "sedna.io/model-hot-update-config"]
        assert annotation == f"/var/lib/sedna/model-hot-update/default/incrementallearningjob/{name}/model_config.json"
        isel = f"incrementallearningjob.sedna.io/name={name},incrementallearningjob.sedna.io/worker-type=inference"
        infer = wait_for(lambda: cluster.list("Pod", selector=isel), timeout=30, what="inference pod")[0]
        cluster.set_pod_phase(infer, "Running", node=node)
        config = rootfs / annotation.lstrip("/")
        wait_for(config.exists, timeout=60, what="hot-update config written by the LC")
        doc = json.loads(config.read_text())
        assert doc["model_config"]["model_path"] == "/model-hot-update/model.pb"
        assert (config.parent / "model.pb").read_bytes() == b"trained-round-1"
        done = {"name": "infer-x", "namespace": "default", "ownerName": name, "ownerKind": "incrementallearningjob",
                "kind": "deploy", "status": "completed"}
        assert lc.report("infer-x", done).status_code == 200
    wait_for(lambda: conditions(cluster, "IncrementalLearningJob", name)[-1] == ("Train", "Waiting"), timeout=60,
             what="next cycle")

    # GM killed: the LC keeps reporting into its outbox; after the restart the status catches up
    gm.kill9()
    data.write_text(data.read_text() + "".join(f"images/{i}.jpg 0\n" for i in range(20, 30)))
    def queued_while_down():
        health = httpx.get(lc.url + "/healthz", timeout=5).json()
        return not health["gmConnected"] and health["outboxDepth"] >= 1
    wait_for(queued_while_down, timeout=15, what="report queued during the outage")
    gm.start()
    wait_for(lambda: ((cluster.get("Dataset", ds_name) or {}).get("status") or {}).get("numberOfSamples") == 30,
             timeout=60, what="Dataset status after the GM restart")
    assert lc.stop() == 0


def test_lifelong_job_with_real_gm(cluster, gm, lc_process, tmp_path):
    node = "edge-ll"
    rootfs = tmp_path / "rootfs"
    (rootfs / "data").mkdir(parents=True)
    (rootfs / "data" / "train.csv").write_text("temp,hum,label\n" + "".join(f"{i},{i},{i % 2}\n" for i in range(30)))
    doc = load((support_reference.require() / "samples" / "lifelonglearningjobv1alpha1.yaml").read_text())
    doc["metadata"]["namespace"] = "default"
    doc["spec"]["trainSpec"]["trigger"] = {"timer": {"start": "00:00", "end": "24:00"},
                                           "condition": {"operator": ">=", "threshold": 10,
                                                         "metric": "num_of_samples"}}
    for spec in ("trainSpec", "evalSpec", "deploySpec"):
        doc["spec"][spec]["template"]["spec"]["nodeName"] = node
    name, ds_name = doc["metadata"]["name"], doc["spec"]["dataset"]["name"]
    cluster.create({"apiVersion": "sedna.io/v1alpha1", "kind": "Dataset",
                    "metadata": {"name": ds_name, "namespace": "default"},
                    "spec": {"url": "/data/train.csv", "format": "csv", "nodeName": node}})
    lc = lc_process(f"127.0.0.1:{gm.ws_port}", rootfs, NODENAME=node, SEDNA_CHANNEL_TOKEN=node_token(TOKEN, node))
    cluster.create(doc)

    def stage_pod(kind):
        sel = f"lifelonglearningjob.sedna.io/name={name},lifelonglearningjob.sedna.io/worker-type={kind}"
        pod = wait_for(lambda: cluster.list("Pod", selector=sel), timeout=30, what=f"{kind} pod")[0]
        cluster.set_pod_phase(pod, "Running", node=node)

    def report(kind, models):
        body = {"name": f"{kind}-w", "namespace": "default", "ownerName": name, "ownerKind": "lifelonglearningjob",
                "kind": kind, "status": "completed", "results": models}
        assert lc.report(f"{kind}-w", body).status_code == 200

    wait_for(lambda: ("Train", "Ready") in conditions(cluster, "LifelongLearningJob", name), timeout=60,
             what="(Train, Ready) from the LC")
    train_csv = (rootfs / "output/data/train/1/data.csv").read_text().splitlines()
    assert train_csv[0] == "temp,hum,label" and len(train_csv) == 1 + 24   # header + floor(0.8 * 30)
    stage_pod("train")
    wait_for(lambda: ("Train", "Running") in conditions(cluster, "LifelongLearningJob", name), timeout=30,
             what="(Train, Running)")
    report("train", [{"format": "pkl", "url": "/output/train/1/index.pkl", "classes": ["a", "b"],
                      "current_metric": {"m1": {"accuracy": 0.9}}, "number_of_labeled_unseen_sample": 3}])
    wait_for(lambda: ("Eval", "Ready") in conditions(cluster, "LifelongLearningJob", name), timeout=60,
             what="(Eval, Ready) from the LC")
    kb = cluster.get("LifelongLearningJob", name)["status"]["knowledgeBase"]   # recomputed by the GM
    assert kb["AIClasses"]["listOfAIClasses"] == ["a", "b"] and kb["AIModels"]["numberOfAIModels"] == 1
    stage_pod("eval")
    wait_for(lambda: ("Eval", "Running") in conditions(cluster, "LifelongLearningJob", name), timeout=30,
             what="(Eval, Running)")
    (rootfs / "output/eval/1").mkdir(parents=True)
    (rootfs / "output/eval/1/index.pkl").write_bytes(b"kb-index")
    report("eval", [{"format": "pkl", "url": "/output/eval/1/index.pkl"}])
    wait_for(lambda: ("Deploy", "Ready") in conditions(cluster, "LifelongLearningJob", name), timeout=60,
             what="(Deploy, Ready) from the LC")
    assert (rootfs / "output/deploy/index.pkl").read_bytes() == b"kb-index"
    wait_for(lambda: conditions(cluster, "LifelongLearningJob", name)[-1] == ("Train", "Waiting"), timeout=60,
             what="next cycle")
    assert lc.stop() == 0


def test_joint_inference_metrics_reach_the_cr(cluster, gm, lc_process):
    ji = load((support_reference.require() / "samples" / "jointinferenceservice_v1alpha1.yaml").read_text())
    ji["metadata"]["namespace"] = "default"
    node = "edge-ji"                          # only the edge worker's node may report the service's metrics
    ji["spec"]["edgeWorker"]["template"]["spec"]["nodeName"] = node
    for worker in ("cloudWorker", "edgeWorker"):
        cluster.create({"apiVersion": "sedna.io/v1alpha1", "kind": "Model",
                        "metadata": {"name": ji["spec"][worker]["model"]["name"], "namespace": "default"},
                        "spec": {"url": f"/models/{worker}.pb", "format": "pb"}})
    cluster.create(ji)
    name = ji["metadata"]["name"]
    lc = lc_process(f"127.0.0.1:{gm.ws_port}", NODENAME=node, SEDNA_CHANNEL_TOKEN=node_token(TOKEN, node))
    body = {"name": "edge-w", "namespace": "default", "ownerName": name, "ownerKind": "jointinferenceservice",
            "kind": "inference", "ownerInfo": {"inferenceNumber": 10, "hardExampleNumber": 3,
                                               "startTime": "2024-01-01T00:00:00Z"}}
    assert lc.report("edge-w", body).status_code == 200

    def metrics():
        st = (cluster.get("JointInferenceService", name) or {}).get("status") or {}
        return {m["key"]: m["value"] for m in st.get("metrics") or []}
    got = wait_for(metrics, timeout=30, what="JI status.metrics")
    assert got == {"inferenceNumber": "10", "hardExampleNumber": "3"}   # startTime stripped by the GM
