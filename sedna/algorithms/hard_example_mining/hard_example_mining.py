"""Hard-example-mining filters: ``filter(infer_result) -> bool`` (True = hard, send it to the cloud).

Registered in the ClassFactory under ``ClassType.HEM`` with upstream's aliases (``Threshold``, ``CrossEntropy``,
``IBT``, ``Random``, ``CloudOnly``, ``EdgeOnly``). Constructor parameters may arrive as strings (they come from
the CRD through ``HEM_PARAMETERS``) and are cast; a value that is not a number raises ``ValueError`` naming it.

Malformed inference results (empty, boxes with fewer than 5 items, non-numeric entries) are never hard: the
filter answers False and logs at debug level, so one odd frame cannot stop an inference loop.

Each filter has one reference rule, its numpy path (``_decide``), and a fast path for what models really
return: a list or tuple of at most ``FAST_PATH_MAX`` plain floats / ints (issue 16: on a handful of numbers
numpy's per-call overhead costs more than the arithmetic). The fast path answers exactly as the numpy path
would, or hands the input to it:

- IBT compares each score with ``min(threshold_box, 1)`` and [0, 1] — the IEEE comparisons numpy makes — and
  looks up, per box count, the least count of low boxes that is ``>= 1 - threshold_img`` (the same float
  division the numpy path does, done once in the constructor). A score that is not a plain float or int
  (numpy scalar, Fraction, bool), or a negative or NaN ``threshold_box``, goes to the numpy path; a plain
  score outside [0, 1] (NaN included) answers False at once, as the numpy path would.
- Threshold adds the scores in numpy's own order (sequential below 8 items, its 8-way pairwise split from 8 to
  15) and compares the sum with a per-count cutoff: the least sum whose ``sum / n`` is not below the
  threshold, found in the constructor, so ``sum < cutoff[n]`` is ``sum / n < threshold`` bit for bit. A
  check run once per process, when the first Threshold filter is built, confirms that order against the
  installed numpy and Python (``sum`` of floats is compensated from Python 3.12, numpy may change its
  reduction) and turns the fast path off if they disagree.
- CrossEntropy first bounds the entropy ``H = -Σ p ln p`` (hard iff ``H > (1 - threshold) ln n``): every
  ``p`` is at most the largest, so ``H >= Σp · -ln(max p)``; and ``H`` is at most the largest's own term plus
  the rest spread evenly over the other classes. These decide most inputs (85% of the seeded multi-class ones)
  with one or two ``log`` calls, with a margin of 1e-9 (relative) for rounding. Otherwise it computes ``Σ p ln p`` as ``ln Π p^p``
  (``p^p`` is 1 at ``p = 0``, the ``p ln p → 0`` limit), which may differ from numpy's ``dot(p, log(p))`` in
  the last bits, so it answers only when the confidence is more than 1e-12 (relative) away from the
  threshold; a near-tie goes to the numpy path. One class needs no arithmetic (confidence 1).

Anything unusual — numpy arrays or scalars, text, NaN or infinite values, out-of-range probabilities, nested
lists — goes to the numpy path, which keeps the rules above.
"""

from __future__ import annotations

import logging
import math
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

_PAIRWISE_MAX = 16
"""Threshold's fast path emulates numpy's summation order below this many boxes."""

_prod, _log = math.prod, math.log


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
        except (TypeError, ValueError, OverflowError):
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
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int too large for a float
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
        except (TypeError, ValueError, OverflowError):
            return False


def _mean_cutoffs(threshold: float) -> tuple[float, ...]:
    """``cutoffs[n]``: the least float ``c`` with ``c / n >= threshold`` (``/ n`` rounds monotonically, so
    ``total < cutoffs[n]`` is exactly ``total / n < threshold``, NaN and infinities included). Index 0 is
    -inf: an empty sum is never below it (empty results are not hard)."""
    cutoffs = [-math.inf]
    for n in range(1, _PAIRWISE_MAX):
        if math.isnan(threshold):
            cutoffs.append(-math.inf)  # nothing is below NaN
            continue
        c = threshold * n
        while c > -math.inf and c / n >= threshold:
            c = math.nextafter(c, -math.inf)
        while not c / n >= threshold:
            c = math.nextafter(c, math.inf)
        cutoffs.append(c)
    return tuple(cutoffs)


_threshold_fast: bool | None = None
"""Whether the Threshold fast path is on here: None until the first filter is built (see :func:`_threshold_fast_path_on`)."""


