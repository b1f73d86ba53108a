"""Where a single-machine cluster keeps its files, and its ``state.json`` (pids, ports, URLs)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from sedna.local.runtime import procs

DEFAULT_DIR_ENV = "SEDNA_LOCAL_DIR"


def default_data_dir() -> Path:
    env = os.environ.get(DEFAULT_DIR_ENV)
    return Path(env).expanduser() if env else Path.home() / ".sedna" / "local"


def state_path(data_dir: Path) -> Path:
    return Path(data_dir) / "state.json"


def read_state(data_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads(state_path(data_dir).read_text())
    except (OSError, ValueError):
        return None


def write_state(data_dir: Path, state: dict[str, Any]) -> None:
    path = state_path(data_dir)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
    os.replace(tmp, path)


def proc_record(pid: int) -> dict[str, Any]:
    return {"pid": pid, "start": procs.start_time(pid)}


def alive(record: dict[str, Any] | None) -> bool:
    """Whether the process of a ``{pid, start}`` record still runs (and is the same process)."""
    if not record or not record.get("pid"):
        return False
    stamp = procs.start_time(int(record["pid"]))
    if not stamp:
        return False
    try:  # a zombie has a start time but is dead
        if Path(f"/proc/{record['pid']}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    except OSError:
        return False
    return stamp == record.get("start")


def kill_pod_leftovers(data_dir: Path) -> int:
    """SIGKILL process groups recorded in pod pid files (left behind when an agent was killed hard)."""
    killed = 0
    for pidfile in Path(data_dir).glob("nodes/*/var/lib/kubelet/pods/*/containers/*.pid"):
        pgid = procs.pidfile_alive(pidfile)
        if pgid is not None:
            procs.kill_group_now(pgid)
            killed += 1
        pidfile.unlink(missing_ok=True)
    return killed


def terminate(record: dict[str, Any], timeout: float) -> bool:
    """SIGTERM a recorded process (and its group), wait up to ``timeout``, then SIGKILL. True if it was alive."""
    if not alive(record):
        return False
    pid = int(record["pid"])
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive(record):
        time.sleep(0.1)
    if alive(record):
        procs.kill_group_now(pid)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return True
