"""Helpers of the multi-edge inference components."""

from __future__ import annotations

from typing import Any

from sedna.common.config import Context

__all__ = ["get_parameters", "str_to_bool"]


def get_parameters(param: str, default: Any = None) -> Any:
    """Env ``param`` (else ``param.upper()``); empty counts as missing (``Context.get_parameters``)."""
    return Context.get_parameters(param, default)


def str_to_bool(value: Any) -> bool:
    """``true/yes/on/1`` → True, ``false/no/off/0``/empty → False (``distutils.util.strtobool`` without
    distutils, which Python 3.12 removed). Anything else raises ValueError naming the value."""
    if isinstance(value, bool):
        return value
    text = str(value if value is not None else "").strip().lower()
    if text in ("1", "true", "t", "yes", "y", "on"):
        return True
    if text in ("", "0", "false", "f", "no", "n", "off"):
        return False
    raise ValueError(f"not a boolean: {value!r}")
