"""The object-search/tracking example's pure pieces: the IoU tracker, the fingerprint hub shared by ReID
replicas (no duplicate identity under concurrency), the matcher's decisions."""

from __future__ import annotations

import importlib
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "multi_edge_inference"
sys.path.insert(0, str(EXAMPLE))
try:
    cameras = importlib.import_module("cameras")
    models = importlib.import_module("models")
    search_models = importlib.import_module("search_models")
finally:
    sys.path.remove(str(EXAMPLE))


class _Tracker(search_models.TrackingDetector):
    def __init__(self):          # the tracking logic only: no model file
        self.tracks, self.next_track = {}, 0


@pytest.mark.parametrize("frames, expected", [
    ([[[0, 0, 10, 10]], [[2, 0, 12, 10]], [[4, 0, 14, 10]]], [[0], [0], [0]]),            # one walker
    ([[[0, 0, 10, 10], [50, 0, 60, 10]], [[51, 0, 61, 10], [1, 0, 11, 10]]], [[0, 1], [1, 0]]),  # order swaps
    ([[[0, 0, 10, 10]], [[40, 40, 50, 50]]], [[0], [1]]),                                   # no overlap: new
    ([[[0, 0, 10, 10]], [], [[0, 0, 10, 10]]], [[0], [], [1]]),                              # lost, then new
])
def test_iou_tracker_keeps_ids_while_boxes_overlap(frames, expected):
    tracker = _Tracker()
    assert [tracker.track(boxes) for boxes in frames] == expected


def _feature(camera: str, index: int, person: str) -> np.ndarray:
    box = cameras.truth(camera, index)[person]
    return models.colour_feature(cameras.render(camera, index)[box[1]:box[3], box[0]:box[2]])


def _identify(args):
    folder, camera, index = args
    hub = search_models.FingerprintHub(folder, 0.8)
    people = sorted(cameras.truth(camera, index))
    return dict(zip(people, hub.identify([_feature(camera, index, p) for p in people], f"{camera}/{index}")))


def test_fingerprint_hub_gives_each_person_one_identity_across_cameras_and_processes(tmp_path):
    jobs = [(str(tmp_path), cam, i) for i in range(6, 12) for cam in cameras.CAMERAS]
    with ProcessPoolExecutor(4) as pool:
        answers = list(pool.map(_identify, jobs))
    ids: dict[str, set[int]] = {}
    for answer in answers:
        for person, gid in answer.items():
            ids.setdefault(person, set()).add(gid)
    assert {p: len(v) for p, v in ids.items()} == {"target": 1, "red-green": 1, "yellow-blue": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["identity-0.json", "identity-1.json", "identity-2.json"]


def test_target_matcher_reports_only_the_target():
    from sedna.core.multi_edge_inference.data_classes import DetTrackResult, Target

    reported = []
    matcher = search_models.TargetMatcher(0.8, reported.extend)
    matcher.update_target([Target("alice", [_feature("cam-0", 3, "target")])])
    dets = []
    for camera, index in (("cam-0", 5), ("cam-1", 2), ("cam-1", 10)):    # the target is not in cam-1 frame 2
        people = cameras.truth(camera, index)
        dets.append(DetTrackResult(frame_index=index, scene=cameras.render(camera, index), camera=camera,
                                   bbox_coord=list(people.values()), tracking_ids=list(range(len(people)))))
    matched = matcher.predict(dets)
    expected = [(d.camera, d.frame_index) for d in dets if "target" in cameras.truth(d.camera, d.frame_index)]
    assert [(d.camera, d.frame_index) for d in matched] == expected == [("cam-0", 5), ("cam-1", 10)]
    for det in matched:
        assert det.bbox_coord[det.is_target] == cameras.truth(det.camera, det.frame_index)["target"]
    assert reported == matched and matcher.frames_seen == 3
