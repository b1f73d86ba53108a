"""LC benchmarks; one JSON line per case.

  dataset_count   count samples of an N-line index file (LC's streaming counter vs ``wc -l``, same file, same run)
  upstream        worker reports/s: HTTP POST to a real LC process → websocket → a receiving server that acks
  upstream_gm     the same through the real GM to the CR status: LC → ``sedna gm`` → API emulator, until every
                  federated-learning round report is a condition of the job

Usage: python bench/lc.py [--lines 1000000] [--reports 2000] [--gm-reports 300] [--concurrency 8]
                          [--case all|dataset_count|upstream|upstream_gm]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def emit(doc: dict) -> None:
    print(json.dumps(doc), flush=True)


def bench_dataset_count(lines: int) -> None:
    from sedna.lc.samples import count_samples

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "index.txt")
        with open(path, "wb") as f:
            f.writelines(b"train/images/%09d.jpg train/labels/%09d.txt\n" % (i, i) for i in range(lines))
        size = os.path.getsize(path)
        count_samples(path, "txt")  # warm the page cache for both contenders
        t0 = time.perf_counter()
        n = count_samples(path, "txt")
        ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        wc = int(subprocess.run(["wc", "-l", path], capture_output=True, text=True, check=True).stdout.split()[0])
        wc_s = time.perf_counter() - t0
        assert n == wc == lines, (n, wc, lines)
        emit({"case": "dataset_count", "lines": lines, "bytes": size, "seconds": round(ours, 4),
              "lines_per_s": round(lines / ours), "mb_per_s": round(size / ours / 1e6, 1),
              "wc_l_seconds": round(wc_s, 4), "wc_l_lines_per_s": round(lines / wc_s),
              "ratio_vs_wc": round(ours / wc_s, 2)})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver:
    """Minimal GM stand-in: acks every status frame and counts distinct messageIds."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.ids: set[str] = set()
        self.done = threading.Event()
        self.expected = 0
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)

    async def _start(self) -> None:
        from websockets.asyncio.server import serve

        self.server = await serve(self._handler, "127.0.0.1", self.port)

    async def _handler(self, ws) -> None:
        from websockets.exceptions import ConnectionClosed

        from sedna.api.messages import Message

        try:
            await self._receive(ws, Message)
        except ConnectionClosed:
            return

    async def _receive(self, ws, Message) -> None:
        async for frame in ws:
            msg = Message.decode(frame)
            mid = msg.header.message_id
            if msg.header.operation == "status" and mid:
                self.ids.add(mid)
                await ws.send(Message.build("", "", "", "ack", None, message_id=mid).encode())
                if len(self.ids) >= self.expected:
                    self.done.set()


