"""Several clusters on one machine (sedna.local.clusters) and component health (sedna.local.health)."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi import FastAPI
from support_http import AppServer

from sedna.local import clusters, health
from sedna.local import state as st


@pytest.mark.parametrize("requested,claimed,busy,expect", [
    (None, {}, {}, 20),                                          # nothing else: the first range
    (None, {20: "/x"}, {}, 21),                                  # another cluster on 20: the next one
    (None, {20: "/x"}, {21: "127.21.0.1:9100"}, 22),             # and something else listens on 21
    ("127.42.0.0/16", {20: "/x"}, {}, 42),                       # an explicit free range is taken as is
    ("127.20.0.0/16", {20: "/x"}, {}, "used by the cluster in /x"),
    ("127.21.0.0/16", {}, {21: "127.21.0.1:9100"}, "something already listens on 127.21.0.1:9100"),
    ("10.0.0.0/16", {}, {}, "127"),
])
def test_choose_octet(requested, claimed, busy, expect):
    def run():
        return clusters.choose_octet(requested, Path("/me"), 2, 9100, claimed=lambda o: claimed.get(o),
                                     busy=lambda o: busy.get(o))
    if isinstance(expect, int):
        assert run() == expect
    else:
        with pytest.raises((clusters.AddressRangeInUse, ValueError), match=expect):
            run()


def test_claims_are_valid_only_while_their_cluster_runs(tmp_path):
    root = tmp_path / "claims"
    other = tmp_path / "other"
    other.mkdir()
    clusters.claim(33, other, root)
    # claimed a moment ago, no state yet: its supervisor is starting
    assert clusters.claimed_by(33, tmp_path / "me", root) == other
    assert clusters.claimed_by(33, other, root) is None                 # our own claim never blocks us
    # a running supervisor (this process) with that CIDR keeps it
    st.write_state(other, {"supervisor": st.proc_record(os.getpid()), "cluster_cidr": "127.33.0.0/16"})
    assert clusters.claimed_by(33, tmp_path / "me", root) == other
    # the same data dir now runs on another range: the claim is stale
    st.write_state(other, {"supervisor": st.proc_record(os.getpid()), "cluster_cidr": "127.34.0.0/16"})
    assert clusters.claimed_by(33, tmp_path / "me", root) is None
    clusters.release(other, root)
    assert not list(root.glob("cidr-*.json"))


def test_busy_address_sees_a_listener():
    with socket.socket() as sock:
        sock.bind(("127.251.0.2", 0))             # node 1 of 127.251.0.0/16 (outside the ranges up chooses)
        sock.listen()
        port = sock.getsockname()[1]
        assert clusters.busy_address(251, 2, port) == f"127.251.0.2:{port}"
        assert clusters.busy_address(251, 1, port) is None          # node 0 only: free
    assert clusters.busy_address(251, 2, port) is None


@contextmanager
def serve_json(routes: dict[str, dict]):
    """A real HTTP server on 127.0.0.1 answering GET ``path`` with ``routes[path]``."""
    app = FastAPI()
    for path, body in routes.items():
        app.get(path)(lambda body=body: body)
    server = AppServer(app).start()
    try:
        yield server.url
    finally:
        server.stop()


def _state(url: str, gm: str, lc_port: int, connected: bool = True) -> dict:
    return {"url": url, "nodes": [{"name": "n1", "address": "127.0.0.1"}], "children": {},
            "controllers": {"enabled": True, "gm": "ws://x", "gm_health": gm, "lc_port": lc_port}}


def test_health_names_the_component_that_is_not_healthy():
    nodes = {"items": [{"metadata": {"name": "n1"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}]}
    with serve_json({"/api/v1/nodes": nodes, "/healthz": {"status": "ok", "gmConnected": True}}) as url:
        port = int(url.rsplit(":", 1)[1])
        good = health.check(_state(url, f"{url}/healthz", port))
        assert [(c.name, c.healthy) for c in good] == [("apiserver", True), ("node/n1", True), ("gm", True),
                                                       ("lc/n1", True)]
        assert health.first_problem(good) is None
    with serve_json({"/api/v1/nodes": {"items": []}, "/healthz": {"status": "ok", "gmConnected": False}}) as url:
        port = int(url.rsplit(":", 1)[1])
        bad = {c.name: c for c in health.check(_state(url, f"{url}/healthz", port))}
        assert bad["node/n1"].detail == "not registered" and not bad["node/n1"].healthy
        assert bad["lc/n1"].detail == "not connected to the GM"
    gone = health.check(_state("http://127.0.0.1:1", "http://127.0.0.1:1/healthz", 1))
    assert health.first_problem(gone).name == "apiserver" and "not answering" in gone[0].detail
    assert json.dumps([c.__dict__ for c in gone])          # plain data, printable by `sedna local status`


def _sedna_up(data_dir: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sedna", "--log-level", "WARNING", "local", "--data-dir",
                           str(data_dir), "up", *args], capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, **(env or {})})


def test_up_refuses_an_address_range_something_listens_in(tmp_path):
    octet = random.randint(100, 250)
    with socket.socket() as sock:
        sock.bind((f"127.{octet}.0.2", 0))
        sock.listen()
        port = sock.getsockname()[1]
        res = _sedna_up(tmp_path / "c", "--cluster-cidr", f"127.{octet}.0.0/16", "--lc-port", str(port))
    assert res.returncode == 1
    assert f"something already listens on 127.{octet}.0.2:{port}" in res.stdout, res.stdout + res.stderr
    assert not (tmp_path / "c" / "state.json").exists()


@pytest.mark.timeout(120)
def test_up_fails_naming_the_component_that_is_not_healthy(tmp_path):
    """LCs that cannot open their database never answer: `up` fails and says which one and why."""
    data_dir = tmp_path / "c"
    (tmp_path / "a-file").write_text("not a directory")
    try:
        res = _sedna_up(data_dir, "--cluster-cidr", f"127.{random.randint(100, 250)}.0.0/16", "--timeout", "35",
                        env={"LC_DB_PATH": str(tmp_path / "a-file" / "lc.db")})
    finally:
        subprocess.run([sys.executable, "-m", "sedna", "local", "--data-dir", str(data_dir), "down"],
                       capture_output=True, timeout=90, check=False)
    assert res.returncode == 1, res.stdout
    assert "the cluster did not come up: lc/" in res.stdout and "is not healthy" in res.stdout, res.stdout
