"""Process groups of containers: start-time fingerprints, pid files and tree kills."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

log = logging.getLogger(__name__)


def start_time(pid: int) -> str:
    """The kernel's start time of ``pid`` ("" when it does not exist), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def write_pidfile(path: Path, pid: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{pid} {start_time(pid)}\n")


def pidfile_alive(path: Path) -> int | None:
    """The process-group id in ``path`` if that same process still runs."""
    try:
        pid_s, _, stamp = path.read_text().strip().partition(" ")
        pid = int(pid_s)
    except (OSError, ValueError):
        return None
    if pid <= 1 or not stamp or start_time(pid) != stamp:
        return None
    return pid


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group, from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def group_alive(pgid: int) -> bool:
    """Whether any non-zombie process of the group still runs (orphans may stay zombies a while)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return bool(group_members(pgid))


def signal_group(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        log.warning("not allowed to signal process group %d", pgid)
        return False


async def kill_group(pgid: int, grace: float, proc: asyncio.subprocess.Process | None = None) -> None:
    """SIGTERM the whole process group, wait up to ``grace`` seconds, then SIGKILL what is left."""
    if not signal_group(pgid, signal.SIGTERM):
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(0.0, grace)
    while loop.time() < deadline:
        if proc is not None and proc.returncode is None:
            try:
                await asyncio.wait_for(asyncio.shield(proc.wait()), timeout=0.05)
            except asyncio.TimeoutError:
                pass
        else:
            await asyncio.sleep(0.05)
        if not group_alive(pgid):
            return
    signal_group(pgid, signal.SIGKILL)
    for _ in range(100):
        if not group_alive(pgid):
            return
        await asyncio.sleep(0.02)


def kill_group_now(pgid: int) -> None:
    signal_group(pgid, signal.SIGKILL)


def exit_code(returncode: int) -> int:
    """A Popen return code as a container exit code (killed by signal N → 128+N)."""
    return 128 - returncode if returncode < 0 else returncode