@ClassFactory.register(ClassType.HEM, alias="Threshold")
class ThresholdFilter(BaseFilter):
    """Hard iff the mean box score is below ``threshold``."""

    def __init__(self, threshold: float = 0.5, **kwargs):
        self.threshold = _as_float("threshold", threshold)
        self._cutoffs = _mean_cutoffs(self.threshold) if _threshold_fast_path_on() else ()

    def __call__(self, infer_result: Any = None) -> bool:
        # inlined, with the literal score index 4 (SCORE_INDEX): on 1-10 boxes every bytecode shows
        if type(infer_result) is list or type(infer_result) is tuple:
            n = len(infer_result)
            try:
                if n < 8:
                    total = 0.0
                    for box in infer_result:
                        total += box[4]
                    if type(total) is float:  # plain numbers only: a numpy scalar makes a numpy total
                        return total < self._cutoffs[n]  # IndexError (no cutoffs: fast path off) -> numpy path
                elif n < _PAIRWISE_MAX:
                    b = infer_result
                    total = (((0.0 + b[0][4]) + b[1][4]) + ((0.0 + b[2][4]) + b[3][4])) + (
                        ((0.0 + b[4][4]) + b[5][4]) + ((0.0 + b[6][4]) + b[7][4]))
                    if n > 8:
                        for box in b[8:]:
                            total += box[4]
                    if type(total) is float:
                        return total < self._cutoffs[n]
            except (TypeError, IndexError, KeyError, OverflowError):  # short box, text, an int too big
                pass
        return self._decide(infer_result)

    def _decide(self, infer_result: Any) -> bool:
        """The numpy path: any input."""
        scores = box_scores(infer_result)
        if scores is None:
            logger.debug("Threshold filter: empty or malformed result, not hard")
            return False
        return bool(scores.mean() < self.threshold)


def _threshold_fast_path_checked() -> bool:
    """Whether the Threshold fast path decides as numpy here, with the threshold at numpy's mean and one float
    above it (so a sum one bit off either way shows), on seeded values of every length it handles."""
    rng = random.Random(16)
    for n in range(1, _PAIRWISE_MAX):
        for _ in range(10):
            values = [rng.uniform(-1.0, 1.0) * 10.0 ** rng.randint(-6, 6) for _ in range(n)]
            boxes = [[0, 0, 0, 0, value] for value in values]
            mean = float(np.fromiter(values, np.float64, n).mean())
            for threshold in (mean, math.nextafter(mean, math.inf)):
                hem = ThresholdFilter(threshold)
                if hem(boxes) is not hem._decide(boxes):
                    return False
    return True


def _threshold_fast_path_on() -> bool:
    """Checks once, when the first Threshold filter is built (a few ms, not at import)."""
    global _threshold_fast
    if _threshold_fast is None:
        _threshold_fast = True  # the check's own filters take the fast path
        _threshold_fast = _threshold_fast_path_checked()
        if not _threshold_fast:
            logger.info("Threshold filter: numpy's summation order differs from the emulated one; fast path off")
    return _threshold_fast