def _wait_gm_connected(base: str, timeout: float = 30.0) -> None:
    """Wait until the LC at ``base`` reports its GM connection up (``/healthz``)."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(base + "/healthz", timeout=1).json()["gmConnected"]:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("LC did not connect to the GM")
        time.sleep(0.1)


def bench_upstream(reports: int, concurrency: int) -> None:
    import httpx

    recv = Receiver()
    recv.expected = reports
    with tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        env = {**os.environ, "GM_ADDRESS": f"127.0.0.1:{recv.port}", "NODENAME": "bench", "BIND_PORT": str(port),
               "BIND_ADDRESS": "127.0.0.1", "ROOTFS_MOUNT_DIR": tmp, "LC_OUTBOX_MAX": str(reports + 10),
               "LC_API_TOKEN": "bench-operator"}
        proc = subprocess.Popen([sys.executable, "-m", "sedna", "--log-level", "WARNING", "lc"], env=env, cwd=REPO)
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_gm_connected(base)
            body = {"name": "w", "namespace": "default", "ownerName": "fl", "ownerKind": "federatedlearningjob",
                    "kind": "train", "status": "running", "results": [{"format": "pb", "url": "/m.pb"}]}

            def post_range(idx: range) -> None:
                with httpx.Client(base_url=base, timeout=30,
                                  headers={"Authorization": "Bearer bench-operator"}) as client:
                    for i in idx:
                        r = client.post("/sedna/workers/w/info", json={**body, "ownerInfo": {"seq": i}})
                        r.raise_for_status()

            chunks = [range(i, reports, concurrency) for i in range(concurrency)]
            t0 = time.perf_counter()
            with ThreadPoolExecutor(concurrency) as pool:
                list(pool.map(post_range, chunks))
            accepted = time.perf_counter() - t0
            if not recv.done.wait(120):
                raise RuntimeError(f"only {len(recv.ids)} of {reports} reports arrived")
            delivered = time.perf_counter() - t0
            emit({"case": "upstream", "reports": reports, "concurrency": concurrency,
                  "http_accept_per_s": round(reports / accepted), "delivered_acked_per_s": round(reports / delivered),
                  "seconds": round(delivered, 3), "note": "worker API -> SQLite outbox -> websocket -> ack"})
        finally:
            proc.terminate()
            proc.wait(10)


def _start_cluster(tmp: str):
    """API emulator + ``sedna gm`` subprocesses; returns (procs, api_url, gm_ws_port)."""
    import re

    import httpx
    import yaml

    from sedna.local.apiserver import write_kubeconfig

    api = subprocess.Popen([sys.executable, "-m", "sedna.local.apiserver", "--host", "127.0.0.1", "--port", "0",
                            "--data-dir", os.path.join(tmp, "api"), "--token", "sedna-local"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True, cwd=REPO)
    url = ""
    for _ in range(200):
        m = re.search(r"listening on (http://\S+)", api.stdout.readline() or "")
        if m:
            url = m.group(1)
            break
    if not url:
        api.kill()
        raise RuntimeError("API emulator did not start")
    kubeconfig = write_kubeconfig(os.path.join(tmp, "kubeconfig"), url)
    http = httpx.Client(base_url=url, headers={"Authorization": "Bearer sedna-local"}, timeout=30)
    for path in sorted((REPO / "deploy" / "crds").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                http.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=doc)
    ws_port, metrics_port = _free_port(), _free_port()
    cfg = os.path.join(tmp, "gm.yaml")
    Path(cfg).write_text(yaml.safe_dump({
        "kubeConfig": str(kubeconfig), "websocket": {"address": "127.0.0.1", "port": ws_port},
        "metrics": {"address": "127.0.0.1", "port": metrics_port},
        "localController": {"server": "http://localhost:9100"}, "minResyncPeriodSeconds": 300,
        "auth": {"secret": "bench"}}))
    gm = subprocess.Popen([sys.executable, "-m", "sedna", "--log-level", "WARNING", "gm", "--config", cfg],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{metrics_port}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or gm.poll() is not None:
            raise RuntimeError("GM did not start")
        time.sleep(0.1)
    return [gm, api], http, ws_port


def bench_upstream_gm(reports: int, concurrency: int) -> None:
    import httpx

    from sedna.common.tokens import node_token

    with tempfile.TemporaryDirectory() as tmp:
        procs, api, ws_port = _start_cluster(tmp)
        lc = None
        try:
            ns = "/apis/sedna.io/v1alpha1/namespaces/default"
            api.post(f"{ns}/models", json={"apiVersion": "sedna.io/v1alpha1", "kind": "Model",
                                           "metadata": {"name": "agg"}, "spec": {"url": "/m", "format": "pb"}})
            api.post(f"{ns}/datasets", json={"apiVersion": "sedna.io/v1alpha1", "kind": "Dataset",
                                             "metadata": {"name": "d1"},
                                             "spec": {"url": "/d.txt", "format": "txt", "nodeName": "bench"}})
            Path(tmp, "d.txt").write_text("sample\n")
            container = {"name": "w", "image": "x"}
            api.post(f"{ns}/federatedlearningjobs", json={
                "apiVersion": "sedna.io/v1alpha1", "kind": "FederatedLearningJob", "metadata": {"name": "fl"},
                "spec": {"aggregationWorker": {"model": {"name": "agg"}, "template": {"spec": {
                    "nodeName": "cloud", "containers": [container]}}},
                    "trainingWorkers": [{"dataset": {"name": "d1"}, "template": {"spec": {
                        "nodeName": "bench", "containers": [container]}}}]}})
            port = _free_port()
            env = {**os.environ, "GM_ADDRESS": f"127.0.0.1:{ws_port}", "NODENAME": "bench", "BIND_PORT": str(port),
                   "BIND_ADDRESS": "127.0.0.1", "ROOTFS_MOUNT_DIR": tmp, "LC_OUTBOX_MAX": str(reports + 10),
                   "SEDNA_CHANNEL_TOKEN": node_token("bench", "bench"), "LC_API_TOKEN": "bench-operator"}
            lc = subprocess.Popen([sys.executable, "-m", "sedna", "--log-level", "WARNING", "lc"], env=env,
                                  cwd=REPO)
            base = f"http://127.0.0.1:{port}"
            _wait_gm_connected(base)
            body = {"name": "w", "namespace": "default", "ownerName": "fl", "ownerKind": "federatedlearningjob",
                    "kind": "train", "status": "running", "results": [{"format": "pb", "url": "/m.pb"}]}

            def training_conditions() -> int:
                st = api.get(f"{ns}/federatedlearningjobs/fl").json().get("status") or {}
                return sum(1 for c in st.get("conditions") or [] if c.get("type") == "Training")

            before = training_conditions()

            def post_range(idx: range) -> None:
                with httpx.Client(base_url=base, timeout=30,
                                  headers={"Authorization": "Bearer bench-operator"}) as client:
                    for i in idx:
                        r = client.post("/sedna/workers/w/info", json={**body, "ownerInfo": {"currentRound": i + 1}})
                        r.raise_for_status()

            t0 = time.perf_counter()
            with ThreadPoolExecutor(concurrency) as pool:
                list(pool.map(post_range, [range(i, reports, concurrency) for i in range(concurrency)]))
            accepted = time.perf_counter() - t0
            deadline = time.monotonic() + 300
            while training_conditions() - before < reports:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"only {training_conditions() - before} of {reports} reached the CR")
                time.sleep(0.2)
            applied = time.perf_counter() - t0
            emit({"case": "upstream_gm", "reports": reports, "concurrency": concurrency,
                  "http_accept_per_s": round(reports / accepted), "applied_to_cr_per_s": round(reports / applied),
                  "seconds": round(applied, 3),
                  "note": "worker API -> LC outbox -> sedna gm -> FederatedLearningJob status condition"})
        finally:
            for p in ([lc] if lc else []) + procs:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--reports", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--gm-reports", type=int, default=300, help="reports for the upstream_gm case")
    ap.add_argument("--case", default="all", choices=["all", "dataset_count", "upstream", "upstream_gm"])
    args = ap.parse_args()
    if args.case in ("all", "dataset_count"):
        bench_dataset_count(args.lines)
    if args.case in ("all", "upstream"):
        bench_upstream(args.reports, args.concurrency)
    if args.case in ("all", "upstream_gm"):
        bench_upstream_gm(args.gm_reports, args.concurrency)


if __name__ == "__main__":
    main()
