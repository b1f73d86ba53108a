"""Federated aggregation benchmark: seconds per round, bytes on the wire and server CPU per round.

For every (clients N, model size MB, mode) case it starts an ``AggregationServer`` in a subprocess, connects N
websocket clients from this process, runs one warm-up round (it sets the global model top-k diffs against)
and ``--rounds`` measured rounds, and prints one JSON line:

    {"clients", "size_mb", "mode", "seconds_per_round", "uplink_bytes_per_round",
     "downlink_bytes_per_round", "server_cpu_s_per_round", "client_encode_s", "numpy_floor_s", ...}

``mode``: ``fp32`` (no compression), ``fp16`` (updates and the broadcast global model as float16), ``topk``
(1 % of the update's change with error feedback; the global model goes back as float32).
``numpy_floor_s`` is the time of the sample-weighted mean of N tensors of that size in numpy — the floor
for any aggregation server. Clients in one process share one encoded update per round (encoding time is
reported once as ``client_encode_s``); sends and the server's broadcast run at most 4 at a time, so memory
stays near (4 + 2) × model size however many clients there are.

    python bench/federated.py                      # default: N ∈ {2, 8} × {1, 50} MB × 3 modes
    python bench/federated.py --clients 2,8,32 --sizes 1,50,200   # the full matrix (needs ~8 GB RAM)
    python bench/federated.py --v2 mistnet          # MistNet: features vs weights (bench/federated_mistnet.py)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sedna.algorithms.aggregation import WeightedSum
from sedna.algorithms.compression import FP16Codec, NoCompression, TopKCodec
from sedna.algorithms.transmitter.wire import decode_weights, encode_weights, fragments

MODES = {"fp32": NoCompression, "fp16": FP16Codec, "topk": lambda: TopKCodec(ratio=0.01)}
SEND_CONCURRENCY = 4
LAYERS = 4


def serve(participants: int, exit_round: int, downlink: str) -> None:
    """Child process: run the server, print its port, exit when the job is done."""
    import logging

    from sedna.service.server import AggregationServer

    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        server = AggregationServer("FedAvg", host="127.0.0.1", http_port=0, exit_round=exit_round,
                                   participants_count=participants, ws_size=2 ** 31 - 1,
                                   checkpoint_path=os.path.join(tmp, "bench.safetensors"),
                                   downlink_compression=downlink, exit_grace=0.2, job_name="bench")
        thread = server.start_background(timeout=30)
        print(json.dumps({"port": server.port}), flush=True)
        thread.join()


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def make_weights(size_mb: float, seed: int = 0) -> dict[str, np.ndarray]:
    total = int(size_mb * 1024 * 1024 / 4)
    rng = np.random.default_rng(seed)
    per = total // LAYERS
    return {f"{i:04d}": rng.standard_normal(per if i < LAYERS - 1 else total - per * (LAYERS - 1),
                                             dtype=np.float32) for i in range(LAYERS)}


def numpy_floor(weights: dict[str, np.ndarray], clients: int) -> float:
    acc = WeightedSum()
    start = time.perf_counter()
    for k in range(clients):
        acc.add(weights, 10 + k)
    acc.mean()
    return time.perf_counter() - start


def start_server(clients: int, mode: str, rounds: int) -> tuple[subprocess.Popen, int]:
    downlink = "fp16" if mode == "fp16" else "none"
    proc = subprocess.Popen([sys.executable, __file__, "--serve", "--participants", str(clients),
                             "--exit-round", str(rounds + 1), "--downlink", downlink],
                            stdout=subprocess.PIPE, text=True, cwd=REPO)
    return proc, json.loads(proc.stdout.readline())["port"]


async def run_case(proc: subprocess.Popen, port: int, clients: int, size_mb: float, mode: str,
                   rounds: int) -> dict:
    from websockets.asyncio.client import connect

    url = f"ws://127.0.0.1:{port}/FedAvg"
    weights = make_weights(size_mb)
    codec = MODES[mode]()
    conns = []
    for i in range(clients):
        ws = await connect(url, max_size=None, compression=None, ping_interval=None, max_queue=4,
                           proxy=None, open_timeout=60)
        await ws.send(json.dumps({"type": "subscribe", "client_id": f"c{i}"}))
        while True:
            msg = await ws.recv()
            if isinstance(msg, str) and json.loads(msg).get("client_id") == f"c{i}":
                break
        conns.append(ws)
    global_arrays = None
    rng = np.random.default_rng(1)
    measured = []
    encode_s = 0.0
    slots = asyncio.Semaphore(SEND_CONCURRENCY)
    for r in range(1, rounds + 2):
        local = {k: (v if global_arrays is None else global_arrays[k]) +
                 np.float32(0.01) * rng.standard_normal(v.shape, dtype=np.float32) for k, v in weights.items()}
        t_enc = time.perf_counter()
        frame = encode_weights("update_weight", local, {"round": r, "num_samples": 100}, codec=codec,
                               base=global_arrays)
        encode_s = time.perf_counter() - t_enc
        del local
        cpu0, t0 = cpu_seconds(proc.pid), time.perf_counter()
        received = [0] * clients

        async def one(i, ws, frame, received):
            async with slots:
                await ws.send(fragments(frame))
            while True:
                msg = await ws.recv()
                if isinstance(msg, bytes):
                    received[i] = len(msg)
                    return msg if i == 0 else None

        results = await asyncio.gather(*(one(i, ws, frame, received) for i, ws in enumerate(conns)))
        elapsed, cpu = time.perf_counter() - t0, cpu_seconds(proc.pid) - cpu0
        global_arrays = decode_weights(results[0]).arrays
        del results
        if r > 1:  # round 1 is the warm-up that sets the global model
            measured.append({"seconds": elapsed, "cpu": cpu, "up": len(frame) * clients, "down": sum(received)})
    for ws in conns:
        await ws.close()
    n = len(measured)
    return {"bench": "federated", "clients": clients, "size_mb": size_mb, "mode": mode, "rounds": n,
            "seconds_per_round": round(sum(m["seconds"] for m in measured) / n, 4),
            "uplink_bytes_per_round": measured[-1]["up"], "downlink_bytes_per_round": measured[-1]["down"],
            "wire_ratio_vs_fp32": round((measured[-1]["up"] + measured[-1]["down"]) /
                                        (2 * clients * size_mb * 1024 * 1024), 4),
            "server_cpu_s_per_round": round(sum(m["cpu"] for m in measured) / n, 4),
            "client_encode_s": round(encode_s, 4),
            "numpy_floor_s": round(numpy_floor(weights, clients), 4)}


def main() -> None:
    if "--v2" in sys.argv:  # `--v2 mistnet`: the V2 (MistNet) bench lives in bench/federated_mistnet.py
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from federated_mistnet import main as v2_main

        v2_main(sys.argv[1:])
        return
    parser = argparse.ArgumentParser(description="federated aggregation benchmark (one JSON line per case)")
    parser.add_argument("--clients", default="2,8", help="comma list of client counts (full: 2,8,32)")
    parser.add_argument("--sizes", default="1,50", help="comma list of model sizes in MB (full: 1,50,200)")
    parser.add_argument("--modes", default="fp32,fp16,topk", help="comma list of fp32, fp16, topk")
    parser.add_argument("--rounds", type=int, default=2, help="measured rounds per case (after one warm-up)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--participants", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--exit-round", type=int, default=2, help=argparse.SUPPRESS)
    parser.add_argument("--downlink", default="none", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.participants, args.exit_round, args.downlink)
        return
    for clients in [int(c) for c in args.clients.split(",")]:
        for size in [float(s) for s in args.sizes.split(",")]:
            for mode in args.modes.split(","):
                if mode not in MODES:
                    raise SystemExit(f"unknown mode {mode!r}")
                proc, port = start_server(clients, mode, args.rounds)
                try:
                    result = asyncio.run(run_case(proc, port, clients, size, mode, args.rounds))
                    proc.wait(timeout=60)
                finally:
                    if proc.poll() is None:
                        proc.kill()
                print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
