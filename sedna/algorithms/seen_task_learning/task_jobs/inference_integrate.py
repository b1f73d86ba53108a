"""Inference integration: put per-task predictions back into the caller's sample order (sdk.md §8.2)."""

from __future__ import annotations

from typing import Any

import numpy as np

from sedna.algorithms.seen_task_learning.artifact import Task
from sedna.common.class_factory import ClassFactory, ClassType

__all__ = ["DefaultInferenceIntegrate"]


@ClassFactory.register(ClassType.STP)
class DefaultInferenceIntegrate:
    """Each task's ``result`` row ``i`` goes to position ``task.samples.inx[i]``; returns a numpy array."""

    def __init__(self, models: list | None = None, **kwargs: Any):
        self.models = models

    def __call__(self, tasks: list[Task]) -> np.ndarray:
        total = sum(len(t.samples.inx) for t in tasks)
        slots: list[Any] = [None] * total
        for task in tasks:
            result = list(task.result) if task.result is not None else [None] * len(task.samples.inx)
            if len(result) != len(task.samples.inx):
                raise ValueError(f"task {task.entry}: {len(result)} predictions for {len(task.samples.inx)} samples")
            for pos, pred in zip(task.samples.inx, result):
                if pos >= total:
                    raise ValueError(f"task {task.entry}: sample position {pos} out of range")
                slots[pos] = pred
        return np.asarray(slots) if all(s is not None for s in slots) else np.asarray(slots, dtype=object)
