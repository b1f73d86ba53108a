"""Worker reports through the real chain: ``sedna lc`` → ``sedna gm`` → API emulator, all subprocesses (issue 16).

Federated-learning round reports each append one ``Training`` condition, so the CR shows whether every report
was applied exactly once and in the order each worker sent it, also across GM and LC restarts."""

import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from support_procs import stop_process

sys.path.insert(0, str(Path(__file__).parent))
from gm_cluster import REPO, Cluster, GMProcess, free_port, wait_for

from sedna.common.tokens import node_token

pytestmark = [pytest.mark.timeout(300)]
TOKEN = "chain-token"
NODE = "edge-chain"
OPERATOR = "chain-operator"
CLIENTS = 8
ROUND = re.compile(r"Round (\d+) reaches")


class LC:
    """The real LC as a subprocess, restartable on the same SQLite store (its durable outbox)."""

    def __init__(self, tmp: Path, gm: GMProcess) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.env = dict(os.environ, GM_ADDRESS=f"127.0.0.1:{gm.ws_port}", NODENAME=NODE, ROOTFS_MOUNT_DIR="/",
                        LC_DB_PATH=str(tmp / "lc.db"), BIND_ADDRESS="127.0.0.1", BIND_PORT=str(self.port),
                        SEDNA_CHANNEL_TOKEN=node_token(TOKEN, NODE), LC_API_TOKEN=OPERATOR,
                        LC_LOG_FORMAT="text", PYTHONUNBUFFERED="1")
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> "LC":
        self.starts += 1
        log = open(self.tmp / f"lc-{self.starts}.log", "w")  # noqa: SIM115 - handed to the child process
        self.proc = subprocess.Popen([sys.executable, "-m", "sedna", "lc"], stdout=log, stderr=subprocess.STDOUT,
                                     cwd=REPO, env=self.env)
        wait_for(self.gm_connected, 60, what="LC connected to the GM")
        return self

    def gm_connected(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).json()["gmConnected"]
        except (httpx.HTTPError, ValueError, KeyError):
            return False

    def post_rounds(self, rounds: range) -> None:
        """Round reports from ``CLIENTS`` workers at once; worker ``c`` sends rounds ``≡ c (mod CLIENTS)`` in
        increasing order, one after the other."""
        body = {"name": "w", "namespace": "default", "ownerName": "fl", "ownerKind": "federatedlearningjob",
                "kind": "train", "status": "running", "results": [{"format": "pb", "url": "/m.pb"}]}

        def worker(c: int) -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30,
                              headers={"Authorization": f"Bearer {OPERATOR}"}) as client:
                for n in rounds:
                    if n % CLIENTS == c:
                        client.post("/sedna/workers/w/info",
                                    json={**body, "ownerInfo": {"currentRound": n}}).raise_for_status()

        with ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(worker, range(CLIENTS)))

    def kill9(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def chain(tmp_path):
    cluster = Cluster(tmp_path).start()
    cluster.apply_crds()
    gm = GMProcess(tmp_path, cluster, token=TOKEN).start()
    lc = None
    try:
        cluster.create({"apiVersion": "sedna.io/v1alpha1", "kind": "Model",
                        "metadata": {"name": "agg", "namespace": "default"}, "spec": {"url": "/m", "format": "pb"}})
        cluster.create({"apiVersion": "sedna.io/v1alpha1", "kind": "Dataset",
                        "metadata": {"name": "d1", "namespace": "default"},
                        "spec": {"url": str(tmp_path / "d.txt"), "format": "txt", "nodeName": NODE}})
        container = {"name": "w", "image": "x"}
        cluster.create({"apiVersion": "sedna.io/v1alpha1", "kind": "FederatedLearningJob",
                        "metadata": {"name": "fl", "namespace": "default"},
                        "spec": {"aggregationWorker": {"model": {"name": "agg"}, "template": {"spec": {
                            "nodeName": "cloud", "containers": [container]}}},
                            "trainingWorkers": [{"dataset": {"name": "d1"}, "template": {"spec": {
                                "nodeName": NODE, "containers": [container]}}}]}})
        lc = LC(tmp_path, gm).start()
        yield cluster, gm, lc
    finally:
        if lc is not None and lc.proc is not None:
            stop_process(lc.proc)
        gm.stop()
        cluster.stop()
        for log in sorted(tmp_path.glob("lc-*.log")):
            print(log.name, log.read_text()[-2000:])
        print("GM log:", gm.log()[-3000:])


def applied_rounds(cluster: Cluster) -> list[int]:
    conds = (cluster.get("FederatedLearningJob", "fl").get("status") or {}).get("conditions") or []
    return [int(m.group(1)) for c in conds if c.get("type") == "Training"
            for m in [ROUND.match(c.get("message") or "")] if m]


def assert_each_once_in_worker_order(rounds: list[int], total: int) -> None:
    assert sorted(rounds) == list(range(1, total + 1)), "every report applied exactly once"
    for c in range(CLIENTS):
        mine = [n for n in rounds if n % CLIENTS == c]
        assert mine == sorted(mine), f"worker {c}'s reports out of order: {mine}"


def test_every_round_report_becomes_one_condition_in_the_order_sent(chain):
    cluster, _gm, lc = chain
    lc.post_rounds(range(1, 451))
    rounds = wait_for(lambda: len(r := applied_rounds(cluster)) >= 450 and r, 120, what="450 conditions")
    assert_each_once_in_worker_order(rounds, 450)


@pytest.mark.slow
def test_gm_and_lc_restarts_lose_no_report_and_apply_none_twice(chain):
    cluster, gm, lc = chain
    lc.post_rounds(range(1, 151))
    gm.stop()                                    # SIGTERM mid-stream: what it received is written and acked
    lc.post_rounds(range(151, 251))              # queued in the LC's outbox while the GM is away
    gm.start()
    wait_for(lc.gm_connected, 60, what="LC reconnected")
    lc.post_rounds(range(251, 331))
    lc.kill9()                                   # unacked reports stay in the outbox and are sent again
    lc.start()
    lc.post_rounds(range(331, 401))
    rounds = wait_for(lambda: len(r := applied_rounds(cluster)) >= 400 and r, 120, what="400 conditions")
    assert_each_once_in_worker_order(rounds, 400)
    time.sleep(1.0)
    assert applied_rounds(cluster) == rounds, "no re-sent report applied late"
