"""The GM and the real LocalController (``sedna lc``) as subprocesses over the API emulator, the test playing
the kubelet and the worker pods: a full incremental-learning round (sample count -> train trigger -> train pod
-> worker report -> eval pod -> deploy trigger -> new inference pod -> back to (Train, Waiting))."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support_procs import stop_process

sys.path.insert(0, str(Path(__file__).parent))
from gm_cluster import REPO, Cluster, GMProcess, free_port, wait_for

from sedna.common.tokens import node_token

pytestmark = [pytest.mark.timeout(400)]
TOKEN = "lc-token"
NODE = "edge-lc"


def worker_auth(pod_env: dict) -> dict:
    """What a worker sends: the GM-minted LC_API_TOKEN from its pod env."""
    return {"Authorization": f"Bearer {pod_env['LC_API_TOKEN']}"}


@pytest.fixture
def stack(tmp_path):
    cluster = Cluster(tmp_path).start()
    cluster.apply_crds()
    gm = GMProcess(tmp_path, cluster, token=TOKEN).start()
    env = dict(os.environ, GM_ADDRESS=f"127.0.0.1:{gm.ws_port}", NODENAME=NODE, ROOTFS_MOUNT_DIR="/",
               LC_DB_PATH=str(tmp_path / "lc.db"), BIND_ADDRESS="127.0.0.1", BIND_PORT=str(free_port()),
               SEDNA_CHANNEL_TOKEN=node_token(TOKEN, NODE), LC_DATASET_POLL_SECONDS="1", LC_TRIGGER_PERIOD_SECONDS="1",
               LC_LOG_FORMAT="text", PYTHONUNBUFFERED="1")
    log = open(tmp_path / "lc.log", "w")  # noqa: SIM115 - handed to the child process
    lc = subprocess.Popen([sys.executable, "-m", "sedna", "lc"], stdout=log, stderr=subprocess.STDOUT,
                          cwd=REPO, env=env)
    try:
        yield cluster, gm, tmp_path, int(env["BIND_PORT"])
    finally:
        stop_process(lc)
        gm.stop()
        cluster.stop()
        print("LC log:", (tmp_path / "lc.log").read_text()[-3000:])
        print("GM log:", gm.log()[-3000:])


def test_incremental_learning_round_with_the_real_lc(stack):
    cluster, _gm, tmp, lc_port = stack
    data = tmp / "data"
    data.mkdir()
    (data / "train.txt").write_text("".join(f"img{i}.jpg {i % 2}\n" for i in range(6)))
    models = tmp / "models"
    models.mkdir()
    (models / "base.pb").write_bytes(b"base")
    (models / "deploy.pb").write_bytes(b"deploy")
    out = tmp / "out"
    out.mkdir()
    cluster.create({"apiVersion": "sedna.io/v1alpha1", "kind": "Dataset",
                    "metadata": {"name": "ds", "namespace": "default"},
                    "spec": {"url": str(data / "train.txt"), "format": "txt", "nodeName": NODE}})
    for name, path in (("base", models / "base.pb"), ("deploy", models / "deploy.pb")):
        cluster.create({"apiVersion": "sedna.io/v1alpha1", "kind": "Model",
                        "metadata": {"name": name, "namespace": "default"},
                        "spec": {"url": str(path), "format": "pb"}})
    status = wait_for(lambda: (cluster.get("Dataset", "ds").get("status") or {}).get("numberOfSamples") == 6
                      and cluster.get("Dataset", "ds")["status"], timeout=120, what="LC sample count")
    assert status["updateTime"]

    template = {"spec": {"nodeName": NODE, "containers": [{"name": "w", "image": "busybox"}]}}
    cluster.create({"apiVersion": "sedna.io/v1alpha1", "kind": "IncrementalLearningJob",
                    "metadata": {"name": "il", "namespace": "default"},
                    "spec": {"dataset": {"name": "ds", "trainProb": 0.5},
                             "initialModel": {"name": "base"},
                             "trainSpec": {"template": template, "trigger": {"condition": {
                                 "operator": ">", "threshold": 2, "metric": "num_of_samples"}}},
                             "evalSpec": {"template": template},
                             "deploySpec": {"model": {"name": "deploy"}, "template": template,
                                            "hardExampleMining": {"name": "IBT"},
                                            "trigger": {"condition": {"operator": ">", "threshold": 0.1,
                                                                      "metric": "precision_delta"}}},
                             "outputDir": str(out)}})
    sel = "incrementallearningjob.sedna.io/name=il,incrementallearningjob.sedna.io/worker-type=train"
    train = wait_for(lambda: cluster.list("Pod", selector=sel), timeout=150, what="train pod from LC trigger")[0]
    env = {e["name"]: e.get("value") for e in train["spec"]["containers"][0]["env"]}
    assert env["BASE_MODEL_URL"] == "/home/data" + str(models / "base.pb")
    assert env["TRAIN_DATASET_URL"].startswith("/home/data" + str(out))
    conds = cluster.get("IncrementalLearningJob", "il")["status"]["conditions"]
    ready = [c for c in conds if c["type"] == "Ready"]
    assert ready and ready[0]["stage"] == "Train" and ready[0]["message"] == "reported by lc"

    # the train worker reports its result to the LC's worker API; the LC forwards it, the GM appends
    # (Train, Completed) with the output, the pod finishes and the GM moves on to (Eval, Waiting); the LC then
    # prepares the eval round and the GM starts the eval pod with both models.
    import httpx

    cluster.set_pod_phase(train, "Running")
    new_model = out / "train" / "1" / "model.pb"
    new_model.parent.mkdir(parents=True, exist_ok=True)
    new_model.write_bytes(b"new")
    worker = env["WORKER_NAME"]
    report = {"name": worker, "namespace": "default", "ownerName": "il", "ownerKind": "incrementallearningjob",
              "kind": "train", "status": "completed",
              "results": [{"format": "pb", "url": str(new_model), "metrics": {}, "classes": None}]}
    r = httpx.post(f"http://127.0.0.1:{lc_port}/sedna/workers/{worker}/info", json=report, timeout=10,
                   headers=worker_auth(env))
    assert r.status_code == 200, r.text
    wait_for(lambda: any(c["stage"] == "Train" and c["type"] == "Completed" for c in cluster.get(
        "IncrementalLearningJob", "il")["status"]["conditions"]), timeout=120, what="(Train, Completed) from LC")
    cluster.set_pod_phase(train, "Succeeded")
    esel = "incrementallearningjob.sedna.io/name=il,incrementallearningjob.sedna.io/worker-type=eval"
    evalpod = wait_for(lambda: cluster.list("Pod", selector=esel), timeout=150, what="eval pod")[0]
    eenv = {e["name"]: e.get("value") for e in evalpod["spec"]["containers"][0]["env"]}
    assert str(new_model) in eenv["MODEL_URLS"] and str(models / "deploy.pb") in eenv["MODEL_URLS"]

    # eval: the worker reports both models' metrics; the LC's deploy trigger (precision_delta > 0.1) fires,
    # it copies the new model over the deploy model and reports (Deploy, Ready); the GM restarts the
    # inference pod and the loop returns to (Train, Waiting).
    cluster.set_pod_phase(evalpod, "Running")
    wait_for(lambda: cluster.get("IncrementalLearningJob", "il")["metadata"].get("annotations", {}).get(
        "sedna.io/Eval") == NODE, what="Eval annotation")
    eworker = eenv["WORKER_NAME"]
    report = {"name": eworker, "namespace": "default", "ownerName": "il", "ownerKind": "incrementallearningjob",
              "kind": "eval", "status": "completed",
              "results": [{"format": "pb", "url": str(new_model), "metrics": {"precision": [0.9]}, "classes": None},
                          {"format": "pb", "url": str(models / "deploy.pb"), "metrics": {"precision": [0.5]},
                           "classes": None}]}
    r = httpx.post(f"http://127.0.0.1:{lc_port}/sedna/workers/{eworker}/info", json=report, timeout=10,
                   headers=worker_auth(eenv))
    assert r.status_code == 200, r.text
    wait_for(lambda: any(c["stage"] == "Eval" and c["type"] == "Completed" for c in cluster.get(
        "IncrementalLearningJob", "il")["status"]["conditions"]), timeout=120, what="(Eval, Completed) from LC")
    isel = "incrementallearningjob.sedna.io/name=il,incrementallearningjob.sedna.io/worker-type=inference"
    first_inference = {p["metadata"]["name"] for p in cluster.list("Pod", selector=isel)}
    cluster.set_pod_phase(evalpod, "Succeeded")
    conds = wait_for(lambda: [(c["stage"], c["type"]) for c in cluster.get(
        "IncrementalLearningJob", "il")["status"]["conditions"]][-3:] == [
        ("Deploy", "Ready"), ("Deploy", "Completed"), ("Train", "Waiting")] and cluster.get(
        "IncrementalLearningJob", "il")["status"]["conditions"], timeout=150, what="deploy round")
    assert ("Deploy", "Waiting") in [(c["stage"], c["type"]) for c in conds]
    now_inference = {p["metadata"]["name"] for p in cluster.list("Pod", selector=isel)}
    assert now_inference and not (now_inference & first_inference)       # the inference pod was replaced
    assert (models / "deploy.pb").read_bytes() == b"new"                  # the LC deployed the new model


def test_lifelong_learning_round_with_the_real_lc(stack):
    import httpx

    cluster, _gm, tmp, lc_port = stack
    data = tmp / "lldata"
    data.mkdir()
    (data / "train.txt").write_text("".join(f"s{i}.png {i % 3}\n" for i in range(8)))
    out = tmp / "llout"
    out.mkdir()
    cluster.create({"apiVersion": "sedna.io/v1alpha1", "kind": "Dataset",
                    "metadata": {"name": "lld", "namespace": "default"},
                    "spec": {"url": str(data / "train.txt"), "format": "txt", "nodeName": NODE}})
    template = {"spec": {"nodeName": NODE, "containers": [{"name": "w", "image": "busybox"}]}}
    cluster.create({"apiVersion": "sedna.io/v1alpha1", "kind": "LifelongLearningJob",
                    "metadata": {"name": "ll", "namespace": "default"},
                    "spec": {"dataset": {"name": "lld", "trainProb": 0.5},
                             "trainSpec": {"template": template, "trigger": {"condition": {
                                 "operator": ">", "threshold": 2, "metric": "num_of_samples"}}},
                             "evalSpec": {"template": template}, "deploySpec": {"template": template},
                             "outputDir": str(out)}})
    base_sel = "lifelonglearningjob.sedna.io/name=ll,lifelonglearningjob.sedna.io/worker-type="

    def stage_pod(kind):
        return wait_for(lambda: cluster.list("Pod", selector=base_sel + kind), timeout=150, what=f"{kind} pod")[0]

    def env(pod):
        return {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}

    def report(pod, kind, results):
        worker = env(pod)["WORKER_NAME"]
        body = {"name": worker, "namespace": "default", "ownerName": "ll", "ownerKind": "lifelonglearningjob",
                "kind": kind, "status": "completed", "results": results}
        r = httpx.post(f"http://127.0.0.1:{lc_port}/sedna/workers/{worker}/info", json=body, timeout=10,
                       headers=worker_auth(env(pod)))
        assert r.status_code == 200, r.text

    def conds():
        return [(c["stage"], c["type"]) for c in cluster.get("LifelongLearningJob", "ll")["status"]["conditions"]]

    train = stage_pod("train")
    tenv = env(train)
    assert tenv["HAS_COMPLETED_INITIAL_TRAINING"] == "false" and tenv["KB_SERVER"] == "http://localhost:9020"
    assert train["spec"]["dnsPolicy"] == "ClusterFirstWithHostNet"
    cluster.set_pod_phase(train, "Running")
    kb_index = out / "train" / "1" / "index.pkl"
    kb_index.parent.mkdir(parents=True, exist_ok=True)
    kb_index.write_bytes(b"kb")
    report(train, "train", [{"format": "pkl", "url": str(kb_index), "classes": ["a", "b"],
                             "current_metric": {"task-1": {"precision": 0.8}},
                             "number_of_labeled_unseen_sample": 3}])
    wait_for(lambda: ("Train", "Completed") in conds(), timeout=120, what="(Train, Completed)")
    kb = cluster.get("LifelongLearningJob", "ll")["status"]["knowledgeBase"]
    assert kb["AIModels"]["listOfAIModels"] == [
        {"modelID": "task-1", "averagePrecision": 0.8, "numberOfTrainSamples": 3}]
    cluster.set_pod_phase(train, "Succeeded")
    evalpod = stage_pod("eval")
    assert str(kb_index) in env(evalpod)["MODEL_URLS"]
    cluster.set_pod_phase(evalpod, "Running")
    report(evalpod, "eval", [{"format": "pkl", "url": str(kb_index), "classes": ["a", "b"]}])
    wait_for(lambda: ("Eval", "Completed") in conds(), timeout=120, what="(Eval, Completed)")
    cluster.set_pod_phase(evalpod, "Succeeded")
    inference = stage_pod("inference")
    assert env(inference)["MODEL_URLS"] == "/home/data" + str(out) + "/deploy/index.pkl"
    wait_for(lambda: conds()[-2:] == [("Deploy", "Completed"), ("Train", "Waiting")], timeout=120,
             what="back to (Train, Waiting)")
    assert (out / "deploy" / "index.pkl").read_bytes() == b"kb"          # the LC deployed the KB index
