"""Limits on what LC reports may write into a CR (docs/security.md).

A report is rejected — answered with ``error`` and a reason, which makes the LC drop it from its outbox instead
of re-sending it forever — when any string in it is over 1 KiB (``MAX_FIELD_BYTES``) or it nests too deeply.
The conditions a report appends are capped at ``MAX_CONDITIONS`` (oldest dropped), so a chatty job cannot grow
its CR to the API server's object size limit.
"""

from __future__ import annotations

from typing import Any

from sedna.common.jsonbounds import MAX_DEPTH, MAX_FIELD_BYTES, check_depth, check_strings

MAX_CONDITIONS = 500          # x ~1.3 KiB at most each: far below the API server's object size limit


def check_report(content: Any) -> None:
    """Raise ``ValueError`` (naming the field) for a report whose content may not reach a CR."""
    check_depth(content, MAX_DEPTH)
    check_strings(content, MAX_FIELD_BYTES)


def bound_conditions(status: dict | None, keep: int = MAX_CONDITIONS) -> dict | None:
    """``status`` with at most the last ``keep`` conditions (in place; returned for chaining)."""
    if isinstance(status, dict) and isinstance(status.get("conditions"), list) and len(status["conditions"]) > keep:
        status["conditions"] = status["conditions"][-keep:]
    return status
