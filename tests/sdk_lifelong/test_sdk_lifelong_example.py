"""The thermal-comfort example run as processes, as the README shows: a KB server process, then the train,
eval and inference workers (small data)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest
from sdk_lifelong_support import EXAMPLE, REPO, AppServer, generate, recording_lc_app
from support_procs import free_port, stop_process

pytestmark = pytest.mark.timeout(240)


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read()
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError("knowledge base did not start")


def run(script: str, env: dict) -> str:
    proc = subprocess.run([sys.executable, script], cwd=EXAMPLE, env=env, capture_output=True, text=True,
                          check=False,
                          timeout=120)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture
def kb_process(tmp_path):
    port = free_port()
    env = dict(os.environ, KnowledgeBaseServer=f"http://127.0.0.1:{port}", KnowledgeBasePath=str(tmp_path / "kb"),
               KB_URL=f"sqlite:///{tmp_path / 'db' / 'kb.sqlite3'}", PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "sedna.service.server.knowledge_base"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_port(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)


def test_example_train_eval_inference_as_processes(tmp_path, kb_process):
    paths = generate(str(tmp_path / "data"), rows=240, seed=5)
    app, records, _ = recording_lc_app()
    lc = AppServer(app).start()
    try:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("KB_", "MODEL_", "OUTPUT_"))}
        base.update(PYTHONPATH=str(REPO), BACKEND_TYPE="SKLEARN", JOB_NAME="atcii-demo", NAMESPACE="default",
                    LC_SERVER=lc.url, KB_SERVER=kb_process, DATA_PATH_PREFIX=str(tmp_path / "none"))
        out = tmp_path / "output"
        run("train.py", dict(base, WORKER_NAME="train-worker-1", TRAIN_DATASET_URL=paths["trainData.csv"],
                             OUTPUT_URL=str(out / "train" / "1")))
        printed = run("eval.py", dict(base, WORKER_NAME="eval-worker-1", TEST_DATASET_URL=paths["testData.csv"],
                                      MODEL_URLS=str(out / "train" / "1" / "index.pkl"),
                                      OUTPUT_URL=str(out / "eval" / "1")))
        precision = float(printed.strip().rsplit(":", 1)[1].strip(" }"))
        assert 0.8 <= precision <= 1.0
        (out / "deploy").mkdir()
        (out / "deploy" / "index.pkl").write_bytes((out / "eval" / "1" / "index.pkl").read_bytes())
        printed = run("inference.py", dict(base, WORKER_NAME="inferworker-1",
                                           MODEL_URLS=str(out / "deploy" / "index.pkl"),
                                           edge_output_url=str(tmp_path / "edge"),
                                           infer_dataset_url=paths["inferData.csv"],
                                           UT_SAVED_URL=str(tmp_path / "unseen"), exit_when_done="true"))
    finally:
        lc.stop()
    counts = json.loads(printed.strip().splitlines()[-1].replace("'", '"'))
    with open(paths["inferData.csv"], encoding="utf-8") as fh:
        autumn = sum(line.startswith("Autumn") for line in fh)
    assert counts == {"total": 24 + 8, "unseen": autumn} and autumn == 8
    unseen_lines = (tmp_path / "unseen" / "unseen_sample.csv").read_text().splitlines()[1:]
    assert len(unseen_lines) == autumn and all(line.startswith("Autumn\tMixed Mode") for line in unseen_lines)
    assert [(r["kind"], r["status"]) for r in records] == [("train", "completed"), ("eval", "completed")]
    assert records[0]["results"][0]["url"] == str(out / "train" / "1" / "index.pkl")
    assert (tmp_path / "db" / "kb.sqlite3").is_file()
    assert any(name.endswith(".model") for name in os.listdir(tmp_path / "kb"))
