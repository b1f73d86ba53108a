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


def _required_params(func: Any) -> int:
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return 1
    return sum(1 for p in params if p.default is inspect.Parameter.empty
               and p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD))


class UnseenTaskProcessing:
    """``UnseenTaskProcessing(estimator, unseen_task_allocation=None)``.

    ``train()``/``update()`` return ``({}, {"extractor": None, "task_groups": []})`` (no unseen-task models are
    learned, as upstream). ``predict(data)`` returns ``(results, tasks)``: with an estimator object, its
    ``predict`` on the samples; with a plain function, ``function(x)`` (a function without parameters, as in
    upstream's robot-dog example, is called once and its answer given to every unseen sample); without an estimator, ``None`` per
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
            if _required_params(self.estimator) == 0:  # upstream's robot-dog example: a message, no input
                value = self.estimator()
                result = [value] * n
            else:
                result = list(self.estimator(data.x))
        else:
            estimator = self.estimator() if inspect.isclass(self.estimator) else self.estimator
            self.estimator = estimator
            result = list(estimator.predict(data.x, **kwargs))
        task = Task(entry="unseen_task", samples=data)
        task.result = result
        return result, [task]
