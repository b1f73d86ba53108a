"""The supervisor of a single-machine cluster: ``python -m sedna.local.supervisor --data-dir DIR ...``.

It starts, in order, the API emulator, the cluster services (ClusterIPs, service proxy), one node agent per
node, the CRDs of ``deploy/crds``, and (unless ``--no-controllers``, and only when their modules exist) the GM
and one LC per node. It records everything in ``DIR/state.json``, restarts a child that dies (with back-off),
and on SIGTERM stops them in reverse order. ``sedna local up`` runs it in the background.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from sedna.common.tokens import node_token, warn_insecure
from sedna.local import health
from sedna.local import state as st
from sedna.local.runtime import netplan, procs

log = logging.getLogger("sedna.local.supervisor")



@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None
    restarts: int = 0
    next_start: float = 0.0
    started_at: float = 0.0

    def record(self) -> dict[str, Any]:
        rec = st.proc_record(self.proc.pid) if self.proc else {}
        return {**rec, "argv": self.argv, "restarts": self.restarts}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def parse_nodes(text: str) -> list[tuple[str, dict[str, str]]]:
    """``cloud-node,edge-node:role=edge;zone=a`` → [(name, labels)]."""
    out = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        name, _, labels = item.partition(":")
        lab = {}
        for pair in filter(None, labels.split(";")):
            k, sep, v = pair.partition("=")
            if not sep:
                raise ValueError(f"node label {pair!r} must be key=value")
            lab[k] = v
        out.append((name, lab))
    if not out:
        raise ValueError("no nodes given")
    if len(out) > netplan.MAX_NODES:
        raise ValueError(f"at most {netplan.MAX_NODES} nodes")
    return out


def _secret_file(path: Path) -> Path:
    """``path`` holding a random secret, created 0600 on first use."""
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32))
    return path


def module_available(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


class Supervisor:
    def __init__(self, args):
        self.args = args
        self.data_dir = Path(args.data_dir).resolve()
        self.logs = self.data_dir / "logs"
        self.net = netplan.ClusterNet.from_cidr(args.cluster_cidr)
        self.nodes = parse_nodes(args.nodes)
        self.children: list[Child] = []
        self.url = ""
        self.kubeconfig = self.data_dir / "kubeconfig"
        self.stopping = False
        self.controllers: dict[str, Any] = {}
        self.dashboard: dict[str, Any] = {}
        self.api_port = args.api_port
        self.tls_port = 0
        self.ready = False
        self.phase = "starting the API server"

    # ---- children ------------------------------------------------------------------------------------

    def _spawn(self, child: Child) -> None:
        out = open(self.logs / f"{child.name}.out", "ab")  # noqa: SIM115 - handed to the child
        env = {**os.environ, **child.env}
        child.proc = subprocess.Popen(child.argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      env=env, start_new_session=True, cwd=self.data_dir)
        out.close()
        child.started_at = time.monotonic()
        log.info("started %s (pid %d)", child.name, child.proc.pid)

    def _start_apiserver(self) -> None:
        port = self.api_port or 0
        out = self.logs / "apiserver.out"
        out.write_text("")
        child = Child("apiserver", [sys.executable, "-m", "sedna.local.apiserver", "--host", "127.0.0.1",
                                    "--port", str(port), "--data-dir", str(self.data_dir),
                                    "--kubeconfig", str(self.kubeconfig), *self._api_auth_args(),
                                    # Service ClusterIPs from the loopback range the cluster services proxy
                                    "--service-cidr", f"127.{self.net.octet}.1.1-127.{self.net.octet}.15.254"])
        self._spawn(child)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = out.read_text(errors="replace")
            for line in text.splitlines():
                if line.startswith("listening on "):
                    self.url = line.split("listening on ", 1)[1].strip()
                    self.api_port = int(self.url.rsplit(":", 1)[1])
                    # a restarted API server must come back on the same port
                    child.argv[child.argv.index("--port") + 1] = str(self.api_port)
                    self.children.append(child)
                    return
            if child.proc.poll() is not None:
                raise RuntimeError(f"the API server exited with {child.proc.returncode}: {text[-2000:]}")
            time.sleep(0.05)
        raise RuntimeError("the API server did not start within 60 s")

    def _api_auth_args(self) -> list[str]:
        """The API server's token lives in a 0600 file (stable across its restarts, never on argv)."""
        if self.args.insecure:
            return ["--insecure"]
        # a restarted API server comes back on the same TLS port, the one its kubeconfig names
        self.tls_port = self.tls_port or free_port()
        return ["--token-file", str(_secret_file(self.data_dir / "apiserver-token")),
                "--tls-port", str(self.tls_port)]

    def _runtime_argv(self, *extra: str) -> list[str]:
        return [sys.executable, "-m", "sedna.local.runtime", "--server", self.url,
                "--kubeconfig", str(self.kubeconfig), "--data-dir",
                str(self.data_dir), "--cluster-cidr", self.net.cidr, *extra]

    def _node_argv(self, index: int, name: str, labels: dict[str, str], lc_server: str) -> list[str]:
        extra = ["--node", name, "--node-index", str(index)]
        if labels:
            extra += ["--labels", ",".join(f"{k}={v}" for k, v in labels.items())]
        if self.args.image_map:
            extra += ["--image-map", str(Path(self.args.image_map).resolve())]
        if lc_server:
            extra += ["--lc-server", lc_server]
        if self.args.restart_backoff != 10.0:
            extra += ["--backoff-base", str(self.args.restart_backoff)]
        if self.args.bare:                  # the chart's GM reaches the API server as its service account would
            extra += ["--pod-kubeconfig", str(self.kubeconfig)]
        return self._runtime_argv(*extra)

    # ---- API --------------------------------------------------------------------------------------------

    def _http(self) -> httpx.Client:
        headers = {} if self.args.insecure else {
            "Authorization": f"Bearer {(self.data_dir / 'apiserver-token').read_text().strip()}"}
        return httpx.Client(base_url=self.url, timeout=30, headers=headers)

    def apply_crds(self) -> list[str]:
        applied = []
        base = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
        with self._http() as http:
            for doc in self._crd_documents():
                name = doc["metadata"]["name"]
                resp = http.post(base, json=doc)
                if resp.status_code == 409:
                    current = http.get(f"{base}/{name}").json()
                    doc["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
                    resp = http.put(f"{base}/{name}", json=doc)
                if resp.status_code >= 400:
                    log.warning("CRD %s not applied: HTTP %d %s", name, resp.status_code, resp.text[:300])
                    continue
                applied.append(name)
        log.info("applied %d CRDs", len(applied))
        return applied

    def _crd_documents(self) -> list[dict]:
        """The sedna.io CRDs: read from ``--crds-dir`` when given, else generated from ``sedna.api`` (the source
        ``deploy/crds`` is generated from, so both give the same objects)."""
        if not self.args.crds_dir:
            from sedna.api.crdgen import crd
            from sedna.api.registry import KINDS

            return [crd(info) for info in KINDS]
        from sedna.api.yamlio import load_all

        docs = []
        for path in sorted(Path(self.args.crds_dir).glob("*.yaml")):
            docs.extend(d for d in load_all(path.read_text())
                        if isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition")
        return docs

    def wait_nodes_ready(self, timeout: float = 60.0) -> None:
        want = {name for name, _ in self.nodes}
        deadline = time.monotonic() + timeout
        with self._http() as http:
            while time.monotonic() < deadline:
                try:
                    items = http.get("/api/v1/nodes").json().get("items") or []
                except (httpx.HTTPError, ValueError):
                    items = []
                ready = {n["metadata"]["name"] for n in items if any(
                    c.get("type") == "Ready" and c.get("status") == "True"
                    for c in (n.get("status") or {}).get("conditions") or [])}
                if want <= ready:
                    return
                self.check_children()
                time.sleep(0.1)
        raise RuntimeError(f"nodes not ready within {timeout:.0f} s: {sorted(want)}")

    # ---- controllers ---------------------------------------------------------------------------------

    def controller_children(self) -> list[Child]:
        if self.args.no_controllers or self.args.bare:
            reason = "--bare (the Helm chart runs them as pods)" if self.args.bare else "--no-controllers"
            self.controllers = {"enabled": False, "reason": reason}
            return []
        missing = [m for m in ("sedna.gm.main", "sedna.lc.main") if not module_available(m)]
        if missing:
            log.info("controllers not started: %s not available", ", ".join(missing))
            self.controllers = {"enabled": False, "reason": f"missing {', '.join(missing)}"}
            return []
        secret_file = _secret_file(self.data_dir / "gm-secret")
        secret = secret_file.read_text().strip()
        auth = {"insecure": True} if self.args.insecure else {"secretFile": str(secret_file)}
        gm_port = self.args.gm_port or free_port()
        metrics_port = free_port()
        gm_config = self.data_dir / "gm.yaml"
        gm_config.write_text(yaml.safe_dump({
            "kubeConfig": str(self.kubeconfig),
            "websocket": {"address": "127.0.0.1", "port": gm_port},
            "auth": auth,
            "localController": {"server": f"http://localhost:{self.args.lc_port}"},
            "knowledgeBaseServer": {"server": self.args.kb_server},
            "metrics": {"address": "127.0.0.1", "port": metrics_port},
        }, sort_keys=False))
        gm_config.chmod(0o600)
        children = [Child("gm", [sys.executable, "-m", "sedna", "gm", "--config", str(gm_config)],
                          env={"KUBECONFIG": str(self.kubeconfig)})]
        for index, (name, _) in enumerate(self.nodes):
            children.append(Child(f"lc-{name}", [sys.executable, "-m", "sedna", "lc"], env={
                "GM_ADDRESS": f"127.0.0.1:{gm_port}", "NODENAME": name, "BIND_PORT": str(self.args.lc_port),
                "BIND_ADDRESS": self.net.node_address(index),
                "ROOTFS_MOUNT_DIR": str(self.data_dir / "nodes" / name),
                **({"LC_INSECURE": "true"} if self.args.insecure else
                   {"SEDNA_CHANNEL_TOKEN": node_token(secret, name)})}))
        self.controllers = {"enabled": True, "gm": f"ws://127.0.0.1:{gm_port}", "gm_config": str(gm_config),
                            "gm_health": f"http://127.0.0.1:{metrics_port}/healthz", "lc_port": self.args.lc_port,
                            "gm_metrics": f"http://127.0.0.1:{metrics_port}/metrics"}
        return children

    def dashboard_child(self) -> Child | None:
        """``sedna dashboard`` on 127.0.0.1 (no token: loopback only), linking the GM's and LCs' metrics."""
        if self.args.no_dashboard:
            self.dashboard = {}
            return None
        port = self.args.dashboard_port or free_port()
        argv = [sys.executable, "-m", "sedna", "dashboard", "--kubeconfig", str(self.kubeconfig),
                "--host", "127.0.0.1", "--port", str(port)]
        if self.controllers.get("gm_metrics"):
            argv += ["--metrics-link", f"gm={self.controllers['gm_metrics']}"]
            for index, (name, _) in enumerate(self.nodes):
                argv += ["--metrics-link", f"lc-{name}=http://{self.net.node_address(index)}:{self.args.lc_port}/metrics"]
        self.dashboard = {"url": f"http://127.0.0.1:{port}/"}
        return Child("dashboard", argv)

    # ---- lifecycle -----------------------------------------------------------------------------------

    def wait_healthy(self, timeout: float = 90.0) -> None:
        """Until every component does its job (sedna.local.health): API server, nodes Ready, GM, each LC bound on
        its node address and connected to the GM. Raises with the first unhealthy component and its log tail."""
        deadline = time.monotonic() + timeout
        problem = None
        while time.monotonic() < deadline:
            problem = health.first_problem(health.check(self.state()))
            if problem is None:
                return
            self.check_children()
            time.sleep(0.3)
        assert problem is not None
        name = problem.name.replace("/", "-")
        log_file = self.logs / f"{name}.out"
        tail = ""
        if log_file.exists():
            lines = [ln for ln in log_file.read_text(errors="replace").splitlines() if ln.strip()]
            tail = "; last log lines: " + " | ".join(lines[-3:]) if lines else ""
        raise RuntimeError(f"{problem.name} is not healthy after {timeout:.0f} s: {problem.detail}{tail}")

    def state(self) -> dict[str, Any]:
        return {
            "supervisor": st.proc_record(os.getpid()),
            "ready": self.ready,
            "phase": self.phase,
            "url": self.url,
            "kubeconfig": str(self.kubeconfig),
            "data_dir": str(self.data_dir),
            "cluster_cidr": self.net.cidr,
            "nodes": [{"name": name, "labels": labels, "address": self.net.node_address(i),
                       "podCIDR": self.net.pod_cidr(i)} for i, (name, labels) in enumerate(self.nodes)],
            "children": {c.name: c.record() for c in self.children if c.proc},
            "controllers": self.controllers,
            "dashboard": self.dashboard,
        }

    def write_state(self, ready: bool) -> None:
        doc = self.state()
        doc["ready"] = ready
        st.write_state(self.data_dir, doc)

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        st.kill_pod_leftovers(self.data_dir)
        self._start_apiserver()
        log.info("API server at %s", self.url)
        self.phase = "starting the node agents"
        self.write_state(False)
        services = Child("cluster-services", self._runtime_argv("--cluster-services"))
        self._spawn(services)
        self.children.append(services)
        controllers = self.controller_children()
        lc_on = bool(controllers) or self.args.bare       # --bare: the chart's LCs listen on --lc-port
        for index, (name, labels) in enumerate(self.nodes):
            lc_server = f"http://{self.net.node_address(index)}:{self.args.lc_port}" if lc_on else ""
            child = Child(f"node-{name}", self._node_argv(index, name, labels, lc_server))
            self._spawn(child)
            self.children.append(child)
        self.phase = "waiting for the nodes to be Ready"
        self.write_state(False)
        self.wait_nodes_ready()
        self.phase = "applying the CRDs"
        self.write_state(False)
        self.controllers["crds"] = 0 if self.args.bare else len(self.apply_crds())
        self.phase = "starting the GM and the LCs" if controllers else "ready"
        self.write_state(False)
        for child in [*controllers, self.dashboard_child()]:
            if child is not None:
                self._spawn(child)
                self.children.append(child)
        if controllers:
            self.phase = "waiting for the GM and the LCs to be healthy"
            self.write_state(False)
        self.wait_healthy(self.args.health_timeout)
        self.ready = True
        self.phase = "ready"
        self.write_state(True)
        log.info("cluster ready: %d nodes", len(self.nodes))

    def check_children(self) -> None:
        now = time.monotonic()
        changed = False
        for child in self.children:
            if child.proc is None or child.proc.poll() is None:
                if child.proc is None and now >= child.next_start:
                    self._spawn(child)
                    changed = True
                continue
            rc = child.proc.returncode
            ran = now - child.started_at
            delay = 1.0 if ran > 60 else min(30.0, 2.0 ** min(child.restarts, 5))
            log.warning("%s exited with %s after %.0fs; restarting in %.0fs", child.name, rc, ran, delay)
            child.proc = None
            child.restarts += 1
            child.next_start = now + delay
            changed = True
        if changed:
            self.write_state(self.ready)

    def run_forever(self) -> None:
        while not self.stopping:
            self.check_children()
            time.sleep(0.5)

    def stop(self) -> None:
        self.stopping = True
        order = ([c for c in self.children if c.name in ("gm", "dashboard") or c.name.startswith("lc-")]
                 + [c for c in self.children if c.name.startswith("node-")]
                 + [c for c in self.children if c.name == "cluster-services"]
                 + [c for c in self.children if c.name == "apiserver"])
        for group in (order[:-2], order[-2:-1], order[-1:]):
            live = [c for c in group if c.proc and c.proc.poll() is None]
            for child in live:
                child.proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 20
            for child in live:
                try:
                    child.proc.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    log.warning("%s did not stop: killing it", child.name)
                    procs.kill_group_now(child.proc.pid)
                    child.proc.wait(5)
                else:
                    procs.signal_group(child.proc.pid, signal.SIGKILL)   # leftovers of its group
        st.kill_pod_leftovers(self.data_dir)
        st.state_path(self.data_dir).unlink(missing_ok=True)
        log.info("cluster stopped")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sedna.local.supervisor", description=__doc__)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--nodes", default="cloud-node,edge-node")
    p.add_argument("--cluster-cidr", default="127.20.0.0/16")
    p.add_argument("--api-port", type=int, default=0)
    p.add_argument("--image-map", default="")
    p.add_argument("--crds-dir", default="")
    p.add_argument("--no-controllers", action="store_true")
    p.add_argument("--bare", action="store_true", help="no GM, LCs or CRDs: a chart brings them")
    p.add_argument("--gm-port", type=int, default=0)
    p.add_argument("--lc-port", type=int, default=9100)
    p.add_argument("--kb-server", default="http://localhost:9020")
    p.add_argument("--no-dashboard", action="store_true")
    p.add_argument("--dashboard-port", type=int, default=0)
    p.add_argument("--restart-backoff", type=float, default=10.0)
    p.add_argument("--health-timeout", type=float, default=90.0,
                   help="seconds for every component to become healthy before the start fails")
    p.add_argument("--insecure", action="store_true", help="no authentication anywhere (logged loudly)")
    p.add_argument("--log-level", default="INFO")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    sup = Supervisor(args)
    if args.insecure:
        warn_insecure("sedna local", "API server, GM channel and worker API run without authentication")

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        sup.start()
        sup.run_forever()
    except KeyboardInterrupt:
        log.info("stopping")
    except RuntimeError as exc:
        log.error("cluster failed to start: %s", exc)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        sup.stop()
        return 1
    except Exception:
        log.exception("supervisor failed")
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        sup.stop()
        return 1
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sup.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
