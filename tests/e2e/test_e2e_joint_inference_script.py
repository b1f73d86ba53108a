"""``hack/e2e-joint-inference.sh`` headless: runs to the end, reports the CR status, and re-running is safe."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_ji_support import REPO, free_port, running, wait_for

pytestmark = [pytest.mark.timeout(300)]

SCRIPT = REPO / "hack" / "e2e-joint-inference.sh"
FRAMES = 4


def run_script(data_dir: Path, up_args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, FRAMES=str(FRAMES), SEDNA_LOCAL_DIR=str(data_dir), TIMEOUT="120",
               PYTHON=sys.executable, SEDNA_LOCAL_UP_ARGS=up_args)
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=240,
                          check=False, cwd=REPO)


def components(data_dir: Path) -> set[tuple[int, str]]:
    state = json.loads((data_dir / "state.json").read_text())
    records = [state["supervisor"], *state["children"].values()]
    return {(int(r["pid"]), str(r["start"])) for r in records if r.get("pid")}


def pod_processes(data_dir: Path) -> set[tuple[int, str]]:
    out = set()
    for pidfile in data_dir.glob("nodes/*/var/lib/kubelet/pods/*/containers/*.pid"):
        try:
            pid, stamp = pidfile.read_text().split()
        except (OSError, ValueError):
            continue
        out.add((int(pid), stamp))
    return out


def reported(stdout: str, what: str) -> str:
    m = re.search(rf"^\s+{re.escape(what)}\s+(\S+)", stdout, re.MULTILINE)
    assert m, f"no {what!r} line in:\n{stdout}"
    return m.group(1)


def test_script_runs_and_reruns(tmp_path):
    data_dir = tmp_path / "cluster"
    up_args = f"--cluster-cidr 127.{random.randint(30, 99)}.0.0/16 --lc-port {free_port()}"
    seen: set[tuple[int, str]] = set()
    try:
        first = run_script(data_dir, up_args)
        assert first.returncode == 0, first.stdout + first.stderr
        seen |= components(data_dir) | pod_processes(data_dir)
        assert reported(first.stdout, "condition") == "Running"
        assert reported(first.stdout, "inference number") == str(FRAMES)
        hard = int(reported(first.stdout, "hard-example number"))
        assert float(reported(first.stdout, "upload-cloud ratio")) == pytest.approx(hard / FRAMES, abs=1e-3)
        assert reported(first.stdout, "failed offloads") == "0"
        out = data_dir / "nodes" / "edge-node" / "joint_inference" / "output"
        assert len(list((out / "output").glob("*.json"))) == FRAMES
        assert len(list((out / "hard_example_cloud_inference_output").glob("*.json"))) == hard
        assert f"export KUBECONFIG={data_dir}/kubeconfig" in first.stdout
        assert "local --data-dir" in first.stdout and " down" in first.stdout
        first_pods = pod_processes(data_dir)

        # again, on the running cluster: same cluster, a fresh service, the same counts
        again = run_script(data_dir, up_args)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "already up" in again.stdout and "reusing the prepared data" in again.stdout
        assert "deleting the service of an earlier run" in again.stdout
        assert reported(again.stdout, "inference number") == str(FRAMES)
        assert reported(again.stdout, "hard-example number") == str(hard)
        assert len(list((out / "output").glob("*.json"))) == FRAMES
        seen |= components(data_dir) | pod_processes(data_dir)
        assert not [r for r in first_pods if running(r)], "the first run's workers outlived their service"
    finally:
        down = subprocess.run([sys.executable, "-m", "sedna", "local", "--data-dir", str(data_dir), "down"],
                              capture_output=True, text=True, timeout=120, check=False, cwd=REPO)
    assert down.returncode == 0, down.stdout + down.stderr
    wait_for(lambda: not [r for r in seen if running(r)], 30, "every process of the cluster to end")
