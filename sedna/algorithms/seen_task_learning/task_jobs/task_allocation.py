"""Task allocation: decide which task (model index) serves each inference sample (sdk.md §8.2).

Each class is built with the KB's ``task_extractor`` and called as
``allocation(samples) -> (samples, allocations)``, one integer per row.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sedna.algorithms.seen_task_learning.task_jobs._common import (
    attribute_list,
    float_columns,
    require_frame,
    row_key,
)
from sedna.common.class_factory import ClassFactory, ClassType
from sedna.datasources import BaseDataSource

__all__ = ["CITYSCAPES_CITIES", "TaskAllocationByDataAttr", "TaskAllocationByOrigin", "TaskAllocationBySVC",
           "TaskAllocationDefault", "TaskAllocationStream"]

CITYSCAPES_CITIES = (
    "aachen", "berlin", "bielefeld", "bochum", "bonn", "bremen", "cologne", "darmstadt", "dusseldorf",
    "erfurt", "frankfurt", "hamburg", "hanover", "jena", "krefeld", "leverkusen", "lindau", "mainz",
    "monchengladbach", "munich", "munster", "strasbourg", "stuttgart", "tubingen", "ulm", "weimar", "zurich",
)


@ClassFactory.register(ClassType.STP)
class TaskAllocationByDataAttr:
    """Row key as :class:`TaskDefinitionByDataAttr` builds it → ``extractor.get(key, 0)``. The attribute
    columns leave ``x`` and are kept per row in ``samples.meta_attr``."""

    def __init__(self, task_extractor: Any = None, **kwargs: Any):
        self.task_extractor = task_extractor or {}
        self.attr_filed = attribute_list(kwargs.get("attribute", []))
        if not self.attr_filed:
            raise ValueError("TaskAllocationByDataAttr needs 'attribute': the columns that define a task")

    def __call__(self, samples: BaseDataSource) -> tuple[BaseDataSource, list[int]]:
        x = require_frame(samples.x, type(self).__name__, self.attr_filed)
        meta = x[self.attr_filed].to_numpy().tolist()
        allocations = [int(self.task_extractor.get(row_key(vals), 0)) for vals in meta]
        samples.x = x.drop(columns=self.attr_filed)
        samples.meta_attr = meta
        return samples, allocations


@ClassFactory.register(ClassType.STP)
class TaskAllocationBySVC:
    """``task_extractor.predict(float64 columns)``. Upstream returns a bare list when there are no float
    columns; ours always returns ``(samples, allocations)`` (all zeros then)."""

    def __init__(self, task_extractor: Any = None, **kwargs: Any):
        self.task_extractor = task_extractor

    def __call__(self, samples: BaseDataSource) -> tuple[BaseDataSource, list[int]]:
        feats = float_columns(samples.x)
        if feats.shape[1] == 0 or self.task_extractor is None or not len(feats):
            return samples, [0] * len(samples.x)
        return samples, [int(v) for v in self.task_extractor.predict(feats)]


@ClassFactory.register(ClassType.STP)
class TaskAllocationByOrigin:
    """All samples to ``extractor[default]`` if ``default`` is given; otherwise a sample whose path names a
    Cityscapes city is ``real``, anything else ``sim``."""

    def __init__(self, task_extractor: Any = None, **kwargs: Any):
        self.task_extractor = task_extractor or {"real": 0, "sim": 1}
        self.default_origin = kwargs.get("default") or None

    def __call__(self, samples: BaseDataSource) -> tuple[BaseDataSource, list[int]]:
        if self.default_origin:
            return samples, [int(self.task_extractor[self.default_origin])] * len(samples.x)
        allocations = []
        for item in list(samples.x):
            text = str(item).lower()
            origin = "real" if any(city in text for city in CITYSCAPES_CITIES) else "sim"
            allocations.append(int(self.task_extractor.get(origin, 0)))
        return samples, allocations


@ClassFactory.register(ClassType.STP)
class TaskAllocationDefault:
    """Every sample to task 0."""

    def __init__(self, task_extractor: Any = None, **kwargs: Any):
        self.task_extractor = task_extractor

    def __call__(self, samples: BaseDataSource) -> tuple[BaseDataSource, list[int]]:
        return samples, [0] * len(samples.x)


@ClassFactory.register(ClassType.STP)
class TaskAllocationStream(TaskAllocationDefault):
    """Upstream's streaming demo allocation: every sample to task 0."""


def allocation_array(allocations: Any) -> np.ndarray:
    return np.asarray(list(allocations), dtype=np.int64)
