"""Running ``sedna local example run`` as a user does, on a throw-away cluster (random /16, free LC port)."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

from support_procs import free_port

REPO = Path(__file__).resolve().parents[2]


def run_example(data_dir: Path, name: str, *extra: str, timeout: float = 400,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "sedna", "--log-level", "WARNING", "local", "--data-dir", str(data_dir),
            "example", "run", name, "--cluster-cidr", f"127.{random.randint(100, 250)}.0.0/16",
            "--lc-port", str(free_port()), "--poll", "0.5", *extra]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, cwd=REPO, env=env)


def down(data_dir: Path) -> None:
    subprocess.run([sys.executable, "-m", "sedna", "local", "--data-dir", str(data_dir), "down"],
                   capture_output=True, text=True, timeout=120, check=False)


def reported(stdout: str, what: str) -> str:
    m = re.search(rf"^\s+{re.escape(what)}\s+(\S+)", stdout, re.MULTILINE)
    assert m, f"no {what!r} line in:\n{stdout}"
    return json.loads(m.group(1)) if m.group(1).startswith('"') else m.group(1)
