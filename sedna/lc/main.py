"""``sedna lc``: the LocalController process — worker API, GM channel and managers in one asyncio loop.

Startup (gm-lc-protocol §1): open the store, create the managers (dataset, model, jointinferenceservice,
federatedlearningjob, incrementallearningjob, lifelonglearningjob), resume the objects stored by the previous
run (dataset monitors and job engines restart at once, without waiting for the GM to re-send), then run the
GM client and the HTTP server until SIGTERM/SIGINT.

Stored objects the GM no longer knows about are not dropped on reconnect: the GM's resync is a series of
``insert`` messages with no end marker, so "absent from the resync" cannot be told apart from "not re-sent
yet". They leave with the GM's ``delete`` message (which the GM re-queues until delivered).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import socket
from typing import Any

import uvicorn

from sedna.api.messages import Message
from sedna.common.logfmt import configure_daemon_logging
from sedna.common.sockets import listening_socket
from sedna.common.tokens import warn_insecure
from sedna.lc.api import create_app
from sedna.lc.config import ConfigError, LCConfig
from sedna.lc.gmclient import GMClient
from sedna.lc.managers.base import LCContext, Manager
from sedna.lc.managers.dataset import DatasetManager
from sedna.lc.managers.jobs import IncrementalLearningManager, LifelongLearningManager
from sedna.lc.managers.model import ModelManager
from sedna.lc.managers.relay import FederatedLearningManager, JointInferenceManager
from sedna.lc.metrics import LCMetrics
from sedna.lc.outbox import Outbox
from sedna.lc.store import Store
from sedna.lc.workerauth import WorkerAuth

logger = logging.getLogger(__name__)

MANAGER_ORDER = (DatasetManager, ModelManager, JointInferenceManager, FederatedLearningManager,
                 IncrementalLearningManager, LifelongLearningManager)


class LocalController:
    def __init__(self, config: LCConfig) -> None:
        self.config = config
        self.metrics = LCMetrics()
        self.store = Store(config.db_path)
        self.outbox = Outbox(self.store, self.metrics, config.outbox_max)
        self.worker_auth = WorkerAuth(config.worker_key_path, static_token=config.api_token,
                                      insecure=config.insecure)
        self.ctx = LCContext(config, self.store, self.outbox, self.metrics, worker_auth=self.worker_auth)
        for cls in MANAGER_ORDER:
            manager: Manager = cls(self.ctx)
            self.ctx.managers[manager.kind] = manager
        self.client = GMClient(config.gm_address, config.node_name, self.outbox, self.apply, self.metrics,
                               token=config.channel_token, window=config.outbox_window,
                               backoff_cap=config.reconnect_max_seconds, acks=config.gm_acks,
                               ack_timeout=config.ack_timeout_seconds, on_worker_key=self.worker_auth.set_key)
        self.app = create_app(self.ctx, lambda: self.client.connected)

    async def apply(self, msg: Message) -> None:
        """Apply one downstream message. ``update`` is handled like ``insert`` (upstream drops it)."""
        h = msg.header
        kind = h.resource_kind.lower()
        manager = self.ctx.managers.get(kind)
        if manager is None:
            logger.warning("no manager for kind %r (%s %s/%s): dropped", h.resource_kind, h.operation,
                           h.namespace, h.resource_name)
            return
        if h.operation in ("insert", "update"):
            obj: Any = msg.content
            if not isinstance(obj, dict):
                raise ValueError(f"{h.operation} {h.key}: content is not a JSON object")
            md = obj.setdefault("metadata", {})
            md.setdefault("namespace", h.namespace or "default")
            md.setdefault("name", h.resource_name)
            await manager.insert(obj)
        elif h.operation == "delete":
            await manager.delete(h.namespace, h.resource_name)
        else:
            logger.warning("unexpected operation %r from GM for %s", h.operation, h.key)
            return
        self.metrics.downstream.labels(kind, h.operation).inc()
        logger.info("applied %s %s", h.operation, h.key)

    async def resume(self) -> None:
        """Restart monitors and engines of the objects stored by the previous run."""
        rows = self.store.list_resources()
        order = {cls.kind: i for i, cls in enumerate(MANAGER_ORDER)}
        rows.sort(key=lambda r: order.get(r.key.split("/")[1] if r.key.count("/") >= 2 else "", 99))
        for row in rows:
            parts = row.key.split("/", 2)
            manager = self.ctx.managers.get(parts[1]) if len(parts) == 3 else None
            if manager is None:
                logger.warning("stored resource %s has no manager: skipped", row.key)
                continue
            try:
                await manager.insert(row.obj, from_store=True)
            except Exception:
                logger.exception("cannot resume stored resource %s", row.key)
        if rows:
            logger.info("resumed %d stored resources", len(rows))

    def listen(self) -> socket.socket:
        """Bind the worker API socket up front, so a busy port is one clear error (not a server traceback)."""
        try:
            return listening_socket(self.config.bind_address, self.config.bind_port)
        except OSError as exc:
            raise ConfigError(f"cannot listen on {self.config.bind_address}:{self.config.bind_port} "
                              f"(BIND_ADDRESS/BIND_PORT): {exc.strerror or exc}") from None

    async def serve(self, stop: asyncio.Event, ready: asyncio.Event | None = None) -> None:
        sock = self.listen()
        await self.resume()
        server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off"))
        server.install_signal_handlers = lambda: None  # we own the signals
        client_task = asyncio.create_task(self.client.run(), name="gm-client")
        server_task = asyncio.create_task(server.serve(sockets=[sock]), name="worker-api")
        host, port = sock.getsockname()[:2]
        logger.info("LC for node %s: worker API on %s:%d, GM %s", self.config.node_name, host, port,
                    self.client.url)
        stop_task = asyncio.create_task(stop.wait())
        try:
            while not server.started and not server_task.done():
                await asyncio.sleep(0.02)
            if ready is not None:
                ready.set()
            await asyncio.wait({stop_task, server_task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            logger.info("LC shutting down")
            server.should_exit = True
            client_task.cancel()
            await asyncio.gather(client_task, return_exceptions=True)
            await asyncio.wait({server_task}, timeout=5)
            stop_task.cancel()
            for manager in reversed(list(self.ctx.managers.values())):
                await manager.close()
            self.outbox.flush()
            self.store.close()
        if server_task.done() and not server_task.cancelled() and server_task.exception():
            raise server_task.exception()


def configure_logging(fmt: str) -> None:
    # Frame-level websocket/uvicorn/S3 debug output drowns the LC's own logs.
    configure_daemon_logging(fmt, quiet=("websockets", "uvicorn", "httpx", "botocore", "boto3", "urllib3",
                                         "s3transfer"), quiet_level=logging.INFO)


async def _main(config: LCConfig) -> None:
    lc = LocalController(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await lc.serve(stop)


def run(args) -> int:
    fmt = os.environ.get("LC_LOG_FORMAT", "json").strip().lower()
    configure_logging(fmt if fmt in ("json", "text") else "json")
    try:
        config = LCConfig.from_env()
        if getattr(args, "insecure", False):
            config = dataclasses.replace(config, insecure=True)
        if config.insecure:
            warn_insecure("sedna lc", "the worker API accepts reports from anyone")
        elif not config.channel_token:
            logger.error("no node token (SEDNA_CHANNEL_TOKEN or %s): the GM will refuse this LC unless it "
                         "exempts node %s; mint one with `sedna gm node-token %s`",
                         os.environ.get("SEDNA_CHANNEL_TOKEN_FILE") or "<rootfs>/var/lib/sedna/node-token",
                         config.node_name, config.node_name)
        asyncio.run(_main(config))
    except ConfigError as exc:
        logger.error("%s", exc)
        return 2
    return 0
