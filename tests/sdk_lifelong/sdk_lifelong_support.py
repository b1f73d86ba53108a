"""Shared helpers of the sdk_lifelong tests: the example's data and estimator, a recording LC, env setup."""

from __future__ import annotations

import importlib.util
import json
import socket
import sys
import threading
import time
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Request

from sedna.api.messages import WorkerMessage

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "lifelong_learning" / "thermal_comfort"


def _example_module(name: str):
    """Load ``<EXAMPLE>/<name>.py`` under a private module name: other examples have an ``interface.py``
    too, and ``sys.modules["interface"]`` must stay theirs."""
    private = f"sdk_lifelong_example_{name}"
    if private not in sys.modules:
        spec = importlib.util.spec_from_file_location(private, EXAMPLE / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[private] = module
        spec.loader.exec_module(module)
    return sys.modules[private]


_interface = _example_module("interface")
DATACONF, Estimator, feature_process = _interface.DATACONF, _interface.Estimator, _interface.feature_process
generate = _example_module("prepare").generate

__all__ = [
    "ATTRIBUTE",
    "DATACONF",
    "EXAMPLE",
    "REPO",
    "AppServer",
    "Estimator",
    "feature_process",
    "generate",
    "load_csv",
    "recording_lc_app",
]

ATTRIBUTE = json.dumps({"attribute": DATACONF["ATTRIBUTES"]})


def load_csv(path, data_type="train"):
    from sedna.datasources import CSVDataParse

    ds = CSVDataParse(data_type=data_type, func=feature_process)
    ds.parse(str(path), label=DATACONF["LABEL"])
    return ds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AppServer:
    """An ASGI app served by uvicorn in a daemon thread on a free loopback port."""

    def __init__(self, app):
        self.app = app
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> AppServer:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        self._sock = sock
        self._server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()


def recording_lc_app():
    """The LC worker API: validates each report as the LC would and records it."""
    app = FastAPI()
    records: list[dict] = []

    @app.post("/sedna/workers/{worker}/info")
    async def info(worker: str, request: Request):
        doc = await request.json()
        message = WorkerMessage.model_validate(doc)
        assert message.name == worker
        records.append(doc)
        return {"Status": 200, "Message": "OK"}

    return app, records
