"""What every sedna REST server shares: serving a FastAPI app with uvicorn on a socket bound up front, and
the optional bearer token.

:class:`UvicornService` binds the socket itself with :func:`sedna.common.sockets.listening_socket`
(so ``http_port=0`` picks a free port that :attr:`port` then tells, and ``TCP_NODELAY`` is on), and serves in the
foreground (:meth:`start`) or in a daemon thread (:meth:`start_background`, returns once uvicorn is up)
until :meth:`stop`. :func:`add_bearer_token` guards every route of an app; with no token it adds nothing,
so unguarded servers pay no middleware per request.
"""

from __future__ import annotations

import hmac
import logging
import socket
import threading
import time
from typing import Any

import uvicorn
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from sedna.common.log import enable_worker_logging
from sedna.common.sockets import listening_socket

__all__ = ["KEEP_ALIVE_SECONDS", "UvicornService", "add_bearer_token", "add_route_list", "error_response",
           "json_body"]

logger = logging.getLogger(__name__)

KEEP_ALIVE_SECONDS = 300


def error_response(status: int, reason: str) -> JSONResponse:
    """An error answer carrying its reason in ``detail``."""
    return JSONResponse(status_code=status, content={"detail": reason})


def json_body(model) -> dict:
    """``openapi_extra`` declaring a JSON request body of ``model`` (routes that read the raw body), so the
    published OpenAPI document says what the route takes."""
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": model.model_json_schema(by_alias=True)}}}}


def add_bearer_token(app: FastAPI, token: str | None) -> None:
    """Answer 401 to every request of ``app`` whose ``Authorization`` is not ``Bearer <token>``.

    No middleware at all without a token: it costs time on every request. Pods the GM creates always get
    their job's token in the env; a server started without one says so loudly."""
    if not token:
        logger.warning("%s serves WITHOUT a bearer token: anyone who reaches its port can use it "
                       "(the GM injects one into the pods it creates; see docs/security.md)", app.title)
        return
    expected = f"Bearer {token}".encode()

    @app.middleware("http")
    async def check_token(request: Request, call_next):
        supplied = request.headers.get("authorization", "")
        if not hmac.compare_digest(supplied.encode(), expected):
            return error_response(401, "missing or wrong bearer token")
        return await call_next(request)


def add_route_list(router: APIRouter, path: str, content_types: list[str]) -> None:
    """``GET path`` answers the router's routes (``infos``: path and name) and the accepted body types."""

    @router.get(path)
    def route_list() -> dict:
        infos = [{"path": r.path, "name": r.name} for r in router.routes if hasattr(r, "path")]
        return {"infos": infos, "contentTypes": content_types}


class UvicornService:
    """Serves ``self.app`` on ``self.host``:``self.http_port``; subclasses call :meth:`_init_service`.

    ``service_label`` names the server in logs, the thread name and start-up errors;
    ``inheritable_socket`` makes the listening socket inheritable by child processes."""

    service_label = "sedna server"
    thread_name = "sedna-server"
    inheritable_socket = False
    app: Any

    def _init_service(self, host: str, http_port: int) -> None:
        enable_worker_logging()
        self.host = host
        self.http_port = int(http_port)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    def _prepare(self) -> tuple[uvicorn.Server, socket.socket]:
        sock = listening_socket(self.host, self.http_port, inheritable=self.inheritable_socket, blocking=True)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", timeout_keep_alive=KEEP_ALIVE_SECONDS,
                                access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        logger.info("%s listening on %s:%s", self.service_label, self.host, self.port)
        return self._server, sock

    @staticmethod
    def _serve(server: uvicorn.Server, sock: socket.socket) -> None:
        try:
            server.run(sockets=[sock])
        finally:
            sock.close()

    def start(self) -> None:
        """Serve in this thread until :meth:`stop` (from another thread) or a signal."""
        self._serve(*self._prepare())

    def start_background(self, timeout: float = 10.0):
        """Serve in a daemon thread; returns ``self`` once uvicorn has started (``RuntimeError`` if it does not
        within ``timeout`` seconds)."""
        server, sock = self._prepare()
        self._thread = threading.Thread(target=self._serve, args=(server, sock), name=self.thread_name, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{self.service_label} did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
