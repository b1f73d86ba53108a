"""A single-process emulation of the Kubernetes API server for running sedna on one machine.

``serve(host, port, data_dir)`` blocks; ``BackgroundServer`` runs the same server in a thread (tests);
``python -m sedna.local.apiserver --port 0`` prints ``listening on http://HOST:PORT`` once it accepts
connections. ``write_kubeconfig`` writes a kubeconfig pointing kubectl, kopf and the ``kubernetes`` client at it.

Authentication: every request but the public probes (``/healthz``, ``/readyz``, ``/livez``, ``/version``) must carry
``Authorization: Bearer <token>`` (401 otherwise). ``python -m sedna.local.apiserver`` makes a random token and
writes it only into its kubeconfig (mode 0600); ``BackgroundServer`` (in-process, tests) checks one only when
given ``token``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from sedna.common.sockets import listening_socket
from sedna.local.apiserver.server import APIServer

__all__ = ["APIServer", "BackgroundServer", "kubeconfig_token", "serve", "write_kubeconfig"]

log = logging.getLogger(__name__)


def write_kubeconfig(path: str | Path, url: str, namespace: str = "default", token: str = "sedna-local",
                     ca_file: str | Path | None = None) -> Path:
    """Write the kubeconfig readable by its owner only (0600): it holds the API server's bearer token.
    ``ca_file``: the certificate of an ``https`` ``url``."""
    ca = f"    certificate-authority: {ca_file}\n" if ca_file else ""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: sedna-local\n  cluster:\n    server: {url}\n{ca}"
        f"users:\n- name: sedna-local\n  user:\n    token: {token}\n"
        f"contexts:\n- name: sedna-local\n  context:\n    cluster: sedna-local\n    user: sedna-local\n"
        f"    namespace: {namespace}\n"
        "current-context: sedna-local\n")
    return path


def kubeconfig_token(path: str | Path) -> str:
    """The bearer token of a kubeconfig's first user ("" if none)."""
    import yaml

    doc = yaml.safe_load(Path(path).read_text()) or {}
    users = doc.get("users") or [{}]
    return str((users[0].get("user") or {}).get("token") or "")


async def _start(host: str, port: int, data_dir, logs_dir, tls=None,
                 **options) -> tuple[web.AppRunner, str, str]:
    """Listen on ``host:port`` (HTTP); with ``tls`` = (ssl context, port), also serve HTTPS there.
    Returns (runner, http URL, https URL or "")."""
    server = APIServer(data_dir, logs_dir, **options)
    runner = web.AppRunner(server.app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    sock = listening_socket(host, port)
    site = web.SockSite(runner, sock, shutdown_timeout=1.0)
    await site.start()
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    tls_url = ""
    if tls is not None:
        context, tls_port = tls
        tls_sock = listening_socket(host, tls_port)
        await web.SockSite(runner, tls_sock, ssl_context=context, shutdown_timeout=1.0).start()
        tls_url = f"https://{shown}:{tls_sock.getsockname()[1]}"
    return runner, f"http://{shown}:{bound}", tls_url


def serve(host: str = "127.0.0.1", port: int = 6443, data_dir: str | Path | None = None, *,
          logs_dir: str | Path | None = None, on_ready: Callable[[str], None] | None = None,
          service_cidr: str | None = None, on_tls: Callable[[str], None] | None = None, **options) -> None:
    """Run the server until SIGTERM/SIGINT (blocking). ``on_ready(url)`` is called once it listens.

    ``service_cidr``: where Service ClusterIPs are allocated (comma-separated CIDRs or ``FIRST-LAST`` ranges;
    default ``10.96.0.0/16``). ``options`` go to APIServer: ``history`` (watch events kept per resource),
    ``bookmark_interval``, ``event_ttl`` (seconds).
    """
    if service_cidr:
        options["service_cidr"] = service_cidr

    async def main():
        runner, url, tls_url = await _start(host, port, data_dir, logs_dir, **options)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
        if on_tls and tls_url:
            on_tls(tls_url)
        if on_ready:
            on_ready(url)
        log.info("Kubernetes API emulator listening on %s", url)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    asyncio.run(main())


class BackgroundServer:
    """The emulator on its own thread and loop, for tests and embedding: ``with BackgroundServer() as s: s.url``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, data_dir: str | Path | None = None,
                 logs_dir: str | Path | None = None, **options):
        """``options`` go to APIServer: ``history``, ``bookmark_interval``, ``event_ttl``, ``service_cidr``,
        ``token`` (default None: no authentication — an in-process helper for tests; the ``sedna local``
        cluster always runs the server as a process with a random token)."""
        self.token = options.get("token")
        self.host, self.port, self.data_dir, self.options = host, port, data_dir, options
        self.logs_dir = Path(logs_dir) if logs_dir else (Path(data_dir) / "logs" if data_dir else None)
        self.url = ""
        self.kubeconfig: Path | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout: float = 30.0) -> BackgroundServer:
        self._thread = threading.Thread(target=self._run, name="sedna-apiserver", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the API emulator did not start in time")
        if self._error:
            raise self._error
        return self

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        try:
            self._runner, self.url, _ = self._loop.run_until_complete(
                _start(self.host, self.port, self.data_dir, self.logs_dir, **self.options))
        except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    def stop(self) -> None:
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=30)

    def write_kubeconfig(self, path: str | Path) -> Path:
        self.kubeconfig = write_kubeconfig(path, self.url, token=self.token or "sedna-local")
        return self.kubeconfig

    def __enter__(self) -> BackgroundServer:  # noqa: PYI034
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
