"""The dashboard's costs: building the overview, and how late a change reaches a browser's event stream.

- overview: ``ClusterHub.overview()`` over ``--objects`` JointInferenceServices with two worker pods each,
  milliseconds per call; floor = ``json.dumps`` of the same objects and pods (reading them once), ratio =
  overview / floor.
- stream_latency: the API emulator runs in this process's thread, a dashboard serves the hub on 127.0.0.1, an
  SSE client reads ``/api/stream``; for ``--updates`` status writes, the time from the write's response to
  the matching ``change`` event (p50/p99 ms); floor = the same writes observed on a raw watch of the API
  server, ratio = p50 / floor p50.
Prints one JSON line per case. Example: ``python bench/dashboard.py --objects 500 --updates 50``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "dashboard"))

from objects import API, ji_service, running, worker_pod

from sedna.api.crdgen import crd
from sedna.api.registry import KINDS
from sedna.dashboard.app import create_app
from sedna.dashboard.history import MetricsHistory
from sedna.dashboard.hub import SEDNA_RESOURCES, ClusterHub, Resource
from sedna.dashboard.kube import KubeReader, load_connection
from sedna.dashboard.main import DashboardServer
from sedna.local.apiserver import BackgroundServer

JI = f"{API}/namespaces/default/jointinferenceservices"


def emit(case: str, **figures) -> None:
    print(json.dumps({"bench": "dashboard", "case": case, **figures}), flush=True)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class OfflineHub(ClusterHub):
    """A hub fed directly (no watch threads): measures the view building alone."""

    def __init__(self):
        super().__init__(reader=None, history=MetricsHistory())


def bench_overview(objects: int, repeat: int) -> None:
    hub = OfflineHub()
    ji = next(r for r in SEDNA_RESOURCES if r.plural == "jointinferenceservices")
    pods_res = Resource("pods", "v1", "Pod")
    svcs, pods = [], []
    for i in range(objects):
        svc = ji_service(f"svc-{i}")
        svc["metadata"].update(uid=f"u{i}", creationTimestamp="2026-01-01T00:00:00Z")
        svc["status"] = {"active": 2, "metrics": [{"key": "inferenceNumber", "value": str(i)}]}
        svcs.append(svc)
        for side in ("edge", "cloud"):
            pod = worker_pod("JointInferenceService", f"svc-{i}", f"svc-{i}-{side}")
            pod["status"] = running()
            pods.append(pod)
    hub._replace(ji, svcs)
    hub._replace(pods_res, pods)
    start = time.perf_counter()
    for _ in range(repeat):
        rows = hub.overview()
    per_call = (time.perf_counter() - start) / repeat * 1000
    assert len(rows) == objects
    start = time.perf_counter()
    for _ in range(repeat):
        json.dumps(svcs)
        json.dumps(pods)
    floor = (time.perf_counter() - start) / repeat * 1000
    emit("overview", objects=objects, pods=len(pods), overview_ms=round(per_call, 2),
         floor_json_dumps_ms=round(floor, 2), ratio=round(per_call / floor, 2))


def bench_stream(updates: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="sedna-bench-dashboard-"))
    server = BackgroundServer(data_dir=tmp / "api").start()
    server.write_kubeconfig(tmp / "kubeconfig")
    kube = httpx.Client(base_url=server.url, timeout=30, headers={"Authorization": "Bearer sedna-local"})
    for info in KINDS:
        kube.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=crd(info))
    kube.post(JI, json=ji_service("bench"))
    hub = ClusterHub(KubeReader(load_connection(str(tmp / "kubeconfig")))).start()
    hub.wait_synced(30)
    dash = DashboardServer(create_app(hub), "127.0.0.1", 0).start_background()

    def observe(url: str, params: dict | None, match, seen: dict[int, float], ready: threading.Event) -> None:
        headers = {"Authorization": "Bearer sedna-local"}
        with httpx.stream("GET", url, params=params, headers=headers, timeout=60) as resp:
            ready.set()
            for line in resp.iter_lines():
                value = match(line)
                if value is not None:
                    seen.setdefault(value, time.perf_counter())
                    if value == updates:
                        return

    def sse_value(line: str):
        if not line.startswith("data: ") or '"change"' not in line:
            return None
        return versions.get(json.loads(line[6:]).get("resourceVersion"))

    def watch_value(line: str):
        if not line.strip():
            return None
        return versions.get(((json.loads(line).get("object") or {}).get("metadata") or {}).get("resourceVersion"))

    versions: dict[str, int] = {}        # resourceVersion written -> update number
    sse_seen: dict[int, float] = {}
    raw_seen: dict[int, float] = {}
    ready = [threading.Event(), threading.Event()]
    rv = kube.get(JI).json()["metadata"]["resourceVersion"]
    threads = [threading.Thread(target=observe, args=(f"http://127.0.0.1:{dash.port}/api/stream", None,
                                                      sse_value, sse_seen, ready[0]), daemon=True),
               threading.Thread(target=observe, args=(server.url + JI, {"watch": "1", "resourceVersion": rv},
                                                      watch_value, raw_seen, ready[1]), daemon=True)]
    for t in threads:
        t.start()
    for r in ready:
        r.wait(10)
    time.sleep(0.5)
    sent: dict[int, float] = {}
    for n in range(1, updates + 1):
        obj = kube.get(f"{JI}/bench").json()
        obj["status"] = {"metrics": [{"key": "inferenceNumber", "value": str(n)}]}
        start = time.perf_counter()
        written = kube.put(f"{JI}/bench/status", json=obj).json()
        versions[written["metadata"]["resourceVersion"]] = n
        sent[n] = start
        time.sleep(0.05)
    for t in threads:
        t.join(30)
    # the PUT's response and the event race: latency is measured from sending the write
    lat = [(sse_seen[n] - sent[n]) * 1000 for n in sent if n in sse_seen]
    raw = [(raw_seen[n] - sent[n]) * 1000 for n in sent if n in raw_seen]
    emit("stream_latency", updates=updates, delivered=len(lat), p50_ms=round(statistics.median(lat), 2),
         p99_ms=round(pct(lat, 99), 2), floor_raw_watch_p50_ms=round(statistics.median(raw), 2),
         ratio=round(statistics.median(lat) / max(statistics.median(raw), 1e-3), 2))
    dash.stop()
    hub.stop()
    kube.close()
    server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--updates", type=int, default=50)
    args = parser.parse_args()
    bench_overview(args.objects, args.repeat)
    bench_stream(args.updates)


if __name__ == "__main__":
    main()
