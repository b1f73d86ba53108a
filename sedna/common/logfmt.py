"""Structured logging set-up for the daemons (``sedna gm``, ``sedna lc``).

Kept apart from :mod:`sedna.common.log`: importing that module creates the SDK's ``LOGGER``, a non-propagating
logger named after ``JOB_NAME`` (default ``sedna``) that would swallow every ``sedna.*`` module logger. So the
worker-side logging switch the servers and jobs call (``enable_worker_logging``) lives here too: the daemons
import those servers and must not create ``LOGGER``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterable
from typing import Any, TextIO

WORKER_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s][%(filename)s:%(lineno)d]: %(message)s"
WORKER_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


def level_from_env(value: str | None) -> int:
    name = (value or "INFO").strip().upper()
    level = logging.getLevelName(name)
    return level if isinstance(level, int) else logging.INFO


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (+ exception)."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), "level": record.levelname,
                               "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


def configure_daemon_logging(fmt: str, quiet: Iterable[str] = (), quiet_level: int = logging.WARNING) -> None:
    """JSON lines on the root logger's handlers when ``fmt == "json"``; the chatty libraries named in ``quiet``
    are held at ``quiet_level`` or the root level, whichever is higher."""
    root = logging.getLogger()
    if fmt == "json":
        if not root.handlers:
            root.addHandler(logging.StreamHandler())
        for handler in root.handlers:
            handler.setFormatter(JsonFormatter())
    for name in quiet:
        logging.getLogger(name).setLevel(max(root.level, quiet_level))


def _root_unconfigured(_record: logging.LogRecord) -> bool:
    return not logging.getLogger().handlers


def enable_worker_logging(stream: TextIO | None = None) -> None:
    """Show the SDK's own module loggers (``sedna.*``) at ``LOG_LEVEL`` (default INFO) on stderr, as upstream's
    single ``LOGGER`` does, so a worker's log shows its progress (rounds, hot updates, reports).

    Called when a worker builds a job or a server. It changes nothing in a process that configured logging
    itself (a root handler exists: the GM, the LC, pytest): the handler also stays silent while the root has
    handlers, so nothing is printed twice.
    """
    sdk = logging.getLogger("sedna")
    if logging.getLogger().handlers or any(getattr(h, "_sedna_handler", False) for h in sdk.handlers):
        return
    stream = stream if stream is not None else sys.stderr
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(WORKER_FORMAT, datefmt=WORKER_DATE_FORMAT))
    handler.addFilter(_root_unconfigured)
    handler._sedna_handler = True  # type: ignore[attr-defined]
    sdk.addHandler(handler)
    sdk.setLevel(level_from_env(os.getenv("LOG_LEVEL")))
