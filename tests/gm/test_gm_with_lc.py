"""The GM and the real LocalController (``sedna lc``) as subprocesses over the API emulator: the LC receives
the Dataset and the IncrementalLearningJob from the GM, counts samples, fires the train trigger, and the GM
turns the LC's reports into Dataset status and a train pod."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from gm_cluster import REPO, Cluster, GMProcess, free_port, wait_for

pytestmark = [pytest.mark.timeout(180)]
TOKEN = "lc-token"
NODE = "edge-lc"


@pytest.fixture
def stack(tmp_path):
    cluster = Cluster(tmp_path).start()
    cluster.apply_crds()
    gm = GMProcess(tmp_path, cluster, token=TOKEN).start()
    env = dict(os.environ, GM_ADDRESS=f"127.0.0.1:{gm.ws_port}", NODENAME=NODE, ROOTFS_MOUNT_DIR="/",
               LC_DB_PATH=str(tmp_path / "lc.db"), BIND_ADDRESS="127.0.0.1", BIND_PORT=str(free_port()),
               SEDNA_CHANNEL_TOKEN=TOKEN, LC_DATASET_POLL_SECONDS="1", LC_TRIGGER_PERIOD_SECONDS="1",
               LC_LOG_FORMAT="text", PYTHONUNBUFFERED="1")
    log = open(tmp_path / "lc.log", "w")  # noqa: SIM115 - handed to the child process
    lc = subprocess.Popen([sys.executable, "-m", "sedna", "lc"], stdout=log, stderr=subprocess.STDOUT,
                          cwd=REPO, env=env)
    try:
        yield cluster, gm, tmp_path
    finally:
        lc.terminate()
        try:
            lc.wait(10)
        except subprocess.TimeoutExpired:
            lc.kill()
        gm.stop()
        cluster.stop()
        print("LC log:", (tmp_path / "lc.log").read_text()[-3000:])
        print("GM log:", gm.log()[-3000:])


def test_dataset_count_and_train_trigger_through_the_real_lc(stack):
    cluster, _gm, tmp = stack
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
                      and cluster.get("Dataset", "ds")["status"], timeout=60, what="LC sample count")
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
    train = wait_for(lambda: cluster.list("Pod", selector=sel), timeout=90, what="train pod from LC trigger")[0]
    env = {e["name"]: e.get("value") for e in train["spec"]["containers"][0]["env"]}
    assert env["BASE_MODEL_URL"] == "/home/data" + str(models / "base.pb")
    assert env["TRAIN_DATASET_URL"].startswith("/home/data" + str(out))
    conds = cluster.get("IncrementalLearningJob", "il")["status"]["conditions"]
    ready = [c for c in conds if c["type"] == "Ready"]
    assert ready and ready[0]["stage"] == "Train" and ready[0]["message"] == "reported by lc"
