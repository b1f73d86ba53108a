"""The LC's worker HTTP API (gm-lc-protocol §5) plus ``/healthz`` and ``/metrics``.

``POST /sedna/workers/{worker_name}/info`` takes a ``WorkerMessage`` and forwards it to the GM through the
manager of its ``ownerKind``. Answers use upstream's capitalised ``{"Status", "Message"}`` body:
200 accepted; 400 unreadable JSON, name mismatch or unknown ownerKind; 401 missing/wrong token (the worker's
GM-minted ``LC_API_TOKEN``, see ``sedna.lc.workerauth``); 403 a token of another job or worker; 404 learning job unknown on this node; 413 body over the size limit; 415 non-JSON
content type; 422 body that does not match the schema (field named); 503 outbox full.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from sedna.api.messages import WorkerMessage
from sedna.common import jsonbounds
from sedna.lc.managers.base import LCContext, WorkerReportError
from sedna.lc.outbox import OutboxFull
from sedna.lc.workerauth import WorkerAuth
from sedna.service.server.base import json_body

logger = logging.getLogger(__name__)

# Below the GM's limit (jsonbounds.MAX_DEPTH) by the levels the LC wraps a report in, so whatever the LC
# accepts the GM can read.
WORKER_JSON_DEPTH = 32
WORKER_KINDS = ("jointinferenceservice", "federatedlearningjob", "incrementallearningjob", "lifelonglearningjob")


def _answer(status: int, message: str) -> JSONResponse:
    return JSONResponse({"Status": status, "Message": message}, status_code=status)


class _TooLarge(Exception):
    pass


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _TooLarge()
    return bytes(body)


def create_app(ctx: LCContext, is_connected: Callable[[], bool] = lambda: False) -> FastAPI:
    """App factory: everything the routes need comes from ``ctx`` (no module-level state)."""
    # The OpenAPI document is published (schema only, no data) so the API can be fuzzed against it.
    app = FastAPI(title="sedna LocalController", docs_url=None, redoc_url=None, openapi_url="/openapi.json")
    router = APIRouter()
    auth = ctx.worker_auth or WorkerAuth(None, static_token=ctx.config.api_token, insecure=ctx.config.insecure)
    limit = ctx.config.max_report_bytes
    metrics = ctx.metrics

    @router.post("/sedna/workers/{worker_name}/info", openapi_extra=json_body(WorkerMessage))
    async def worker_info(worker_name: str, request: Request) -> JSONResponse:
        def reject(status: int, message: str, kind: str = "") -> JSONResponse:
            metrics.worker_messages.labels(kind or "unknown", str(status)).inc()
            logger.warning("worker %s report rejected (%d): %s", worker_name, status, message)
            return _answer(status, message)

        refused = auth.refuse(request.headers.get("authorization"), worker_name)
        if refused:
            return reject(*refused)
        ctype = request.headers.get("content-type", "")
        if ctype and "json" not in ctype.lower():
            return reject(415, f"content type {ctype!r} is not JSON")
        try:
            raw = await _read_limited(request, limit)
        except _TooLarge:
            return reject(413, f"report larger than {limit} bytes")
        try:
            doc: Any = jsonbounds.loads(raw, max_depth=WORKER_JSON_DEPTH)
        except ValueError as exc:
            return reject(400, f"body is not JSON: {exc}")
        if not isinstance(doc, dict):
            return reject(400, "body must be a JSON object")
        try:
            msg = WorkerMessage.model_validate(doc)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first.get("loc", ())) or "body"
            return reject(422, f"field {field}: {first.get('msg')}")
        if msg.name != worker_name:
            return reject(400, f"worker name {msg.name!r} in the body does not match {worker_name!r} in the path")
        refused = auth.refuse_report(request.headers.get("authorization"), msg)
        if refused:
            return reject(*refused, msg.owner_kind.lower())
        kind = msg.owner_kind.lower()
        manager = ctx.managers.get(kind) if kind in WORKER_KINDS else None
        if manager is None:
            return reject(400, f"ownerKind {msg.owner_kind!r} is not one of {', '.join(WORKER_KINDS)}")
        if not msg.owner_name:
            return reject(400, "ownerName is empty")
        try:
            manager.worker_message(msg)
        except WorkerReportError as exc:
            return reject(exc.status, str(exc), kind)
        except OutboxFull as exc:
            return reject(503, str(exc), kind)
        metrics.worker_messages.labels(kind, "200").inc()
        return _answer(200, "OK")

    @router.get("/healthz")
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok", "gmConnected": is_connected(), "outboxDepth": ctx.outbox.depth()})

    @router.get("/metrics")
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    app.include_router(router)
    return app