@ClassFactory.register(ClassType.HEM, alias="CrossEntropy")
class CrossEntropyFilter(BaseFilter):
    """Hard iff ``1 + sum(p ln p) / ln n`` (one minus the normalised entropy) is below the threshold.

    Differences from upstream, which does not guard these cases: ``p = 0`` contributes 0 (the limit of
    ``p ln p``) instead of raising, and a single class (``n = 1``, entropy 0) has confidence 1 instead of a
    division by zero.
    """

    def __init__(self, threshold_cross_entropy: float = 0.5, **kwargs):
        threshold = self.threshold_cross_entropy = _as_float("threshold_cross_entropy", threshold_cross_entropy)
        # hard iff the entropy H = -Σ p ln p exceeds (1 - threshold) ln n. Bounds on H decide most inputs with
        # one log; the exact sum decides outside a band of ±1e-12 (relative); the numpy path decides the rest.
        scale = max(1.0, abs(threshold))
        log_n = [math.nan, math.nan] + [math.log(n) for n in range(2, FAST_PATH_MAX + 1)]
        self._hard_above = tuple((1.0 - threshold + 1e-9 * scale) * log for log in log_n)
        self._easy_below = tuple((1.0 - threshold - 1e-9 * scale) * log for log in log_n)
        self._hard_below = tuple((threshold - 1.0 - 1e-12 * scale) * log for log in log_n)
        self._easy_above = tuple((threshold - 1.0 + 1e-12 * scale) * log for log in log_n)
        self._others = (math.nan, math.nan) + tuple(float(n - 1) for n in range(2, FAST_PATH_MAX + 1))
        self._single_is_hard = 1.0 < threshold

    def confidence(self, infer_result: Any) -> float | None:
        if infer_result is None:
            return None
        try:
            probs = np.asarray(infer_result, dtype=np.float64).ravel()
        except (TypeError, ValueError, OverflowError):
            return None
        if probs.size == 0 or not np.all((probs >= 0.0) & (probs <= 1.0)):
            return None
        if probs.size == 1:
            return 1.0
        positive = probs[probs > 0.0]
        log_sum = float(np.dot(positive, np.log(positive)))
        return 1.0 + log_sum / float(np.log(probs.size))

    def __call__(self, infer_result: Any = None) -> bool:
        if type(infer_result) is list or type(infer_result) is tuple:
            n = len(infer_result)
            try:
                if 1 < n <= FAST_PATH_MAX:
                    ordered = sorted(infer_result)  # its ends are the range check and the largest p
                    top = ordered[-1]
                    if ordered[0] >= 0.0 and top <= 1.0:
                        total = sum(ordered, 0.0)
                        if type(total) is float and top > 0.0:  # plain numbers (numpy scalars: numpy path)
                            # every p <= top, so H >= total * -ln(top)
                            if -total * _log(top) > self._hard_above[n]:
                                return True
                            # H <= top's term + the rest spread evenly over the other n - 1 (its maximum)
                            rest = total - top
                            high = -top * _log(top)
                            if rest > 0.0:
                                high += rest * _log(self._others[n] / rest)
                            if high < self._easy_below[n]:
                                return False
                        product = _prod(map(pow, ordered, ordered))  # Π p^p: p^p is 1 at p = 0
                        if type(product) is float:  # numpy scalars, Decimal, all-int: numpy path
                            log_sum = _log(product)  # NaN compares False both ways: numpy path
                            if log_sum < self._hard_below[n]:
                                return True
                            if log_sum > self._easy_above[n]:
                                return False
                elif n == 1:
                    p = infer_result[0]
                    if (type(p) is float or type(p) is int) and 0.0 <= p <= 1.0:
                        return self._single_is_hard
            except (TypeError, ValueError, OverflowError):  # text, nested lists
                pass
        return self._decide(infer_result)

    def _decide(self, infer_result: Any) -> bool:
        """The numpy path: any input."""
        confidence = self.confidence(infer_result)
        if confidence is None:
            logger.debug("CrossEntropy filter: empty or out-of-range probabilities, not hard")
            return False
        return bool(confidence < self.threshold_cross_entropy)


def _low_counts_needed(threshold_img: float) -> tuple[int, ...]:
    """``needed[n]``: the least count ``k`` of low boxes with ``k / n >= 1 - threshold_img`` (``n + 1`` if
    none) — the numpy path's comparison, evaluated once per box count."""
    share = 1 - threshold_img
    needed = [1]  # unused: an empty result never reaches the lookup
    for n in range(1, FAST_PATH_MAX + 1):
        needed.append(next((k for k in range(n + 1) if k / n >= share), n + 1))
    return tuple(needed)


@ClassFactory.register(ClassType.HEM, alias="IBT")
class IBTFilter(BaseFilter):
    """Image-box-threshold: hard iff the share of boxes scoring at most ``threshold_box`` is at least
    ``1 - threshold_img``."""

    def __init__(self, threshold_img: float = 0.5, threshold_box: float = 0.5, **kwargs):
        self.threshold_img = _as_float("threshold_img", threshold_img)
        self.threshold_box = _as_float("threshold_box", threshold_box)
        # with threshold_box > 1 a score in (1, threshold_box] must still fail the range check, so the low
        # branch counts up to min(threshold_box, 1) (NaN stays NaN: nothing is low, as in numpy)
        self._low_at_most = min(self.threshold_box, 1.0)
        # the loop catches a negative score in the low branch, which needs threshold_box >= 0; otherwise (a
        # negative or NaN threshold_box) no counts: the lookup fails and the numpy path decides
        self._needed = _low_counts_needed(self.threshold_img) if self.threshold_box >= 0.0 else ()

    def __call__(self, infer_result: Any = None) -> bool:
        if (type(infer_result) is list or type(infer_result) is tuple) and 0 < len(infer_result) <= FAST_PATH_MAX:
            low = 0
            low_at_most = self._low_at_most
            try:
                for box in infer_result:
                    score = box[4]  # SCORE_INDEX, literal in the hot loop
                    if type(score) is not float and type(score) is not int:
                        break  # numpy scalar, bool, Fraction, text: numpy path
                    if score <= low_at_most:
                        if score < 0.0:
                            return False  # out of range (the numpy path also answers False)
                        low += 1
                    elif not score <= 1.0:
                        return False  # above 1 or NaN
                else:
                    return low >= self._needed[len(infer_result)]
            except (TypeError, IndexError, KeyError):  # a short box, a box that is not indexable, no counts
                pass
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
