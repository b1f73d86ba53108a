"""``sedna local example run object-search`` and ``object-tracking``: the GM's Deployments and pods running the
example's user, tracking and ReID workers on seeded two-camera videos. Checked against the ground truth: every
sighting is the target and every frame where it is in view has one; each person has one identity in both
cameras. And the success conditions can fail: a search for someone in no camera, and a ReID threshold so strict
that nobody is re-identified."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from examples_support import REPO, down, reported, run_example

pytestmark = [pytest.mark.timeout(400)]

EXAMPLE = REPO / "examples" / "multi_edge_inference"


def truth_of(data_dir: Path, name: str) -> dict:
    return json.loads((data_dir / "examples" / name / "prepared" / "truth.json").read_text())


def copy_examples(tmp_path: Path) -> Path:
    examples = tmp_path / "examples"
    shutil.copytree(EXAMPLE, examples / "multi_edge_inference", ignore=shutil.ignore_patterns("__pycache__"))
    return examples / "multi_edge_inference"


def test_object_search_finds_the_target_in_exactly_its_frames(tmp_path):
    data_dir = tmp_path / "cluster"
    try:
        run = run_example(data_dir, "object-search", "--timeout", "240")
        assert run.returncode == 0, run.stdout + run.stderr
        # every worker pod Running and ready: the user worker, 2 tracking pods, 2 ReID replicas
        assert reported(run.stdout, "active workers") == "5"
        truth = truth_of(data_dir, "object-search")
        expected = {(cam, int(i)) for cam, frames in truth.items() for i, boxes in frames.items()
                    if "target" in boxes}
        results = data_dir / "nodes" / "cloud-node" / "object_search" / "results"
        records = [json.loads(p.read_text()) for p in results.glob("*.json")]
        assert {(r["camera"], r["frame_index"]) for r in records} == expected and len(expected) == 24
        for r in records:
            assert r["userID"] == "alice" and r["box"] == truth[r["camera"]][str(r["frame_index"])]["target"]
    finally:
        down(data_dir)


def test_object_tracking_gives_each_person_one_identity_in_both_cameras(tmp_path):
    data_dir = tmp_path / "cluster"
    try:
        run = run_example(data_dir, "object-tracking", "--timeout", "240")
        assert run.returncode == 0, run.stdout + run.stderr
        truth = truth_of(data_dir, "object-tracking")
        tracks = data_dir / "nodes" / "edge-node" / "object_tracking" / "tracks"
        identity_of: dict[str, set[int]] = {}
        for path in tracks.glob("*.json"):
            record = json.loads(path.read_text())
            people = truth[record["camera"]][str(record["frame_index"])]
            by_box = {tuple(o["box"]): o["identity"] for o in record["objects"]}
            assert sorted(by_box) == sorted(tuple(b) for b in people.values())   # everyone found, nothing else
            for person, box in people.items():
                identity_of.setdefault(person, set()).add(by_box[tuple(box)])
        assert len(list(tracks.glob("*.json"))) == 36
        # one identity per person, across both cameras, and three different ones
        assert all(len(ids) == 1 for ids in identity_of.values()), identity_of
        assert len({next(iter(ids)) for ids in identity_of.values()}) == 3
    finally:
        down(data_dir)


@pytest.mark.slow             # waits for the runner's 30 s timeout
def test_object_search_for_someone_in_no_camera_fails(tmp_path):
    folder = copy_examples(tmp_path)
    spec_path = folder / "object_search" / "example.yaml"
    spec = yaml.safe_load(spec_path.read_text())
    spec["prepare"]["command"] += ["--query", "stranger"]
    spec_path.write_text(yaml.safe_dump(spec))
    data_dir = tmp_path / "cluster"
    try:
        run = run_example(data_dir, "object-search", "--timeout", "30",
                          env={**os.environ, "SEDNA_EXAMPLES_DIR": str(folder.parent)})
        assert run.returncode == 1, run.stdout + run.stderr
        assert "FAILED: example object-search: timed out after 30 s" in run.stdout
        assert "not met: the target was found in its 24 frames (observed: 0)" in run.stdout
        # the rest of the pipeline worked: every frame was compared, nothing matched
        assert '"frames_sent": 18, "answered": 18, "matched": 0' in run.stdout
    finally:
        down(data_dir)


def test_object_tracking_without_re_identification_fails(tmp_path):
    folder = copy_examples(tmp_path)
    manifest = folder / "object_tracking" / "object_tracking.yaml"
    manifest.write_text(manifest.read_text().replace('value: "0.8"', 'value: "0.99999"'))
    data_dir = tmp_path / "cluster"
    try:
        run = run_example(data_dir, "object-tracking", "--timeout", "120",
                          env={**os.environ, "SEDNA_EXAMPLES_DIR": str(folder.parent)})
        assert run.returncode == 1, run.stdout + run.stderr
        assert ("FAILED: example object-tracking: failure condition holds: more identities than people: "
                "someone was not re-identified") in run.stdout
    finally:
        down(data_dir)
