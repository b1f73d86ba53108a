"""The dashboard's HTTP side: a JSON API over the hub's cache, a server-sent-event stream of changes, and the
static single-page UI.

Read-only by construction: no route writes to the cluster. Unknown kinds, objects and pods are 404s naming
what was not found; the pods/log call is made only for a pod the cache knows, and an API error there is
answered as 502 with the API server's reason.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from sedna import __version__
from sedna.dashboard import views
from sedna.dashboard.hub import ClusterHub, Subscriber
from sedna.dashboard.kube import KubeError
from sedna.service.server.base import add_bearer_token, error_response

logger = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
HEARTBEAT_SECONDS = 15.0
HISTORY_NOTE = ("Plots are drawn from the dashboard's own in-memory history (bounded per object); restarting "
                "the dashboard loses it and the plots start again from the current values.")


class MetricsLink(BaseModel):
    name: str
    url: str


class Info(BaseModel):
    version: str
    kinds: list[dict[str, str]]
    metricsLinks: list[MetricsLink]
    historyNote: str
    watchErrors: dict[str, str]


class LogTail(BaseModel):
    pod: str
    container: str
    text: str


def _not_found(what: str) -> JSONResponse:
    return error_response(404, f"{what} not found")


def api_router(hub: ClusterHub, links: list[MetricsLink]) -> APIRouter:
    router = APIRouter(prefix="/api")

    @router.get("/info", response_model=Info)
    def info() -> Info:
        return Info(version=__version__, kinds=[{"plural": p, "kind": k} for p, k in views.SEDNA_PLURALS.items()],
                    metricsLinks=links, historyNote=HISTORY_NOTE, watchErrors=dict(hub.errors))

    @router.get("/objects")
    def overview() -> dict[str, Any]:
        """Every Sedna object across namespaces, failing ones first."""
        return {"items": hub.overview()}

    @router.get("/objects/{plural}/{namespace}/{name}", responses={404: {"description": "no such kind/object"}})
    def detail(plural: str, namespace: str, name: str):
        """One object: its row, the object itself, its pods and events, the kind's page data and its history."""
        kind = views.SEDNA_PLURALS.get(plural)
        if kind is None:
            return _not_found(f"kind {plural!r}")
        obj = hub.get(plural, namespace, name)
        if obj is None:
            return _not_found(f"{kind} {namespace}/{name}")
        pods = hub.pods_of(kind, namespace, name)
        pod_rows = sorted((views.pod_view(p) for p in pods), key=lambda p: (not p["failing"], p["name"]))
        events = sorted((views.event_view(e) for e in hub.events_of(kind, namespace, name,
                                                                     {p["name"] for p in pod_rows})),
                        key=lambda e: e["time"], reverse=True)[:100]
        page: dict[str, Any] = {}
        if kind == "FederatedLearningJob":
            model_name = views.fl_model_name(obj)
            model = hub.get("models", namespace, model_name) if model_name else None
            page = {"rounds": views.fl_rounds(obj), "model": model_name,
                    "modelMetrics": views.key_value_metrics(((model or {}).get("status") or {}).get("metrics"))}
        elif kind in ("IncrementalLearningJob", "LifelongLearningJob"):
            page = {"stages": views.stage_timeline(obj), **views.deployed_versions(obj)}
        elif kind == "JointInferenceService":
            page = {"metrics": views.key_value_metrics((obj.get("status") or {}).get("metrics"))}
        else:
            page = {"sample": views.metrics_sample(obj)}
        return {"row": hub.row(plural, obj), "object": obj, "pods": pod_rows, "events": events, "page": page,
                "history": hub.history.series((kind, namespace, name))}

    @router.get("/pods/{namespace}/{name}/log", response_model=LogTail,
                responses={404: {"description": "no such pod or container"}, 502: {"description": "API error"}})
    def pod_log(namespace: str, name: str, container: str = Query("", max_length=253),
                tailLines: int = Query(200, ge=1, le=5000)):
        """The last lines of a pod container's log (the pods/log API)."""
        pod = hub.get("pods", namespace, name)
        if pod is None:
            return _not_found(f"pod {namespace}/{name}")
        names = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
        if container and container not in names:
            return _not_found(f"container {container!r} of pod {namespace}/{name}")
        chosen = container or (names[0] if names else "")
        try:
            text = hub.reader.pod_log(namespace, name, chosen or None, tailLines)
        except KubeError as exc:
            if exc.status in (400, 404):
                return LogTail(pod=name, container=chosen, text=f"(no log: {exc})")
            return error_response(502, f"the API server answered {exc}")
        except Exception as exc:  # noqa: BLE001 - the API server is unreachable
            return error_response(502, f"the API server did not answer: {exc}")
        return LogTail(pod=name, container=chosen, text=text)

    @router.get("/stream")
    async def stream(request: Request) -> StreamingResponse:
        """Server-sent events: ``snapshot`` (every row) first, then ``change`` for each watched change."""
        sub = Subscriber(asyncio.get_running_loop())
        hub.subscribe(sub)

        async def events():
            try:
                yield _sse("snapshot", {"items": hub.overview()})
                while not sub.dropped:
                    try:
                        message = await asyncio.wait_for(sub.queue.get(), HEARTBEAT_SECONDS)
                    except asyncio.TimeoutError:
                        if await request.is_disconnected():
                            return
                        yield ": keep-alive\n\n"
                        continue
                    yield _sse(message["type"], message)
            finally:
                hub.unsubscribe(sub)

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    return router


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def create_app(hub: ClusterHub, token: str | None = None, links: list[MetricsLink] | None = None) -> FastAPI:
    """The dashboard app over ``hub``; every route (static files too) needs ``Bearer <token>`` when a token
    is given."""
    app = FastAPI(title="Sedna dashboard", version=__version__, docs_url=None, redoc_url=None)
    app.include_router(api_router(hub, list(links or [])))

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    add_bearer_token(app, token)
    if token:
        app.add_middleware(BrowserToken)
    return app


class BrowserToken:
    """Lets a browser carry the bearer token: ``/?token=T`` stores it in an HttpOnly same-site cookie, and a
    request with that cookie but no ``Authorization`` header gets ``Bearer <cookie>`` before the token guard
    (of ``add_bearer_token``) checks it. A browser cannot add headers to page loads or ``EventSource``."""

    COOKIE = "sedna_dashboard_token"

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        given = request.query_params.get("token", "")
        headers = list(scope["headers"])
        if not request.headers.get("authorization"):
            value = given or request.cookies.get(self.COOKIE, "")
            if value:
                headers.append((b"authorization", f"Bearer {value}".encode()))
        scope = {**scope, "headers": headers}
        if not given:
            return await self.app(scope, receive, send)

        async def send_with_cookie(message):
            if message["type"] == "http.response.start":
                cookie = f"{self.COOKIE}={given}; Path=/; HttpOnly; SameSite=Strict"
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie.encode())]}
            await send(message)

        return await self.app(scope, receive, send_with_cookie)
