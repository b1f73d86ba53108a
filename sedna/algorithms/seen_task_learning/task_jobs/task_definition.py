"""Task definition: split training samples into tasks (sdk.md §8.2).

Each class is called as ``definition(samples) -> (tasks, task_extractor, samples)``: the tasks, the extractor
that inference uses to allocate new samples to them, and the samples as the models will see them (e.g. with
the attribute columns removed).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sedna.algorithms.seen_task_learning.artifact import Task, subset
from sedna.algorithms.seen_task_learning.task_jobs._common import (
    attribute_list,
    float_columns,
    require_frame,
    row_key,
)
from sedna.algorithms.seen_task_learning.task_jobs.extractor import SVCTaskExtractor
from sedna.common.class_factory import ClassFactory, ClassType
from sedna.datasources import BaseDataSource

__all__ = ["TaskDefinitionByDataAttr", "TaskDefinitionByOrigin", "TaskDefinitionBySVC"]


@ClassFactory.register(ClassType.STP)
class TaskDefinitionByDataAttr:
    """One task per distinct combination of the ``attribute`` columns (x must be a DataFrame).

    Task entry: the row's attribute values joined as :func:`row_key` makes them; task samples: the group's
    rows without the attribute columns; extractor: ``{entry: index}`` in sorted group order; ``meta_attr``:
    the attribute values.
    """

    def __init__(self, **kwargs: Any):
        self.attr_filed = attribute_list(kwargs.get("attribute", []))
        if not self.attr_filed:
            raise ValueError("TaskDefinitionByDataAttr needs 'attribute': the columns that define a task")

    def __call__(self, samples: BaseDataSource) -> tuple[list[Task], dict[str, int], BaseDataSource]:
        x = require_frame(samples.x, type(self).__name__, self.attr_filed).reset_index(drop=True)
        y = samples.y
        if y is not None and hasattr(y, "reset_index"):
            y = y.reset_index(drop=True)
        keys = [row_key(vals) for vals in x[self.attr_filed].itertuples(index=False, name=None)]
        first_values: dict[str, list] = {}
        positions: dict[str, list[int]] = {}
        for pos, (key, vals) in enumerate(zip(keys, x[self.attr_filed].itertuples(index=False, name=None))):
            positions.setdefault(key, []).append(pos)
            first_values.setdefault(key, [v.item() if isinstance(v, np.generic) else v for v in vals])
        stripped = BaseDataSource(data_type=samples.data_type)
        stripped.x = x.drop(columns=self.attr_filed)
        stripped.y = y
        stripped.meta_attr = x[self.attr_filed].to_numpy().tolist()
        tasks, extractor = [], {}
        for index, key in enumerate(sorted(positions)):
            part = subset(stripped, positions[key])
            tasks.append(Task(entry=key, samples=part, meta_attr=first_values[key]))
            extractor[key] = index
        return tasks, extractor, stripped


@ClassFactory.register(ClassType.STP)
class TaskDefinitionBySVC:
    """``n_class`` tasks from an agglomerative clustering of the float64 columns; an SVC fitted on the
    cluster labels becomes the extractor. Tasks are named ``svc_<k>``."""

    def __init__(self, **kwargs: Any):
        self.n_class = int(kwargs.get("n_class", 2))
        if self.n_class < 2:
            raise ValueError(f"TaskDefinitionBySVC: n_class must be >= 2, got {self.n_class}")

    def __call__(self, samples: BaseDataSource) -> tuple[list[Task], SVCTaskExtractor, BaseDataSource]:
        from sklearn.cluster import AgglomerativeClustering

        feats = float_columns(samples.x)
        if feats.shape[1] == 0:
            raise ValueError("TaskDefinitionBySVC needs float64 feature columns")
        if len(feats) < self.n_class:
            raise ValueError(f"TaskDefinitionBySVC: {len(feats)} samples cannot form {self.n_class} tasks")
        labels = AgglomerativeClustering(n_clusters=self.n_class).fit_predict(feats)
        columns = list(samples.x.select_dtypes(include=["float64"]).columns) if hasattr(samples.x, "columns") \
            else None
        extractor = SVCTaskExtractor(feats, labels, columns=columns)
        tasks = []
        for k in range(self.n_class):
            positions = np.flatnonzero(labels == k)
            part = subset(samples, positions)
            tasks.append(Task(entry=f"svc_{k}", samples=part, meta_attr=k))
        return tasks, extractor, samples


@ClassFactory.register(ClassType.STP)
class TaskDefinitionByOrigin:
    """Two tasks by where samples come from: labels (y) containing ``city`` belong to the first
    ``attribute`` (e.g. ``real``), the rest to the second (``sim``). Extractor ``{first: 0, second: 1}``."""

    def __init__(self, **kwargs: Any):
        names = attribute_list(kwargs.get("attribute", "real, sim"))
        if len(names) != 2:
            raise ValueError(f"TaskDefinitionByOrigin: attribute must name two origins, got {names}")
        self.origins = names
        self.city = str(kwargs.get("city", "berlin"))

    def __call__(self, samples: BaseDataSource) -> tuple[list[Task], dict[str, int], BaseDataSource]:
        labels = samples.y if samples.y is not None else samples.x
        first, second = [], []
        for pos, label in enumerate(list(labels)):
            (first if self.city in str(label) else second).append(pos)
        tasks = []
        for origin, positions in zip(self.origins, (first, second)):
            tasks.append(Task(entry=f"{origin}.model", samples=subset(samples, positions), meta_attr=origin))
        return tasks, {self.origins[0]: 0, self.origins[1]: 1}, samples
