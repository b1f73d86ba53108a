"""The dashboard in headless Chromium against the single-machine cluster while the helmet-detection joint
inference example runs (``hack/e2e-joint-inference.sh``; ``sedna local up`` starts the dashboard):

- the overview lists the JointInferenceService;
- its job page's inference plot gains points as more frames reach the edge worker (pushed over SSE);
- a second service whose edge worker exits with code 3 shows up failing, first in the overview, and its page
  shows the crash-looping pod with exit code 3.

Screenshots go to the artifacts directory; docs/dashboard.png is one of them.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support_browser import artifacts_dir, browser_or_skip, click, elements, quit_browser, text
from support_procs import free_port, wait_for

REPO = Path(__file__).resolve().parents[2]
NAME = "helmet-detection-inference-example"
pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.timeout(420)]


def sedna_local(data_dir: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sedna", "--log-level", "WARNING", "local", "--data-dir",
                           str(data_dir), *args], input=stdin, capture_output=True, text=True, timeout=120,
                          check=False)


def crashing_service(example: dict) -> dict:
    """The example's service under another name, its edge worker a command that prints and exits 3."""
    svc = json.loads(json.dumps(example))
    svc["metadata"]["name"] = "crashing-edge-example"
    edge = svc["spec"]["edgeWorker"]["template"]["spec"]["containers"][0]
    edge["command"] = ["python", "-c", "import sys; print('edge worker: no camera found'); sys.exit(3)"]
    edge["image"] = "sedna-example/crashing:v1"
    return svc


@pytest.fixture
def cluster_dir(tmp_path):
    data_dir = tmp_path / "cluster"
    yield data_dir
    sedna_local(data_dir, "down")


def _points(driver) -> int:
    return int(driver.execute_script(
        "const e = document.querySelector('.plot[data-metric=\"inferenceNumber\"]'); return e ? +e.dataset.points : 0;"))


def _inferences(driver) -> float:
    return float(driver.execute_script(
        "const e = document.querySelector('.plot[data-metric=\"inferenceNumber\"] .v');"
        " return e && e.textContent !== '–' ? +e.textContent : -1;"))


def test_dashboard_while_joint_inference_runs(cluster_dir, tmp_path):
    browser = browser_or_skip()
    shots = artifacts_dir(tmp_path)
    up_args = f"--cluster-cidr 127.{random.randint(100, 250)}.0.0/16 --lc-port {free_port()}"
    env = dict(os.environ, FRAMES="6", SEDNA_LOCAL_DIR=str(cluster_dir), TIMEOUT="180", PYTHON=sys.executable,
               SEDNA_LOCAL_UP_ARGS=up_args)
    try:
        run = subprocess.run(["bash", str(REPO / "hack" / "e2e-joint-inference.sh")], env=env, cwd=REPO,
                             capture_output=True, text=True, timeout=300, check=False)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        state = json.loads((cluster_dir / "state.json").read_text())
        url = state["dashboard"]["url"]
        assert f"dashboard at {url}" in run.stdout

        browser.get(url)
        row = wait_for(lambda: elements(browser, f'#overview tr[data-key="jointinferenceservices/default/{NAME}"]'),
                       30, "the service in the overview")[0]
        assert "JointInferenceService" in row["text"]

        # more frames reach the edge worker: each LC report adds a point to the plot, without a reload
        browser.get(url + f"#/o/jointinferenceservices/default/{NAME}")
        wait_for(lambda: _points(browser) >= 1, 30, "the first point")
        frames = sorted((cluster_dir / "prepared" / "joint_inference" / "frames").glob("*.npy"))
        video = cluster_dir / "nodes" / "edge-node" / "joint_inference" / "video"
        for batch in (1, 2):
            before_points, before = _points(browser), _inferences(browser)
            for frame in frames[:3]:
                shutil.copy(frame, video / f"extra{batch}-{frame.name}")
            wait_for(lambda bp=before_points, bi=before: _points(browser) > bp and _inferences(browser) > bi, 60,
                     f"a new point after batch {batch}")
        assert _points(browser) >= 3
        browser.save_screenshot(str(shots / "e2e-job-ji.png"))

        # a crash-looping worker: failing, first in the overview, with its exit code
        example = next(d for d in yaml.safe_load_all((REPO / "examples" / "joint_inference" / "helmet_detection"
                                                     / "helmet_detection_inference.yaml").read_text())
                       if d and d.get("kind") == "JointInferenceService")
        applied = sedna_local(cluster_dir, "apply", "-f", "-", stdin=yaml.safe_dump(crashing_service(example)))
        assert applied.returncode == 0, applied.stdout + applied.stderr
        browser.get(url)
        first = wait_for(lambda: (rows := elements(browser, "#overview tr.link")) and
                         rows[0]["data"]["failing"] == "true" and rows[0], 90, "the failing row first")
        assert "crashing-edge-example" in first["text"] and "exit code 3" in first["text"]
        browser.save_screenshot(str(shots / "e2e-overview.png"))
        browser.get(url + "#/o/jointinferenceservices/default/crashing-edge-example")
        pod = wait_for(lambda: [p for p in elements(browser, "#pod-table tr[data-pod]")
                                if p["data"]["failing"] == "true"], 60, "the failing pod")[0]["data"]["pod"]
        assert text(browser, f'tr[data-pod="{pod}"] td.exit') == "3"
        assert click(browser, f'button[data-log="{pod}"]')
        wait_for(lambda: "no camera found" in text(browser, f'tr[data-logrow="{pod}"] pre'), 30, "the log tail")
        browser.save_screenshot(str(shots / "e2e-crashing.png"))
        print(f"screenshots in {shots}")
    finally:
        quit_browser(browser)
