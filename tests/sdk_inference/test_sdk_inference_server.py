"""InferenceServer + ModelClient + http_request against real uvicorn servers on loopback."""

from __future__ import annotations

import time

import httpx
import numpy as np
import pytest
from fastapi import FastAPI, Request
from sdk_inference_support import AppServer, free_port

from sedna.common.tensors import NPY_CONTENT_TYPE, dumps_npy
from sedna.service.client import ModelClient, http_request
from sedna.service.client.model import ModelClientError
from sedna.service.server import InferenceServer

pytestmark = pytest.mark.timeout(60)


class Doubler:
    """Expects an (N, 4) numeric input; records what it was called with."""

    def __init__(self):
        self.calls = []

    def inference(self, data, post_process=None, **kwargs):
        self.calls.append((type(data).__name__, post_process))
        arr = np.asarray(data, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != 4:
            raise ValueError(f"expected shape (N, 4), got {arr.shape}")
        if arr.size and arr[0, 0] == -1:
            raise RuntimeError("model exploded")
        return arr * 2


@pytest.fixture
def served():
    model = Doubler()
    server = InferenceServer(model, "bigmodel", host="127.0.0.1", http_port=0, max_buffer_size=4096)
    server.start_background()
    yield model, server
    server.stop()


def test_route_list_advertises_npy(served):
    _, server = served
    doc = httpx.get(server.url).json()
    paths = {info["path"] for info in doc["infos"]}
    assert {"/bigmodel", "/bigmodel/predict"} <= paths
    assert NPY_CONTENT_TYPE in doc["contentTypes"]


def test_json_and_npy_paths_give_same_result(served):
    model, server = served
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    client = ModelClient("bigmodel", host="127.0.0.1", port=server.port)
    assert client.inference(x.tolist())["result"] == (x * 2).tolist()
    assert client.inference(x, callback="cb")["result"] == (x * 2).tolist()
    json_only = ModelClient("bigmodel", host="127.0.0.1", port=server.port, use_npy=False)
    assert json_only.inference(x)["result"] == (x * 2).tolist()
    assert [c[0] for c in model.calls] == ["list", "ndarray", "list"]
    assert model.calls[1][1] == "cb"


def test_upstream_json_body_with_extra_keys(served):
    model, server = served
    r = httpx.post(f"{server.url}/predict", json={"data": [[1, 2, 3, 4]], "callback": "c", "input_shape": [1]})
    assert r.status_code == 200 and r.json() == {"result": [[2.0, 4.0, 6.0, 8.0]]}
    assert model.calls[-1] == ("list", "c")


@pytest.mark.parametrize("kwargs, status, reason", [
    ({"json": {"data": "not a list"}}, 422, "data"),
    ({"json": {"nodata": []}}, 422, "data"),
    ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400, "not JSON"),
    ({"content": b"garbage", "headers": {"content-type": NPY_CONTENT_TYPE}}, 400, "npy"),
    ({"json": {"data": [[1, 2, 3]]}}, 400, "expected shape (N, 4)"),
    ({"content": dumps_npy(np.zeros((2, 3))), "headers": {"content-type": NPY_CONTENT_TYPE}}, 400, "(2, 3)"),
    ({"content": b"<x/>", "headers": {"content-type": "application/xml"}}, 415, "not supported"),
    ({"json": {"data": [[-1, 0, 0, 0]]}}, 500, "model exploded"),
])
def test_bad_payloads_get_reasons(served, kwargs, status, reason):
    _, server = served
    r = httpx.post(f"{server.url}/predict", **kwargs)
    assert r.status_code == status
    assert reason in str(r.json()["detail"])


def test_oversized_body_413_declared_and_streamed(served):
    _, server = served
    big = dumps_npy(np.zeros((200, 4)))  # 6.5 kB > 4096
    r = httpx.post(f"{server.url}/predict", content=big, headers={"content-type": NPY_CONTENT_TYPE})
    assert r.status_code == 413 and "exceeds" in r.json()["detail"]

    def chunks():
        for i in range(0, len(big), 1000):
            yield big[i:i + 1000]

    r = httpx.post(f"{server.url}/predict", content=chunks(), headers={"content-type": NPY_CONTENT_TYPE})
    assert r.status_code == 413
    # the server is still fine afterwards
    assert httpx.post(f"{server.url}/predict", json={"data": [[0, 0, 0, 1]]}).status_code == 200


