"""The pieces the abuse tests attack, all real: the Kubernetes API emulator, a GlobalManager serving its LC
websocket (in this process, fed by the test instead of kopf watches) and LCs as subprocesses.

A uniquely named module (not conftest) so test files can import it unambiguously."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
from support_procs import free_port, stop_process, wait_for

from sedna.api.crdgen import crd
from sedna.api.registry import KINDS
from sedna.common.tokens import node_token
from sedna.gm.config import parse_config
from sedna.gm.kube import Connection, KubeClient
from sedna.gm.operator import GlobalManager
from sedna.local.apiserver import BackgroundServer

REPO = Path(__file__).resolve().parents[2]
SECRET = "gm-secret-for-tests"
API_TOKEN = "api-token"
CONTAINER = [{"name": "w", "image": "busybox"}]


def pinned(node: str) -> dict:
    return {"spec": {"nodeName": node, "containers": CONTAINER}}


def joint_inference(name: str, edge: str, cloud: str) -> dict:
    return {"apiVersion": "sedna.io/v1alpha1", "kind": "JointInferenceService",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"edgeWorker": {"model": {"name": "little"}, "hardExampleMining": {"name": "IBT"},
                                    "template": pinned(edge)},
                     "cloudWorker": {"model": {"name": "big"}, "template": pinned(cloud)}}}


def federated(name: str, trainer_node: str) -> dict:
    return {"apiVersion": "sedna.io/v1alpha1", "kind": "FederatedLearningJob",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"aggregationWorker": {"model": {"name": "m"}, "template": pinned("cloud-node")},
                     "trainingWorkers": [{"dataset": {"name": "d1"}, "template": pinned(trainer_node)}]}}


def dataset(name: str, node: str, secret: str) -> dict:
    return {"apiVersion": "sedna.io/v1alpha1", "kind": "Dataset", "metadata": {"name": name, "namespace": "default"},
            "spec": {"url": "s3://bucket/train.txt", "format": "txt", "nodeName": node, "credentialName": secret}}


class Stack:
    """API emulator (token ``API_TOKEN``) with the CRDs, and an in-process GM with secret ``SECRET``."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.api = BackgroundServer(data_dir=tmp / "api", token=API_TOKEN).start()
        self.http = httpx.Client(base_url=self.api.url, headers={"Authorization": f"Bearer {API_TOKEN}"},
                                 timeout=30)
        for info in KINDS:
            assert self.http.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                                  json=crd(info)).status_code == 201
        self.gm: GlobalManager | None = None
        self.lcs: list[subprocess.Popen] = []

    async def start_gm(self) -> GlobalManager:
        cfg = parse_config({"websocket": {"address": "127.0.0.1", "port": 0}, "auth": {"secret": SECRET},
                            "minResyncPeriodSeconds": 300, "workers": 1}, env={})
        self.gm = GlobalManager(cfg, KubeClient(Connection(self.api.url, token=API_TOKEN)))
        await self.gm.start(serve_health=False)
        return self.gm

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.gm.server.port}/"

    def create(self, obj: dict) -> dict:
        kind = obj["kind"]
        plural = kind.lower() + "s"
        base = "/api/v1" if kind == "Secret" else "/apis/sedna.io/v1alpha1"
        resp = self.http.post(f"{base}/namespaces/default/{plural}", json=obj)
        assert resp.status_code == 201, resp.text
        return resp.json()

    def get(self, plural: str, name: str) -> dict:
        return self.http.get(f"/apis/sedna.io/v1alpha1/namespaces/default/{plural}/{name}").json()

    def start_lc(self, node: str, **extra: str) -> tuple[subprocess.Popen, str]:
        """An LC subprocess of ``node`` with its own node token; returns (process, worker API URL)."""
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SEDNA_", "LC_"))}
        env.update(GM_ADDRESS=f"127.0.0.1:{self.gm.server.port}", NODENAME=node, BIND_ADDRESS="127.0.0.1",
                   BIND_PORT=str(port), ROOTFS_MOUNT_DIR=str(self.tmp / node), LC_LOG_FORMAT="text",
                   SEDNA_CHANNEL_TOKEN=node_token(SECRET, node), LC_RECONNECT_MAX_SECONDS="0.5",
                   PYTHONUNBUFFERED="1", **extra)
        (self.tmp / node).mkdir(exist_ok=True)
        log = open(self.tmp / f"lc-{node}.log", "wb")  # noqa: SIM115 - handed to the child process
        proc = subprocess.Popen([sys.executable, "-m", "sedna", "lc"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                cwd=REPO)
        self.lcs.append(proc)
        url = f"http://127.0.0.1:{port}"

        def connected() -> bool:
            if proc.poll() is not None:
                raise AssertionError((self.tmp / f"lc-{node}.log").read_text())
            try:
                return httpx.get(url + "/healthz", timeout=1).json()["gmConnected"]
            except (httpx.HTTPError, ValueError):
                return False
        wait_for(connected, 30, f"LC of {node} connected to the GM")
        return proc, url

    def lc_log(self, node: str) -> str:
        return (self.tmp / f"lc-{node}.log").read_text(errors="replace")

    async def stop(self) -> None:
        for proc in self.lcs:
            stop_process(proc)
        if self.gm is not None:
            await self.gm.stop()
        self.http.close()
        self.api.stop()
