"""``sedna gm --config FILE``: load the config, connect, serve the LC channel and run kopf until SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import sys

import kopf

from sedna.common.logfmt import configure_daemon_logging
from sedna.gm.config import ConfigError, GMConfig, load_config
from sedna.gm.kube import KubeClient, load_connection
from sedna.gm.operator import GlobalManager, build_registry

logger = logging.getLogger(__name__)


def configure_logging(fmt: str) -> None:
    # kopf logs every watch event at DEBUG/INFO per object; keep its chatter at WARNING.
    configure_daemon_logging(fmt, quiet=("kopf", "httpx"))


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
        if getattr(args, "insecure", False):
            cfg.insecure = True
    except ConfigError as exc:
        print(f"sedna gm: {exc}", file=sys.stderr)
        return 1
    configure_logging(cfg.log_format)
    try:
        return asyncio.run(amain(cfg))
    except OSError as exc:
        print(f"sedna gm: cannot listen: {exc}", file=sys.stderr)
        return 1
