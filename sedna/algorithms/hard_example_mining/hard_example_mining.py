"""Hard-example-mining filters: ``filter(infer_result) -> bool`` (True = hard, send it to the cloud).

Registered in the ClassFactory under ``ClassType.HEM`` with upstream's aliases (``Threshold``, ``CrossEntropy``,
``IBT``, ``Random``, ``CloudOnly``, ``EdgeOnly``). Constructor parameters may arrive as strings (they come from
the CRD through ``HEM_PARAMETERS``) and are cast; a value that is not a number raises ``ValueError`` naming it.

Malformed inference results (empty, boxes with fewer than 5 items, non-numeric entries) are never hard: the
filter answers False and logs at debug level, so one odd frame cannot stop an inference loop.
"""

from __future__ import annotations

import logging
import random
from typing import Any

import numpy as np

from sedna.common.class_factory import ClassFactory, ClassType

__all__ = [
    "BaseFilter",
    "CloudOnlyFilter",
    "CrossEntropyFilter",
    "EdgeOnlyFilter",
    "IBTFilter",
    "RandomFilter",
    "ThresholdFilter",
    "box_scores",
]

logger = logging.getLogger(__name__)

SCORE_INDEX = 4
"""Boxes are ``[x1, y1, x2, y2, score, label, ...]``; the score is the fifth item."""


def _as_float(name: str, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"hard example mining parameter {name!r} must be a number, got {value!r}") from None


def box_scores(infer_result: Any) -> np.ndarray | None:
    """Scores (item 4) of a list/array of boxes, or None if empty or malformed.

    A numeric 2-D array is sliced without a Python loop; for lists only the score of each box is read (other
    items, e.g. a class name, may be anything), which is faster than converting whole rows.
    """
    if infer_result is None:
        return None
    if isinstance(infer_result, np.ndarray):
        arr = infer_result
        if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] <= SCORE_INDEX:
            return None
        column = arr[:, SCORE_INDEX]
        try:
            return column.astype(np.float64, copy=False)
        except (TypeError, ValueError):
            return None
    try:
        count = len(infer_result)
        if count == 0 or isinstance(infer_result, (str, bytes)):
            return None
        scores = [box[SCORE_INDEX] for box in infer_result]
    except (TypeError, IndexError, KeyError):
        return None
    if any(isinstance(score, (str, bytes)) for score in scores):
        return None  # a box that is a string, or a score that is text
    try:
        return np.fromiter(scores, dtype=np.float64, count=count)
    except (TypeError, ValueError):
        return None


class BaseFilter:
    """A hard-example filter: call it with one inference result, get ``True`` if the example is hard."""

    def __call__(self, infer_result: Any = None) -> bool:
        raise TypeError(f"{type(self).__name__} does not implement __call__")

    @classmethod
    def data_check(cls, data: Any) -> bool:
        """Upstream's helper: a probability/score must lie in [0, 1]."""
        try:
            return 0.0 <= float(data) <= 1.0
        except (TypeError, ValueError):
            return False


@ClassFactory.register(ClassType.HEM, alias="Threshold")
class ThresholdFilter(BaseFilter):
    """Hard iff the mean box score is below ``threshold``."""

    def __init__(self, threshold: float = 0.5, **kwargs):
        self.threshold = _as_float("threshold", threshold)

    def __call__(self, infer_result: Any = None) -> bool:
        scores = box_scores(infer_result)
        if scores is None:
            logger.debug("Threshold filter: empty or malformed result, not hard")
            return False
        return bool(scores.mean() < self.threshold)


@ClassFactory.register(ClassType.HEM, alias="CrossEntropy")
class CrossEntropyFilter(BaseFilter):
    """Hard iff ``1 + sum(p ln p) / ln n`` (one minus the normalised entropy) is below the threshold.

    Differences from upstream, which does not guard these cases: ``p = 0`` contributes 0 (the limit of
    ``p ln p``) instead of raising, and a single class (``n = 1``, entropy 0) has confidence 1 instead of a
    division by zero.
    """

    def __init__(self, threshold_cross_entropy: float = 0.5, **kwargs):
        self.threshold_cross_entropy = _as_float("threshold_cross_entropy", threshold_cross_entropy)

    def confidence(self, infer_result: Any) -> float | None:
        if infer_result is None:
            return None
        try:
            probs = np.asarray(infer_result, dtype=np.float64).ravel()
        except (TypeError, ValueError):
            return None
        if probs.size == 0 or not np.all((probs >= 0.0) & (probs <= 1.0)):
            return None
        if probs.size == 1:
            return 1.0
        positive = probs[probs > 0.0]
        log_sum = float(np.dot(positive, np.log(positive)))
        return 1.0 + log_sum / float(np.log(probs.size))

    def __call__(self, infer_result: Any = None) -> bool:
        confidence = self.confidence(infer_result)
        if confidence is None:
            logger.debug("CrossEntropy filter: empty or out-of-range probabilities, not hard")
            return False
        return bool(confidence < self.threshold_cross_entropy)


@ClassFactory.register(ClassType.HEM, alias="IBT")
class IBTFilter(BaseFilter):
    """Image-box-threshold: hard iff the share of boxes scoring at most ``threshold_box`` is at least
    ``1 - threshold_img``."""

    def __init__(self, threshold_img: float = 0.5, threshold_box: float = 0.5, **kwargs):
        self.threshold_img = _as_float("threshold_img", threshold_img)
        self.threshold_box = _as_float("threshold_box", threshold_box)

    def __call__(self, infer_result: Any = None) -> bool:
        scores = box_scores(infer_result)
        if scores is None or not np.all((scores >= 0.0) & (scores <= 1.0)):
            logger.debug("IBT filter: empty, malformed or out-of-range result, not hard")
            return False
        coefficient = np.count_nonzero(scores <= self.threshold_box) / scores.size
        return bool(coefficient >= 1 - self.threshold_img)


@ClassFactory.register(ClassType.HEM, alias="Random")
class RandomFilter(BaseFilter):
    """Hard with probability ``random_ratio``, whatever the result. ``seed`` (our addition) makes it
    reproducible."""

    def __init__(self, random_ratio: float = 0.3, seed: Any = None, **kwargs):
        self.random_ratio = _as_float("random_ratio", random_ratio)
        self._rng = random.Random(None if seed in (None, "") else int(_as_float("seed", seed)))

    def __call__(self, infer_result: Any = None) -> bool:
        return self._rng.random() < self.random_ratio


@ClassFactory.register(ClassType.HEM, alias="CloudOnly")
class CloudOnlyFilter(BaseFilter):
    """Every example is hard: everything goes to the cloud."""

    def __init__(self, **kwargs):
        self.params = kwargs

    def __call__(self, infer_result: Any = None) -> bool:
        return True


@ClassFactory.register(ClassType.HEM, alias="EdgeOnly")
class EdgeOnlyFilter(BaseFilter):
    """No example is hard: everything stays on the edge."""

    def __init__(self, **kwargs):
        self.params = kwargs

    def __call__(self, infer_result: Any = None) -> bool:
        return False


# upstream's later class names for the routing filters
RandomRouter = RandomFilter
