"""``sedna local example run multi-edge-tracking``: FeatureExtractionService + VideoAnalyticsJob + ReidJob from
one apply; the ReidJob succeeds only once it matched the target, and a detector that crashes makes the run fail
naming its pod."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import yaml
from examples_support import REPO, down, reported, run_example

pytestmark = [pytest.mark.timeout(400)]

EXAMPLE = REPO / "examples" / "multi_edge_inference"


def test_multi_edge_tracking_matches_the_target_in_exactly_its_frames(tmp_path):
    data_dir = tmp_path / "cluster"
    try:
        run = run_example(data_dir, "multi-edge-tracking", "--timeout", "240")
        assert run.returncode == 0, run.stdout + run.stderr
        assert reported(run.stdout, "phase") == "Succeeded"
        truth = json.loads((data_dir / "examples" / "multi-edge-tracking" / "prepared" / "truth.json").read_text())
        results = data_dir / "nodes" / "edge-node" / "multi_edge" / "results" / "reid_results.jsonl"
        records = [json.loads(line) for line in results.read_text().splitlines()]
        assert sorted(r["frame_index"] for r in records) == [i for i in range(20) if "target" in truth[str(i)]]
        assert all(r["box"] == truth[str(r["frame_index"])]["target"] and r["userID"] == "alice" for r in records)
        # the detector's files were all consumed, and it left its summary for the ReID job
        shared = data_dir / "nodes" / "edge-node" / "multi_edge" / "shared"
        assert not list(shared.glob("*.dat"))
        assert json.loads((shared / "detection_done.json").read_text()) == {
            "frames": 20, "dropped": 0, "results_received": 20}
    finally:
        down(data_dir)


def test_a_crashing_detector_fails_the_run_naming_its_pod(tmp_path):
    """The success condition can fail: the detection image mapped to a command that exits 3."""
    examples = tmp_path / "examples"
    shutil.copytree(EXAMPLE, examples / "multi_edge_inference",
                    ignore=shutil.ignore_patterns("__pycache__", "object_search", "object_tracking"))
    image_map = examples / "multi_edge_inference" / "local-images.yaml"
    doc = yaml.safe_load(image_map.read_text())
    doc["images"]["sedna-example/multi-edge-detection"]["entrypoint"] = [
        "python", "-c", "import sys; print('detector: camera unplugged', flush=True); sys.exit(3)"]
    image_map.write_text(yaml.safe_dump(doc))
    data_dir = tmp_path / "cluster"
    try:
        run = run_example(data_dir, "multi-edge-tracking", "--timeout", "120",
                          env={**os.environ, "SEDNA_EXAMPLES_DIR": str(examples)})
        assert run.returncode == 1, run.stdout + run.stderr
        failed = [line for line in run.stdout.splitlines() if line.startswith("FAILED")]
        assert failed and "pod video-analytics-videoanalytics-" in failed[0], run.stdout
        assert "exited with code 3" in failed[0]
        assert "detector: camera unplugged" in run.stdout             # its last log lines are shown
    finally:
        down(data_dir)
