"""LC benchmarks; one JSON line per case.

  dataset_count   count samples of an N-line index file (LC's streaming counter vs ``wc -l``, same file, same run)
  worker_api      worker report POST to a real LC process: p50 latency and reports/s vs a bare FastAPI floor;
                  as deployed: the worker presents a GM-minted LC_API_TOKEN, the LC checks it with the worker
                  key from the GM stand-in's handshake (its own process) and forwards every report to it
  upstream        worker reports/s: HTTP POST to a real LC process → websocket → a receiving server that acks
  upstream_gm     the same through the real GM to the CR status: LC → ``sedna gm`` → API emulator, until every
                  federated-learning round report is a condition of the job

Usage: python bench/lc.py [--lines 1000000] [--reports 2000] [--gm-reports 300] [--concurrency 8]
                          [--repeat 3] [--case all|dataset_count|worker_api|upstream|upstream_gm]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastapi import FastAPI, Request  # module level: the floor's route annotations are resolved here

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def emit(doc: dict) -> None:
    print(json.dumps(doc), flush=True)


def summary(values: list[float], digits: int = 3) -> dict:
    return {"median": round(statistics.median(values), digits), "min": round(min(values), digits),
            "max": round(max(values), digits)}


def bench_dataset_count(lines: int, repeat: int = 3) -> dict:
    """Our counter and ``wc -l`` on the same file, alternating; speed ratio = wc seconds / our seconds."""
    from sedna.lc.samples import count_samples

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "index.txt")
        with open(path, "wb") as f:
            f.writelines(b"train/images/%09d.jpg train/labels/%09d.txt\n" % (i, i) for i in range(lines))
        size = os.path.getsize(path)
        count_samples(path, "txt")  # warm the page cache for both contenders
        ours, floor = [], []
        for _ in range(max(repeat, 1) * 3):
            t0 = time.perf_counter()
            n = count_samples(path, "txt")
            ours.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            wc = int(subprocess.run(["wc", "-l", path], capture_output=True, text=True, check=True).stdout.split()[0])
            floor.append(time.perf_counter() - t0)
            assert n == wc == lines, (n, wc, lines)
        doc = {"bench": "lc", "case": "dataset_count", "lines": lines, "bytes": size,
               "seconds": summary(ours, 4), "floor_wc_l_seconds": summary(floor, 4),
               "speed_ratio_vs_wc": summary([f / o for o, f in zip(ours, floor)], 2), "goal": ">= 1.0"}
        emit(doc)
        return doc


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


BENCH_SECRET = "bench-gm-secret"
BENCH_NODE = "bench"


def _node_token() -> str:
    from sedna.common.tokens import node_token

    return node_token(BENCH_SECRET, BENCH_NODE)


class Receiver:
    """Minimal GM stand-in: acks every status frame and counts distinct messageIds.

    Its handshake is the real GM's (sedna/gm/messagelayer/server.py): the LC must present its node token
    (derived from ``BENCH_SECRET``), and the 101 answer advertises acks and hands the LC the worker key it
    checks the workers' ``LC_API_TOKEN`` with."""

    def __init__(self, port: int = 0) -> None:
        self.port = port or _free_port()
        self.ids: set[str] = set()
        self.done = threading.Event()
        self.expected = 0
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)

    async def _start(self) -> None:
        from websockets.asyncio.server import serve

        self.server = await serve(self._handler, "127.0.0.1", self.port, process_request=self._check_node,
                                  process_response=self._handshake_headers, compression=None)

    @staticmethod
    def _check_node(connection, request):
        from http import HTTPStatus

        from sedna.common import tokens

        node = request.headers.get("Node-Name", "")
        if not tokens.bearer_matches(request.headers.get("Authorization"), tokens.node_token(BENCH_SECRET, node)):
            return connection.respond(HTTPStatus.UNAUTHORIZED, "wrong node token\n")
        return None

    @staticmethod
    def _handshake_headers(connection, request, response):
        from sedna.common import tokens

        if response.status_code == 101:
            response.headers["Sedna-Capabilities"] = "ack"
            response.headers["Sedna-Worker-Key"] = tokens.worker_key(BENCH_SECRET)
        return response

    async def _handler(self, ws) -> None:
        from websockets.exceptions import ConnectionClosed

        from sedna.api.messages import Message

        try:
            await self._receive(ws, Message)
        except ConnectionClosed:
            return

    async def _receive(self, ws, Message) -> None:
        # Only the header is read: the stand-in shares the bench machine's cores with the LC under test (the
        # real GM runs elsewhere), so it does no more per frame than an ack needs.
        async for frame in ws:
            header = json.loads(frame).get("header") or {}
            mid = header.get("messageId")
            if header.get("operation") == "status" and mid:
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


