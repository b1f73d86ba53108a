"""A real API emulator process and a real ``sedna gm`` process for integration tests and the benchmark."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import support_procs
import support_reference
import yaml
from support_procs import free_port

from sedna.api.yamlio import load_all

REPO = Path(__file__).resolve().parents[2]
REFERENCE = support_reference.REFERENCE


def crd_dir() -> Path:
    """The committed generated CRDs (deploy/crds, checked against regeneration by tests/api)."""
    return REPO / "deploy" / "crds"


class Cluster:
    """API emulator subprocess + helpers to talk to it with plain HTTP."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.kubeconfig = workdir / "kubeconfig"
        self.http: httpx.Client | None = None

    def start(self) -> Cluster:
        log = open(self.workdir / "apiserver.log", "w")  # noqa: SIM115 - handed to the child process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sedna.local.apiserver", "--host", "127.0.0.1", "--port", "0",
             "--data-dir", str(self.workdir / "api-data"), "--token", "sedna-local"],
            stdout=subprocess.PIPE, stderr=log, text=True, cwd=REPO)
        deadline = time.time() + 30
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            m = re.search(r"listening on (http://\S+)", line or "")
            if m:
                self.url = m.group(1)
                break
            if self.proc.poll() is not None:
                raise RuntimeError("API emulator exited: " + (self.workdir / "apiserver.log").read_text())
        if not self.url:
            raise RuntimeError("API emulator did not start")
        from sedna.local.apiserver import write_kubeconfig

        write_kubeconfig(self.kubeconfig, self.url)
        self.http = httpx.Client(base_url=self.url, timeout=30, headers={"Authorization": "Bearer sedna-local"})
        return self

    def stop(self) -> None:
        if self.http is not None:
            self.http.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    # ---- API helpers ------------------------------------------------------------------------------

    def apply_crds(self) -> None:
        for path in sorted(crd_dir().glob("*.yaml")):     # the CRDs are ~12 MB of YAML (C parser)
            for doc in load_all(path.read_text()):
                r = self.http.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=doc)
                assert r.status_code in (200, 201, 409), r.text

    @staticmethod
    def path(doc_or_kind, namespace="default", name=None, plural=None) -> str:
        if isinstance(doc_or_kind, dict):
            kind = doc_or_kind["kind"]
            namespace = doc_or_kind["metadata"].get("namespace", namespace)
        else:
            kind = doc_or_kind
        core = {"Pod": "pods", "Service": "services", "Secret": "secrets", "Event": "events"}
        if kind in core:
            base = f"/api/v1/namespaces/{namespace}/{core[kind]}"
        elif kind == "Deployment":
            base = f"/apis/apps/v1/namespaces/{namespace}/deployments"
        else:
            base = f"/apis/sedna.io/v1alpha1/namespaces/{namespace}/{plural or kind.lower() + 's'}"
        return base + (f"/{name}" if name else "")

    def create(self, doc: dict) -> dict:
        r = self.http.post(self.path(doc), json=doc)
        assert r.status_code in (200, 201), r.text
        return r.json()

    def get(self, kind: str, name: str, namespace: str = "default") -> dict | None:
        r = self.http.get(self.path(kind, namespace, name))
        return r.json() if r.status_code == 200 else None

    def list(self, kind: str, namespace: str = "default", selector: str | None = None) -> list[dict]:
        params = {"labelSelector": selector} if selector else {}
        r = self.http.get(self.path(kind, namespace), params=params)
        r.raise_for_status()
        return r.json()["items"]

    def delete(self, kind: str, name: str, namespace: str = "default") -> None:
        self.http.delete(self.path(kind, namespace, name))

    def set_pod_phase(self, pod: dict, phase: str, node: str | None = None) -> None:
        """Play the kubelet: write the pod's phase (and node) through the status subresource."""
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        if node and not pod["spec"].get("nodeName"):
            pod["spec"]["nodeName"] = node
        cur = self.get("Pod", name, ns)
        cur["status"] = dict(cur.get("status") or {}, phase=phase)
        r = self.http.put(self.path("Pod", ns, name) + "/status", json=cur)
        assert r.status_code == 200, r.text


def wait_for(fn, timeout: float = 45.0, interval: float = 0.1, what: str = "condition"):
    return support_procs.wait_for(fn, timeout, what, interval)


