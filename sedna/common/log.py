"""The SDK's process logger ``LOGGER``: named after ``JOB_NAME``, level from ``LOG_LEVEL``."""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

from sedna.common.logfmt import WORKER_DATE_FORMAT as _DATE_FORMAT
from sedna.common.logfmt import WORKER_FORMAT as _FORMAT
from sedna.common.logfmt import enable_worker_logging
from sedna.common.logfmt import level_from_env as _level_from_env

__all__ = ["LOGGER", "ColourFormatter", "Logger", "enable_worker_logging"]

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