def bench_upstream(reports: int, concurrency: int) -> dict:
    import httpx

    recv = Receiver()
    recv.expected = reports
    with tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        env = {**os.environ, "GM_ADDRESS": f"127.0.0.1:{recv.port}", "NODENAME": "bench", "BIND_PORT": str(port),
               "BIND_ADDRESS": "127.0.0.1", "ROOTFS_MOUNT_DIR": tmp, "LC_OUTBOX_MAX": str(reports + 10),
               "LC_API_TOKEN": "bench-operator", "SEDNA_CHANNEL_TOKEN": _node_token()}
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
            doc = {"bench": "lc", "case": "upstream", "reports": reports, "concurrency": concurrency,
                   "http_accept_per_s": round(reports / accepted), "delivered_acked_per_s": round(reports / delivered),
                   "seconds": round(delivered, 3), "note": "worker API -> SQLite outbox -> websocket -> ack"}
            emit(doc)
            return doc
        finally:
            proc.terminate()
            proc.wait(10)


def serve_gm(port: int) -> None:
    """The GM stand-in in a process of its own, as the real GM is (in the bench's process its acks would
    compete with the load generator's threads for the GIL, slowing the clients of ours but not the floor's)."""
    Receiver(port).expected = 10 ** 12
    threading.Event().wait()


def serve_floor(port: int) -> None:
    """The floor: a bare FastAPI app with the worker-report route, served by plain ``uvicorn.run``."""
    import uvicorn

    app = FastAPI()

    @app.post("/sedna/workers/{worker_name}/info")
    async def info(worker_name: str, request: Request) -> dict:
        await request.json()
        return {"message": "ok"}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def worker_token(kind: str, job: str, worker: str, namespace: str = "default") -> str:
    """The ``LC_API_TOKEN`` the GM puts into a worker pod (sedna.gm.auth.GMAuth.worker_env)."""
    from sedna.common import tokens

    return tokens.sign_worker(tokens.worker_key(BENCH_SECRET), tokens.WorkerClaims(kind, namespace, job, worker))


def _worker_api_round(base: str, body: dict, sequential: int, total: int, concurrency: int,
                      headers: dict | None = None) -> tuple[float, float]:
    """p50 latency (ms) of ``sequential`` POSTs on one connection, then reports/s of ``total`` POSTs from
    ``concurrency`` threads (each its own connection, as each worker pod is)."""
    import httpx

    with httpx.Client(base_url=base, timeout=30, headers=headers) as client:
        client.post("/sedna/workers/w/info", json=body).raise_for_status()   # connection set up, warm
        lat = []
        for i in range(sequential):
            t0 = time.perf_counter()
            client.post("/sedna/workers/w/info", json={**body, "ownerInfo": {"seq": i}}).raise_for_status()
            lat.append(time.perf_counter() - t0)

    def post_range(idx: range) -> None:
        with httpx.Client(base_url=base, timeout=30, headers=headers) as c:
            for i in idx:
                c.post("/sedna/workers/w/info", json={**body, "ownerInfo": {"seq": i}}).raise_for_status()

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(post_range, [range(i, total, concurrency) for i in range(concurrency)]))
    return statistics.median(lat) * 1000, total / (time.perf_counter() - t0)


