"""The example's three "models", small enough to read in a minute and CPU-only.

- ``BrightBoxDetector``: boxes around connected regions brighter than a threshold (the people).
- ``ColorHistogramFE``: a feature per box = colour histograms of its upper and lower halves, L2-normalised.
- ``ReIDMatcher``: the ReID worker's matcher — the target's features (from its query photos) against every
  box of a frame, by cosine similarity; matches are appended to a JSON-lines file.

Model files are small JSON documents (``prepare.py`` writes them); ``MODEL_URL`` points at one.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import numpy as np
from scipy import ndimage

from sedna.algorithms.reid.multi_img_matching import match_query_to_targets
from sedna.core.multi_edge_inference.data_classes import OP_MODE, DetTrackResult, Target
from sedna.core.multi_edge_inference.plugins import PluggableModel
from sedna.core.multi_edge_inference.utils import get_parameters

logger = logging.getLogger("multi_edge_example")


class BrightBoxDetector(PluggableModel):
    """``predict([(frame, detection_time, index), ...])`` → one ``DetTrackResult`` per frame with boxes."""

    def __init__(self, **kwargs: Any) -> None:
        self.camera_code = kwargs.get("video_id", get_parameters("video_id", 0))
        self.device = "cpu"
        self.params: dict = {}
        super().__init__()

    def load(self, **kwargs: Any) -> None:
        with open(self.model_path, encoding="utf-8") as fh:
            self.params = json.load(fh)
        self.threshold = float(self.params.get("threshold", 100))
        self.min_area = int(self.params.get("min_area", 40))

    def update_plugin(self, update_object: Any, **kwargs: Any) -> None:
        if isinstance(update_object, dict) and "threshold" in update_object:
            self.threshold = float(update_object["threshold"])

    def detect(self, frame: np.ndarray) -> tuple[list[list[int]], list[float]]:
        mask = frame.max(axis=2) > self.threshold
        labels, _ = ndimage.label(mask)
        boxes, scores = [], []
        for index, region in enumerate(ndimage.find_objects(labels), start=1):
            if region is None:
                continue
            ys, xs = region
            area = int((labels[region] == index).sum())
            if area < self.min_area:
                continue
            boxes.append([xs.start, ys.start, xs.stop, ys.stop])
            scores.append(round(area / ((xs.stop - xs.start) * (ys.stop - ys.start)), 3))
        return boxes, scores

    def predict(self, data: list, **kwargs: Any) -> list[DetTrackResult]:
        results = []
        for frame, det_time, index in data:
            boxes, scores = self.detect(frame)
            if boxes:
                results.append(DetTrackResult(frame_index=index, scene=frame, confidence=scores,
                                              detection_time=det_time, camera=self.camera_code,
                                              bbox_coord=boxes, tracking_ids=[-1] * len(boxes)))
        return results


def colour_feature(image: np.ndarray, bins: int = 4) -> np.ndarray:
    """Upper-half and lower-half colour histograms (``bins``³ each), square-rooted, L2-normalised."""
    image = np.asarray(image)[..., :3]
    half = image.shape[0] // 2
    parts = []
    for part in (image[:half], image[half:]):
        quantised = (part.reshape(-1, 3).astype(np.int32) * bins) // 256
        codes = quantised[:, 0] * bins * bins + quantised[:, 1] * bins + quantised[:, 2]
        hist = np.bincount(codes, minlength=bins ** 3).astype(np.float32)
        parts.append(hist / max(hist.sum(), 1.0))
    feature = np.sqrt(np.concatenate(parts))
    return (feature / max(float(np.linalg.norm(feature)), 1e-12)).reshape(1, -1)


class ColorHistogramFE(PluggableModel):
    """Adds one feature vector per box to each ``DetTrackResult``; also turns query images into a Target."""

    def __init__(self, **kwargs: Any) -> None:
        self.device = "cpu"
        super().__init__()

    def load(self, **kwargs: Any) -> None:
        with open(self.model_path, encoding="utf-8") as fh:
            self.bins = int(json.load(fh).get("bins", 4))

    def update_plugin(self, update_object: Any, **kwargs: Any) -> None:
        logger.info("feature extraction update: %s", update_object)

    def predict(self, data: list, **kwargs: Any) -> list[DetTrackResult]:
        for result in data:
            result.features = []
            for x1, y1, x2, y2 in result.bbox_coord:
                result.features.append(colour_feature(result.scene[int(y1):int(y2), int(x1):int(x2)], self.bins))
        return data

    def get_target_features(self, ldata: list) -> list[Target]:
        targets = []
        for query in ldata:
            features = [colour_feature(image, self.bins) for image in query.bbox or []]
            targets.append(Target(query.userID, features))
        return targets


class ReIDMatcher:
    """The ReID worker's model (like upstream's, a plain object with ``predict``/``update_plugin``/
    ``update_target``). Env: ``user_id``, ``query_images`` (``|``-separated ``.npy`` paths),
    ``match_threshold`` (0.8), ``op_mode`` (``tracking``), ``results_file``."""

    def __init__(self) -> None:
        self.user_id = get_parameters("user_id", "DEFAULT")
        self.query_images = [p for p in str(get_parameters("query_images", "")).split("|") if p]
        self.threshold = float(get_parameters("match_threshold", 0.8))
        self.op_mode = OP_MODE(get_parameters("op_mode", "tracking"))
        self.results_file = get_parameters("results_file", "reid_results.jsonl")
        self.targets_list: list[Target] = []

    def update_plugin(self, status: Any) -> list[DetTrackResult]:
        images = [np.load(path, allow_pickle=False) for path in self.query_images]
        query = DetTrackResult(0, images, None, [], 0, 0)
        query.userID = self.user_id
        return [query]

    def update_target(self, ldata: list[Target]) -> None:
        logger.info("target updated: %s", ldata)
        self.targets_list = ldata

    def predict(self, data: list, **kwargs: Any) -> list[DetTrackResult]:
        matched = []
        for det in data:
            det.targetID = [-1] * len(det.bbox_coord)
            best = None
            for target in self.targets_list:
                index, score = match_query_to_targets(target.features, det.features, avg_mode=False)
                if index >= 0 and score >= self.threshold:
                    det.targetID[index] = str(target.userid)
                    det.userID = target.userid
                    det.is_target = index
                    best = (index, score)
            if best is not None:
                matched.append(det)
                self.store_result(det, *best)
        return matched

    def store_result(self, det: DetTrackResult, index: int, score: float) -> None:
        record = {"userID": det.userID, "frame_index": int(det.frame_index), "camera": det.camera,
                  "box": [int(v) for v in det.bbox_coord[index]], "score": round(score, 4),
                  "detection_time": det.detection_time}
        os.makedirs(os.path.dirname(os.path.abspath(self.results_file)), exist_ok=True)
        with open(self.results_file, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
