"""Unseen-task detection (sdk.md §8.5).

Two generations of detectors, all registered under ``ClassType.UTD``:

- task filters (older API, ``LifelongLearning(..., unseen_task_detect={...})``): called after seen-task
  inference as ``filter(tasks=..., result=..., **param) -> bool`` (True = the input is an unseen task):
  :class:`TaskAttrFilter`, :class:`ModelProbeFilter`;
- sample recognisers (newer API): built with the KB's task index, called as
  ``recogniser(samples) -> (seen_samples, unseen_samples)``; each part is a data source whose ``inx`` lists
  its rows' positions in ``samples``: :class:`SampleRegonitionDefault` (upstream's placeholder),
  :class:`SampleReRegonitionDefault`, and ours, :class:`SampleRecognitionByTaskAttr` and
  :class:`SampleRecognitionByModelProbe`.
"""

from __future__ import annotations

import logging
import random
from typing import Any

import numpy as np

from sedna.algorithms.seen_task_learning.artifact import Task, num_samples, subset
from sedna.algorithms.seen_task_learning.task_jobs._common import attribute_list, require_frame, row_key
from sedna.common.class_factory import ClassFactory, ClassType
from sedna.datasources import BaseDataSource

__all__ = [
    "ModelProbeFilter",
    "SampleReRegonitionDefault",
    "SampleRecognitionByModelProbe",
    "SampleRecognitionByTaskAttr",
    "SampleRegonitionDefault",
    "TaskAttrFilter",
    "split_by_mask",
]

logger = logging.getLogger(__name__)


def _max_proba(estimator: Any, x: Any) -> np.ndarray | None:
    predict_proba = getattr(estimator, "predict_proba", None)
    if not callable(predict_proba):
        return None
    try:
        proba = np.asarray(predict_proba(x), dtype=np.float64)
    except Exception as exc:  # noqa: BLE001 - an estimator without probabilities reports none
        logger.debug("predict_proba failed: %s", exc)
        return None
    if proba.ndim == 1:
        proba = proba.reshape(-1, 1)
    return proba.max(axis=1)


@ClassFactory.register(ClassType.UTD)
class ModelProbeFilter:
    """Unseen if the task models are unsure: the mean (over tasks) of the mean highest class probability is
    below ``threshold`` (default 0.5). No probabilities at all → unseen.

    Upstream returns ``mean > threshold`` while documenting True as unseen, i.e. confident inputs were
    reported unseen; we report *unconfident* inputs as unseen (compatibility note in docs/sdk-lifelong.md).
    """

    def __init__(self, **kwargs: Any):
        self.threshold = float(kwargs.get("threshold", 0.5))

    def __call__(self, tasks: list[Task], threshold: float | None = None, **kwargs: Any) -> bool:
        threshold = self.threshold if threshold is None else float(threshold)
        means = []
        for task in tasks or []:
            model = task.estimator if task.estimator is not None else getattr(task.model, "model", None)
            if model is None or task.samples is None:
                continue
            maxes = _max_proba(model, task.samples.x)
            if maxes is not None and len(maxes):
                means.append(float(maxes.mean()))
        if not means:
            return True
        return float(np.mean(means)) < threshold


@ClassFactory.register(ClassType.UTD)
class TaskAttrFilter:
    """Seen (False) as soon as one task's samples all carry exactly the attributes of the model that served
    them (both non-empty); otherwise unseen (True). Works with attribute-based allocation, which keeps each
    sample's attributes in ``samples.meta_attr``."""

    def __init__(self, **kwargs: Any):
        self.params = kwargs

    @staticmethod
    def _as_list(value: Any) -> list:
        if value is None:
            return []
        if isinstance(value, np.ndarray):
            return value.tolist()
        return list(value) if isinstance(value, (list, tuple)) else [value]

    def __call__(self, tasks: list[Task], **kwargs: Any) -> bool:
        for task in tasks or []:
            model_attr = self._as_list(getattr(task.model, "meta_attr", None))
            sample_attr = getattr(task.samples, "meta_attr", None)
            rows = self._as_list(sample_attr)
            if not model_attr or not rows:
                continue
            if not isinstance(rows[0], (list, tuple)):
                rows = [rows]
            if all([str(v) for v in self._as_list(r)] == [str(v) for v in model_attr] for r in rows):
                return False
        return True


