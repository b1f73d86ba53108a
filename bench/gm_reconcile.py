"""GM benchmark: reconcile throughput and LC-report latency against the API emulator.

Case ``create``: N FederatedLearningJobs (1 aggregator + 2 trainers each) are created at once; per job, the
seconds from its POST until all 3 worker pods exist (seen on a pod watch). Its floor, measured in the same run:
the emulator alone, the bench creating each job's 3 pods itself right after the job. ``--repeat`` runs of each,
alternating; median [min, max] and the ratio of total times. Case ``report``: a websocket client plays an LC and sends
``status`` reports for a Dataset; per report, the seconds until the API shows the new count (and until the ack).
One JSON line per case on stdout. Defaults finish in about a minute; ``--sizes 10,100,200`` for the full run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "gm"))
sys.path.insert(0, str(REPO / "tests" / "support"))  # gm_cluster imports support_procs
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


GM_CONFIG: dict = {}          # extra GM config keys (--gm-workers)


def setup(workdir: Path, with_gm: bool = True) -> tuple[Cluster, GMProcess | None]:
    cluster = Cluster(workdir).start()
    cluster.apply_crds()
    # the node the jobs' pods are bound to exists, as in a real cluster (the GM reports pods bound to a missing
    # node as Pending/NodeNotFound, which is a different case from the create path measured here)
    cluster.http.post("/api/v1/nodes", json={"apiVersion": "v1", "kind": "Node", "metadata": {
        "name": "edge-1", "labels": {"kubernetes.io/hostname": "edge-1"}}}).raise_for_status()
    cluster.create({"apiVersion": "sedna.io/v1alpha1", "kind": "Model",
                    "metadata": {"name": "bench-model", "namespace": "default"},
                    "spec": {"url": "/models/m.pb", "format": "pb"}})
    cluster.create({"apiVersion": "sedna.io/v1alpha1", "kind": "Dataset",
                    "metadata": {"name": "bench-ds", "namespace": "default"},
                    "spec": {"url": "/data/train.txt", "format": "txt", "nodeName": "edge-1"}})
    gm = GMProcess(workdir, cluster, token="bench", extra=GM_CONFIG).start() if with_gm else None
    return cluster, gm


class PodWatch:
    """Records when each job's pods appear, from one watch on the emulator (polling LISTs of every pod would
    load the emulator more than the system under test does)."""

    LABEL = "federatedlearningjob.sedna.io/name"

    def __init__(self, url: str, expected_per_job: int = 3) -> None:
        self.url = url
        self.expected = expected_per_job
        self.pods: dict[str, set[str]] = {}
        self.done: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=httpx.Timeout(10, read=None),
                          headers={"Authorization": "Bearer sedna-local"}) as http, \
                http.stream("GET", "/api/v1/namespaces/default/pods", params={"watch": "true"}) as resp:
            for line in resp.iter_lines():
                if self._stop.is_set():
                    return
                if not line.strip():
                    continue
                event = json.loads(line)
                meta = (event.get("object") or {}).get("metadata") or {}
                job = (meta.get("labels") or {}).get(self.LABEL)
                if event.get("type") == "ADDED" and job:
                    names = self.pods.setdefault(job, set())
                    names.add(meta.get("name", ""))
                    if len(names) >= self.expected and job not in self.done:
                        self.done[job] = time.perf_counter()

    def stop(self) -> None:
        self._stop.set()


def floor_pods(job: dict) -> list[dict]:
    """The 3 pods the GM would create for ``job`` (same label, node and size class), made by the bench."""
    name = job["metadata"]["name"]
    return [{"apiVersion": "v1", "kind": "Pod",
             "metadata": {"name": f"{name}-{role}", "namespace": "default",
                          "labels": {PodWatch.LABEL: name, "federatedlearningjob.sedna.io/worker-type": role}},
             "spec": {"nodeName": "edge-1", "restartPolicy": "OnFailure",
                      "containers": [{"name": "w", "image": "busybox", "env": [{"name": "JOB_NAME", "value": name}]}]}}
            for role in ("aggregation", "train-0", "train-1")]


def run_create(n: int, timeout: float, floor: bool) -> dict:
    """One run: ``n`` jobs POSTed by 16 threads; per job the seconds from its POST until its 3 pods exist.
    ``floor``: no GM — the bench creates each job's 3 pods itself right after the job (the emulator alone)."""
    with tempfile.TemporaryDirectory() as tmp:
        cluster, gm = setup(Path(tmp), with_gm=not floor)
        watch = PodWatch(cluster.url)
        try:
            created: dict[str, float] = {}
            local = threading.local()

            def post(i: int) -> None:
                if not hasattr(local, "http"):
                    local.http = httpx.Client(base_url=cluster.url, timeout=60,
                                              headers={"Authorization": "Bearer sedna-local"})
                doc = fl_job(i)
                created[doc["metadata"]["name"]] = time.perf_counter()
                local.http.post(cluster.path(doc), json=doc).raise_for_status()
                if floor:
                    for pod in floor_pods(doc):
                        local.http.post("/api/v1/namespaces/default/pods", json=pod).raise_for_status()

            start = time.perf_counter()
            with ThreadPoolExecutor(max_workers=16) as pool:
                list(pool.map(post, range(n)))
            post_seconds = time.perf_counter() - start
            deadline = time.perf_counter() + timeout
            while len(watch.done) < n and time.perf_counter() < deadline:
                time.sleep(0.05)
            latencies = [watch.done[j] - created[j] for j in watch.done if j in created]
            end = max(watch.done.values()) if watch.done else float("nan")
            return {"jobs_with_all_pods": len(latencies), "post_seconds": round(post_seconds, 3),
                    "total_seconds": round(end - start, 3), "job_p50_seconds": pct(latencies, 50),
                    "job_p99_seconds": pct(latencies, 99)}
        finally:
            watch.stop()
            if gm is not None:
                gm.stop()
            cluster.stop()


def summary(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3)}


def case_create(n: int, timeout: float, repeat: int) -> dict:
    """``repeat`` runs of the GM and of the floor, alternating; median [min, max] of each figure and ratio."""
    gm_runs, floor_runs = [], []
    for _ in range(repeat):
        floor_runs.append(run_create(n, timeout, floor=True))
        gm_runs.append(run_create(n, timeout, floor=False))
    out = {"bench": "gm_reconcile", "case": "create", "jobs": n, "repeat": repeat,
           "jobs_with_all_pods": min(r["jobs_with_all_pods"] for r in gm_runs)}
    for key in ("job_p99_seconds", "job_p50_seconds", "total_seconds"):
        out[key] = summary([r[key] for r in gm_runs])
        out[f"floor_{key}"] = summary([r[key] for r in floor_runs])
    out["ratio_total_vs_floor"] = summary([g["total_seconds"] / f["total_seconds"]
                                           for g, f in zip(gm_runs, floor_runs)])
    out["goal"] = "job p99 <= 2 s; total <= 1.2x floor"
    return out


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
    parser.add_argument("--repeat", type=int, default=3, help="runs per size, GM and floor alternating")
    parser.add_argument("--gm-workers", type=int, default=None, help="GM config 'workers' (default: the GM's)")
    args = parser.parse_args(argv)
    if args.gm_workers:
        GM_CONFIG["workers"] = args.gm_workers
    for n in [int(x) for x in args.sizes.split(",") if x.strip()]:
        print(json.dumps(case_create(n, args.timeout, args.repeat)), flush=True)
    if args.reports > 0:
        print(json.dumps(case_report(args.reports)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
