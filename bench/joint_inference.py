"""Joint-inference benchmark: one JSON line per case.

Cases, for 416x736x3 uint8 images and for 1,000-float feature vectors:

- ``edge-only``: ``JointInference.inference`` with the ``EdgeOnly`` filter (no cloud call);
- ``joint``: 10 % / 50 % / 100 % of requests offloaded (``Random`` filter, seeded) to a ``BigModelService``
  running in a separate process, arrays sent as ``application/x-npy``;
- ``joint-json``: 100 % offloaded with the JSON body upstream uses (``{"data": nested lists}``);
- ``payload``: bytes on the wire for one request, JSON vs npy;
- ``hem``: hard-example filter throughput (IBT / Threshold on 50 boxes, CrossEntropy on 1,000 probabilities).

The estimators are deliberately cheap so the figures show the SDK's own cost (HEM, serialisation, HTTP).

    python bench/joint_inference.py [--seconds 3] [--image-shape 416,736] [--features 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np


class BenchEstimator:
    """Cheap model: image → channel means, features → a logistic score; answers boxes."""

    def __init__(self, **kwargs):
        self.weights = None

    def load(self, model_url=""):
        self.weights = np.load(model_url, allow_pickle=False)

    def predict(self, data, **kwargs):
        x = np.asarray(data)
        if x.ndim == 3:
            means = x[::8, ::8].reshape(-1, 3).mean(axis=0) / 255.0
            return [[0.0, 0.0, 10.0, 10.0, float(means[i]), float(i)] for i in range(3)]
        w = self.weights[: x.shape[-1]]
        score = float(1.0 / (1.0 + np.exp(-float(np.dot(x.astype(np.float64).ravel(), w)))))
        return [[0.0, 0.0, 1.0, 1.0, score, 0.0]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values, q):
    return float(np.percentile(np.asarray(values) * 1000.0, q)) if values else None


def serve_big(port: int, model: str) -> None:
    os.environ.update({"SERVICE_NAME": "bench-ji", "MODEL_URL": model, "BIG_MODEL_BIND_IP": "127.0.0.1",
                       "BIG_MODEL_BIND_PORT": str(port), "BACKEND_TYPE": "SKLEARN"})
    from sedna.core.joint_inference import BigModelService

    BigModelService(estimator=BenchEstimator).start()


def wait_up(url: str, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"big model server at {url} did not start")


def make_edge(model: str, port: int, hem: dict, use_npy: bool):
    from sedna.common.config import BaseConfig
    from sedna.core.joint_inference import JointInference

    os.environ.update({"SERVICE_NAME": "bench-ji", "MODEL_URL": model, "BIG_MODEL_IP": "127.0.0.1",
                       "BIG_MODEL_PORT": str(port), "LC_SERVER": f"http://127.0.0.1:{free_port()}",
                       "LC_PERIOD": "3600", "BACKEND_TYPE": "SKLEARN", "MODEL_CLIENT_TIMEOUT": "30"})
    BaseConfig.reload_from_env()
    ji = JointInference(estimator=BenchEstimator, hard_example_mining=hem)
    if not use_npy:
        ji.cloud._use_npy = False
    return ji


def run_case(ji, sample, seconds: float, max_requests: int) -> dict:
    ji.inference(sample)  # warm-up: connection, npy negotiation
    latencies, offloaded = [], 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds and len(latencies) < max_requests:
        t0 = time.perf_counter()
        _, _, _, cloud = ji.inference(sample)
        latencies.append(time.perf_counter() - t0)
        offloaded += int(cloud is not None)
    elapsed = time.perf_counter() - start
    return {"requests": len(latencies), "offloaded": offloaded, "throughput_rps": round(len(latencies) / elapsed, 2),
            "p50_ms": round(percentile(latencies, 50), 3), "p99_ms": round(percentile(latencies, 99), 3),
            "failed_offloads": ji.failed_offload_number}


def hem_cases(seconds: float) -> list[dict]:
    from sedna.algorithms.hard_example_mining import CrossEntropyFilter, IBTFilter, ThresholdFilter

    rng = np.random.default_rng(0)
    boxes = np.column_stack([rng.random((50, 4)) * 100, rng.random(50), rng.integers(0, 3, 50)]).tolist()
    probs = rng.dirichlet(np.ones(1000)).tolist()
    out = []
    for name, fn, data, desc in (("IBT", IBTFilter(0.9, 0.9), boxes, "50 boxes (list)"),
                                 ("Threshold", ThresholdFilter(0.5), boxes, "50 boxes (list)"),
                                 ("IBT", IBTFilter(0.9, 0.9), np.asarray(boxes), "50 boxes (ndarray)"),
                                 ("CrossEntropy", CrossEntropyFilter(0.5), probs, "1000 probabilities (list)")):
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            for _ in range(200):
                fn(data)
            count += 200
        elapsed = time.perf_counter() - start
        out.append({"case": "hem", "filter": name, "input": desc, "calls_per_s": round(count / elapsed),
                    "us_per_call": round(elapsed / count * 1e6, 2)})
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="joint inference throughput and latency")
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each case")
    parser.add_argument("--max-requests", type=int, default=5000)
    parser.add_argument("--image-shape", default="416,736")
    parser.add_argument("--features", type=int, default=1000)
    parser.add_argument("--serve-big", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--model", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_big is not None:
        serve_big(args.serve_big, args.model)
        return

    from sedna.common.tensors import dumps_npy

    height, width = (int(v) for v in args.image_shape.split(","))
    rng = np.random.default_rng(0)
    payloads = {
        f"image {height}x{width}x3 uint8": rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8),
        f"features {args.features} float32": rng.standard_normal(args.features).astype(np.float32),
    }
    workdir = tempfile.mkdtemp(prefix="sedna-bench-ji-")
    model = os.path.join(workdir, "model.npy")
    np.save(model, rng.standard_normal(args.features) * 0.01, allow_pickle=False)
    port = free_port()
    big = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve-big", str(port), "--model", model],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_up(f"http://127.0.0.1:{port}/bench-ji")
        for label, sample in payloads.items():
            json_bytes = len(json.dumps({"data": sample.tolist()}, separators=(",", ":")).encode())
            npy_bytes = len(dumps_npy(sample))
            print(json.dumps({"case": "payload", "payload": label, "json_bytes": json_bytes, "npy_bytes": npy_bytes,
                              "ratio": round(json_bytes / npy_bytes, 2)}), flush=True)
            cases = [("edge-only", {"method": "EdgeOnly"}, True, 0.0)]
            cases += [("joint", {"method": "Random", "param": {"random_ratio": r, "seed": 1}}, True, r)
                      for r in (0.1, 0.5, 1.0)]
            cases += [("joint-json", {"method": "CloudOnly"}, False, 1.0)]
            for name, hem, use_npy, ratio in cases:
                ji = make_edge(model, port, hem, use_npy)
                try:
                    figures = run_case(ji, sample, args.seconds, args.max_requests)
                finally:
                    ji.close()
                print(json.dumps({"case": name, "payload": label, "hard_ratio": ratio,
                                  "encoding": "npy" if use_npy else "json", **figures}), flush=True)
        for line in hem_cases(min(args.seconds, 1.0)):
            print(json.dumps(line), flush=True)
    finally:
        big.terminate()
        big.wait(20)


if __name__ == "__main__":
    main()
