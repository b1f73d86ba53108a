"""``InferenceServer``: serves a model's ``inference`` over REST (the big model of joint inference).

Routes, as upstream: ``GET /<servername>`` (route list) and ``POST /<servername>/predict`` taking
``{"data": [...], "callback": "<registered callback name>"}`` and answering ``{"result": ...}``.

Our additions: the GET answer also lists ``contentTypes``; ``/predict`` accepts ``application/x-npy`` bodies
(one array, loaded with ``allow_pickle=False``; the callback name goes in the ``callback`` query parameter);
bodies over ``max_buffer_size`` get 413; an optional bearer token (env ``SEDNA_INFERENCE_TOKEN``).
Errors carry a reason: 400 undecodable body or input the model rejects (ValueError/TypeError), 401 bad token,
413 too large, 415 unknown content type, 422 JSON that does not match the body model, 500 model failure.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
from typing import Any

import numpy as np
from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, ValidationError

from sedna.common import jsonbounds
from sedna.common.tensors import NPY_CONTENT_TYPE, TensorFormatError
from sedna.service.server.base import UvicornService, add_bearer_token, add_route_list, json_body
from sedna.service.server.base import error_response as _error

__all__ = ["InferenceItem", "InferenceServer", "PayloadTooLarge", "create_inference_app"]

logger = logging.getLogger(__name__)

TOKEN_ENV = "SEDNA_INFERENCE_TOKEN"
CONCURRENCY_ENV = "SEDNA_INFERENCE_CONCURRENCY"
DEFAULT_CONCURRENCY = 2
JSON_CONTENT_TYPE = "application/json"


class InferenceItem(BaseModel):
    """JSON body of ``/predict`` (extra keys are ignored, as upstream)."""

    model_config = ConfigDict(extra="ignore")

    data: list
    callback: str | None = None


class PayloadTooLarge(Exception):
    pass


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (set, frozenset)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def npy_view(buffer: bytearray) -> np.ndarray:
    """The array of an ``.npy`` body as a view of ``buffer`` (no copy: peak memory stays at one body);
    object dtypes (pickle) are refused like ``np.load(allow_pickle=False)``."""
    head = io.BytesIO(bytes(buffer[:65536]))
    try:
        version = np.lib.format.read_magic(head)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = reader(head)
    except (ValueError, OSError, SyntaxError) as exc:
        raise TensorFormatError(f"not an npy payload: {exc}") from None
    if dtype.hasobject:
        raise TensorFormatError("npy payload with object dtype (pickle) refused")
    count = int(np.prod(shape, dtype=np.int64))
    if head.tell() + count * dtype.itemsize != len(buffer):
        raise TensorFormatError(f"npy payload of {len(buffer)} bytes does not match its header {shape} {dtype}")
    flat = np.frombuffer(buffer, dtype=dtype, count=count, offset=head.tell())
    return flat.reshape(shape, order="F" if fortran else "C")


async def _read_body(request: Request, limit: int) -> bytearray:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body of {declared} bytes exceeds the limit of {limit} bytes")
    if declared is not None and declared.isdigit():
        # Known length: one buffer of exactly that size, filled in place (no list of chunks plus a join).
        body = bytearray(int(declared))
        view, size = memoryview(body), 0
        async for chunk in request.stream():
            if size + len(chunk) > len(body):
                raise PayloadTooLarge("body longer than its Content-Length")
            view[size:size + len(chunk)] = chunk
            size += len(chunk)
        view.release()
        del body[size:]
        return body
    body, size = bytearray(), 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body exceeds the limit of {limit} bytes")
        body += chunk
    return body


def create_inference_app(model: Any, servername: str, max_buffer_size: int = 104857600,
                         token: str | None = None) -> FastAPI:
    """The FastAPI app of one inference server; ``model`` needs ``inference(data, post_process=None)``."""
    app = FastAPI(title=f"sedna inference: {servername}", docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json")
    router = APIRouter()
    content_types = [JSON_CONTENT_TYPE, NPY_CONTENT_TYPE]

    add_bearer_token(app, token)
    add_route_list(router, f"/{servername}", content_types)

    requests = asyncio.Semaphore(max(1, int(os.environ.get(CONCURRENCY_ENV) or DEFAULT_CONCURRENCY)))

    @router.post(f"/{servername}/predict", openapi_extra=json_body(InferenceItem))
    async def predict(request: Request) -> Response:
        # At most CONCURRENCY bodies are read and decoded at once; the others wait their turn in TCP flow
        # control, so memory is bounded by CONCURRENCY x (body + decoded input), not by the client count.
        async with requests:
            return await _predict(request)

    async def _predict(request: Request) -> Response:
        try:
            body = await _read_body(request, max_buffer_size)
        except PayloadTooLarge as exc:
            return _error(413, str(exc))
        content_type = request.headers.get("content-type", JSON_CONTENT_TYPE).split(";")[0].strip().lower()
        if content_type == NPY_CONTENT_TYPE:
            try:
                data = npy_view(body)
            except TensorFormatError as exc:
                return _error(400, str(exc))
            callback = request.query_params.get("callback") or None
        elif content_type in (JSON_CONTENT_TYPE, ""):
            try:
                doc = jsonbounds.loads(body, max_depth=None)      # nesting too deep: 400, not a 500
                del body
            except ValueError as exc:
                return _error(400, f"body is not JSON: {exc}")
            try:
                item = InferenceItem.model_validate(doc)
            except ValidationError as exc:
                return JSONResponse(status_code=422, content={"detail": json.loads(exc.json(include_url=False))})
            data, callback = item.data, item.callback
        else:
            return _error(415, f"content type {content_type!r} not supported; use one of {content_types}")
        try:
            result = await run_in_threadpool(model.inference, data, post_process=callback)
        except (ValueError, TypeError) as exc:
            logger.info("inference rejected input: %s", exc)
            return _error(400, f"inference rejected the input: {exc}")
        except Exception as exc:
            logger.exception("inference failed")
            return _error(500, f"inference failed: {type(exc).__name__}: {exc}")
        try:
            payload = json.dumps({"result": result}, default=_json_default, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            return _error(500, f"inference result is not JSON-serialisable: {exc}")
        return Response(content=payload, media_type=JSON_CONTENT_TYPE)

    app.include_router(router)
    return app


class InferenceServer(UvicornService):
    """Upstream's constructor; ``start()`` serves in the calling thread until stopped (SIGINT/SIGTERM).

    Our additions (from :class:`~sedna.service.server.base.UvicornService`): ``start_background()`` (returns once listening; ``port`` then holds the bound port, useful
    with ``http_port=0``), ``stop()``, and ``token`` (default: env ``SEDNA_INFERENCE_TOKEN``). ``workers`` is
    accepted for compatibility; requests run concurrently in a thread pool of one process.
    """

    inheritable_socket = True

    def __init__(self, model: Any, servername: str, host: str = "127.0.0.1", http_port: int = 8080,
                 max_buffer_size: int = 104857600, workers: int = 1, *, token: str | None = None):
        self.model = model
        self.servername = servername
        self._init_service(host, http_port)
        self.max_buffer_size = int(max_buffer_size)
        self.workers = workers
        self.token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        self.app = create_inference_app(model, servername, self.max_buffer_size, self.token)

    @property
    def service_label(self) -> str:  # type: ignore[override]
        return f"inference server {self.servername}"

    @property
    def thread_name(self) -> str:  # type: ignore[override]
        return f"inference-{self.servername}"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/{self.servername}"
