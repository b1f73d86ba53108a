"""Hard-example-mining filters: ``filter(infer_result) -> bool`` (True = hard, send it to the cloud).

Registered in the ClassFactory under ``ClassType.HEM`` with upstream's aliases (``Threshold``, ``CrossEntropy``,
``IBT``, ``Random``, ``CloudOnly``, ``EdgeOnly``). Constructor parameters may arrive as strings (they come from
the CRD through ``HEM_PARAMETERS``) and are cast; a value that is not a number raises ``ValueError`` naming it.

Malformed inference results (empty, boxes with fewer than 5 items, non-numeric entries) are never hard: the
filter answers False and logs at debug level, so one odd frame cannot stop an inference loop.

Short inputs (a list or tuple of at most ``FAST_PATH_MAX`` items) first try a plain-Python path built from C
builtins (``sum``, ``map``, ``sorted``, ``bisect``): on a handful of numbers numpy's per-call overhead costs
more than the arithmetic (issue 16). The fast path answers exactly as the numpy path would, or not at all:

- IBT only compares and divides two integers — the same IEEE operations numpy does;
- Threshold adds the scores in numpy's own order (sequential below 8 items, its 8-way pairwise split from 8 to
  15); an import-time self-check confirms that order against the installed numpy and Python (``sum`` of
  floats is compensated from Python 3.12) and turns the fast path off when they disagree;
- CrossEntropy's ``math.log`` may differ from numpy's ``log`` in the last bit, so a confidence within 1e-12 of
  the threshold is left to the numpy path.

Anything unusual — numpy scalars, text, NaN or infinite values, nested lists — goes to the numpy path, which
keeps the rules above.
"""

from __future__ import annotations

import bisect
import logging
import math
import operator
import random
from typing import Any

import numpy as np

from sedna.common.class_factory import ClassFactory, ClassType

__all__ = [
    "FAST_PATH_MAX",
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

FAST_PATH_MAX = 32
"""Inputs of up to this many items try the plain-Python path first."""

_SHORT = (list, tuple)
_score_of = operator.itemgetter(SCORE_INDEX)
_INF = math.inf
_mul, _log, _bisect_right, _plus_zero = operator.mul, math.log, bisect.bisect_right, (0.0).__add__
_LOG_N = (0.0, 0.0) + tuple(math.log(n) for n in range(2, FAST_PATH_MAX + 1))


def _numpy_order_sum(values: list) -> float | None:
    """The sum numpy's ``mean`` computes for up to 15 values, in its order; None for other lengths or values
    whose sum is not a plain finite float (numpy scalars, text, NaN): those take the numpy path.

    ``0.0 + v`` turns ints and bools into the floats numpy makes of them and answers ``NotImplemented`` for
    anything else (text, numpy float32, Fraction), which the next addition then refuses with ``TypeError``."""
    n = len(values)
    if n < 8:
        total = sum(values, 0.0)
    elif n < 16:
        a = list(map(_plus_zero, values))
        total = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))
        for value in a[8:]:
            total += value
    else:
        return None
    if type(total) is not float or not -_INF < total < _INF:
        return None
    return total


def _numpy_order_checked() -> bool:
    """Whether :func:`_numpy_order_sum` gives numpy's mean bit for bit here (seeded values over every length)."""
    rng = random.Random(16)
    for n in range(1, 16):
        for _ in range(40):
            values = [rng.uniform(-1.0, 1.0) * 10.0 ** rng.randint(-6, 6) for _ in range(n)]
            if _numpy_order_sum(values) / n != float(np.fromiter(values, np.float64, n).mean()):
                return False
    return True


_THRESHOLD_FAST = _numpy_order_checked()
if not _THRESHOLD_FAST:
    logger.info("Threshold filter: numpy's summation order differs from the emulated one; fast path off")


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
        if type(infer_result) in _SHORT and _THRESHOLD_FAST:
            n = len(infer_result)
            try:
                if 0 < n < 8:   # numpy adds fewer than 8 values in order, as ``sum`` does
                    total = sum(map(_score_of, infer_result), 0.0)
                    if type(total) is float and -_INF < total < _INF:
                        return total / n < self.threshold
                elif 8 <= n < 16:
                    total = _numpy_order_sum(list(map(_score_of, infer_result)))
                    if total is not None:
                        return total / n < self.threshold
            except (TypeError, ValueError, IndexError, KeyError, OverflowError):
                pass
        return self._decide(infer_result)

    def _decide(self, infer_result: Any) -> bool:
        """The numpy path: any input."""
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
        if type(infer_result) in _SHORT and 1 < len(infer_result) <= FAST_PATH_MAX:
            try:
                lowest = min(infer_result)
                if not (lowest >= 0.0 and max(infer_result) <= 1.0):
                    logger.debug("CrossEntropy filter: out-of-range probabilities, not hard")
                    return False
                positive = list(filter(None, infer_result)) if lowest == 0.0 else infer_result
                log_sum = sum(map(_mul, positive, map(_log, positive)), 0.0)
                if type(log_sum) is float and -_INF < log_sum <= 0.0:
                    confidence = 1.0 + log_sum / _LOG_N[len(infer_result)]
                    # math.log and numpy's log may differ in the last bit: a near-tie goes to the numpy path
                    if abs(confidence - self.threshold_cross_entropy) > 1e-12:
                        return confidence < self.threshold_cross_entropy
            except (TypeError, ValueError):  # text, nested lists, log(0) next to a NaN
                pass
        return self._decide(infer_result)

    def _decide(self, infer_result: Any) -> bool:
        """The numpy path: any input."""
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
        if type(infer_result) in _SHORT and 0 < len(infer_result) <= FAST_PATH_MAX:
            try:
                scores = sorted(map(_score_of, infer_result))
                total = sum(scores, 0.0)
            except (TypeError, ValueError, IndexError, KeyError, OverflowError):
                total = None
            # a plain float sum proves plain numbers (no text, no numpy scalars) and no NaN
            if type(total) is float and -_INF <= total <= _INF:
                if not (scores[0] >= 0.0 and scores[-1] <= 1.0):
                    logger.debug("IBT filter: out-of-range score, not hard")
                    return False
                return _bisect_right(scores, self.threshold_box) / len(scores) >= 1 - self.threshold_img
        return self._decide(infer_result)

    def _decide(self, infer_result: Any) -> bool:
        """The numpy path: any input."""
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