def bench_worker_api(requests: int, concurrency: int, repeat: int = 3) -> dict:
    """The LC's worker-report POST (into its outbox, then to a GM stand-in) against a bare FastAPI floor:
    p50 latency of sequential requests and reports/s under ``concurrency`` threads, alternating."""
    with tempfile.TemporaryDirectory() as tmp:
        port, floor_port, gm_port = _free_port(), _free_port(), _free_port()
        # As deployed: the LC authenticates to the GM with its node token and checks the worker's GM-minted
        # token with the worker key from the handshake (no static operator token on the LC).
        env = {**os.environ, "GM_ADDRESS": f"127.0.0.1:{gm_port}", "NODENAME": BENCH_NODE,
               "BIND_PORT": str(port), "BIND_ADDRESS": "127.0.0.1", "ROOTFS_MOUNT_DIR": tmp,
               "LC_OUTBOX_MAX": str(10 ** 6), "SEDNA_CHANNEL_TOKEN": _node_token()}
        env.pop("LC_API_TOKEN", None)
        env.pop("LC_INSECURE", None)
        auth = {"Authorization": "Bearer " + worker_token("federatedlearningjob", "fl", "w")}
        procs = [subprocess.Popen([sys.executable, "-m", "sedna", "--log-level", "WARNING", "lc"], env=env,
                                  cwd=REPO),
                 subprocess.Popen([sys.executable, __file__, "--serve-gm", str(gm_port)], cwd=REPO),
                 subprocess.Popen([sys.executable, __file__, "--serve-floor", str(floor_port)], cwd=REPO)]
        try:
            base, floor_base = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{floor_port}"
            _wait_gm_connected(base)
            _wait_http(floor_base + "/docs")
            body = {"name": "w", "namespace": "default", "ownerName": "fl", "ownerKind": "federatedlearningjob",
                    "kind": "train", "status": "running", "results": [{"format": "pb", "url": "/m.pb"}]}
            ours, floor = [], []
            for _ in range(repeat):
                floor.append(_worker_api_round(floor_base, body, 200, requests, concurrency))
                ours.append(_worker_api_round(base, body, 200, requests, concurrency, auth))
            doc = {"bench": "lc", "case": "worker_api", "requests": requests, "concurrency": concurrency,
                   "repeat": repeat, "p50_ms": summary([o[0] for o in ours]),
                   "floor_bare_fastapi_p50_ms": summary([f[0] for f in floor]),
                   "latency_ratio_vs_floor": summary([o[0] / f[0] for o, f in zip(ours, floor)], 2),
                   "reports_per_s": summary([o[1] for o in ours], 0),
                   "floor_bare_fastapi_reports_per_s": summary([f[1] for f in floor], 0),
                   "throughput_ratio_vs_floor": summary([o[1] / f[1] for o, f in zip(ours, floor)], 2),
                   "goal": "latency <= 2x floor; throughput >= 0.8 of floor"}
            emit(doc)
            return doc
        finally:
            for p in procs:
                p.terminate()
                p.wait(10)


def _wait_http(url: str, timeout: float = 30.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up") from None
            time.sleep(0.1)


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


class RoundWatch:
    """Follows one FederatedLearningJob through a watch and records each ``Training`` condition's round once, in
    the order the conditions appear in the CR. A watch sees every status write, so rounds are counted even after
    the GM's condition cap (``sedna.gm.bounds.MAX_CONDITIONS``) has dropped them from the object."""

    def __init__(self, api, path: str, name: str) -> None:
        self.order: list[int] = []
        self.writes = 0
        self._seen: set[int] = set()
        self._cond = threading.Condition()
        rv = api.get(f"{path}/{name}").json()["metadata"]["resourceVersion"]
        self._client = api
        self._stream = api.stream("GET", path, params={"watch": "true", "resourceVersion": rv, "timeoutSeconds": "3600",
                                                       "fieldSelector": f"metadata.name={name}"}, timeout=None)
        self._response = self._stream.__enter__()
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        import re

        pattern = re.compile(r"Round (\d+) reaches")
        try:
            for line in self._response.iter_lines():
                if not line:
                    continue
                obj = json.loads(line).get("object") or {}
                new = []
                for cond in (obj.get("status") or {}).get("conditions") or []:
                    m = pattern.match(cond.get("message") or "") if cond.get("type") == "Training" else None
                    if m and int(m.group(1)) not in self._seen:
                        self._seen.add(int(m.group(1)))
                        new.append(int(m.group(1)))
                with self._cond:
                    self.writes += 1
                    self.order.extend(new)
                    self._cond.notify_all()
        except Exception:  # noqa: BLE001 - the stream ends when the bench closes it
            return

    def wait(self, count: int, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self.order) >= count, timeout)

    def close(self) -> None:
        self._response.close()


