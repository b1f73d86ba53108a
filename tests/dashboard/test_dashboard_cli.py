"""``sedna dashboard``: the token rule for non-loopback binds, link parsing, and a real process serving."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest
from support_procs import stop_process, wait_for

from sedna.dashboard.main import is_loopback, parse_links

pytestmark = [pytest.mark.timeout(120)]


@pytest.mark.parametrize("host,loopback", [("127.0.0.1", True), ("127.5.0.1", True), ("::1", True),
                                           ("localhost", True), ("0.0.0.0", False), ("10.0.0.5", False),
                                           ("::", False), ("example.org", False)])
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_parse_links():
    assert [(x.name, x.url) for x in parse_links(["gm=http://127.0.0.1:9/metrics"])] == \
        [("gm", "http://127.0.0.1:9/metrics")]
    for bad in ("gm", "=http://x", "gm=ftp://x"):
        with pytest.raises(ValueError, match="--metrics-link"):
            parse_links([bad])


def _dashboard(*args: str, env=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "sedna", "dashboard", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)


def test_other_address_without_token_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("SEDNA_DASHBOARD_TOKEN", raising=False)
    proc = _dashboard("--host", "0.0.0.0", "--port", "0", "--kubeconfig", str(tmp_path / "none"))
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "needs a token" in out


def test_serves_with_token_from_file(cluster, tmp_path):
    server, _ = cluster
    token = tmp_path / "token"
    token.write_text("t0k3n\n")
    proc = _dashboard("--kubeconfig", str(server.kubeconfig), "--port", "0", "--token-file", str(token),
                      "--metrics-link", "gm=http://127.0.0.1:9/metrics")
    try:
        line = proc.stdout.readline()
        while line and not line.startswith("sedna dashboard: "):
            line = proc.stdout.readline()
        assert line.startswith("sedna dashboard: http://127.0.0.1:"), line
        url = line.split()[2]
        assert httpx.get(url + "api/info", timeout=10).status_code == 401
        info = wait_for(lambda: httpx.get(url + "api/info", headers={"Authorization": "Bearer t0k3n"},
                                          timeout=10).json(), 10, "the info")
        assert info["metricsLinks"][0]["name"] == "gm"
    finally:
        stop_process(proc)


def test_stops_promptly_with_an_open_event_stream(cluster):
    """SIGTERM with a browser connected: the endless stream is cut after the grace period, not waited for."""
    import signal
    import threading
    import time

    server, _ = cluster
    proc = _dashboard("--kubeconfig", str(server.kubeconfig), "--port", "0")
    try:
        line = proc.stdout.readline()
        while line and not line.startswith("sedna dashboard: "):
            line = proc.stdout.readline()
        url = line.split()[2]
        opened = threading.Event()

        def listen() -> None:
            try:
                with httpx.stream("GET", url + "api/stream", timeout=60) as resp:
                    for _ in resp.iter_lines():
                        opened.set()
            except httpx.HTTPError:
                pass

        threading.Thread(target=listen, daemon=True).start()
        assert opened.wait(20)
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        assert time.monotonic() - start < 10
    finally:
        stop_process(proc)
