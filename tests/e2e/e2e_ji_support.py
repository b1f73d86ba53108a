"""Helpers shared by the end-to-end tests of the joint inference example (waiting and ports come from
``tests/support/support_procs.py``)."""

from __future__ import annotations

from pathlib import Path

from support_procs import free_port, wait_for

__all__ = ["EXAMPLE", "REPO", "free_port", "running", "start_time", "wait_for"]

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "joint_inference" / "helmet_detection"


def start_time(pid: int) -> str:
    """The kernel's start time of ``pid`` ("" when there is no such process), to tell a reused pid apart."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def running(record: tuple[int, str]) -> bool:
    """Whether the process ``(pid, start time)`` still runs (not a zombie, not a reused pid)."""
    pid, stamp = record
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z" and start_time(pid) == stamp
