"""The dashboard in headless Chromium against the single-machine cluster while the examples run
(``sedna local up`` starts the dashboard; ``sedna local example run`` runs the examples):

- the overview lists the helmet-detection JointInferenceService;
- its job page's inference plot gains points as more frames reach the edge worker (pushed over SSE);
- the surface-defect FederatedLearningJob's page gains round points while its rounds run;
- a second service whose edge worker exits with code 3 shows up failing, first in the overview, and its page
  shows the crash-looping pod with exit code 3 and its log.

Screenshots go to the artifacts directory; docs/dashboard.png is the joint-inference page.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from support_browser import artifacts_dir, browser_or_skip, click, elements, quit_browser, text
from support_procs import free_port, wait_for

REPO = Path(__file__).resolve().parents[2]
NAME = "helmet-detection-inference-example"
FL_NAME = "surface-defect-detection"
pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.timeout(600)]


def _argv(data_dir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "sedna", "--log-level", "WARNING", "local", "--data-dir", str(data_dir), *args]


def sedna_local(data_dir: Path, *args: str, stdin: str | None = None, timeout: float = 180) \
        -> subprocess.CompletedProcess:
    return subprocess.run(_argv(data_dir, *args), input=stdin, capture_output=True, text=True, timeout=timeout,
                          check=False)


def crashing_service(example: dict) -> dict:
    """The example's service under another name, its edge worker a command that prints and exits 3."""
    svc = json.loads(json.dumps(example))
    svc["metadata"]["name"] = "crashing-edge-example"
    edge = svc["spec"]["edgeWorker"]["template"]["spec"]["containers"][0]
    edge["command"] = ["python", "-c", "import sys; print('edge worker: no camera found'); sys.exit(3)"]
    edge["image"] = "sedna-example/crashing:v1"
    cloud = svc["spec"]["cloudWorker"]["template"]["spec"]["containers"][0]
    cloud["command"] = ["python", "-c", "import time; time.sleep(3600)"]
    cloud["image"] = "sedna-example/idle:v1"
    return svc


@pytest.fixture
def cluster_dir(tmp_path):
    data_dir = tmp_path / "cluster"
    yield data_dir
    sedna_local(data_dir, "down")


def _points(driver, metric: str = "inferenceNumber") -> int:
    found = elements(driver, f'.plot[data-metric="{metric}"]')
    return int(found[0]["data"].get("points", 0)) if found else 0


def _inferences(driver) -> float:
    return float(driver.execute_script(
        "const e = document.querySelector('.plot[data-metric=\"inferenceNumber\"] .v');"
        " return e && e.textContent !== '–' ? +e.textContent : -1;"))


def test_dashboard_while_examples_run(cluster_dir, tmp_path):
    browser = browser_or_skip()
    shots = artifacts_dir(tmp_path)
    up = sedna_local(cluster_dir, "up", "--nodes", "cloud-node,edge-node,edge2-node",
                     "--cluster-cidr", f"127.{random.randint(100, 250)}.0.0/16", "--lc-port", str(free_port()))
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    url = json.loads((cluster_dir / "state.json").read_text())["dashboard"]["url"]
    assert f"dashboard at {url}" in up.stdout
    try:
        run = sedna_local(cluster_dir, "example", "run", "joint-inference-helmet", timeout=360)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

        browser.get(url)
        row = wait_for(lambda: elements(browser, f'#overview tr[data-key="jointinferenceservices/default/{NAME}"]'),
                       30, "the service in the overview")[0]
        assert "JointInferenceService" in row["text"]

        # more frames reach the edge worker: each LC report adds a point to the plot, without a reload
        browser.get(url + f"#/o/jointinferenceservices/default/{NAME}")
        wait_for(lambda: _points(browser) >= 1, 30, "the first point")
        frames = sorted((cluster_dir / "examples" / "joint-inference-helmet" / "prepared" / "frames").glob("*.npy"))
        video = cluster_dir / "nodes" / "edge-node" / "joint_inference" / "video"
        assert frames and video.is_dir()
        for batch in (1, 2):
            before_points, before = _points(browser), _inferences(browser)
            for frame in frames[:3]:
                shutil.copy(frame, video / f"extra{batch}-{frame.name}")
            wait_for(lambda bp=before_points, bi=before: _points(browser) > bp and _inferences(browser) > bi, 60,
                     f"a new point after batch {batch}")
        assert _points(browser) >= 3
        browser.save_screenshot(str(shots / "e2e-job-ji.png"))

        # the FL job's page, open while its rounds run: the round plot gains points as they happen
        fl = subprocess.Popen(_argv(cluster_dir, "example", "run", "federated-learning-surface-defect"),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            browser.get(url + f"#/o/federatedlearningjobs/default/{FL_NAME}")
            seen = set()
            deadline = time.monotonic() + 300
            while fl.poll() is None and time.monotonic() < deadline:
                seen.add(_points(browser, "round"))
                time.sleep(0.2)
            out = fl.communicate(timeout=60)[0]
            assert fl.returncode == 0, out[-3000:]
        finally:
            if fl.poll() is None:
                fl.kill()
        wait_for(lambda: text(browser, "#round") == "3", 30, "round 3 on the page")
        seen.add(_points(browser, "round"))
        assert len(seen - {0}) >= 2, f"the round plot did not grow while the job ran: {sorted(seen)}"
        browser.save_screenshot(str(shots / "e2e-job-fl.png"))

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
