"""Task remodeling: cut inference samples into one part per allocated model (sdk.md §8.2)."""

from __future__ import annotations

from typing import Any

import numpy as np

from sedna.algorithms.seen_task_learning.artifact import subset
from sedna.common.class_factory import ClassFactory, ClassType
from sedna.datasources import BaseDataSource

__all__ = ["DefaultTaskRemodeling"]


@ClassFactory.register(ClassType.STP)
class DefaultTaskRemodeling:
    """Split by allocation value, in ascending order; each part keeps ``inx`` (its rows' positions) and is
    paired with ``models[value]`` (``models[0]`` when the value is out of range)."""

    def __init__(self, models: list, **kwargs: Any):
        self.models = list(models or [])

    def __call__(self, samples: BaseDataSource, mappings: Any) -> tuple[list[BaseDataSource], list]:
        mappings = np.asarray(list(mappings), dtype=np.int64)
        if len(mappings) != len(samples.x):
            raise ValueError(f"task allocation gave {len(mappings)} values for {len(samples.x)} samples")
        parts, models = [], []
        for value in np.unique(mappings):
            parts.append(subset(samples, np.flatnonzero(mappings == value)))
            in_range = 0 <= value < len(self.models)
            models.append(self.models[int(value)] if in_range else (self.models[0] if self.models else None))
        return parts, models
