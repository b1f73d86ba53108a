"""The models of the object-search and object-tracking examples (CPU-only, small enough to read):

- ``TrackingDetector``: the tracking workers' model, ``BrightBoxDetector`` plus a per-camera IoU tracker that
  gives each box a local track id.
- ``SearchTask``: the user worker's model (an ``FEService`` model): the user's search request (query photos
  → the target's features, asked for by the ReID workers) and the found objects the ReID workers report
  (one JSON file per camera and frame under ``results_dir``).
- ``TargetMatcher``: the object-search ReID workers' model: features per box, matched against the target.
- ``FingerprintHub`` + ``IdentityAssigner``: the object-tracking ReID workers' model: a global identity per
  box, shared by every ReID replica through a folder (``fingerPrintHub``) guarded by a file lock, and one
  track record per camera and frame under ``tracks_dir``.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

import numpy as np
from models import BrightBoxDetector, colour_feature

from sedna.algorithms.reid.multi_img_matching import match_query_to_targets
from sedna.core.multi_edge_inference.data_classes import DetTrackResult, Target

logger = logging.getLogger("multi_edge_example")


def iou(a: list, b: list) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def write_json(path: str, doc: Any) -> None:
    """Atomically (a reader sees the whole file or none)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(doc, fh)
    os.replace(tmp, path)


def box_features(det: DetTrackResult, bins: int = 4) -> list[np.ndarray]:
    return [colour_feature(det.scene[int(y1):int(y2), int(x1):int(x2)], bins) for x1, y1, x2, y2 in det.bbox_coord]


class TrackingDetector(BrightBoxDetector):
    """Boxes per frame and a local track id per box: a box continues the track of the previous frame's box it
    overlaps most (IoU ≥ ``min_iou``), otherwise starts a new track."""

    min_iou = 0.3

    def __init__(self, **kwargs: Any) -> None:
        self.tracks: dict[int, list[int]] = {}
        self.next_track = 0
        super().__init__(**kwargs)

    def track(self, boxes: list[list[int]]) -> list[int]:
        ids, taken, current = [], set(), {}
        for box in boxes:
            best, best_iou = None, self.min_iou
            for tid, prev in self.tracks.items():
                overlap = iou(box, prev)
                if tid not in taken and overlap >= best_iou:
                    best, best_iou = tid, overlap
            if best is None:
                best, self.next_track = self.next_track, self.next_track + 1
            taken.add(best)
            current[best] = box
            ids.append(best)
        self.tracks = current
        return ids

    def predict(self, data: list, **kwargs: Any) -> list[DetTrackResult]:
        results = super().predict(data, **kwargs)
        for result in results:
            result.tracking_ids = self.track(result.bbox_coord)
        return results


class SearchTask:
    """The user worker's model. Env-free: ``user_id``, the query images and ``results_dir`` are given."""

    def __init__(self, user_id: str, query_images: list[np.ndarray], results_dir: str, bins: int = 4):
        self.user_id = user_id
        self.features = [colour_feature(image, bins) for image in query_images]
        self.results_dir = results_dir
        self.found = 0

    def get_target_features(self, ldata: Any) -> list[Target]:
        return [Target(self.user_id, self.features)]

    def update_plugin(self, update_object: Any, **kwargs: Any) -> None:
        logger.info("search task update: %s", update_object)

    def inference(self, data: list, **kwargs: Any) -> list:
        """Found objects reported by the ReID workers: recorded, nothing sent on (an empty result)."""
        for det in data:
            index = det.is_target if isinstance(det.is_target, int) and not isinstance(det.is_target, bool) else 0
            record = {"userID": det.userID, "camera": det.camera, "frame_index": int(det.frame_index),
                      "box": [int(v) for v in det.bbox_coord[index]],
                      "track": int(det.tracking_ids[index]) if det.tracking_ids else -1,
                      "detection_time": det.detection_time}
            write_json(os.path.join(self.results_dir, f"{det.camera}_{int(det.frame_index):05d}.json"), record)
            self.found += 1
            logger.info("found %s in %s frame %s at %s", det.userID, det.camera, det.frame_index, record["box"])
        return []


