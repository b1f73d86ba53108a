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


class ScaleEstimator:
    """A tiny estimator whose model file is JSON ``{"scale": s, "tag": t}``.

    ``predict(x)`` → one box ``[0, 0, 1, 1, score, label]`` with ``score = clip(mean(x) * scale)`` and label
    = ``tag``; ``load`` raises on a broken file, which is how hot update must reject it.
    """

    def __init__(self):
        self.scale = 1.0
        self.tag = 0

    def load(self, model_url):
        import json

        with open(model_url, encoding="utf-8") as fh:
            doc = json.load(fh)
        self.scale = float(doc["scale"])
        self.tag = int(doc.get("tag", 0))

    def save(self, model_path):
        import json

        with open(model_path, "w", encoding="utf-8") as fh:
            json.dump({"scale": self.scale, "tag": self.tag}, fh)

    def predict(self, data, **kwargs):
        import numpy as np

        arr = np.asarray(data, dtype=np.float64)
        if arr.size == 0:
            raise ValueError("empty input")
        score = float(np.clip(arr.mean() * self.scale, 0.0, 1.0))
        return [[0.0, 0.0, 1.0, 1.0, score, float(self.tag)]]

    def train(self, train_data, valid_data=None, **kwargs):
        import numpy as np

        self.scale = float(np.mean(train_data)) if len(train_data) else 1.0
        self.tag = int(kwargs.get("tag", 7))
        return {"loss": [0.5]}

    def evaluate(self, data, model_path=None, **kwargs):
        self.load(model_path)
        return {"precision": [self.scale], "recall": [0.5]}


def write_model(path, scale, tag=0):
    import json

    with open(path, "w", encoding="utf-8") as fh:
        json.dump({"scale": scale, "tag": tag}, fh)
    return str(path)


def sdk_env(monkeypatch, **env):
    """Set worker env vars and re-read BaseConfig (which reads the environment once)."""
    from sedna.common.config import BaseConfig

    for key in ("JOB_NAME", "SERVICE_NAME", "MODEL_URL", "MODEL_URLS", "MODEL_NAME", "HEM_NAME", "HEM_PARAMETERS",
                "MINING_MODE", "MODEL_HOT_UPDATE", "MODEL_HOT_UPDATE_CONFIG", "MODEL_POLL_PERIOD_SECONDS",
                "BACKEND_TYPE", "DATA_PATH_PREFIX", "LC_API_TOKEN", "SEDNA_INFERENCE_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("BACKEND_TYPE", "SKLEARN")
    for key, value in env.items():
        monkeypatch.setenv(key, str(value))
    BaseConfig.reload_from_env()
