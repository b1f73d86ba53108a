"""HTTP stand-ins for the tests: an ASGI app served in a thread, and a recording LC worker API."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from support_procs import free_port

from sedna.api.messages import WorkerMessage
from sedna.service.server.base import UvicornService


class AppServer(UvicornService):
    """An ASGI app served by uvicorn in a daemon thread on 127.0.0.1 (a free port unless ``port`` is given;
    the port may be reused after ``stop()``). ``start()`` returns once it is listening."""

    service_label = "test app server"
    thread_name = "test-app-server"

    def __init__(self, app, port: int = 0):
        self.app = app
        self._init_service("127.0.0.1", port or free_port())
        self.port = self.http_port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> AppServer:
        return self.start_background()


def recording_lc_app(token: str | None = None):
    """A stand-in for the LC worker API (``POST /sedna/workers/<worker>/info``) that validates every report
    as the LC would and records it; returns ``(app, records, headers_seen)``."""
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


@contextmanager
def recording_lc() -> Iterator[tuple[AppServer, list[dict]]]:
    """A running :func:`recording_lc_app` while the block runs: ``(server, records)``."""
    app, records, _ = recording_lc_app()
    server = AppServer(app).start()
    try:
        yield server, records
    finally:
        server.stop()


@pytest.fixture(name="lc")
def lc_fixture():
    """``lc``: a recording LC for one test, ``(server, records)`` (a module imports ``lc_fixture``)."""
    with recording_lc() as running:
        yield running