class TargetMatcher:
    """Object-search ReID: the best box of each frame whose cosine similarity to the target reaches
    ``threshold`` is a sighting; ``report(list)`` gets the sightings (the worker sends them to the user)."""

    def __init__(self, threshold: float, report: Callable[[list], Any], bins: int = 4):
        self.threshold = threshold
        self.report = report
        self.bins = bins
        self.targets: list[Target] = []
        self.frames_seen = 0
        self.sightings = 0

    def update_plugin(self, status: Any) -> list:
        return []                          # the user worker knows the search task; nothing to send it

    def update_target(self, targets: list[Target]) -> None:
        logger.info("search targets: %s", targets)
        self.targets = list(targets or [])

    def predict(self, data: list, **kwargs: Any) -> list[DetTrackResult]:
        matched = []
        for det in data:
            self.frames_seen += 1
            features = box_features(det, self.bins)
            for target in self.targets:
                index, score = match_query_to_targets(target.features, features)
                if index >= 0 and score >= self.threshold:
                    det.userID, det.is_target = target.userid, int(index)
                    det.targetID = [str(target.userid) if i == index else -1 for i in range(len(features))]
                    det.features = []
                    matched.append(det)
                    break
        if matched:
            self.sightings += len(matched)
            self.report(matched)
        return matched


class FingerprintHub:
    """Identities shared by every ReID replica: ``<folder>/identity-<n>.json`` with the first features seen,
    assigned under an exclusive lock on the folder so two replicas never create the same person."""

    def __init__(self, folder: str, threshold: float):
        self.folder = folder
        self.threshold = threshold
        os.makedirs(folder, exist_ok=True)

    @contextmanager
    def _locked(self):
        fd = os.open(self.folder, os.O_RDONLY)          # the folder itself is the lock: no extra file
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)                                  # closing releases the lock

    def _identities(self) -> dict[int, np.ndarray]:
        out = {}
        for name in os.listdir(self.folder):
            if name.startswith("identity-") and name.endswith(".json"):
                with open(os.path.join(self.folder, name), encoding="utf-8") as fh:
                    doc = json.load(fh)
                out[int(doc["id"])] = np.asarray(doc["feature"], dtype=np.float32).reshape(1, -1)
        return out

    def identify(self, features: list[np.ndarray], where: str) -> list[int]:
        """A global identity per feature: the most similar known one, or a new one."""
        with self._locked():
            known = self._identities()
            ids = []
            for feature in features:
                best, best_score = -1, self.threshold
                for gid, ref in known.items():
                    score = float(np.dot(ref.ravel(), np.asarray(feature).ravel()))
                    if score >= best_score:
                        best, best_score = gid, score
                if best < 0:
                    best = max(known, default=-1) + 1
                    known[best] = np.asarray(feature, dtype=np.float32).reshape(1, -1)
                    write_json(os.path.join(self.folder, f"identity-{best}.json"),
                               {"id": best, "first_seen": where, "feature": known[best].ravel().tolist()})
                    logger.info("new identity %d first seen in %s", best, where)
                ids.append(best)
            return ids


class IdentityAssigner:
    """Object-tracking ReID: a global identity per box from the hub; one record per camera and frame."""

    def __init__(self, hub: FingerprintHub, tracks_dir: str, bins: int = 4):
        self.hub = hub
        self.tracks_dir = tracks_dir
        self.bins = bins
        self.frames_seen = 0

    def update_plugin(self, status: Any) -> list:
        return []

    def update_target(self, targets: list) -> None:
        """Tracking has no search target."""

    def predict(self, data: list, **kwargs: Any) -> list[DetTrackResult]:
        for det in data:
            self.frames_seen += 1
            det.ID = self.hub.identify(box_features(det, self.bins), f"{det.camera} frame {det.frame_index}")
            record = {"camera": det.camera, "frame_index": int(det.frame_index),
                      "objects": [{"box": [int(v) for v in box], "track": int(track), "identity": int(gid)}
                                  for box, track, gid in zip(det.bbox_coord, det.tracking_ids, det.ID)]}
            write_json(os.path.join(self.tracks_dir, f"{det.camera}_{int(det.frame_index):05d}.json"), record)
            det.scene, det.features = None, []
        return data
