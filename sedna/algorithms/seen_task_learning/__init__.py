"""Seen-task learning: the tasks, task groups and models of a lifelong-learning knowledge base, and the
algorithms that define and allocate them (registered under ``ClassType.STP`` on import)."""

from sedna.algorithms.seen_task_learning import task_jobs  # noqa: F401  (registration side effect)
from sedna.algorithms.seen_task_learning.artifact import Model, Task, TaskGroup
from sedna.algorithms.seen_task_learning.seen_task_learning import SeenTaskLearning

__all__ = ["Model", "SeenTaskLearning", "Task", "TaskGroup"]