class GMProcess:
    """``python -m sedna gm --config FILE`` as a subprocess."""

    def __init__(self, workdir: Path, cluster: Cluster, token: str = "", extra: dict | None = None) -> None:
        self.workdir = workdir
        self.ws_port = free_port()
        self.metrics_port = free_port()
        cfg = {"kubeConfig": str(cluster.kubeconfig),
               "websocket": {"address": "127.0.0.1", "port": self.ws_port},
               "metrics": {"address": "127.0.0.1", "port": self.metrics_port},
               "localController": {"server": "http://localhost:9100"},
               "minResyncPeriodSeconds": 300, "logFormat": "json"}
        if token:
            cfg["websocket"]["token"] = token
        cfg.update(extra or {})
        self.config = workdir / "gm.yaml"
        self.config.write_text(yaml.safe_dump(cfg))
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> GMProcess:
        self.starts += 1
        log = open(self.workdir / f"gm-{self.starts}.log", "w")  # noqa: SIM115 - handed to the child process
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.pop("SEDNA_CHANNEL_TOKEN", None)
        self.proc = subprocess.Popen([sys.executable, "-m", "sedna", "gm", "--config", str(self.config)],
                                     stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=env)
        wait_for(self.healthy, 30, 0.1, "GM health endpoint")
        return self

    def healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError("GM exited: " + self.log())
        try:
            return httpx.get(f"http://127.0.0.1:{self.metrics_port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def metrics(self) -> str:
        return httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text

    def log(self) -> str:
        return (self.workdir / f"gm-{self.starts}.log").read_text()

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            return None

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}/"


# Module-scoped fixtures ``cluster`` and ``gm`` for the tests that run the GM as a process (a test module imports
# ``cluster_fixture`` and ``gm_fixture``):
# one API emulator with the CRDs applied, and one GM on it whose websocket token is the module's ``TOKEN``.
@pytest.fixture(scope="module", name="cluster")
def cluster_fixture(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("cluster")).start()
    c.apply_crds()
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module", name="gm")
def gm_fixture(tmp_path_factory, cluster, request):
    proc = GMProcess(tmp_path_factory.mktemp("gm"), cluster, token=getattr(request.module, "TOKEN", "")).start()
    try:
        yield proc
    finally:
        rc = proc.stop()
        print(proc.log()[-3000:])
        assert rc in (0, None, -9)


class LocalCluster:
    """``sedna local up`` (API server, node agents running pods as processes, the GM and one LC per node) on a
    private data dir and a random cluster CIDR, with plain-HTTP access to its API. For tests that need pods to
    really run, crash and restart."""

    def __init__(self, data_dir: Path, nodes: str = "cloud-node,edge-node", restart_backoff: float = 1.0,
                 cidr: str | None = None, extra: tuple[str, ...] = (), env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.env = env or {}
        self.nodes = nodes
        self.restart_backoff = restart_backoff
        self.cidr = cidr
        self.extra = extra
        self.state: dict = {}
        self.http: httpx.Client | None = None
        self.up_result: subprocess.CompletedProcess | None = None

    def sedna(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "sedna", "--log-level", "WARNING", "local", "--data-dir",
                               str(self.data_dir), *args], capture_output=True, text=True, timeout=timeout,
                              check=False, cwd=REPO, env={**os.environ, **self.env})

    def up(self, check: bool = True) -> subprocess.CompletedProcess:
        args = ["up", "--nodes", self.nodes, "--restart-backoff", str(self.restart_backoff), *self.extra]
        if self.cidr:
            args += ["--cluster-cidr", self.cidr]
        self.up_result = res = self.sedna(*args)
        if check:
            assert res.returncode == 0, res.stdout + res.stderr
        if res.returncode == 0:
            import json

            self.state = json.loads((self.data_dir / "state.json").read_text())
            from sedna.local.apiserver import kubeconfig_token

            token = kubeconfig_token(self.state["kubeconfig"])
            self.http = httpx.Client(base_url=self.state["url"], timeout=30,
                                     headers={"Authorization": f"Bearer {token}"})
        return res

    def down(self) -> None:
        if self.http is not None:
            self.http.close()
            self.http = None
        self.sedna("down", timeout=120)

    def create(self, doc: dict) -> dict:
        r = self.http.post(Cluster.path(doc), json=doc)
        assert r.status_code in (200, 201), r.text
        return r.json()

    def get(self, kind: str, name: str, namespace: str = "default") -> dict | None:
        r = self.http.get(Cluster.path(kind, namespace, name))
        return r.json() if r.status_code == 200 else None

    def replace(self, doc: dict) -> dict:
        meta = doc["metadata"]
        r = self.http.put(Cluster.path(doc, name=meta["name"]), json=doc)
        assert r.status_code == 200, r.text
        return r.json()

    def list(self, kind: str, namespace: str = "default", selector: str | None = None) -> list[dict]:
        params = {"labelSelector": selector} if selector else {}
        r = self.http.get(Cluster.path(kind, namespace), params=params)
        r.raise_for_status()
        return r.json()["items"]

    def logs(self) -> str:
        out = []
        for name in ("gm.out", "supervisor.log"):
            path = self.data_dir / "logs" / name
            if path.exists():
                out.append(f"--- {name}\n" + path.read_text(errors="replace")[-3000:])
        return "\n".join(out)
