"""The objects the multi-edge inference components hand to each other (sdk.md §12.1).

They cross process boundaries through :mod:`sedna.core.multi_edge_inference.codec` (msgpack + ``.npy``),
never pickle. Unlike upstream, list defaults are not shared between instances: upstream's
``features=[]`` default made every result appended through one instance show up in all others.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

__all__ = ["DETECTION_TIME_FORMAT", "OP_MODE", "DetTrackResult", "Target", "TargetImages"]

DETECTION_TIME_FORMAT = "%a, %d %B %Y %H:%M:%S.%f"


class OP_MODE(Enum):
    """Operational modes of the pipeline."""

    DETECTION = "detection"
    TRACKING = "tracking"
    COVID19 = "covid19"
    NOOP = "noop"


def _image_key(detection_time: Any, camera: Any) -> str:
    try:
        stamp = datetime.strptime(detection_time, DETECTION_TIME_FORMAT).timestamp()
    except (TypeError, ValueError):
        return "0"
    return f"{stamp}_{camera}"


class DetTrackResult:
    """One frame's detections (and, further down the pipeline, their features and ReID matches).

    ``bbox`` holds crops (or query images), ``bbox_coord`` the ``[x1, y1, x2, y2]`` boxes, ``tracklets`` one
    tracking id per box, ``features`` one feature vector per box, ``targetID`` the matched identities.
    """

    def __init__(self, frame_index: int = 0, bbox: list | None = None, scene: Any = None,
                 confidence: list | None = None, detection_time: Any = None, camera: Any = 0,
                 bbox_coord: list | None = None, tracking_ids: list | None = None,
                 features: list | None = None, is_target: Any = False, ID: list | None = None):
        self.userID = "DEFAULT"
        self.frame_index = frame_index
        self.bbox = bbox
        self.tracklets = list(tracking_ids) if tracking_ids is not None else []
        self.bbox_coord = bbox_coord if bbox_coord is not None else []
        self.scene = scene
        self.confidence = confidence
        self.detection_time = detection_time
        self.camera = camera
        self.features = list(features) if features is not None else []
        self.is_target = is_target
        self.targetID = list(ID) if ID is not None else []
        self.image_key = _image_key(detection_time, camera)

    def __repr__(self) -> str:
        return (f"DetTrackResult(frame_index={self.frame_index!r}, camera={self.camera!r}, "
                f"boxes={len(self.bbox_coord)}, features={len(self.features)}, userID={self.userID!r})")


class TargetImages:
    """A user's query images."""

    def __init__(self, userid: str, targets: list | None = None) -> None:
        self.userid = userid
        self.targets = list(targets) if targets is not None else []


class Target:
    """A target to re-identify: the user it belongs to and its feature vectors."""

    def __init__(self, _userid: str, _features: list, _targetid: str = "0000", _tracking_id: Any = None,
                 _location: Any = None, _frame_index: int = 0) -> None:
        self.userid = _userid
        self.features = _features
        self.targetid = _targetid
        self.tracking_id = _tracking_id
        self.location = _location
        self.frame_index = _frame_index

    def __repr__(self) -> str:
        count = len(self.features) if hasattr(self.features, "__len__") else "?"
        return f"Target(userid={self.userid!r}, features={count})"