def split_by_mask(samples: BaseDataSource, unseen: Any) -> tuple[BaseDataSource, BaseDataSource]:
    """(seen, unseen) parts of ``samples`` by a boolean per row (True = unseen)."""
    unseen = np.asarray(unseen, dtype=bool)
    return subset(samples, np.flatnonzero(~unseen)), subset(samples, np.flatnonzero(unseen))


@ClassFactory.register(ClassType.UTD)
class SampleRegonitionDefault:
    """Upstream's placeholder: a single sample is seen or unseen at random (50/50); otherwise the first half
    of the rows is seen and the second half unseen. Use a real recogniser in production."""

    def __init__(self, task_index: Any = None, **kwargs: Any):
        self.task_index = task_index

    def __call__(self, samples: BaseDataSource, **kwargs: Any) -> tuple[BaseDataSource, BaseDataSource]:
        n = num_samples(samples)
        if n == 1:
            return split_by_mask(samples, [random.random() < 0.5])
        return split_by_mask(samples, np.arange(n) >= n // 2)


@ClassFactory.register(ClassType.UTD)
class SampleReRegonitionDefault(SampleRegonitionDefault):
    """Re-recognition of training samples (placeholder, as upstream): first half seen, second half unseen."""

    def __call__(self, samples: BaseDataSource, **kwargs: Any) -> tuple[BaseDataSource, BaseDataSource]:
        n = num_samples(samples)
        return split_by_mask(samples, np.arange(n) >= n // 2)


def _extractor(task_index: Any) -> Any:
    if isinstance(task_index, dict):
        seen = task_index.get("seen_task", task_index)
        if isinstance(seen, dict):
            return seen.get("extractor")
    return None


@ClassFactory.register(ClassType.UTD)
class SampleRecognitionByTaskAttr:
    """Ours: a row is seen iff its ``attribute`` values form a task key that the KB's extractor knows."""

    def __init__(self, task_index: Any = None, **kwargs: Any):
        self.attribute = attribute_list(kwargs.get("attribute", []))
        if not self.attribute:
            raise ValueError("SampleRecognitionByTaskAttr needs 'attribute': the columns that define a task")
        extractor = _extractor(task_index)
        self.known = set(extractor) if isinstance(extractor, dict) else set()

    def __call__(self, samples: BaseDataSource, **kwargs: Any) -> tuple[BaseDataSource, BaseDataSource]:
        x = require_frame(samples.x, type(self).__name__, self.attribute)
        keys = [row_key(v) for v in x[self.attribute].itertuples(index=False, name=None)]
        return split_by_mask(samples, [k not in self.known for k in keys])


@ClassFactory.register(ClassType.UTD)
class SampleRecognitionByModelProbe:
    """Ours: a row is unseen when the seen-task model serving it gives its best class a probability below
    ``threshold`` (default 0.5). Needs ``seen_task_learning`` (passed by LifelongLearning)."""

    def __init__(self, task_index: Any = None, **kwargs: Any):
        self.threshold = float(kwargs.get("threshold", 0.5))
        self.learner = kwargs.get("seen_task_learning")
        if self.learner is None:
            raise ValueError("SampleRecognitionByModelProbe needs the seen-task learner")

    def __call__(self, samples: BaseDataSource, **kwargs: Any) -> tuple[BaseDataSource, BaseDataSource]:
        _, tasks = self.learner.predict(samples)
        unseen = np.ones(num_samples(samples), dtype=bool)
        for task in tasks:
            maxes = _max_proba(task.estimator, task.samples.x)
            if maxes is None:
                continue
            for pos, value in zip(task.samples.inx, maxes):
                unseen[pos] = value < self.threshold
        return split_by_mask(samples, unseen)
