"""Bounded JSON: one decoder for untrusted JSON and the checks of what a worker may put into a CR.

``json.loads`` answers deeply nested input (``'[' * 100000``) with ``RecursionError`` — not a ``ValueError`` —
which handlers turned into 500s and the GM channel into a closed connection. ``loads`` turns it, and nesting
beyond ``max_depth``, into :class:`JSONBoundsError` (a ``ValueError``), so every caller answers 4xx.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["MAX_DEPTH", "MAX_FIELD_BYTES", "JSONBoundsError", "check_depth", "check_strings", "loads"]

MAX_DEPTH = 64
MAX_FIELD_BYTES = 1024


class JSONBoundsError(ValueError):
    """Not JSON, nested too deeply, or a field over its size limit; the message names the field."""


def check_depth(doc: Any, max_depth: int = MAX_DEPTH) -> None:
    """Iteratively (no recursion of our own) check that containers nest at most ``max_depth`` deep."""
    stack = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > max_depth:
            raise JSONBoundsError(f"JSON nested more than {max_depth} levels deep")
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))


def loads(data: str | bytes, max_depth: int | None = MAX_DEPTH, **kw: Any) -> Any:
    try:
        doc = json.loads(data, **kw)
    except RecursionError:
        raise JSONBoundsError("JSON nested too deeply") from None
    except UnicodeDecodeError as exc:
        raise JSONBoundsError(f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise JSONBoundsError(f"not JSON: {exc}") from None
    if max_depth is not None:
        check_depth(doc, max_depth)
    return doc


def check_strings(doc: Any, max_bytes: int = MAX_FIELD_BYTES, where: str = "content") -> None:
    """Every string (and key) in ``doc`` at most ``max_bytes`` UTF-8 bytes; the error names the first field
    over it (``content.output.ownerInfo.updateTime``)."""
    stack: list[tuple[Any, str]] = [(doc, where)]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            size = len(node.encode("utf-8", "surrogatepass"))
            if size > max_bytes:
                raise JSONBoundsError(f"field {path} is {size} bytes; at most {max_bytes} are accepted")
        elif isinstance(node, dict):
            for key, value in node.items():
                if isinstance(key, str) and len(key.encode("utf-8", "surrogatepass")) > max_bytes:
                    raise JSONBoundsError(f"a key of {path} is over {max_bytes} bytes")
                stack.append((value, f"{path}.{key}"))
        elif isinstance(node, list):
            stack.extend((value, f"{path}[{i}]") for i, value in enumerate(node))
