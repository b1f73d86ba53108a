"""The example pipeline as real processes (feature extraction server, detection job, ReID job)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(240)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "multi_edge_inference"


def test_example_pipeline_reidentifies_the_target(tmp_path):
    proc = subprocess.run([sys.executable, "run_pipeline.py", "--out", str(tmp_path), "--frames", "20"],
                          cwd=EXAMPLE, capture_output=True, text=True, timeout=200, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    # the target walks through frames 0-15 only; the two look-alikes are in every frame
    assert summary["frames_with_target"] == 16
    assert summary["matched"] == 16 and summary["correct"] == 16 and summary["wrong"] == 0
    assert summary["users"] == ["alice"]
    assert summary["detection"] == {"frames": 20, "dropped": 0, "results_received": 20}
    assert summary["reid"]["files"] == 20 and summary["reid"]["targets"] == 1
    # the shared folder was consumed, and what travelled was never pickle
    assert not list((tmp_path / "shared").glob("*.dat"))
    records = [json.loads(line) for line in (tmp_path / "reid_results.jsonl").read_text().splitlines()]
    assert {r["camera"] for r in records} == {"cam-1"} and min(r["score"] for r in records) > 0.8


def test_example_manifests_are_valid_and_images_map_to_the_workers():
    import yaml

    from sedna.api.validate import validate_object
    from sedna.local.runtime.images import load_image_map

    docs = list(yaml.safe_load_all((EXAMPLE / "multi_edge_inference.yaml").read_text()))
    assert [d["kind"] for d in docs] == ["Model", "Model", "FeatureExtractionService", "VideoAnalyticsJob",
                                          "ReidJob"]
    for doc in docs:
        errors = [i for i in validate_object(doc) if i.severity == "error"]
        assert errors == [], (doc["kind"], errors)
    # the names the SDK's default client hosts expect
    assert {d["metadata"]["name"] for d in docs[2:]} == {"feature-extraction", "video-analytics", "reid"}
    image_map = load_image_map(EXAMPLE / "local-images.yaml")
    images = {c["image"] for d in docs[2:] for c in d["spec"]["template"]["spec"]["containers"]}
    for name in ("object_search", "object_tracking"):     # the other two examples of this folder
        for doc in yaml.safe_load_all((EXAMPLE / name / f"{name}.yaml").read_text()):
            assert [i for i in validate_object(doc) if i.severity == "error"] == [], name
            templates = [doc["spec"]["reidWorkers"]["template"],
                         *(w["template"] for w in doc["spec"]["trackingWorkers"])]
            if "userWorker" in doc["spec"]:
                templates.append(doc["spec"]["userWorker"]["template"])
            images |= {c["image"] for t in templates for c in t["spec"]["containers"]}
    assert images == set(image_map.entries)
    for entry in image_map.entries.values():
        assert (EXAMPLE / entry.entrypoint[1]).is_file()


def _worker_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODEL_", "KAFKA_"))}
    env.update({"BACKEND_TYPE": "SKLEARN", "POD_IP": "127.0.0.1", "MULTI_EDGE_RETRIES": "1",
                "MULTI_EDGE_RETRY_INTERVAL": "0.2", "MULTI_EDGE_SHARED_DIR": str(tmp_path / "shared"),
                "user_id": "alice", "query_images": str(tmp_path / "query.npy"),
                "results_file": str(tmp_path / "results" / "reid_results.jsonl"), **extra})
    return env


def _example_module(name: str):
    """One of the example folder's modules (they import each other by plain name)."""
    import importlib

    sys.path.insert(0, str(EXAMPLE))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(EXAMPLE))


def _prepare(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "prepare.py", "--out", str(tmp_path), "--frames", "4"], cwd=EXAMPLE,
                   check=True, capture_output=True, timeout=120)


def test_workers_fail_with_the_reason_when_what_they_wait_for_never_comes(tmp_path):
    """Bounded waits: no feature extraction → the detector and the ReID job exit 1 saying so."""
    from support_procs import free_port

    _prepare(tmp_path)
    nobody = str(free_port())
    env = _worker_env(tmp_path, FE_MODEL_BIND_URL="127.0.0.1", FE_MODEL_BIND_PORT=nobody,
                      DET_MODEL_BIND_URL="127.0.0.1", DET_MODEL_BIND_PORT="0", REID_MODEL_BIND_PORT="0",
                      MODEL_URL=str(tmp_path / "models" / "detector.json"),
                      video_address=str(tmp_path / "video.npy"), wait_seconds="2", deadline_seconds="2")
    det = subprocess.run([sys.executable, "detection_worker.py"], cwd=EXAMPLE, env=env, capture_output=True,
                         text=True, timeout=60, check=False)
    assert det.returncode == 1
    assert f"feature extraction at 127.0.0.1:{nobody} did not answer within 2 s" in det.stderr
    reid = subprocess.run([sys.executable, "reid_worker.py"], cwd=EXAMPLE, env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert reid.returncode == 1
    assert "feature extraction gave no target features before the deadline" in reid.stderr


def test_reid_job_fails_when_no_frames_arrive_and_succeeds_only_with_matches(tmp_path):
    """With the target known: no detector files before the deadline → exit 1; files of frames without the
    target → exit 1 (nothing matched); the target's frames → exit 0."""
    from support_procs import free_port, stop_process, wait_for

    from sedna.core.multi_edge_inference.components import FileOperations
    from sedna.core.multi_edge_inference.data_classes import DetTrackResult

    _prepare(tmp_path)
    port = str(free_port())
    env = _worker_env(tmp_path, FE_MODEL_BIND_URL="127.0.0.1", FE_MODEL_BIND_PORT=port, REID_MODEL_BIND_PORT="0",
                      REID_MODEL_BIND_URL="127.0.0.1", deadline_seconds="3", idle_seconds="1")
    fe = subprocess.Popen([sys.executable, "fe_worker.py"], cwd=EXAMPLE, stdout=subprocess.PIPE, text=True,
                          env={**env, "MODEL_URL": str(tmp_path / "models" / "fe.json")})
    try:
        wait_for(lambda: "ready" in fe.stdout.readline(), 60, "feature extraction")

        def reid() -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, "reid_worker.py"], cwd=EXAMPLE, env=env, capture_output=True,
                                  text=True, timeout=60, check=False)

        nothing = reid()
        assert nothing.returncode == 1
        assert f"no frames from the detector arrived in {tmp_path / 'shared'} before the deadline" in nothing.stderr

        files = FileOperations()
        scene, models = _example_module("scene"), _example_module("models")

        def frame_file(index: int, box: list[int]) -> None:
            frame = scene.render(index)
            det = DetTrackResult(frame_index=index, scene=frame, bbox_coord=[box], camera="cam-1")
            det.features = [models.colour_feature(frame[box[1]:box[3], box[0]:box[2]])]
            files.write_to_disk([det], str(tmp_path / "shared"))

        frame_file(20, scene.truth(20)["red-green"])                # a look-alike only: no match
        no_match = reid()
        assert no_match.returncode == 1, no_match.stderr
        assert "1 frames read, none matched the target of alice" in no_match.stderr

        frame_file(3, scene.truth(3)["target"])
        matched = reid()
        assert matched.returncode == 0, matched.stderr
        assert json.loads(matched.stdout.strip().splitlines()[-1])["matched"] == 1
    finally:
        stop_process(fe)
