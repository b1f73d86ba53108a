"""GM benchmark: reconcile throughput and LC-report latency against the API emulator.

Case ``create``: N FederatedLearningJobs (1 aggregator + 2 trainers each) are created at once; per job, the
seconds from its POST until all 3 worker pods exist. Case ``report``: a websocket client plays an LC and sends
``status`` reports for a Dataset; per report, the seconds until the API shows the new count (and until the ack).
One JSON line per case on stdout. Defaults finish in about a minute; ``--sizes 10,100,200`` for the full run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "gm"))
sys.path.insert(0, str(REPO))

import httpx
from gm_cluster import Cluster, GMProcess, wait_for


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return round(ordered[k], 4)


def fl_job(i: int) -> dict:
    template = {"spec": {"nodeName": "edge-1", "containers": [{"name": "w", "image": "busybox"}]}}
    return {"apiVersion": "sedna.io/v1alpha1", "kind": "FederatedLearningJob",
            "metadata": {"name": f"bench-fl-{i}", "namespace": "default"},
            "spec": {"aggregationWorker": {"model": {"name": "bench-model"}, "template": template},
                     "trainingWorkers": [{"dataset": {"name": "bench-ds"}, "template": template},
                                         {"dataset": {"name": "bench-ds"}, "template": template}]}}


def setup(workdir: Path) -> tuple[Cluster, GMProcess]:
    cluster = Cluster(workdir).start()
    cluster.apply_crds()
    cluster.create({"apiVersion": "sedna.io/v1alpha1", "kind": "Model",
                    "metadata": {"name": "bench-model", "namespace": "default"},
                    "spec": {"url": "/models/m.pb", "format": "pb"}})
    cluster.create({"apiVersion": "sedna.io/v1alpha1", "kind": "Dataset",
                    "metadata": {"name": "bench-ds", "namespace": "default"},
                    "spec": {"url": "/data/train.txt", "format": "txt", "nodeName": "edge-1"}})
    gm = GMProcess(workdir, cluster, token="bench").start()
    return cluster, gm


def case_create(n: int, timeout: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cluster, gm = setup(Path(tmp))
        try:
            created: dict[str, float] = {}

            def post(i: int) -> None:
                doc = fl_job(i)
                t = time.perf_counter()
                with httpx.Client(base_url=cluster.url, timeout=60,
                                  headers={"Authorization": "Bearer sedna-local"}) as http:
                    r = http.post(cluster.path(doc), json=doc)
                    r.raise_for_status()
                created[doc["metadata"]["name"]] = t

            start = time.perf_counter()
            with ThreadPoolExecutor(max_workers=16) as pool:
                list(pool.map(post, range(n)))
            post_seconds = time.perf_counter() - start
            done: dict[str, float] = {}
            deadline = time.perf_counter() + timeout
            while len(done) < n and time.perf_counter() < deadline:
                counts: dict[str, int] = {}
                for pod in cluster.list("Pod"):
                    job = (pod["metadata"].get("labels") or {}).get("federatedlearningjob.sedna.io/name")
                    if job:
                        counts[job] = counts.get(job, 0) + 1
                now = time.perf_counter()
                for job, count in counts.items():
                    if count >= 3 and job not in done and job in created:
                        done[job] = now - created[job]
                time.sleep(0.05)
            latencies = list(done.values())
            return {"case": "create", "jobs": n, "jobs_with_all_pods": len(done),
                    "post_seconds": round(post_seconds, 3),
                    "all_pods_seconds": round(max(latencies), 3) if latencies else None,
                    "job_p50_seconds": pct(latencies, 50), "job_p99_seconds": pct(latencies, 99)}
        finally:
            gm.stop()
            cluster.stop()


async def _reports(gm: GMProcess, cluster: Cluster, count: int) -> tuple[list[float], list[float]]:
    from websockets.asyncio.client import connect

    from sedna.api.messages import Message
    from sedna.common.tokens import node_token

    ack_lat, status_lat = [], []
    async with connect(gm.ws_url, additional_headers={"Node-Name": "edge-1", "Authorization": f"Bearer {node_token('bench', 'edge-1')}"}) as ws:
        loop = asyncio.get_running_loop()
        for i in range(1, count + 1):
            mid = f"bench-{i}"
            t = time.perf_counter()
            await ws.send(Message.build("Dataset", "default", "bench-ds", "status", {"numberOfSamples": i},
                                        message_id=mid).encode())
            while True:
                reply = Message.decode(await asyncio.wait_for(ws.recv(), 30))
                if reply.header.message_id == mid:
                    break
            ack_lat.append(time.perf_counter() - t)
            await loop.run_in_executor(None, lambda i=i: wait_for(
                lambda: (cluster.get("Dataset", "bench-ds").get("status") or {}).get("numberOfSamples") == i,
                30, 0.005, "status"))
            status_lat.append(time.perf_counter() - t)
    return ack_lat, status_lat


def case_report(count: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cluster, gm = setup(Path(tmp))
        try:
            ack_lat, status_lat = asyncio.run(_reports(gm, cluster, count))
            return {"case": "report", "reports": count,
                    "ack_p50_seconds": pct(ack_lat, 50), "ack_p99_seconds": pct(ack_lat, 99),
                    "status_p50_seconds": pct(status_lat, 50), "status_p99_seconds": pct(status_lat, 99)}
        finally:
            gm.stop()
            cluster.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,50", help="comma-separated job counts (default 10,50)")
    parser.add_argument("--reports", type=int, default=50, help="LC reports in the latency case (default 50)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait per create case")
    args = parser.parse_args(argv)
    for n in [int(x) for x in args.sizes.split(",") if x.strip()]:
        print(json.dumps(case_create(n, args.timeout)), flush=True)
    if args.reports > 0:
        print(json.dumps(case_report(args.reports)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
