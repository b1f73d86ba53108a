"""Shared machinery of the multi-edge REST servers: body decoding, size limit, bearer token, answers.

Every server answers ``GET /<service>`` (route list and accepted content types) and
``GET /<service>/status`` (``"OK"``). POST bodies are ``application/x-msgpack`` (default of our clients) or
``application/json``, decoded by :mod:`sedna.core.multi_edge_inference.codec`; results are answered in the
request's format. Errors carry a reason in ``detail``: 400 undecodable body (pickle included) or input the
component rejects (ValueError/TypeError), 401 missing or wrong token, 413 body over ``max_buffer_size``,
415 other content types, 500 component failure.

The socket and uvicorn lifecycle (``start``, ``start_background``, ``stop``, ``port``) is
:class:`sedna.service.server.base.UvicornService`'s, through
:class:`sedna.service.server.inference.InferenceServer`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from sedna.core.multi_edge_inference import codec
from sedna.service.server.base import add_bearer_token, add_route_list
from sedna.service.server.base import error_response as _error
from sedna.service.server.inference import InferenceServer, PayloadTooLarge, _read_body

__all__ = ["DEFAULT_MAX_BUFFER_SIZE", "MultiEdgeServer"]

logger = logging.getLogger(__name__)

DEFAULT_MAX_BUFFER_SIZE = 104857600

Handler = Callable[[Any], Any]


class MultiEdgeServer(InferenceServer):
    """Base of ``DetectionServer``, ``FEServer`` and ``ReIDServer``: ``model`` is the component (wrapper).

    Subclasses list their POST routes in :meth:`post_routes` as ``{suffix: (handler, answers_result)}``;
    a handler gets the decoded body and runs in a worker thread. ``answers_result`` False → the answer is
    upstream's JSON ``200``; True → the handler's return value, encoded.
    """

    def __init__(self, model: Any, service_name: str, ip: str = "127.0.0.1", port: int = 8080,
                 max_buffer_size: int = DEFAULT_MAX_BUFFER_SIZE, workers: int = 1, *, token: str | None = None):
        super().__init__(model, service_name, host=ip, http_port=int(port), max_buffer_size=max_buffer_size,
                         workers=workers, token=token)
        self.service_name = service_name
        self.ip = ip
        self.app = self.create_app()

    def post_routes(self) -> dict[str, tuple[Handler, bool]]:
        return {}

    def create_app(self) -> FastAPI:
        name = self.service_name
        app = FastAPI(title=f"sedna multi-edge: {name}", docs_url=None, redoc_url=None, openapi_url=None)
        router = APIRouter()
        limit = self.max_buffer_size
        content_types = [codec.MSGPACK_CONTENT_TYPE, codec.JSON_CONTENT_TYPE]

        add_bearer_token(app, self.token)
        add_route_list(router, f"/{name}", content_types)

        @router.get(f"/{name}/status")
        def status() -> str:
            return "OK"

        for suffix, (handler, answers_result) in self.post_routes().items():
            router.add_api_route(f"/{name}/{suffix}", self._endpoint(handler, answers_result, limit),
                                 methods=["POST"], name=suffix)
        app.include_router(router)
        return app

    @staticmethod
    def _endpoint(handler: Handler, answers_result: bool, limit: int):
        async def endpoint(request: Request) -> Response:
            try:
                body = await _read_body(request, limit)
            except PayloadTooLarge as exc:
                return _error(413, str(exc))
            try:
                fmt = codec.format_for(request.headers.get("content-type"))
            except codec.CodecError as exc:
                return _error(415, str(exc))
            try:
                data = codec.decode(body, fmt, max_bytes=limit)
            except codec.CodecError as exc:
                logger.info("refused body on %s: %s", request.url.path, exc)
                return _error(400, str(exc))
            try:
                result = await run_in_threadpool(handler, data)
            except (ValueError, TypeError) as exc:
                logger.info("%s rejected input: %s", request.url.path, exc)
                return _error(400, f"rejected: {exc}")
            except Exception as exc:
                logger.exception("%s failed", request.url.path)
                return _error(500, f"{type(exc).__name__}: {exc}")
            if not answers_result:
                return JSONResponse(200)
            try:
                payload = codec.encode(result, fmt)
            except codec.CodecError as exc:
                return _error(500, f"result cannot be encoded: {exc}")
            return Response(content=payload, media_type=codec.content_type(fmt))

        return endpoint

    @staticmethod
    def as_list(data: Any) -> list:
        """Bodies are put into components as lists, whether one object or a list was sent."""
        return data if isinstance(data, list) else [data]
