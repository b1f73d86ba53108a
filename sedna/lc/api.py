"""The LC's worker HTTP API (gm-lc-protocol §5) plus ``/healthz`` and ``/metrics``.

``POST /sedna/workers/{worker_name}/info`` takes a ``WorkerMessage`` and forwards it to the GM through the
manager of its ``ownerKind``. Answers use upstream's capitalised ``{"Status", "Message"}`` body:
200 accepted; 400 unreadable JSON, name mismatch or unknown ownerKind; 401 missing/wrong token (the worker's
GM-minted ``LC_API_TOKEN``, see ``sedna.lc.workerauth``); 403 a token of another job or worker; 404 learning job unknown on this node; 413 body over the size limit; 415 non-JSON
content type; 422 body that does not match the schema (field named); 503 outbox full. A 200 is answered once
the report is durable in the outbox (group commit, ``Outbox.put_committed``).

The report route is every worker's periodic traffic: ``WorkerReportFastPath`` answers it in front of FastAPI's
routing; the FastAPI route keeps it in the OpenAPI document, and both go through ``WorkerReports.answer``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

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


_OK = _answer(200, "OK")   # immutable: one instance serves every accepted report


class _TooLarge(Exception):
    pass


class WorkerReports:
    """``POST /sedna/workers/{worker_name}/info``: every check and answer of the route, whichever way the
    request arrives (the fast path below or the FastAPI route)."""

    def __init__(self, ctx: LCContext) -> None:
        self.ctx = ctx
        self.auth = ctx.worker_auth or WorkerAuth(None, static_token=ctx.config.api_token,
                                                  insecure=ctx.config.insecure)
        self.limit = ctx.config.max_report_bytes
        self._counters: dict[tuple[str, str], Any] = {}   # (owner kind, result) -> prometheus child

    def _count(self, kind: str, result: str) -> None:
        child = self._counters.get((kind, result))
        if child is None:
            child = self._counters[(kind, result)] = self.ctx.metrics.worker_messages.labels(kind, result)
        child.inc()

    def _reject(self, worker_name: str, status: int, message: str, kind: str = "") -> tuple[int, str]:
        self._count(kind or "unknown", str(status))
        logger.warning("worker %s report rejected (%d): %s", worker_name, status, message)
        return status, message

    async def answer(self, worker_name: str, authorization: str | None, ctype: str, declared: str | None,
                     chunks: AsyncIterator[bytes]) -> tuple[int, str]:
        """(status, message) of one report; an accepted report is durable in the outbox when this returns."""
        auth = self.auth
        refused = auth.refuse(authorization, worker_name)
        if refused:
            return self._reject(worker_name, *refused)
        if ctype and "json" not in ctype.lower():
            return self._reject(worker_name, 415, f"content type {ctype!r} is not JSON")
        limit = self.limit
        try:
            raw = await _read_limited(declared, chunks, limit)
        except _TooLarge:
            return self._reject(worker_name, 413, f"report larger than {limit} bytes")
        # A body with no more brackets than the depth limit cannot nest deeper: the walk is skipped.
        depth = WORKER_JSON_DEPTH if raw.count(b"[") + raw.count(b"{") > WORKER_JSON_DEPTH else None
        try:
            doc: Any = jsonbounds.loads(raw, max_depth=depth)
        except ValueError as exc:
            return self._reject(worker_name, 400, f"body is not JSON: {exc}")
        if not isinstance(doc, dict):
            return self._reject(worker_name, 400, "body must be a JSON object")
        try:
            msg = WorkerMessage.model_validate(doc)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first.get("loc", ())) or "body"
            return self._reject(worker_name, 422, f"field {field}: {first.get('msg')}")
        if msg.name != worker_name:
            return self._reject(worker_name, 400, f"worker name {msg.name!r} in the body does not match "
                                                  f"{worker_name!r} in the path")
        refused = auth.refuse_report(authorization, msg)
        if refused:
            return self._reject(worker_name, *refused, msg.owner_kind.lower())
        kind = msg.owner_kind.lower()
        manager = self.ctx.managers.get(kind) if kind in WORKER_KINDS else None
        if manager is None:
            return self._reject(worker_name, 400, f"ownerKind {msg.owner_kind!r} is not one of "
                                                  f"{', '.join(WORKER_KINDS)}")
        if not msg.owner_name:
            return self._reject(worker_name, 400, "ownerName is empty")
        try:
            message, coalesce_key = manager.worker_report(msg)
            await self.ctx.outbox.put_committed(message, coalesce_key)
        except WorkerReportError as exc:
            return self._reject(worker_name, exc.status, str(exc), kind)
        except OutboxFull as exc:
            return self._reject(worker_name, 503, str(exc), kind)
        self._count(kind, "200")
        return 200, "OK"


async def _read_limited(declared: str | None, chunks: AsyncIterator[bytes], limit: int) -> bytes:
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge()
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        parts.append(chunk)
        size += len(chunk)
        if size > limit:
            raise _TooLarge()
    return parts[0] if len(parts) == 1 else b"".join(parts)


_WORKER_INFO_PATH = re.compile(r"/sedna/workers/([^/]+)/info")   # Starlette's match of the route's path


def _route_path(scope: Scope) -> str:
    """The path routes are matched against: without a ``root_path`` prefix (as Starlette's router)."""
    path, root = scope["path"], scope.get("root_path", "")
    if root and path.startswith(root) and (len(path) == len(root) or path[len(root)] == "/"):
        return path[len(root):]
    return path


class WorkerReportFastPath:
    """ASGI middleware answering the one hot route without FastAPI's routing and request machinery.

    Reports are the LC's only per-request traffic (every worker, every few seconds), and on that route
    Starlette routing, dependency solving and the ``Request`` object cost more than the report's own work.
    Same checks and answers as the route (both call :meth:`WorkerReports.answer`); every other request goes
    on to the app, whose route stays in the OpenAPI document. Sits inside the app's error middleware, so an
    unexpected error is the same 500."""

    def __init__(self, app: ASGIApp, reports: WorkerReports) -> None:
        self.app = app
        self.reports = reports

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        match = _WORKER_INFO_PATH.fullmatch(_route_path(scope))
        if match is None:
            await self.app(scope, receive, send)
            return
        authorization = ctype = declared = None
        for name, value in scope["headers"]:   # the first of each, as Starlette's Headers.get
            if name == b"authorization":
                if authorization is None:
                    authorization = value.decode("latin-1")
            elif name == b"content-type":
                if ctype is None:
                    ctype = value.decode("latin-1")
            elif name == b"content-length" and declared is None:
                declared = value.decode("latin-1")

        async def chunks() -> AsyncIterator[bytes]:
            while True:
                message = await receive()
                if message["type"] == "http.request":
                    body = message.get("body", b"")
                    if body:
                        yield body
                    if not message.get("more_body", False):
                        return
                elif message["type"] == "http.disconnect":
                    raise ClientDisconnect()

        status, text = await self.reports.answer(match.group(1), authorization, ctype or "", declared, chunks())
        await (_OK if status == 200 else _answer(status, text))(scope, receive, send)


def create_app(ctx: LCContext, is_connected: Callable[[], bool] = lambda: False) -> FastAPI:
    """App factory: everything the routes need comes from ``ctx`` (no module-level state)."""
    # The OpenAPI document is published (schema only, no data) so the API can be fuzzed against it.
    app = FastAPI(title="sedna LocalController", docs_url=None, redoc_url=None, openapi_url="/openapi.json")
    router = APIRouter()
    reports = WorkerReports(ctx)
    metrics = ctx.metrics

    @router.post("/sedna/workers/{worker_name}/info", openapi_extra=json_body(WorkerMessage))
    async def worker_info(worker_name: str, request: Request) -> JSONResponse:
        # Served by WorkerReportFastPath; kept as a route for the OpenAPI document (and the same answers).
        headers = request.headers
        status, text = await reports.answer(worker_name, headers.get("authorization"),
                                            headers.get("content-type", ""), headers.get("content-length"),
                                            request.stream())
        return _OK if status == 200 else _answer(status, text)

    @router.get("/healthz")
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok", "gmConnected": is_connected(), "outboxDepth": ctx.outbox.depth()})

    @router.get("/metrics")
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    app.include_router(router)
    app.add_middleware(WorkerReportFastPath, reports=reports)
    return app
