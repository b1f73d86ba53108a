"""Run the whole example as three processes on this machine and score the result.

    python run_pipeline.py --out /tmp/multi-edge [--frames 24]

1. ``prepare.py`` writes the video, query photo, models and ground truth under ``--out``;
2. ``fe_worker.py`` starts (feature extraction server on a free 127.0.0.1 port);
3. ``detection_worker.py`` feeds the video: detections go to feature extraction, enriched results come back
   and are written to ``<out>/shared``;
4. ``reid_worker.py`` gets the target's features from feature extraction and matches every result file;
5. the matches (``<out>/reid_results.jsonl``) are compared with the ground truth.

The last line printed is a JSON summary: ``frames_with_target``, ``matched``, ``correct`` (the matched box is
the target's), ``wrong``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def iou(a: list, b: list) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def score(out: Path) -> dict:
    truth = json.loads((out / "truth.json").read_text())
    results_path = out / "reid_results.jsonl"
    records = [json.loads(line) for line in results_path.read_text().splitlines()] if results_path.exists() else []
    correct = sum(1 for r in records if iou(r["box"], truth[str(r["frame_index"])].get("target", [0, 0, 0, 0])) > 0.5)
    return {"frames_with_target": sum(1 for boxes in truth.values() if "target" in boxes),
            "matched": len(records), "correct": correct, "wrong": len(records) - correct,
            "users": sorted({r["userID"] for r in records})}


def run(out: Path, frames: int, timeout: float = 120) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    subprocess.run([python, "prepare.py", "--out", str(out), "--frames", str(frames)], cwd=HERE, check=True,
                   capture_output=True, timeout=timeout)
    det_port, fe_port, reid_port = free_port(), free_port(), free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MODEL_", "KAFKA_"))}
    base.update({"PYTHONUNBUFFERED": "1", "BACKEND_TYPE": "SKLEARN", "batch_size": "1",
                 "DET_MODEL_BIND_URL": "127.0.0.1", "DET_MODEL_BIND_PORT": str(det_port),
                 "FE_MODEL_BIND_URL": "127.0.0.1", "FE_MODEL_BIND_PORT": str(fe_port),
                 "REID_MODEL_BIND_URL": "127.0.0.1", "REID_MODEL_BIND_PORT": str(reid_port),
                 "MULTI_EDGE_SHARED_DIR": str(out / "shared"), "MULTI_EDGE_RETRY_INTERVAL": "0.5"})
    fe = subprocess.Popen([python, "fe_worker.py"], cwd=HERE, env={**base, "MODEL_URL": str(out / "models" / "fe.json")},
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + timeout
        for line in fe.stdout:
            if "feature extraction ready" in line:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("feature extraction did not start")
        else:
            raise RuntimeError("feature extraction exited before it was ready")
        detection = subprocess.run(
            [python, "detection_worker.py"], check=False, cwd=HERE, capture_output=True, text=True, timeout=timeout,
            env={**base, "MODEL_URL": str(out / "models" / "detector.json"), "video_address": str(out / "video.npy"),
                 "video_id": "cam-1", "idle_seconds": "1", "wait_seconds": "30"})
        if detection.returncode != 0:
            raise RuntimeError(f"detection failed:\n{detection.stderr[-3000:]}")
        reid = subprocess.run(
            [python, "reid_worker.py"], check=False, cwd=HERE, capture_output=True, text=True, timeout=timeout,
            env={**base, "user_id": "alice", "query_images": str(out / "query.npy"), "match_threshold": "0.8",
                 "results_file": str(out / "reid_results.jsonl")})
        if reid.returncode != 0:
            raise RuntimeError(f"reid failed:\n{reid.stderr[-3000:]}")
    finally:
        fe.terminate()
        try:
            fe.wait(10)
        except subprocess.TimeoutExpired:
            fe.kill()
            fe.wait()
    summary = score(out)
    summary["detection"] = json.loads(detection.stdout.strip().splitlines()[-1])
    summary["reid"] = json.loads(reid.stdout.strip().splitlines()[-1])
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--frames", type=int, default=24)
    args = parser.parse_args()
    print(json.dumps(run(Path(args.out), args.frames)))


if __name__ == "__main__":
    main()
