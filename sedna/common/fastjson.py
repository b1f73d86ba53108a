"""JSON for the control plane's hot paths: the GM's Kubernetes client and the local API emulator.

Every pod, status write and watch event crosses JSON twice (GM and API server), and the standard library's
encoder and decoder were a sixth of the GM's CPU in a burst of new jobs (issue 16). ``orjson`` does the same
work in C, strictly by RFC 8259: ``NaN``/``Infinity`` in a document are refused, and non-finite floats are
written as ``null`` (the standard library writes a bare ``NaN``, which the API server refuses).
Untrusted input with depth limits still goes through :mod:`sedna.common.jsonbounds`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

__all__ = ["JSONDecodeError", "copy", "dumps", "loads"]

JSONDecodeError = orjson.JSONDecodeError      # a ValueError


def _default(value: Any) -> Any:
    if isinstance(value, Mapping):             # e.g. kopf's Body views; tuples orjson writes as lists itself
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(doc: Any) -> bytes:
    """Compact UTF-8 JSON (no spaces, as the API server writes it)."""
    return orjson.dumps(doc, default=_default)


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    return orjson.loads(data)


def copy(doc: Any) -> Any:
    """A deep copy of a JSON-shaped value (mappings become plain dicts, tuples lists)."""
    return orjson.loads(orjson.dumps(doc, default=_default))
