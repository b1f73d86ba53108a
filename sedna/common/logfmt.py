"""Structured logging set-up for the daemons (``sedna gm``, ``sedna lc``).

Kept apart from :mod:`sedna.common.log`: importing that module creates the SDK's ``LOGGER``, a non-propagating
logger named after ``JOB_NAME`` (default ``sedna``) that would swallow every ``sedna.*`` module logger.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any


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
