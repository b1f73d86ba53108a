"""Shared helpers of the sdk_inference tests: real uvicorn servers on free loopback ports, a recording LC."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from sedna.api.messages import WorkerMessage


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AppServer:
    """An ASGI app served by uvicorn in a daemon thread; ``port`` may be reused after ``stop()``."""

    def __init__(self, app, port: int = 0):
        self.app = app
        self.port = port or free_port()
        self._server = None
        self._thread = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> AppServer:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        self._server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.01)
        self._sock = sock
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()


def recording_lc_app(token: str | None = None):
    """A stand-in for the LC worker API that validates and records every report."""
    app = FastAPI()
    records: list[dict] = []
    headers_seen: list[dict] = []

    @app.post("/sedna/workers/{worker}/info")
    async def info(worker: str, request: Request):
        headers_seen.append(dict(request.headers))
        if token and request.headers.get("authorization") != f"Bearer {token}":
            return JSONResponse(status_code=401, content={"Status": 401, "Message": "bad token"})
        doc = await request.json()
        message = WorkerMessage.model_validate(doc)
        if message.name != worker:
            return JSONResponse(status_code=400, content={"Status": 400, "Message": "name mismatch"})
        records.append(doc)
        return {"Status": 200, "Message": "OK"}

    return app, records, headers_seen


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
