"""Task relationship discovery: group tasks that will share a model (sdk.md §8.2)."""

from __future__ import annotations

from typing import Any

from sedna.algorithms.seen_task_learning.artifact import Task, TaskGroup
from sedna.common.class_factory import ClassFactory, ClassType

__all__ = ["DefaultTaskRelationDiscover"]


@ClassFactory.register(ClassType.STP)
class DefaultTaskRelationDiscover:
    """One group per task; the group's samples are the task's."""

    def __init__(self, **kwargs: Any):
        self.params = kwargs

    def __call__(self, tasks: list[Task]) -> list[TaskGroup]:
        groups = []
        for task in tasks:
            group = TaskGroup(entry=task.entry, tasks=[task])
            group.samples = task.samples
            groups.append(group)
        return groups
