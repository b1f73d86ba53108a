"""The SDK's process logger ``LOGGER``: named after ``JOB_NAME``, level from ``LOG_LEVEL``."""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

__all__ = ["LOGGER", "ColourFormatter", "Logger", "enable_worker_logging"]

_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s][%(filename)s:%(lineno)d]: %(message)s"
_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
_COLOURS = {
    logging.DEBUG: "\033[36m",  # cyan
    logging.INFO: "\033[32m",  # green
    logging.WARNING: "\033[33m",  # yellow
    logging.ERROR: "\033[31m",  # red
    logging.CRITICAL: "\033[1;31m",  # bold red
}
_RESET = "\033[0m"


class ColourFormatter(logging.Formatter):
    """Colours the whole record by level; only used when the stream is a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        colour = _COLOURS.get(record.levelno)
        return f"{colour}{text}{_RESET}" if colour else text


def _level_from_env(value: str | None) -> int:
    name = (value or "INFO").strip().upper()
    level = logging.getLevelName(name)
    return level if isinstance(level, int) else logging.INFO


class Logger:
    """Builds a non-propagating stream logger; ``Logger().logger`` is what upstream exposes as LOGGER."""

    def __init__(self, name: str | None = None, level: str | None = None, stream: TextIO | None = None):
        name = name or os.getenv("JOB_NAME") or "sedna"
        stream = stream if stream is not None else sys.stderr
        self.logger = logging.getLogger(name)
        self.logger.propagate = False
        self.logger.setLevel(_level_from_env(level if level is not None else os.getenv("LOG_LEVEL")))
        if not any(getattr(h, "_sedna_handler", False) for h in self.logger.handlers):
            handler = logging.StreamHandler(stream)
            is_tty = bool(getattr(stream, "isatty", None) and stream.isatty())
            formatter_cls = ColourFormatter if is_tty else logging.Formatter
            handler.setFormatter(formatter_cls(_FORMAT, datefmt=_DATE_FORMAT))
            handler._sedna_handler = True  # type: ignore[attr-defined]
            self.logger.addHandler(handler)


LOGGER = Logger().logger


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
    handler.setFormatter(logging.Formatter(_FORMAT, datefmt=_DATE_FORMAT))
    handler.addFilter(_root_unconfigured)
    handler._sedna_handler = True  # type: ignore[attr-defined]
    sdk.addHandler(handler)
    sdk.setLevel(_level_from_env(os.getenv("LOG_LEVEL")))
