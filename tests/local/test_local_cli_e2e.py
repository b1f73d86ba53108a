"""``sedna local up/status/apply/get/logs/delete/down`` end to end, as a user runs them (real processes)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import support_reference
from support_procs import wait_for

pytestmark = pytest.mark.timeout(240)

REPO = Path(__file__).resolve().parents[2]
SAMPLES = support_reference.SAMPLES    # optional here: the dataset step runs only when the samples are there

DEMO = """\
apiVersion: v1
kind: Pod
metadata:
  name: demo
spec:
  restartPolicy: Never
  nodeSelector: {kubernetes.io/hostname: edge-node}
  containers:
  - name: main
    image: python:3.11
    command: [python, -c, "import os; print('hello from', os.environ['NODE'])"]
    env:
    - {name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  mode: "on"
"""


def sedna(data_dir: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sedna", "--log-level", "WARNING", "local", "--data-dir",
                           str(data_dir), *args], capture_output=True, text=True, timeout=timeout, check=False)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def data_dir(tmp_path):
    d = tmp_path / "cluster"
    yield d
    sedna(d, "down", timeout=90)


def test_up_apply_get_logs_down(data_dir, tmp_path):
    cidr = f"127.{random.randint(100, 250)}.0.0/16"
    up = sedna(data_dir, "up", "--no-controllers", "--nodes", "cloud-node,edge-node:role=edge",
               "--cluster-cidr", cidr)
    assert up.returncode == 0, up.stdout + up.stderr
    kubeconfig = data_dir / "kubeconfig"
    assert f"export KUBECONFIG={kubeconfig}" in up.stdout
    assert "GM/LC not started (--no-controllers)" in up.stdout
    again = sedna(data_dir, "up", "--no-controllers")
    assert again.returncode == 0 and "already up" in again.stdout

    status = sedna(data_dir, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "cloud-node   Ready" in status.stdout and "edge-node    Ready" in status.stdout
    state = json.loads((data_dir / "state.json").read_text())
    pids = [state["supervisor"]["pid"]] + [c["pid"] for c in state["children"].values()]
    assert set(state["children"]) == {"apiserver", "cluster-services", "node-cloud-node", "node-edge-node",
                                      "dashboard"}
    assert all(alive(p) for p in pids)
    assert f"sedna local: dashboard at {state['dashboard']['url']}" in up.stdout
    wait_for(lambda: _answers(state["dashboard"]["url"] + "api/info"), 30, "the dashboard answering")

    # the supervisor restarts a child that dies
    victim = state["children"]["node-edge-node"]["pid"]
    os.kill(victim, 9)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = json.loads((data_dir / "state.json").read_text())
        child = state["children"].get("node-edge-node") or {}
        if child.get("restarts") == 1 and child.get("pid") and child["pid"] != victim and alive(child["pid"]):
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"node agent not restarted: {state['children']}")
    pids = [state["supervisor"]["pid"]] + [c["pid"] for c in state["children"].values()]

    manifest = tmp_path / "demo.yaml"
    manifest.write_text(DEMO)
    applied = sedna(data_dir, "apply", "-f", str(manifest))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert applied.stdout.split("\n")[:2] == ["pod/demo created", "configmap/settings created"]
    reapplied = sedna(data_dir, "apply", "-f", str(manifest))
    assert "configmap/settings unchanged" in reapplied.stdout or "configmap/settings configured" in reapplied.stdout
    sample = SAMPLES / "dataset_v1alpha1.yaml"
    if sample.exists() and list((REPO / "deploy" / "crds").glob("*.yaml")):
        ds = sedna(data_dir, "apply", "-f", str(sample))
        assert ds.returncode == 0 and "dataset/dataset-demo0 created" in ds.stdout, ds.stdout + ds.stderr
        listed = sedna(data_dir, "get", "datasets")
        assert "dataset-demo0" in listed.stdout

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        got = sedna(data_dir, "get", "pod", "demo", "-o", "json")
        if got.returncode == 0 and json.loads(got.stdout)["status"].get("phase") == "Succeeded":
            break
        time.sleep(0.3)
    pod = json.loads(got.stdout)
    assert pod["status"]["phase"] == "Succeeded" and pod["spec"]["nodeName"] == "edge-node"
    table = sedna(data_dir, "get", "pods", "-o", "wide")
    assert table.returncode == 0 and "demo" in table.stdout and "edge-node" in table.stdout
    assert "NAME" in table.stdout.splitlines()[0]
    as_yaml = sedna(data_dir, "get", "configmap", "settings", "-o", "yaml")
    assert "mode: 'on'" in as_yaml.stdout or 'mode: "on"' in as_yaml.stdout
    logs = sedna(data_dir, "logs", "demo")
    assert logs.returncode == 0 and logs.stdout.strip() == "hello from edge-node"
    followed = sedna(data_dir, "logs", "demo", "-f", timeout=30)
    assert followed.returncode == 0 and followed.stdout.strip() == "hello from edge-node"
    # the data directory may also follow the action
    after = subprocess.run([sys.executable, "-m", "sedna", "local", "get", "nodes", "--data-dir", str(data_dir)],
                           capture_output=True, text=True, timeout=60, check=False)
    assert after.returncode == 0 and "cloud-node" in after.stdout
    bad = sedna(data_dir, "get", "frobnicators")
    assert bad.returncode == 1 and 'doesn\'t have a resource type "frobnicators"' in bad.stderr

    kubectl = Path(sys.executable).parent / "kubectl"
    if kubectl.exists():
        out = subprocess.run([str(kubectl), "--kubeconfig", str(kubeconfig), "get", "nodes", "--show-labels"],
                             capture_output=True, text=True, timeout=60, check=False)
        assert out.returncode == 0, out.stderr
        assert "edge-node" in out.stdout and "role=edge" in out.stdout

    deleted = sedna(data_dir, "delete", "pod", "demo")
    assert deleted.returncode == 0 and 'pod "demo" deleted' in deleted.stdout

    down = sedna(data_dir, "down", timeout=90)
    assert down.returncode == 0 and "down" in down.stdout
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.2)
    assert not any(alive(p) for p in pids)
    assert sedna(data_dir, "status").returncode == 1
    assert "not running" in sedna(data_dir, "down").stdout


def test_up_starts_gm_and_lcs_when_available(data_dir):
    from importlib.util import find_spec

    if find_spec("sedna.gm.main") is None or find_spec("sedna.lc.main") is None:
        pytest.skip("GM/LC modules not present")
    cidr = f"127.{random.randint(100, 250)}.0.0/16"
    lc_port = str(random.randint(20000, 30000))
    up = sedna(data_dir, "up", "--nodes", "cloud-node,edge-node", "--cluster-cidr", cidr, "--lc-port", lc_port,
               "--kb-server", "http://127.0.0.1:19020")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "GM at ws://127.0.0.1:" in up.stdout
    state = json.loads((data_dir / "state.json").read_text())
    assert {"gm", "lc-cloud-node", "lc-edge-node"} <= set(state["children"])
    gm_config = (data_dir / "gm.yaml").read_text()
    assert "secretFile:" in gm_config and str(data_dir / "kubeconfig") in gm_config   # GM secret, per-node LC tokens
    assert "server: http://127.0.0.1:19020" in gm_config
    # each LC announces itself to the GM
    deadline = time.monotonic() + 60
    log = data_dir / "logs" / "gm.out"
    while time.monotonic() < deadline:
        text = log.read_text() if log.exists() else ""
        if "cloud-node" in text and "edge-node" in text and "connected" in text:
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"LCs did not connect; GM log:\n{text[-3000:]}")
    lc_log = (data_dir / "logs" / "lc-edge-node.out").read_text()
    assert f"{state['nodes'][1]['address']}:{lc_port}" in lc_log