def _fl_job(name: str) -> dict:
    container = {"name": "w", "image": "x"}
    return {"apiVersion": "sedna.io/v1alpha1", "kind": "FederatedLearningJob", "metadata": {"name": name},
            "spec": {"aggregationWorker": {"model": {"name": "agg"}, "template": {"spec": {
                "nodeName": "cloud", "containers": [container]}}},
                "trainingWorkers": [{"dataset": {"name": "d1"}, "template": {"spec": {
                    "nodeName": "bench", "containers": [container]}}}]}}


def _run_pods(api, job: str, count: int, timeout: float = 60.0) -> None:
    """Play the kubelet: the job's worker pods (aggregator + trainer) report Running, as they do in a cluster
    while their workers send round reports."""
    deadline = time.monotonic() + timeout
    running: set[str] = set()
    while len(running) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{job}: only {len(running)} of {count} pods appeared")
        for pod in api.get("/api/v1/namespaces/default/pods").json()["items"]:
            name = pod["metadata"]["name"]
            owners = {r.get("name") for r in pod["metadata"].get("ownerReferences") or []}
            if job in owners and name not in running:
                pod["status"] = {**(pod.get("status") or {}), "phase": "Running",
                                 "conditions": [{"type": "Ready", "status": "True"}]}
                api.put(f"/api/v1/namespaces/default/pods/{name}/status", json=pod).raise_for_status()
                running.add(name)
        time.sleep(0.1)


def _round_reports(api, ns: str, base: str, job: str, reports: int, concurrency: int, paused=None) -> dict:
    """``reports`` round reports for a fresh job from ``concurrency`` HTTP clients, until each is a condition.

    Live (``paused`` None): seconds from the first POST until the last report is a condition. Backlog
    (``paused`` = the GM process): the GM is stopped (SIGSTOP) while the reports are posted, so they wait in
    the LC's outbox; seconds from resuming the GM until the last is a condition — the drain rate of
    LC → GM → CR alone, without the worker API in front of it."""
    import signal

    import httpx

    api.post(f"{ns}/federatedlearningjobs", json=_fl_job(job)).raise_for_status()
    _run_pods(api, job, 2)
    body = {"name": "w", "namespace": "default", "ownerName": job, "ownerKind": "federatedlearningjob",
            "kind": "train", "status": "running", "results": [{"format": "pb", "url": "/m.pb"}]}
    rounds = RoundWatch(api, f"{ns}/federatedlearningjobs", job)

    def post_range(idx: range) -> None:
        with httpx.Client(base_url=base, timeout=60, headers={"Authorization": "Bearer bench-operator"}) as client:
            for i in idx:
                client.post("/sedna/workers/w/info",
                            json={**body, "ownerInfo": {"currentRound": i + 1}}).raise_for_status()

    if paused is not None:
        paused.send_signal(signal.SIGSTOP)
    try:
        t0 = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(post_range, [range(i, reports, concurrency) for i in range(concurrency)]))
        accepted = time.perf_counter() - t0
    finally:
        if paused is not None:
            paused.send_signal(signal.SIGCONT)
    if paused is not None:
        t0 = time.perf_counter()
    if not rounds.wait(reports, 300):
        raise RuntimeError(f"only {len(rounds.order)} of {reports} reached the CR of {job}")
    applied = time.perf_counter() - t0
    rounds.close()
    # each client posts its rounds one after another, so they must appear in that order in the CR
    per_client = [[r for r in rounds.order if (r - 1) % concurrency == c] for c in range(concurrency)]
    in_order = len(rounds.order) == reports and all(seq == sorted(seq) for seq in per_client)
    if not in_order:
        raise RuntimeError(f"{job}: {len(rounds.order)} conditions for {reports} reports, not in post order")
    return {"accept_per_s": reports / accepted, "applied_per_s": reports / applied, "writes": rounds.writes}


