"""Run the V2 (Plato-surface, no Plato) example locally: ``aggregate.py`` + two ``train.py`` processes.

    python run_local.py [--rounds 3] [--per-client 300]

Prints each client's per-round accuracy on the common test set (clients test the global model after every
round, as Plato clients with ``do_test``).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _LCStandIn(BaseHTTPRequestHandler):
    """Accepts the workers' round reports (``POST /sedna/workers/<name>/info``) like a LocalController."""

    def do_POST(self):
        self.rfile.read(min(int(self.headers.get("Content-Length") or 0), 1024 * 1024))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        return


def run(rounds: int = 3, per_client: int = 300, workdir: str | None = None, timeout: float = 180.0) -> dict:
    import importlib.util

    # the V1 example's data generator, loaded by path (both examples have a module named ``interface``)
    spec = importlib.util.spec_from_file_location(
        "surface_defect_model", HERE.parent / "surface_defect_detection" / "interface.py")
    v1 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(v1)
    generate_dataset = v1.generate_dataset
    workdir = workdir or tempfile.mkdtemp(prefix="sedna-fl-v2-")
    indexes = generate_dataset(os.path.join(workdir, "data"), clients=2, per_client=per_client)
    port = free_port()
    lc = ThreadingHTTPServer(("127.0.0.1", 0), _LCStandIn)
    threading.Thread(target=lc.serve_forever, daemon=True).start()
    base = {**os.environ, "JOB_NAME": "surface-defect-detection-v2", "PARTICIPANTS_COUNT": "2",
            "TRANSMITTER": "ws", "exit_round": str(rounds), "TEST_DATASET_URL": indexes["test"],
            "LC_SERVER": f"http://127.0.0.1:{lc.server_port}", "AGG_EXIT_GRACE": "0.5",
            "PYTHONPATH": os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(HERE.parents[2])]))}
    agg = {**base, "AGG_BIND_IP": "127.0.0.1", "AGG_BIND_PORT": str(port),
           "AGG_CHECKPOINT_DIR": workdir, "MODEL_URL": os.path.join(workdir, "global") + "/"}
    procs = [subprocess.Popen([sys.executable, str(HERE / "aggregate.py")], env=agg, cwd=HERE,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)]
    for i in (1, 2):
        env = {**base, "AGG_IP": "127.0.0.1", "AGG_PORT": str(port), "WORKER_NAME": f"trainworker-{i}",
               "TRAIN_DATASET_URL": indexes[f"client{i}"], "CONNECT_TIMEOUT": "60"}
        procs.append(subprocess.Popen([sys.executable, str(HERE / "train.py")], env=env, cwd=HERE,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    started = time.monotonic()
    outputs = []
    try:
        for proc in procs:
            out, _ = proc.communicate(timeout=max(1.0, timeout - (time.monotonic() - started)))
            if proc.returncode != 0:
                raise RuntimeError(f"{proc.args[-1]} exited with {proc.returncode}:\n{out[-4000:]}")
            outputs.append(out)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        lc.shutdown()
    accuracy = {}
    for i, out in enumerate(outputs[1:], start=1):
        accuracy[f"client{i}"] = [float(line.rsplit(" ", 1)[1]) for line in out.splitlines()
                                  if line.startswith("round ") and "test accuracy" in line]
    return {"accuracy_per_round": accuracy, "global_model": os.path.join(workdir, "global",
                                                                          "global_model.safetensors")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--per-client", type=int, default=300)
    args = parser.parse_args()
    result = run(rounds=args.rounds, per_client=args.per_client)
    for client, scores in result["accuracy_per_round"].items():
        print(f"{client}: " + ", ".join(f"round {r}: {s:.3f}" for r, s in enumerate(scores, start=1)))
    print(f"final global model: {result['global_model']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
