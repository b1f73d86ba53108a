"""Every server the project starts answers on connections with ``TCP_NODELAY`` set (issue 16: without it
each request/response pair waits ~40 ms on Nagle + delayed ACK).

Each server runs in this process; the test connects, finds the server's accepted socket among this
process's file descriptors (``/proc/self/fd``) and reads the option on it."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/fd")


def _accepted_nodelay(port: int, client: socket.socket, timeout: float = 10.0) -> int:
    """TCP_NODELAY of the server-side socket of ``client``'s connection to ``port`` in this process."""
    peer = client.getsockname()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name in os.listdir("/proc/self/fd"):
            try:
                dup = os.dup(int(name))
            except OSError:
                continue
            try:
                sock = socket.socket(fileno=dup)
            except OSError:
                os.close(dup)
                continue
            try:
                if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM:
                    try:
                        here, there = sock.getsockname(), sock.getpeername()
                    except OSError:
                        continue
                    if here[1] == port and there[:2] == peer[:2]:
                        return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            finally:
                sock.close()
        time.sleep(0.02)
    raise AssertionError(f"no accepted connection from {peer} on port {port} in this process")


def _check(port: int, host: str = "127.0.0.1") -> None:
    with socket.create_connection((host, port), timeout=10) as client:
        assert _accepted_nodelay(port, client) == 1, f"server on port {port}: TCP_NODELAY off"


@pytest.fixture
def loop():
    """An event loop in a thread, for the asyncio servers."""
    lp = asyncio.new_event_loop()
    thread = threading.Thread(target=lp.run_forever, daemon=True)
    thread.start()
    yield lp
    lp.call_soon_threadsafe(lp.stop)
    thread.join(10)


def _run(loop, coro, timeout: float = 30):
    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)


def test_listening_socket_helper_sets_nodelay_and_reuse():
    from sedna.common.sockets import listening_socket

    sock = listening_socket("127.0.0.1", 0)
    try:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 1
        assert sock.proto == socket.IPPROTO_TCP
        taken = sock.getsockname()[1]
        with pytest.raises(OSError):
            listening_socket("127.0.0.1", taken)
    finally:
        sock.close()


def test_uvicorn_servers_inference_kb_multi_edge(tmp_path):
    from sedna.service.multi_edge_inference.server.detection import DetectionServer
    from sedna.service.server.inference import InferenceServer
    from sedna.service.server.knowledge_base.server import KBServer

    class Model:
        def inference(self, data, **kwargs):
            return data

    servers = [InferenceServer(Model(), "infer", http_port=0),
               KBServer("127.0.0.1", http_port=0, save_dir=str(tmp_path / "kb")),
               DetectionServer(Model(), "detection", port=0)]
    try:
        for server in servers:
            server.start_background()
            _check(server.port)
    finally:
        for server in servers:
            server.stop()


def test_lc_worker_api(tmp_path, loop):
    from sedna.lc.config import LCConfig
    from sedna.lc.main import LocalController

    config = LCConfig(gm_address="127.0.0.1:1", node_name="n1", bind_address="127.0.0.1", bind_port=0,
                      rootfs=str(tmp_path), db_path=str(tmp_path / "lc.db"), reconnect_max_seconds=0.5)
    lc = LocalController(config)
    port = {}

    def listen():
        sock = LocalController.listen(lc)
        port["port"] = sock.getsockname()[1]
        return sock

    lc.listen = listen
    stop_ready = {}

    async def start():
        stop, ready = asyncio.Event(), asyncio.Event()
        stop_ready["stop"] = stop
        stop_ready["task"] = asyncio.ensure_future(lc.serve(stop, ready))
        await asyncio.wait_for(ready.wait(), 20)

    _run(loop, start())
    try:
        _check(port["port"])
    finally:
        loop.call_soon_threadsafe(stop_ready["stop"].set)
        _run(loop, asyncio.wait_for(stop_ready["task"], 20))


def test_gm_channel_and_metrics_servers(loop):
    from sedna.gm.messagelayer.server import MessageServer
    from sedna.gm.metrics import GMMetrics, HealthServer

    async def apply(node, msg):
        return None

    channel = MessageServer(apply)
    metrics = HealthServer(GMMetrics())
    try:
        _check(_run(loop, channel.start("127.0.0.1", 0)))
        _check(_run(loop, metrics.start("127.0.0.1", 0)))
    finally:
        _run(loop, channel.stop())
        _run(loop, metrics.stop())


def test_aggregation_server(tmp_path):
    from sedna.service.server.aggregation import AggregationServer

    server = AggregationServer(host="127.0.0.1", http_port=0, checkpoint_path=str(tmp_path / "g.safetensors"),
                               job_name="nodelay", exit_grace=0.5)
    server.start_background()
    try:
        _check(server.port)
    finally:
        server.stop()


def test_local_api_emulator(tmp_path: Path):
    from sedna.local.apiserver import BackgroundServer

    with BackgroundServer(data_dir=tmp_path / "api") as api:
        _check(int(api.url.rsplit(":", 1)[1]))


def test_local_service_proxy(loop):
    from sedna.common.sockets import listening_socket
    from sedna.local.runtime.cluster import PortProxy

    backend = listening_socket("127.0.0.1", 0, blocking=True)

    class Services:
        def endpoints(self, key, port_name):
            return [("127.0.0.1", backend.getsockname()[1])]

    probe = listening_socket("127.0.0.1", 0)
    port = probe.getsockname()[1]
    probe.close()
    proxy = PortProxy(Services(), "default/svc", "http", "127.0.0.1", port)
    _run(loop, proxy.start())
    try:
        _check(port)
    finally:
        _run(loop, proxy.close())
        backend.close()
