"""The emulator with ``service_cidr`` set to the process runtime's Service range: ClusterIPs the emulator hands
out are served by the runtime's proxy as they are (no patch-in), with real runtime processes."""

from __future__ import annotations

import random
import signal
import subprocess
import sys

import httpx
import pytest
from support_procs import wait_for

from sedna.local.apiserver import BackgroundServer
from sedna.local.runtime import netplan

pytestmark = pytest.mark.timeout(120)


def _fetch(url):
    try:
        resp = httpx.get(url, timeout=3)
        return resp.text if resp.status_code == 200 else None
    except httpx.HTTPError:
        return None


def test_runtime_serves_the_clusterips_the_emulator_allocates(tmp_path):
    net = netplan.ClusterNet(random.randint(100, 250))
    service_range = f"127.{net.octet}.1.1-127.{net.octet}.15.254"
    with BackgroundServer(data_dir=tmp_path, service_cidr=service_range) as server:
        http = httpx.Client(base_url=server.url, timeout=10)
        log = (tmp_path / "runtime.log").open("wb")
        runtime = subprocess.Popen([sys.executable, "-m", "sedna.local.runtime", "--server", server.url,
                                    "--data-dir", str(tmp_path), "--cluster-cidr", net.cidr, "--node", "node-a",
                                    "--node-index", "0", "--cluster-services", "--heartbeat", "2"],
                                   stdout=log, stderr=subprocess.STDOUT)
        try:
            script = ("import http.server,os; open('index.html','w').write('hello'); "
                      "http.server.test(HandlerClass=http.server.SimpleHTTPRequestHandler, port=5000, "
                      "bind=os.environ['POD_IP'])")
            resp = http.post("/api/v1/namespaces/default/pods", json={
                "metadata": {"name": "web", "labels": {"app": "web"}},
                "spec": {"restartPolicy": "Always", "containers": [{
                    "name": "main", "image": "python:3.11", "command": ["python", "-c", script],
                    "readinessProbe": {"tcpSocket": {"port": 5000}, "periodSeconds": 1}}]}})
            assert resp.status_code == 201, resp.text
            resp = http.post("/api/v1/namespaces/default/services", json={
                "metadata": {"name": "web"},
                "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 5000}]}})
            assert resp.status_code == 201, resp.text
            created = resp.json()
            ip = created["spec"]["clusterIP"]
            assert ip in set(net.service_candidates()), "an address the runtime listens on"
            try:
                body = wait_for(lambda: _fetch(f"http://{ip}:5000/index.html"), 60, "the service proxy")
            except AssertionError:
                raise AssertionError((tmp_path / "runtime.log").read_text()[-3000:]) from None
            assert body == "hello"
            svc = http.get("/api/v1/namespaces/default/services/web").json()
            assert svc["spec"]["clusterIP"] == ip
            assert svc["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"], \
                "the runtime did not have to patch the address"
        finally:
            runtime.send_signal(signal.SIGTERM)
            try:
                runtime.wait(20)
            except subprocess.TimeoutExpired:
                runtime.kill()
                runtime.wait(5)
            log.close()
            http.close()
