"""The example pipeline as real processes (feature extraction server, detection job, ReID job)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(240)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "multi_edge_inference"


def test_example_pipeline_reidentifies_the_target(tmp_path):
    proc = subprocess.run([sys.executable, "run_pipeline.py", "--out", str(tmp_path), "--frames", "20"],
                          cwd=EXAMPLE, capture_output=True, text=True, timeout=200, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    # the target walks through frames 0-15 only; the two look-alikes are in every frame
    assert summary["frames_with_target"] == 16
    assert summary["matched"] == 16 and summary["correct"] == 16 and summary["wrong"] == 0
    assert summary["users"] == ["alice"]
    assert summary["detection"] == {"frames": 20, "dropped": 0, "results_received": 20}
    assert summary["reid"]["files"] == 20 and summary["reid"]["targets"] == 1
    # the shared folder was consumed, and what travelled was never pickle
    assert not list((tmp_path / "shared").glob("*.dat"))
    records = [json.loads(line) for line in (tmp_path / "reid_results.jsonl").read_text().splitlines()]
    assert {r["camera"] for r in records} == {"cam-1"} and min(r["score"] for r in records) > 0.8


def test_example_manifests_are_valid_and_images_map_to_the_workers():
    import yaml

    from sedna.api.validate import validate_object
    from sedna.local.runtime.images import load_image_map

    docs = list(yaml.safe_load_all((EXAMPLE / "multi_edge_inference.yaml").read_text()))
    assert [d["kind"] for d in docs] == ["Model", "Model", "FeatureExtractionService", "VideoAnalyticsJob",
                                          "ReidJob"]
    for doc in docs:
        errors = [i for i in validate_object(doc) if i.severity == "error"]
        assert errors == [], (doc["kind"], errors)
    # the names the SDK's default client hosts expect
    assert {d["metadata"]["name"] for d in docs[2:]} == {"feature-extraction", "video-analytics", "reid"}
    image_map = load_image_map(EXAMPLE / "local-images.yaml")
    images = {c["image"] for d in docs[2:] for c in d["spec"]["template"]["spec"]["containers"]}
    for name in ("object_search", "object_tracking"):     # the other two examples of this folder
        for doc in yaml.safe_load_all((EXAMPLE / name / f"{name}.yaml").read_text()):
            assert [i for i in validate_object(doc) if i.severity == "error"] == [], name
            templates = [doc["spec"]["reidWorkers"]["template"],
                         *(w["template"] for w in doc["spec"]["trackingWorkers"])]
            if "userWorker" in doc["spec"]:
                templates.append(doc["spec"]["userWorker"]["template"])
            images |= {c["image"] for t in templates for c in t["spec"]["containers"]}
    assert images == set(image_map.entries)
    for entry in image_map.entries.values():
        assert (EXAMPLE / entry.entrypoint[1]).is_file()
