"""Peak memory of a server receiving one large body; one JSON line per case.

  inference_npy   POST an N MB ``.npy`` body to ``/predict`` of an InferenceServer process
  inference_json  the same array as a JSON body (decoded into Python numbers: several times the body)
  kb_upload       POST an N MB multipart file to ``/file/upload`` of a KBServer process

Each line: the server's peak RSS growth (VmHWM after − VmRSS before) in MB, the body size in MB, and the ratio
(growth / body; the floor a server can reach without streaming to disk is 1.0 for holding the body once).

Usage: python bench/bodies.py [--mb 100] [--case all|inference_npy|inference_json|kb_upload]
"""

from __future__ import annotations

import argparse
import io
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]

SERVER = """
import sys, numpy as np
kind, port, workdir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if kind == "inference":
    from sedna.service.server.inference import InferenceServer
    class Model:
        def inference(self, data, post_process=None):
            return float(np.asarray(data).ravel()[0])
    InferenceServer(Model(), "m", host="127.0.0.1", http_port=port, max_buffer_size=1 << 31, token="t").start()
else:
    from sedna.service.server.knowledge_base.server import KBServer
    KBServer("127.0.0.1", http_port=port, save_dir=workdir, token="t", max_upload_size=1 << 31).start()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mem(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(field)


def _run(kind: str, body: bytes, path: str, headers: dict[str, str], files=None) -> dict:
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen([sys.executable, "-c", SERVER, kind, str(port), tmp], cwd=REPO,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            for _ in range(300):
                try:
                    httpx.get(url, timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            time.sleep(0.5)
            before = _mem(proc.pid, "VmRSS")
            auth = {"Authorization": "Bearer t", **headers}
            if files is not None:
                resp = httpx.post(url + path, files=files, headers=auth, timeout=300)
            else:
                resp = httpx.post(url + path, content=body, headers=auth, timeout=300)
            resp.raise_for_status()
            peak = _mem(proc.pid, "VmHWM")
        finally:
            proc.terminate()
            proc.wait(10)
    return {"before_mb": round(before, 1), "peak_growth_mb": round(peak - before, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=100)
    ap.add_argument("--case", default="all", choices=["all", "inference_npy", "inference_json", "kb_upload"])
    args = ap.parse_args()
    array = np.random.default_rng(0).random(args.mb * 1024 * 1024 // 8)
    if args.case in ("all", "inference_npy"):
        buf = io.BytesIO()
        np.save(buf, array)
        body = buf.getvalue()
        got = _run("inference", body, "/m/predict", {"Content-Type": "application/x-npy"})
        size = len(body) / 2**20
        print(json.dumps({"case": "inference_npy", "body_mb": round(size, 1), **got,
                          "ratio": round(got["peak_growth_mb"] / size, 2), "floor_ratio": 1.0}), flush=True)
    if args.case in ("all", "inference_json"):
        body = json.dumps({"data": array[: len(array) // 3].tolist()}).encode()     # ~same MB as text
        got = _run("inference", body, "/m/predict", {"Content-Type": "application/json"})
        size = len(body) / 2**20
        print(json.dumps({"case": "inference_json", "body_mb": round(size, 1), **got,
                          "ratio": round(got["peak_growth_mb"] / size, 2), "floor_ratio": 1.0}), flush=True)
    if args.case in ("all", "kb_upload"):
        body = array.tobytes()
        got = _run("kb", body, "/knowledgebase/file/upload", {}, files={"file": ("big.bin", body)})
        size = len(body) / 2**20
        print(json.dumps({"case": "kb_upload", "body_mb": round(size, 1), **got,
                          "ratio": round(got["peak_growth_mb"] / size, 2), "floor_ratio": 1.0}), flush=True)


if __name__ == "__main__":
    main()
