"""The helmet-detection examples run as processes (small frames): JI little + big model, IL train/eval/infer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sdk_inference_support import free_port, wait_for
from support_http import lc_fixture  # noqa: F401 - the lc fixture

pytestmark = pytest.mark.timeout(180)

ROOT = Path(__file__).resolve().parents[2]
JI = ROOT / "examples" / "joint_inference" / "helmet_detection"
IL = ROOT / "examples" / "incremental_learning" / "helmet_detection"
SHAPE = "104,184"


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HEM_", "MODEL_", "BIG_MODEL", "LC_", "JOB_NAME", "SERVICE_NAME", "WORKER_NAME"))}
    env.update({"BACKEND_TYPE": "SKLEARN", "PYTHONUNBUFFERED": "1"})
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run(script, cwd, env, timeout=90):
    proc = subprocess.run([sys.executable, script], check=False, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_helmet_examples_share_one_detector():
    code = ("import helmet, interface; print(helmet.__file__); "
            "print(interface.SoftmaxModel is helmet.SoftmaxModel)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=IL, env=clean_env(), capture_output=True, text=True,
                          timeout=60, check=True)
    shared, same = proc.stdout.split()
    assert Path(shared).resolve() == (JI / "helmet.py").resolve() and same == "True"


def test_joint_inference_example_processes(tmp_path, lc):
    lc_server, records = lc
    subprocess.run([sys.executable, "prepare.py", "--out", str(tmp_path), "--frames", "5", "--train-frames", "8",
                    "--shape", SHAPE], cwd=JI, check=True, capture_output=True, timeout=120)
    port = free_port()
    big = subprocess.Popen(
        [sys.executable, "big_model.py"], cwd=JI, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env=clean_env(SERVICE_NAME="helmet-ji", NAMESPACE="default", WORKER_NAME="cloudworker-a",
                      MODEL_URL=tmp_path / "models" / "big_model.npz", BIG_MODEL_BIND_IP="127.0.0.1",
                      BIG_MODEL_BIND_PORT=port))
    try:
        import httpx

        assert wait_for(lambda: _up(httpx, f"http://127.0.0.1:{port}/helmet-ji"), timeout=60, interval=0.2)
        out = tmp_path / "out"
        proc = run("little_model.py", JI, clean_env(
            SERVICE_NAME="helmet-ji", NAMESPACE="default", WORKER_NAME="edgeworker-a",
            MODEL_URL=tmp_path / "models" / "little_model.npz", BIG_MODEL_IP="127.0.0.1", BIG_MODEL_PORT=port,
            HEM_NAME="CloudOnly", LC_SERVER=lc_server.url, LC_PERIOD="0.2", input_shape=SHAPE,
            video_url=f"file://{tmp_path / 'frames'}", all_examples_inference_output=out / "all",
            hard_example_cloud_inference_output=out / "cloud", hard_example_edge_inference_output=out / "edge",
            exit_when_done="true"))
        assert '"cloud": 5' in proc.stderr
        assert len(list((out / "all").glob("*.json"))) == 5
        cloud = json.loads((out / "cloud" / "frame-000000.json").read_text())
        assert cloud["result"] and len(cloud["result"][0]) == 6
        assert records and records[-1]["ownerName"] == "helmet-ji"
        assert records[-1]["ownerInfo"]["hardExampleNumber"] == 5
    finally:
        big.terminate()
        big.wait(20)


def _up(httpx, url):
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_incremental_learning_example_processes(tmp_path, lc):
    lc_server, records = lc
    subprocess.run([sys.executable, "prepare.py", "--out", str(tmp_path), "--train", "6", "--test", "4",
                    "--stream", "4", "--shape", SHAPE], cwd=IL, check=True, capture_output=True, timeout=120)
    dataset = tmp_path / "dataset"
    common = {"JOB_NAME": "helmet-il", "NAMESPACE": "default", "LC_SERVER": lc_server.url}
    # train: the LC's data.txt holds dataset lines; the new model goes to MODEL_URL
    run("train.py", IL, clean_env(**common, WORKER_NAME="train-worker-a",
                                  TRAIN_DATASET_URL=dataset / "train_data.txt",
                                  ORIGINAL_DATASET_URL=dataset / "train_data.txt",
                                  BASE_MODEL_URL=tmp_path / "models" / "initial_model.npz",
                                  MODEL_URL=tmp_path / "output" / "train" / "1"))
    train_report = records[-1]
    assert (train_report["kind"], train_report["status"]) == ("train", "completed")
    new_model = train_report["results"][0]["url"]
    assert new_model.endswith("model.npz") and Path(new_model).is_file()
    run("eval.py", IL, clean_env(**common, WORKER_NAME="eval-worker-a",
                                 TEST_DATASET_URL=dataset / "test_data.txt",
                                 ORIGINAL_DATASET_URL=dataset / "train_data.txt",
                                 MODEL_URLS=f"{new_model};{tmp_path / 'models' / 'deploy_model.npz'}"))
    eval_report = records[-1]
    assert eval_report["kind"] == "eval"
    new_metrics, old_metrics = (r["metrics"] for r in eval_report["results"])
    assert len(new_metrics["precision"]) == 1 and len(new_metrics["precision_per_class"]) == 2
    assert sum(new_metrics["recall"]) >= sum(old_metrics["recall"]) - 0.2
    he = tmp_path / "he"
    run("inference.py", IL, clean_env(**common, WORKER_NAME="inferworker-a",
                                      MODEL_URL=tmp_path / "models" / "deploy_model.npz", HEM_NAME="CloudOnly",
                                      video_url=f"file://{tmp_path / 'video'}", HE_SAVED_URL=he,
                                      input_shape=SHAPE, exit_when_done="true"))
    assert len(list(he.glob("*.npy"))) == 4 and len(list(he.glob("*.json"))) == 4
