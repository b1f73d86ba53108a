"""Federated aggregation benchmark: seconds per round with one process per client, as real workers run.

For every (clients N, model size MB, mode) case: an ``AggregationServer`` in its own process and N client
processes, each a real ``AggregationClient`` (what ``FederatedLearning.train`` uses), its own encode and decode
included. One warm-up round sets the global model, then ``--rounds`` measured rounds; a round is timed from the
moment every client is told to send (its local model already computed) until every client holds the new
global model.

The floor, measured in the same run with the same processes, sizes and rounds: raw TCP + numpy — each client
process sends its float32 bytes over a plain socket, a plain threaded server receives them into preallocated
buffers, computes the sample-weighted mean with numpy and sends it back to every client, which receives it
into a new array each round (the worker keeps the arrays it is given, as with ``AggregationClient``).
``--repeat`` runs of both, alternating; one JSON line per case with the median [min, max] seconds per round,
the ratio to the floor, server and clients' CPU seconds per round, and the aggregator's peak RSS against the
budget 1.5 × model × (clients + 2).

    python bench/federated.py                                  # 8 clients x 50 MB, fp32, 3 runs
    python bench/federated.py --clients 8 --sizes 50,200 --modes fp32,fp16
    python bench/federated.py --v2 mistnet          # MistNet: features vs weights (bench/federated_mistnet.py)

New kinds of case (e.g. another aggregation) add a role to ``ROLES`` and an option in ``build_parser``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MODES = {"fp32": "none", "fp16": "fp16", "topk": "topk"}
LAYERS = 4
SAMPLES = 100


def make_weights(size_mb: float, seed: int = 0) -> list[np.ndarray]:
    total = int(size_mb * 1024 * 1024 / 4)
    rng = np.random.default_rng(seed)
    per = total // LAYERS
    return [rng.standard_normal(per if i < LAYERS - 1 else total - per * (LAYERS - 1), dtype=np.float32)
            for i in range(LAYERS)]


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# ---- roles (child processes) ------------------------------------------------------------------------------

def role_server(args) -> None:
    """The aggregation server; prints its port, exits when the job is done."""
    import logging

    from sedna.service.server import AggregationServer

    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        server = AggregationServer("FedAvg", host="127.0.0.1", http_port=0, exit_round=args.rounds + 1,
                                   participants_count=args.participants, ws_size=2 ** 31 - 1,
                                   checkpoint_path=os.path.join(tmp, "bench.safetensors"),
                                   downlink_compression="fp16" if args.mode == "fp16" else "none",
                                   exit_grace=0.5, job_name="bench")
        thread = server.start_background(timeout=60)
        print(json.dumps({"port": server.port}), flush=True)
        thread.join()


def role_raw_server(args) -> None:
    """The floor: threads receive length-prefixed float32 payloads into preallocated buffers, one of them
    computes the weighted mean once all arrived, every thread sends it back."""
    n_values = int(args.size_mb * 1024 * 1024 / 4)         # make_weights' total
    acc = np.zeros(n_values, np.float32)
    out = np.empty(n_values, np.float32)
    lock = threading.Lock()
    total = [0]

    def close_round() -> None:
        np.divide(acc, total[0], out=out)
        acc.fill(0)
        total[0] = 0

    barrier = threading.Barrier(args.participants, action=close_round)
    listener = socket.create_server(("127.0.0.1", 0))
    print(json.dumps({"port": listener.getsockname()[1]}), flush=True)

    def serve(conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = np.empty(n_values, np.float32)
        scratch = np.empty(n_values, np.float32)
        view = memoryview(buf).cast("B")
        header = bytearray(8)
        for _ in range(args.rounds + 1):
            _recv_into(conn, memoryview(header))
            samples = int.from_bytes(header, "little")
            _recv_into(conn, view)
            np.multiply(buf, samples, out=scratch)
            with lock:
                np.add(acc, scratch, out=acc)
                total[0] += samples
            barrier.wait()
            conn.sendall(memoryview(out).cast("B"))
        conn.close()

    threads = []
    for _ in range(args.participants):
        conn, _ = listener.accept()
        threads.append(threading.Thread(target=serve, args=(conn,), daemon=True))
        threads[-1].start()
    for t in threads:
        t.join()


def _recv_into(conn: socket.socket, view: memoryview) -> None:
    got = 0
    while got < len(view):
        n = conn.recv_into(view[got:])
        if not n:
            raise ConnectionError("peer closed")
        got += n


def role_client(args) -> None:
    """One worker: for each round wait for ``train``, compute the local model, say ``ready``, wait for ``go``,
    exchange. The driver says ``train`` only once every client holds the last global model, so no client
    computes its next local model inside a timed round (that would take CPU from the ones still exchanging)."""
    base = make_weights(args.size_mb, seed=0)
    rng = np.random.default_rng(args.index + 1)
    if args.raw:
        conn = socket.create_connection(("127.0.0.1", args.port))
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        n_values = sum(w.size for w in base)
    else:
        from sedna.service.client import AggregationClient

        client = AggregationClient(f"ws://127.0.0.1:{args.port}/FedAvg", f"c{args.index}", connect_timeout=120,
                                   compression=MODES[args.mode])
    current = base
    for r in range(1, args.rounds + 2):
        sys.stdin.readline()
        local = [w + np.float32(0.01) * rng.standard_normal(w.shape, dtype=np.float32) for w in current]
        print(f"ready {r}", flush=True)
        sys.stdin.readline()
        if args.raw:
            conn.sendall(SAMPLES.to_bytes(8, "little"))
            for w in local:
                conn.sendall(memoryview(w).cast("B"))
            # a fresh array per round, as AggregationClient hands the worker a global model of its own
            result = np.empty(n_values, np.float32)
            _recv_into(conn, memoryview(result).cast("B"))
            current = np.split(result, np.cumsum([w.size for w in base])[:-1])
        else:
            answer = client.exchange(local, SAMPLES, job_name="bench", timeout=900)
            current = [np.asarray(w) for w in answer["data"]["weights"]]
        print(f"done {r}", flush=True)
    if not args.raw:
        client.close()


ROLES = {"server": role_server, "raw-server": role_raw_server, "client": role_client}


# ---- the driver ---------------------------------------------------------------------------------------------

def _spawn(*extra: str, stdin: bool = False) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, *extra], stdout=subprocess.PIPE, text=True, cwd=REPO,
                            stdin=subprocess.PIPE if stdin else None)


def _expect(proc: subprocess.Popen, line: str) -> None:
    got = proc.stdout.readline().strip()
    if got != line:
        raise RuntimeError(f"client said {got!r}, expected {line!r}")


def run_once(clients: int, size_mb: float, mode: str, rounds: int, raw: bool) -> dict:
    common = ["--size-mb", str(size_mb), "--mode", mode, "--rounds", str(rounds)]
    server = _spawn("--role", "raw-server" if raw else "server", "--participants", str(clients), *common)
    port = json.loads(server.stdout.readline())["port"]
    workers = [_spawn("--role", "client", "--index", str(i), "--port", str(port), *common,
                      *(["--raw"] if raw else []), stdin=True) for i in range(clients)]
    try:
        seconds, cpu, client_cpu = [], [], []
        for r in range(1, rounds + 2):
            for w in workers:
                w.stdin.write("train\n")
                w.stdin.flush()
            for w in workers:
                _expect(w, f"ready {r}")
            cpu0 = cpu_seconds(server.pid)
            clients0 = sum(cpu_seconds(w.pid) for w in workers)
            t0 = time.perf_counter()
            for w in workers:
                w.stdin.write("go\n")
                w.stdin.flush()
            for w in workers:
                _expect(w, f"done {r}")
            if r > 1:                      # round 1 is the warm-up that sets the global model
                seconds.append(time.perf_counter() - t0)
                cpu.append(cpu_seconds(server.pid) - cpu0)
                client_cpu.append(sum(cpu_seconds(w.pid) for w in workers) - clients0)
        rss = peak_rss_mb(server.pid)
        for w in workers:
            w.wait(120)
        server.wait(120)
        return {"seconds_per_round": statistics.mean(seconds), "server_peak_rss_mb": rss,
                "server_cpu_s_per_round": statistics.mean(cpu),
                "clients_cpu_s_per_round": statistics.mean(client_cpu)}
    finally:
        for p in [*workers, server]:
            if p.poll() is None:
                p.kill()


def summary(values: list[float], digits: int = 3) -> dict:
    return {"median": round(statistics.median(values), digits), "min": round(min(values), digits),
            "max": round(max(values), digits)}


def run_case(clients: int, size_mb: float, mode: str, rounds: int, repeat: int) -> dict:
    ours, floor = [], []
    for _ in range(repeat):
        floor.append(run_once(clients, size_mb, mode, rounds, raw=True))
        ours.append(run_once(clients, size_mb, mode, rounds, raw=False))
    model_mb = size_mb
    return {"bench": "federated", "clients": clients, "size_mb": size_mb, "mode": mode, "rounds": rounds,
            "repeat": repeat, "client_processes": clients,
            "seconds_per_round": summary([o["seconds_per_round"] for o in ours]),
            "floor_raw_tcp_numpy_seconds_per_round": summary([f["seconds_per_round"] for f in floor]),
            "ratio_vs_floor": summary([o["seconds_per_round"] / f["seconds_per_round"]
                                       for o, f in zip(ours, floor)], 2),
            "server_cpu_s_per_round": summary([o["server_cpu_s_per_round"] for o in ours]),
            "floor_server_cpu_s_per_round": summary([f["server_cpu_s_per_round"] for f in floor]),
            "clients_cpu_s_per_round": summary([o["clients_cpu_s_per_round"] for o in ours]),
            "floor_clients_cpu_s_per_round": summary([f["clients_cpu_s_per_round"] for f in floor]),
            "server_peak_rss_mb": summary([o["server_peak_rss_mb"] for o in ours], 0),
            "rss_budget_mb": round(1.5 * model_mb * (clients + 2)),
            "goal": "ratio <= 3 (stretch 2); rss <= budget"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="8", help="comma list of client counts")
    parser.add_argument("--sizes", default="50", help="comma list of model sizes in MB")
    parser.add_argument("--modes", default="fp32", help=f"comma list of {', '.join(MODES)}")
    parser.add_argument("--rounds", type=int, default=2, help="measured rounds per run (after one warm-up)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of ours and of the floor, alternating")
    # child processes
    parser.add_argument("--role", choices=sorted(ROLES), help=argparse.SUPPRESS)
    parser.add_argument("--participants", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--size-mb", type=float, default=1.0, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="fp32", help=argparse.SUPPRESS)
    parser.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--raw", action="store_true", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> list[dict]:
    argv = sys.argv[1:] if argv is None else argv
    if "--v2" in argv:  # `--v2 mistnet`: the V2 (MistNet) bench lives in bench/federated_mistnet.py
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from federated_mistnet import main as v2_main

        v2_main(argv)
        return []
    args = build_parser().parse_args(argv)
    if args.role:
        ROLES[args.role](args)
        return []
    lines = []
    for clients in [int(c) for c in args.clients.split(",")]:
        for size in [float(s) for s in args.sizes.split(",")]:
            for mode in args.modes.split(","):
                if mode not in MODES:
                    raise SystemExit(f"unknown mode {mode!r}")
                line = run_case(clients, size, mode, args.rounds, args.repeat)
                print(json.dumps(line), flush=True)
                lines.append(line)
    return lines


if __name__ == "__main__":
    main()
