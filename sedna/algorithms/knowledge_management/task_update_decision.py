"""Task update decisions: which tasks a new round of training changes, and with which samples (sdk.md §8.2).

Called as ``decision(task_index, **param)(samples, task_type) -> (tasks, strategies)``; each strategy is
``{"raw_data_update": <samples>, "target_model_update": bool, "task_attr_update": None}``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sedna.algorithms.knowledge_management.artifacts import load_samples
from sedna.algorithms.seen_task_learning.artifact import Task, concat_samples, copy_samples, subset
from sedna.algorithms.seen_task_learning.seen_task_learning import algorithm_config, build_algorithm
from sedna.algorithms.seen_task_learning.task_jobs._common import attribute_list
from sedna.common.class_factory import ClassFactory, ClassType
from sedna.datasources import BaseDataSource

__all__ = ["UpdateStrategyByFinetune", "UpdateStrategyDefault"]


def _groups(task_index: Any, task_type: str) -> list:
    part = task_index.get(task_type) if isinstance(task_index, dict) else None
    if isinstance(part, dict):
        return list(part.get("task_groups") or [])
    return list(task_index.get("task_groups") or []) if isinstance(task_index, dict) else []


@ClassFactory.register(ClassType.KM)
class UpdateStrategyDefault:
    """Ours (upstream names it as the default but never registered it): define tasks on the new samples
    with the job's task definition; a task the KB already has is retrained on its old samples plus the new
    ones, a new task is trained on its new samples; tasks without new samples keep their models."""

    def __init__(self, task_index: Any = None, **kwargs: Any):
        self.task_index = task_index or {}
        self.task_definition = kwargs.get("task_definition") or {"method": "TaskDefinitionByDataAttr"}
        self.fetch = kwargs.get("fetch") or (lambda url: url)

    def __call__(self, samples: BaseDataSource, task_type: str = "seen_task") -> tuple[list[Task], list[dict]]:
        method, param = algorithm_config(self.task_definition, "TaskDefinitionByDataAttr")
        new_tasks, _, _ = build_algorithm((ClassType.STP, ClassType.MTL), method, **param)(copy_samples(samples))
        old = {g.entry: g for g in _groups(self.task_index, task_type)}
        tasks, strategies = [], []
        for task in new_tasks:
            merged = task.samples
            group = old.get(task.entry)
            url = getattr(group, "samples_url", None) if group is not None else None
            if url:
                merged = concat_samples([load_samples(self.fetch(url)), task.samples], data_type=samples.data_type)
            tasks.append(Task(entry=task.entry, samples=merged, meta_attr=task.meta_attr))
            strategies.append({"raw_data_update": merged, "target_model_update": True, "task_attr_update": None})
        return tasks, strategies


@ClassFactory.register(ClassType.KM)
class UpdateStrategyByFinetune:
    """Samples whose label contains ``city`` update the task whose model serves the first ``attribute``
    (e.g. ``real``), the others the second (``sim``)."""

    def __init__(self, task_index: Any = None, **kwargs: Any):
        self.task_index = task_index or {}
        self.attribute = attribute_list(kwargs.get("attribute", "real, sim"))
        if len(self.attribute) != 2:
            raise ValueError(f"UpdateStrategyByFinetune: attribute must name two origins, got {self.attribute}")
        self.city = str(kwargs.get("city", "berlin"))

    def __call__(self, samples: BaseDataSource, task_type: str = "seen_task") -> tuple[list[Task], list[dict]]:
        labels = list(samples.y if samples.y is not None else samples.x)
        first = np.array([self.city in str(label) for label in labels], dtype=bool)
        groups = _groups(self.task_index, task_type)
        tasks, strategies = [], []
        for origin, mask in zip(self.attribute, (first, ~first)):
            positions = np.flatnonzero(mask)
            if not len(positions):
                continue
            entry = next((g.entry for g in groups if g.model is not None and g.model.meta_attr == origin),
                         f"{origin}.model")
            part = subset(samples, positions)
            tasks.append(Task(entry=entry, samples=part, meta_attr=origin))
            strategies.append({"raw_data_update": part, "target_model_update": True, "task_attr_update": None})
        return tasks, strategies
