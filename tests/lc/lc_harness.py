"""Test peers for the LC: a real websocket server playing the GM, and the LC as a real subprocess.

A uniquely named module (not conftest) so test files can import it unambiguously."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import support_procs
from support_procs import free_port
from websockets.asyncio.server import serve

from sedna.api.messages import Message

REPO = Path(__file__).resolve().parents[2]


def wait_for(pred, timeout: float = 10.0, interval: float = 0.05, what: str = "condition"):
    return support_procs.wait_for(pred, timeout, what, interval)


class FakeGM:
    """A websocket server speaking the GM side of the channel: checks headers, acks status frames by
    messageId (dedupes them as the GM does), records everything, pushes downstream messages.

    ``upstream=True`` plays upstream's Go GM instead (gm-lc-protocol §2): no capability header in the handshake
    response, no acks, unknown operations (the LC's hello) ignored."""

    def __init__(self, token: str = "", ack: bool = True, upstream: bool = False) -> None:
        self.token = token
        self.ack = ack and not upstream
        self.upstream = upstream
        self.port = free_port()
        self.handshakes: list[dict[str, str]] = []
        self.rejected = 0
        self.frames: list[str] = []          # every text frame received, in order
        self.messages: list[Message] = []    # status messages, de-duplicated by messageId
        self.duplicates = 0
        self._seen: set[str] = set()
        self._conns: list = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server = None
        self.lock = threading.Lock()

    # lifecycle (thread-safe wrappers around the server loop)
    def _call(self, coro, timeout: float = 10):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def start(self) -> FakeGM:
        async def go():
            self._server = await serve(self._handler, "127.0.0.1", self.port,
                                       process_request=self._process_request,
                                       process_response=None if self.upstream else self._advertise)
        self._call(go())
        return self

    def stop(self) -> None:
        async def go():
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()
                self._server = None
        self._call(go())

    def shutdown(self) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _process_request(self, connection, request):
        headers = dict(request.headers.raw_items())
        if self.token and headers.get("Authorization") != f"Bearer {self.token}":
            self.rejected += 1
            return connection.respond(401, "unauthorized\n")
        return None

    @staticmethod
    def _advertise(connection, request, response):
        response.headers["Sedna-Capabilities"] = "ack"
        return response

    async def _handler(self, ws):
        with self.lock:
            self.handshakes.append({**dict(ws.request.headers.raw_items()), "path": ws.request.path})
        self._conns.append(ws)
        try:
            async for frame in ws:
                msg = Message.decode(frame)
                with self.lock:
                    self.frames.append(frame)
                if msg.header.operation != "status":
                    continue
                mid = msg.header.message_id
                with self.lock:
                    if mid in self._seen:
                        self.duplicates += 1
                    else:
                        if mid:
                            self._seen.add(mid)
                        self.messages.append(msg)
                if self.ack and mid:
                    await ws.send(Message.build("", "", "", "ack", None, message_id=mid).encode())
        except Exception:  # noqa: BLE001 - connection dropped by the test: fine
            return
        finally:
            self._conns.remove(ws)

    def push(self, kind: str, operation: str, obj: dict) -> None:
        md = obj["metadata"]
        frame = Message.build(kind, md.get("namespace", "default"), md["name"], operation, obj).encode()
        self.push_raw(frame)

    def push_raw(self, frame: str) -> None:
        async def go():
            for ws in list(self._conns):
                await ws.send(frame)
        self._call(go())

    def connected(self) -> int:
        return len(self._conns)

    def status_messages(self, kind: str | None = None, name: str | None = None) -> list[Message]:
        with self.lock:
            return [m for m in self.messages
                    if (kind is None or m.header.resource_kind.lower() == kind.lower())
                    and (name is None or m.header.resource_name == name)]


def _fake_gm_fixture():
    gms: list[FakeGM] = []

    def make(**kw) -> FakeGM:
        gm = FakeGM(**kw).start()
        gms.append(gm)
        return gm

    yield make
    for gm in gms:
        gm.shutdown()


class LCProcess:
    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.port = int(env["BIND_PORT"])
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LCProcess:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "sedna", "--log-level", "DEBUG", "lc"],
                                         env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=str(REPO))

        def healthy():
            if self.proc.poll() is not None:
                raise AssertionError(f"LC exited with {self.proc.returncode}:\n{self.logs()}")
            try:
                return httpx.get(self.url + "/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False
        wait_for(healthy, 20, what="LC /healthz")
        return self

    def stop(self, sig=signal.SIGTERM, timeout: float = 10) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise AssertionError(f"LC did not stop on {sig}:\n{self.logs()}") from None

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def report(self, worker: str, body: dict, **kw) -> httpx.Response:
        return httpx.post(f"{self.url}/sedna/workers/{worker}/info", json=body, timeout=5, **kw)


def _lc_process_fixture(tmp_path):
    procs: list[LCProcess] = []

    def make(gm_address: str, rootfs: Path | None = None, **extra: str) -> LCProcess:
        rootfs = rootfs or (tmp_path / "rootfs")
        rootfs.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SEDNA_", "LC_"))}
        env.update({
            "GM_ADDRESS": gm_address, "NODENAME": "edge-1", "BIND_ADDRESS": "127.0.0.1",
            "BIND_PORT": str(free_port()), "ROOTFS_MOUNT_DIR": str(rootfs),
            "LC_DATASET_POLL_SECONDS": "0.2", "LC_TRIGGER_PERIOD_SECONDS": "0.2",
            "LC_RECONNECT_MAX_SECONDS": "0.5", "PYTHONUNBUFFERED": "1",
        })
        if "LC_API_TOKEN" not in extra:
            # These tests play the workers with hand-made reports and the GM with a fake that mints no
            # worker tokens; worker authentication has its own tests (tests/security).
            env["LC_INSECURE"] = "true"
        env.update(extra)
        lc = LCProcess(env, tmp_path / f"lc-{len(procs)}.log")
        procs.append(lc)
        return lc.start()

    yield make
    for lc in procs:
        if lc.proc is not None and lc.proc.poll() is None:
            lc.proc.kill()
            lc.proc.wait(5)
