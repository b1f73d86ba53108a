"""``sedna gm --config FILE``: load the config, connect, serve the LC channel and run kopf until SIGTERM."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from typing import Any

import kopf

from sedna.gm.config import ConfigError, GMConfig, load_config
from sedna.gm.kube import KubeClient, load_connection
from sedna.gm.operator import GlobalManager, build_registry

logger = logging.getLogger(__name__)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (+ exception)."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), "level": record.levelname,
                               "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


def configure_logging(fmt: str) -> None:
    root = logging.getLogger()
    if fmt == "json":
        for handler in root.handlers or [logging.StreamHandler()]:
            handler.setFormatter(JsonFormatter())
            if handler not in root.handlers:
                root.addHandler(handler)
    # kopf logs every watch event at DEBUG/INFO per object; keep its chatter at WARNING.
    logging.getLogger("kopf").setLevel(max(root.level, logging.WARNING))
    logging.getLogger("httpx").setLevel(max(root.level, logging.WARNING))


async def amain(cfg: GMConfig) -> int:
    conn = load_connection(cfg)
    kube = KubeClient(conn)
    gm = GlobalManager(cfg, kube, conn)
    await gm.start()
    logger.info("GM started: api=%s websocket=%s:%d metrics=%s:%d namespace=%s", conn.server,
                cfg.websocket_address, gm.server.port, cfg.metrics_address, gm.health.port,
                cfg.namespace or "(all)")
    registry = build_registry(gm)
    namespaces = [cfg.namespace] if cfg.namespace else []
    try:
        # kopf installs the SIGTERM/SIGINT handlers (main thread): it stops its watchers, runs the cleanup
        # activity (which closes the LC channel and the health server) and returns.
        await kopf.operator(registry=registry, clusterwide=not namespaces, namespaces=namespaces,
                            standalone=not cfg.peering, peering_name=cfg.peering or None)
    finally:
        logger.info("GM shutting down")
        await gm.stop()
    return 0


def run(args) -> int:
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(f"sedna gm: {exc}", file=sys.stderr)
        return 1
    configure_logging(cfg.log_format)
    try:
        return asyncio.run(amain(cfg))
    except OSError as exc:
        print(f"sedna gm: cannot listen: {exc}", file=sys.stderr)
        return 1