def bench_upstream_gm(reports: int, concurrency: int, repeat: int = 3) -> dict:
    """Per repeat two fresh FederatedLearningJobs in one cluster: ``reports`` round reports live (worker API →
    LC → GM → CR) and ``reports`` more as a backlog drained by a resumed GM (LC → GM → CR alone)."""
    from sedna.common.tokens import node_token

    with tempfile.TemporaryDirectory() as tmp:
        procs, api, ws_port = _start_cluster(tmp)
        gm = procs[0]
        lc = None
        try:
            ns = "/apis/sedna.io/v1alpha1/namespaces/default"
            for node in ("cloud", "bench"):     # the nodes the workers are bound to exist, as in a cluster
                api.post("/api/v1/nodes", json={"apiVersion": "v1", "kind": "Node", "metadata": {
                    "name": node, "labels": {"kubernetes.io/hostname": node}}}).raise_for_status()
            api.post(f"{ns}/models", json={"apiVersion": "sedna.io/v1alpha1", "kind": "Model",
                                           "metadata": {"name": "agg"}, "spec": {"url": "/m", "format": "pb"}})
            api.post(f"{ns}/datasets", json={"apiVersion": "sedna.io/v1alpha1", "kind": "Dataset",
                                             "metadata": {"name": "d1"},
                                             "spec": {"url": "/d.txt", "format": "txt", "nodeName": "bench"}})
            Path(tmp, "d.txt").write_text("sample\n")
            port = _free_port()
            env = {**os.environ, "GM_ADDRESS": f"127.0.0.1:{ws_port}", "NODENAME": "bench", "BIND_PORT": str(port),
                   "BIND_ADDRESS": "127.0.0.1", "ROOTFS_MOUNT_DIR": tmp,
                   "LC_OUTBOX_MAX": str(2 * reports * repeat + 100),
                   "SEDNA_CHANNEL_TOKEN": node_token("bench", "bench"), "LC_API_TOKEN": "bench-operator"}
            lc = subprocess.Popen([sys.executable, "-m", "sedna", "--log-level", "WARNING", "lc"], env=env,
                                  cwd=REPO)
            base = f"http://127.0.0.1:{port}"
            _wait_gm_connected(base)
            live, backlog = [], []
            for r in range(repeat):
                live.append(_round_reports(api, ns, base, f"fl-live-{r}", reports, concurrency))
                backlog.append(_round_reports(api, ns, base, f"fl-backlog-{r}", reports, concurrency, paused=gm))
            doc = {"bench": "lc", "case": "upstream_gm", "reports": reports, "concurrency": concurrency,
                   "repeat": repeat,
                   "applied_to_cr_per_s": summary([x["applied_per_s"] for x in live], 0),
                   "http_accept_per_s": summary([x["accept_per_s"] for x in live], 0),
                   "backlog_drain_per_s": summary([x["applied_per_s"] for x in backlog], 0),
                   "status_writes_live": [x["writes"] for x in live],
                   "status_writes_backlog": [x["writes"] for x in backlog],
                   "conditions_in_post_order": True, "goal": ">= 500/s sustained, per-object order kept",
                   "note": "live: worker API -> LC outbox -> sedna gm -> FederatedLearningJob status conditions; "
                           "backlog: the same reports queued in the LC while the GM is stopped, then drained"}
            emit(doc)
            return doc
        finally:
            for p in ([lc] if lc else []) + procs:
                p.send_signal(__import__("signal").SIGCONT)
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--reports", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--gm-reports", type=int, default=300, help="reports for the upstream_gm case")
    ap.add_argument("--repeat", type=int, default=3, help="runs of ours and the floor, alternating")
    ap.add_argument("--case", default="all", choices=["all", "dataset_count", "worker_api", "upstream",
                                                      "upstream_gm"])
    ap.add_argument("--serve-floor", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--serve-gm", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve_gm is not None:
        serve_gm(args.serve_gm)
        return []
    if args.serve_floor is not None:
        serve_floor(args.serve_floor)
        return []
    out = []
    if args.case in ("all", "dataset_count"):
        out.append(bench_dataset_count(args.lines, args.repeat))
    if args.case in ("all", "worker_api"):
        out.append(bench_worker_api(args.reports, args.concurrency, args.repeat))
    if args.case in ("all", "upstream"):
        out.append(bench_upstream(args.reports, args.concurrency))
    if args.case in ("all", "upstream_gm"):
        out.append(bench_upstream_gm(args.gm_reports, args.concurrency, args.repeat))
    return out


if __name__ == "__main__":
    main()
