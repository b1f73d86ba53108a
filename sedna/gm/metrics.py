"""Prometheus metrics and the health endpoint of the GM (one registry per GM instance)."""

from __future__ import annotations

import logging

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from sedna.common.sockets import listening_socket

logger = logging.getLogger(__name__)


class GMMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.reconciles = Counter("sedna_gm_reconciles_total", "Reconcile runs", ["kind"], registry=self.registry)
        self.reconcile_errors = Counter("sedna_gm_reconcile_errors_total", "Reconcile runs that failed",
                                        ["kind"], registry=self.registry)
        self.reconcile_seconds = Histogram("sedna_gm_reconcile_seconds", "Reconcile duration", ["kind"],
                                           registry=self.registry)
        self.connected_lcs = Gauge("sedna_gm_connected_lcs", "Open LC websocket connections",
                                   registry=self.registry)
        self.upstream_lcs = Gauge("sedna_gm_upstream_lc_connections",
                                  "Open connections of nodes in upstream-LC compatibility mode (no token)",
                                  registry=self.registry)
        self.messages = Counter("sedna_gm_messages_total", "GM<->LC messages",
                                ["direction", "operation"], registry=self.registry)
        self.message_errors = Counter("sedna_gm_message_errors_total", "LC frames answered with an error",
                                      registry=self.registry)
        self.objects_created = Counter("sedna_gm_objects_created_total", "Pods/Services/Deployments created",
                                       ["kind"], registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class HealthServer:
    """``/healthz`` (200 once the GM is ready, 503 before) and ``/metrics``."""

    def __init__(self, metrics: GMMetrics) -> None:
        self.metrics = metrics
        self.ready = False
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def _healthz(self, request: web.Request) -> web.Response:
        if not self.ready:
            return web.json_response({"status": "starting"}, status=503)
        return web.json_response({"status": "ok"})

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def start(self, host: str, port: int) -> int:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None, keepalive_timeout=0.5, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = listening_socket(host, port)
        site = web.SockSite(self._runner, sock)
        await site.start()
        self.port = sock.getsockname()[1]  # the bound port when 0 was asked
        logger.info("health and metrics on http://%s:%d", host, self.port)
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