def test_client_reports_rejection_reason(served):
    _, server = served
    client = ModelClient("bigmodel", host="127.0.0.1", port=server.port)
    with pytest.raises(ModelClientError, match="expected shape"):
        client.predict_or_raise(np.zeros((1, 3)))
    assert client.inference(np.zeros((1, 3))) is None


def test_bearer_token(monkeypatch):
    monkeypatch.setenv("SEDNA_INFERENCE_TOKEN", "s3cret")
    server = InferenceServer(Doubler(), "tok", http_port=0).start_background()
    try:
        assert httpx.get(server.url).status_code == 401
        bad = httpx.post(f"{server.url}/predict", json={"data": [[1, 1, 1, 1]]},
                         headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401
        client = ModelClient("tok", port=server.port)  # reads the same env
        assert client.inference(np.ones((1, 4)))["result"] == [[2.0] * 4]
        assert ModelClient("tok", port=server.port, token="nope").inference([[1, 1, 1, 1]]) is None
    finally:
        server.stop()


def test_dead_server_fails_fast_with_cooldown():
    client = ModelClient("gone", port=free_port(), timeout=1, retries=1, cooldown=30)
    for _ in range(3):
        assert client.inference([[1, 2, 3, 4]]) is None
    assert "Connect" in client.last_error
    start = time.monotonic()
    with pytest.raises(ModelClientError, match="cooling down"):
        client.predict_or_raise([[1, 2, 3, 4]])
    assert time.monotonic() - start < 0.1


def test_slow_server_times_out():
    class Slow:
        def inference(self, data, post_process=None):
            time.sleep(2)
            return data

    server = InferenceServer(Slow(), "slow", http_port=0).start_background()
    try:
        client = ModelClient("slow", port=server.port, timeout=0.3)
        start = time.monotonic()
        assert client.inference([[1]]) is None
        assert time.monotonic() - start < 1.5
        assert "Timeout" in client.last_error
    finally:
        server.stop(timeout=5)


def test_http_request_semantics(served):
    _, server = served
    assert http_request(server.url)["contentTypes"]
    assert http_request(server.url, binary=False).startswith("{")
    assert isinstance(http_request(server.url, no_decode=True), httpx.Response)
    assert http_request(f"{server.url}/predict", method="POST", json={"data": [[1, 1, 1, 1]]}) == {
        "result": [[2.0] * 4]}
    start = time.monotonic()
    assert http_request(f"{server.url}/missing", retries=3, retry_interval=0.05) is None
    assert time.monotonic() - start >= 0.1
    assert http_request(f"http://127.0.0.1:{free_port()}/x", retries=2, retry_interval=0, timeout=1) is None


def test_unreachable_server_costs_no_json_encoding(monkeypatch):
    """An array for a server that cannot be asked about npy is not turned into a JSON list."""
    import sedna.service.client.model as model_module

    encoded = []
    real_dumps = model_module.json.dumps
    monkeypatch.setattr(model_module.json, "dumps", lambda *a, **k: encoded.append(1) or real_dumps(*a, **k))
    client = ModelClient("gone", port=free_port(), retries=1, cooldown=0)
    with pytest.raises(ModelClientError, match="did not answer"):
        client.predict_or_raise(np.zeros((64, 64, 3), dtype=np.uint8))
    assert encoded == []


def test_server_without_npy_gets_json():
    """A server whose route list does not mention npy (upstream's) is sent upstream's JSON body."""

    app = FastAPI()
    seen = []

    @app.get("/up")
    def routes():
        return {"infos": [{"path": "/up/predict", "name": "predict"}]}

    @app.post("/up/predict")
    async def predict(request: Request):
        seen.append(request.headers.get("content-type"))
        body = await request.json()
        return {"result": np.asarray(body["data"]).sum().item()}

    server = AppServer(app).start()
    try:
        client = ModelClient("up", port=server.port)
        answer = client.inference(np.ones((2, 3)), input_shape=(2, 3))
        assert answer is not None, client.last_error
        assert answer["result"] == 6.0
        assert seen == ["application/json"]
    finally:
        server.stop()
