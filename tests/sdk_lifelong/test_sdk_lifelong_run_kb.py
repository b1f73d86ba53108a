"""``python -m sedna.service.run_kb``: upstream's KB image command starts the KB from upstream's env."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
from support_procs import free_port, stop_process, wait_for


def test_run_kb_serves_from_upstream_env(tmp_path):
    port = free_port()
    env = {**os.environ, "KnowledgeBaseServer": f"http://127.0.0.1:{port}", "KnowledgeBasePath": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "sedna.service.run_kb"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        def upload():
            try:
                return httpx.post(f"http://127.0.0.1:{port}/knowledgebase/file/upload",
                                  files={"file": ("hello.txt", b"hi")}, timeout=5)
            except httpx.HTTPError:
                return None
        resp = wait_for(upload, 60, "the KB to answer")
        assert resp.status_code == 200, resp.text
        assert (tmp_path / "hello.txt").read_bytes() == b"hi"
    finally:
        stop_process(proc)
