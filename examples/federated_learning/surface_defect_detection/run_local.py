"""Run the surface-defect federated-learning job on this machine and compare it with local-only training.

Starts ``aggregate.py`` and two ``train.py`` processes with the environment the GM would inject, plus a tiny
stand-in for the LocalController that records the workers' round reports. Afterwards it trains the same model
on each client's data alone (same number of epochs in total) and prints the accuracy of every model on a
common, balanced test set.

    python run_local.py [--rounds 3] [--epochs 3] [--per-client 300] [--compression none|fp16|topk] [--json]
"""

from __future__ import annotations

import argparse
import json
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
sys.path.insert(0, str(HERE))

from interface import Estimator, generate_dataset, load_index


class _Dataset:
    def __init__(self, x, y):
        self.x, self.y = x, y


def start_fake_lc() -> tuple[ThreadingHTTPServer, list[dict]]:
    """A LocalController stand-in: accepts ``POST /sedna/workers/<name>/info`` and keeps the bodies."""
    reports: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            if length > 1024 * 1024:
                self.send_response(413)
                self.end_headers()
                return
            try:
                reports.append(json.loads(self.rfile.read(length)))
            except ValueError:
                self.send_response(400)
                self.end_headers()
                return
            body = b'{"status":"ok"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, reports


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(rounds: int = 3, epochs: int = 3, per_client: int = 300, compression: str = "none",
        workdir: str | None = None, timeout: float = 240.0, seed: int = 7) -> dict:
    workdir = workdir or tempfile.mkdtemp(prefix="sedna-fl-example-")
    indexes = generate_dataset(os.path.join(workdir, "data"), clients=2, per_client=per_client, seed=seed)
    lc, reports = start_fake_lc()
    port = free_port()
    job = "surface-defect-detection"
    base_env = {**os.environ, "JOB_NAME": job, "NAMESPACE": "default", "PARTICIPANTS_COUNT": "2",
                "TRANSMITTER": "ws", "BACKEND_TYPE": "SKLEARN", "AGG_COMPRESSION": compression,
                # the repo root last: a source checkout works without installing sedna
                "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH"),
                                                            str(HERE.parents[2])]))}
    agg_env = {**base_env, "WORKER_NAME": "aggworker-local", "AGG_BIND_IP": "127.0.0.1",
               "AGG_BIND_PORT": str(port), "exit_round": str(rounds), "AGG_EXIT_GRACE": "0.5",
               "AGG_CHECKPOINT_DIR": workdir}
    procs = [subprocess.Popen([sys.executable, str(HERE / "aggregate.py")], env=agg_env, cwd=workdir,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)]
    model_paths = []
    for i in (1, 2):
        model_dir = os.path.join(workdir, f"model-client{i}")
        model_paths.append(os.path.join(model_dir, "model.safetensors"))
        env = {**base_env, "WORKER_NAME": f"trainworker-{i}", "AGG_IP": "127.0.0.1", "AGG_PORT": str(port),
               "TRAIN_DATASET_URL": indexes[f"client{i}"], "MODEL_URL": model_dir,
               "MODEL_NAME": "model.safetensors", "LC_SERVER": f"http://127.0.0.1:{lc.server_port}",
               "epochs": str(epochs), "learning_rate": "0.2", "CONNECT_TIMEOUT": "60"}
        procs.append(subprocess.Popen([sys.executable, str(HERE / "train.py")], env=env, cwd=workdir,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    started = time.monotonic()
    logs = []
    try:
        for proc in procs:
            out, _ = proc.communicate(timeout=max(1.0, timeout - (time.monotonic() - started)))
            logs.append(out)
            if proc.returncode != 0:
                raise RuntimeError(f"{proc.args[-1]} exited with {proc.returncode}:\n{out[-4000:]}")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        lc.shutdown()
    elapsed = time.monotonic() - started

    test_x, test_y = load_index(indexes["test"])
    test = _Dataset(test_x, test_y)
    federated = Estimator()
    federated.load(model_paths[0])
    other = Estimator()
    other.load(model_paths[1])
    same = all((a == b).all() for a, b in zip(federated.get_weights(), other.get_weights()))
    rows = [{"model": "federated (FedAvg, 2 clients)", "train data": "client1 + client2 (never pooled)",
             "accuracy": federated.evaluate(test)["accuracy"]}]
    for i in (1, 2):
        x, y = load_index(indexes[f"client{i}"])
        local = Estimator()
        local.fit(_Dataset(x, y), epochs=rounds * epochs, learning_rate=0.2)
        rows.append({"model": f"local-only client{i}", "train data": f"client{i}",
                     "accuracy": local.evaluate(test)["accuracy"]})
    return {"rows": rows, "rounds": rounds, "epochs_per_round": epochs, "per_client": per_client,
            "compression": compression, "clients_hold_same_global_model": bool(same),
            "seconds": round(elapsed, 2), "lc_reports": reports, "workdir": workdir}


def format_table(result: dict) -> str:
    lines = ["| model | trained on | test accuracy |", "|---|---|---|"]
    for row in result["rows"]:
        lines.append(f"| {row['model']} | {row['train data']} | {row['accuracy']:.3f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3, help="local epochs per round")
    parser.add_argument("--per-client", type=int, default=300, help="training images per client")
    parser.add_argument("--compression", default="none", choices=["none", "fp16", "topk"])
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    args = parser.parse_args()
    result = run(rounds=args.rounds, epochs=args.epochs, per_client=args.per_client,
                 compression=args.compression, workdir=args.workdir)
    if args.json:
        print(json.dumps(result))
    else:
        print(format_table(result))
        rounds = sorted({r.get("ownerInfo", {}).get("currentRound") for r in result["lc_reports"]} - {None})
        print(f"\n{result['rounds']} rounds × {result['epochs_per_round']} local epochs, "
              f"{result['per_client']} images per client, compression={result['compression']}, "
              f"{result['seconds']} s; LC reports for rounds {rounds}")
    fed = result["rows"][0]["accuracy"]
    return 0 if all(fed > row["accuracy"] for row in result["rows"][1:]) else 1


if __name__ == "__main__":
    sys.exit(main())
