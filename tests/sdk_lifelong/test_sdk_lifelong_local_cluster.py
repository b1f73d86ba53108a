"""End to end on one machine: the thermal-comfort LifelongLearningJob through the whole stack.

``sedna local up`` runs the API emulator, one process kubelet per node, the GM and one LC per node; the
example's YAML (upstream's atcii sample with this example's image) is applied with the example's image map, so
the GM's pods are real ``train.py`` / ``eval.py`` / ``inference.py`` processes. A knowledge base process
listens where the GM's default configuration points (``http://localhost:9020``). Checked: the LC's trigger
starts training on the dataset, the job walks Train → Eval → Deploy, the CR's ``status.knowledgeBase`` lists
the four tasks with their eval precision, the models are in the KB, and the inference worker flags exactly the
rows of the task training never saw. About a minute; skipped when port 9020 is taken.
"""

from __future__ import annotations

import functools
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sdk_lifelong_support import EXAMPLE, REPO, generate
from support_procs import free_port, port_taken, stop_process, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

KB_PORT = 9020  # the GM's default knowledgeBaseServer.server is http://localhost:9020
JOB = "atcii-classifier-demo"
ENTRIES = ["Summer_AirConditioned", "Summer_NaturallyVentilated", "Winter_AirConditioned",
           "Winter_NaturallyVentilated"]


wait_for = functools.partial(wait_for, interval=0.5)


def sedna_local(data_dir: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sedna", "--log-level", "WARNING", "local", "--data-dir",
                           str(data_dir), *args], capture_output=True, text=True, timeout=timeout, check=False,
                          cwd=REPO)


def kubectl(kubeconfig: Path, *args: str) -> str:
    exe = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or "kubectl"
    res = subprocess.run([exe, "--kubeconfig", str(kubeconfig), *args], capture_output=True, text=True,
                         timeout=60, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


@pytest.fixture
def knowledge_base(tmp_path):
    if port_taken(KB_PORT):
        pytest.skip(f"port {KB_PORT} is taken; the GM's default knowledge base address cannot be used")
    proc = subprocess.Popen([sys.executable, "-m", "sedna.service.server.knowledge_base", "--host", "127.0.0.1",
                             "--port", str(KB_PORT), "--dir", str(tmp_path / "kb")],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: port_taken(KB_PORT) or proc.poll() is not None, 30, "the knowledge base")
        assert proc.poll() is None, "knowledge base exited"
        yield tmp_path / "kb"
    finally:
        stop_process(proc)


def test_lifelong_learning_job_on_the_local_cluster(tmp_path, knowledge_base):
    data_dir = tmp_path / "cluster"
    cidr = f"127.{random.randint(100, 199)}.0.0/16"
    up = sedna_local(data_dir, "up", "--nodes", "cloud-node,edge-node", "--image-map",
                     str(EXAMPLE / "local-images.yaml"), "--cluster-cidr", cidr, "--lc-port", str(free_port()))
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        kubeconfig = data_dir / "kubeconfig"
        edge = data_dir / "nodes" / "edge-node"
        (edge / "data").mkdir(parents=True)
        paths = generate(str(tmp_path / "gen"), rows=300, seed=8)
        shutil.copy(paths["trainData.csv"], edge / "data" / "trainData.csv")
        shutil.copy(paths["inferData.csv"], edge / "data" / "inferData.csv")
        kubectl(kubeconfig, "apply", "-f", str(EXAMPLE / "atcii-lifelong-learning.yaml"))

        def status():
            return json.loads(kubectl(kubeconfig, "get", "lifelonglearningjob", JOB, "-o", "json")).get("status") or {}

        def stages():
            return [(c["stage"], c["type"]) for c in status().get("conditions") or []]

        wait_for(lambda: ("Deploy", "Completed") in stages(), 150, "the job to deploy")
        seen = stages()
        for step in [("Train", "Completed"), ("Eval", "Completed"), ("Deploy", "Completed")]:
            assert step in seen, seen
        assert not any(kind == "Failed" for _, kind in seen), seen

        kb = status()["knowledgeBase"]
        assert kb["AIClasses"]["listOfAIClasses"] == ENTRIES
        models = {m["modelID"]: m["averagePrecision"] for m in kb["AIModels"]["listOfAIModels"]}
        assert sorted(models) == ENTRIES and all(0.6 <= v <= 1.0 for v in models.values()), models
        assert sum(p.name.endswith(".model") for p in knowledge_base.iterdir()) == 4

        infer_rows = (edge / "data" / "inferData.csv").read_text().splitlines()[1:]
        out = edge / "data" / "inferData.csv_out.csv"
        wait_for(lambda: out.exists() and len(out.read_text().splitlines()) == len(infer_rows) + 1, 60,
                 "a prediction for every inference row")
        unseen = edge / "lifelong" / "unseen_task" / "unseen_sample.csv"
        expected = sum(row.startswith("Autumn,") for row in infer_rows)
        wait_for(lambda: unseen.exists() and len(unseen.read_text().splitlines()) == expected + 1, 30,
                 "the unseen rows")
        assert all(line.startswith("Autumn\tMixed Mode") for line in unseen.read_text().splitlines()[1:])
        assert (edge / "var" / "lib" / "sedna" / "kb" / "index.pkl").is_file()  # the edge KB, in its volume
    finally:
        down = sedna_local(data_dir, "down", timeout=120)
        assert down.returncode == 0, down.stdout + down.stderr
