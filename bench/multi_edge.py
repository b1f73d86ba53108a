"""Multi-edge inference benchmark: one JSON line per case.

Cases (frames from the example's synthetic scene, upscaled by ``--scale``):

- ``pipeline`` (``wire=msgpack`` and ``wire=json``): frames through the real components — ``ObjectDetector``
  (optical flow + bright-box detector) in this process → ``FEService`` in a child process over REST →
  enriched results back to the detector's server → written to the shared folder → read and posted to a
  ``ReID`` server in a second child process. Latency per frame is from ``put`` to the ReID answer;
  ``matched`` counts frames where the target was re-identified.
- ``payload``: bytes of one enriched ``DetTrackResult`` (frame + 3 boxes + features) as msgpack+npy, JSON,
  and upstream's pickle (size only, for reference), with encode+decode time.
- ``optical_flow``: the numpy Lucas-Kanade motion check per frame pair.

    python bench/multi_edge.py [--seconds 12] [--scale 2] [--cases pipeline,payload,optical_flow]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import pickle
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "multi_edge_inference"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def frames_for(scene, count: int, scale: int) -> list[np.ndarray]:
    return [np.kron(scene.render(i), np.ones((scale, scale, 1), np.uint8)) if scale > 1 else scene.render(i)
            for i in range(count)]


def prepare(workdir: Path, scale: int, scene) -> None:
    (workdir / "models").mkdir(parents=True, exist_ok=True)
    (workdir / "models" / "detector.json").write_text(json.dumps({"threshold": 100, "min_area": 60 * scale * scale}))
    (workdir / "models" / "fe.json").write_text(json.dumps({"bins": 4}))
    np.save(workdir / "query.npy", scene.query_image(), allow_pickle=False)


# -- child roles -----------------------------------------------------------------------------------------------


def role_reid() -> None:
    models = _load("models")
    from sedna.core.multi_edge_inference.components.reid import ReID

    job = ReID(models=[models.ReIDMatcher()], asynchronous=False)
    print("ready", flush=True)
    sys.stdin.read()  # the parent closes stdin to stop us
    job.close()


def start_child(args: list[str], env: dict) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, *args], cwd=EXAMPLE, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 60
    for line in proc.stdout:
        if "ready" in line:
            return proc
        if time.monotonic() > deadline:
            break
    proc.kill()
    raise RuntimeError(f"{args} did not start")


def stop_child(proc: subprocess.Popen) -> None:
    with contextlib.suppress(OSError):  # the child may already be gone
        proc.stdin.close()
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- cases -----------------------------------------------------------------------------------------------------


def case_pipeline(wire: str, seconds: float, scale: int, scene, models) -> dict:
    from sedna.core.multi_edge_inference.components.detector import ObjectDetector
    from sedna.service.multi_edge_inference.interface import ReID_Endpoint

    workdir = Path(tempfile.mkdtemp(prefix="sedna-bench-me-"))
    prepare(workdir, scale, scene)
    det_port, fe_port, reid_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODEL_", "KAFKA_"))}
    env.update({"PYTHONUNBUFFERED": "1", "BACKEND_TYPE": "SKLEARN", "batch_size": "1", "LOG_LEVEL": "WARNING",
                "DET_MODEL_BIND_URL": "127.0.0.1", "DET_MODEL_BIND_PORT": str(det_port),
                "FE_MODEL_BIND_URL": "127.0.0.1", "FE_MODEL_BIND_PORT": str(fe_port),
                "REID_MODEL_BIND_URL": "127.0.0.1", "REID_MODEL_BIND_PORT": str(reid_port),
                "MULTI_EDGE_SHARED_DIR": str(workdir / "shared"), "MULTI_EDGE_WIRE_FORMAT": wire,
                "MULTI_EDGE_RETRY_INTERVAL": "0.2", "user_id": "alice", "query_images": str(workdir / "query.npy"),
                "match_threshold": "0.8", "results_file": str(workdir / "reid.jsonl")})
    fe = start_child(["fe_worker.py"], {**env, "MODEL_URL": str(workdir / "models" / "fe.json")})
    reid = None
    detector = None
    saved_env = dict(os.environ)
    try:
        reid = start_child([str(Path(__file__).resolve()), "--role", "reid"], env)
        os.environ.update({**env, "model_path": str(workdir / "models" / "detector.json")})
        detector = ObjectDetector(models=[models.BrightBoxDetector(video_id="bench")])
        reid_api = ReID_Endpoint("reid", ip="127.0.0.1", port=reid_port, retries=1)
        frames = frames_for(scene, 32, scale)
        shared = str(workdir / "shared")
        latencies, matched, sent_frames = [], 0, 0
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            frame = frames[sent_frames % len(frames)]
            t0 = time.perf_counter()
            detector.put((frame, time.strftime("%a, %d %B %Y %H:%M:%S.000000"), sent_frames))
            for path in detector.get_files_list(shared):
                answer = reid_api.transmit(detector.read_from_disk(path))
                detector.delete_from_disk(path)
                matched += sum(1 for r in answer or [] if r.userID == "alice")
            latencies.append(time.perf_counter() - t0)
            sent_frames += 1
        elapsed = time.perf_counter() - started
        return {"case": "pipeline", "wire": wire, "frame_shape": list(frames[0].shape), "frames": sent_frames,
                "dropped_by_optical_flow": detector.frames_dropped, "matched": matched,
                "frames_per_s": round(sent_frames / elapsed, 1),
                "p50_ms": round(statistics.median(latencies) * 1000, 2),
                "p99_ms": round(percentile(latencies, 99) * 1000, 2)}
    finally:
        if detector is not None:
            detector.close(flush=False)
        os.environ.clear()
        os.environ.update(saved_env)
        if reid is not None:
            stop_child(reid)
        stop_child(fe)


def case_payload(scale: int, scene, models, repeat: int = 20) -> list[dict]:
    from sedna.core.multi_edge_inference import codec

    detector_params = {"threshold": 100, "min_area": 60 * scale * scale}
    frame = frames_for(scene, 1, scale)[0]
    detector = models.BrightBoxDetector.__new__(models.BrightBoxDetector)
    detector.threshold, detector.min_area, detector.camera_code = detector_params["threshold"], \
        detector_params["min_area"], "bench"
    result = detector.predict([(frame, "Thu, 26 November 2026 10:00:00.000000", 0)])
    for r in result:
        r.features = [models.colour_feature(r.scene[y1:y2, x1:x2]) for x1, y1, x2, y2 in r.bbox_coord]
    lines = []
    for fmt in ("msgpack", "json"):
        payload = codec.encode(result, fmt)
        t0 = time.perf_counter()
        for _ in range(repeat):
            codec.decode(codec.encode(result, fmt), fmt)
        per = (time.perf_counter() - t0) / repeat
        lines.append({"case": "payload", "format": fmt, "frame_shape": list(frame.shape),
                      "boxes": len(result[0].bbox_coord), "bytes": len(payload),
                      "encode_decode_ms": round(per * 1000, 3)})
    lines.append({"case": "payload", "format": "pickle (upstream, size only)", "frame_shape": list(frame.shape),
                  "boxes": len(result[0].bbox_coord), "bytes": len(pickle.dumps(result))})
    return lines


def case_optical_flow(scale: int, scene, seconds: float) -> dict:
    from sedna.algorithms.optical_flow import LukasKanade

    frames = frames_for(scene, 16, scale)
    flow = LukasKanade()
    times, moved = [], 0
    started = time.perf_counter()
    i = 0
    while time.perf_counter() - started < seconds:
        t0 = time.perf_counter()
        moved += flow(frames[i % 16], frames[(i + 1) % 16])
        times.append(time.perf_counter() - t0)
        i += 1
    return {"case": "optical_flow", "frame_shape": list(frames[0].shape), "pairs": len(times),
            "moved": moved, "p50_ms": round(statistics.median(times) * 1000, 2),
            "p99_ms": round(percentile(times, 99) * 1000, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=12.0, help="per pipeline case")
    parser.add_argument("--scale", type=int, default=2, help="frame upscaling of the 120x192 scene")
    parser.add_argument("--cases", default="pipeline,payload,optical_flow")
    parser.add_argument("--role", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(EXAMPLE))
    if args.role == "reid":
        role_reid()
        return
    import logging

    logging.basicConfig(level=logging.WARNING)
    scene, models = _load("scene"), _load("models")
    cases = {c.strip() for c in args.cases.split(",") if c.strip()}
    if "payload" in cases:
        for line in case_payload(args.scale, scene, models):
            print(json.dumps(line), flush=True)
    if "optical_flow" in cases:
        print(json.dumps(case_optical_flow(args.scale, scene, min(args.seconds, 5))), flush=True)
    if "pipeline" in cases:
        for wire in ("msgpack", "json"):
            print(json.dumps(case_pipeline(wire, args.seconds, args.scale, scene, models)), flush=True)


if __name__ == "__main__":
    main()
