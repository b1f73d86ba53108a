"""Unseen-task processing (sdk.md §8.5): what happens to samples no known task covers."""

from __future__ import annotations

import inspect
import logging
from typing import Any

import numpy as np

from sedna.algorithms.seen_task_learning.artifact import Task, num_samples
from sedna.common.class_factory import ClassFactory, ClassType
from sedna.datasources import BaseDataSource

__all__ = ["UnseenTaskAllocationDefault", "UnseenTaskProcessing"]

logger = logging.getLogger(__name__)


@ClassFactory.register(ClassType.UTP)
class UnseenTaskAllocationDefault:
    """Allocation through the unseen extractor's ``predict`` (or ``fit``) when it has one; all zeros
    otherwise or on error."""

    def __init__(self, task_extractor: Any = None, **kwargs: Any):
        self.task_extractor = task_extractor

    def __call__(self, samples: BaseDataSource) -> tuple[BaseDataSource, list[int]]:
        n = num_samples(samples)
        for name in ("predict", "fit"):
            method = getattr(self.task_extractor, name, None)
            if callable(method):
                try:
                    values = [int(v) for v in np.asarray(method(samples.x)).reshape(-1)]
                    if len(values) == n:
                        return samples, values
                except Exception as exc:  # noqa: BLE001 - upstream falls back to task 0
                    logger.debug("unseen task allocation failed: %s", exc)
        return samples, [0] * n


class UnseenTaskProcessing:
    """``UnseenTaskProcessing(estimator, unseen_task_allocation=None)``.

    ``train()``/``update()`` return ``({}, {"extractor": None, "task_groups": []})`` (no unseen-task models are
    learned, as upstream). ``predict(data)`` returns ``(results, tasks)``: with an estimator object, its
    ``predict`` on the samples; with a plain function, ``function(x)``; without an estimator, ``None`` per
    sample (LifelongLearning then serves unseen samples with the seen models, flagged as unseen).
    """

    def __init__(self, estimator: Any = None, unseen_task_allocation: Any = None, **kwargs: Any):
        self.estimator = estimator
        self.unseen_task_allocation = unseen_task_allocation or {"method": "UnseenTaskAllocationDefault"}

    @staticmethod
    def empty_index() -> dict:
        return {"extractor": None, "task_groups": []}

    def train(self, train_data: Any = None, valid_data: Any = None, **kwargs: Any) -> tuple[dict, dict]:
        return {}, self.empty_index()

    def update(self, tasks: Any = None, task_update_strategies: Any = None, **kwargs: Any) -> tuple[dict, dict]:
        return {}, self.empty_index()

    def predict(self, data: BaseDataSource, post_process: Any = None, **kwargs: Any) -> tuple[list, list[Task]]:
        n = num_samples(data)
        if self.estimator is None:
            return [None] * n, []
        if inspect.isfunction(self.estimator):
            result = list(self.estimator(data.x))
        else:
            estimator = self.estimator() if inspect.isclass(self.estimator) else self.estimator
            self.estimator = estimator
            result = list(estimator.predict(data.x, **kwargs))
        task = Task(entry="unseen_task", samples=data)
        task.result = result
        return result, [task]
