"""The older multi-task-learning API (``MulTaskLearning``) and its ``ClassType.MTL`` names, which map onto the
seen-task algorithms: ``TaskMiningBy*`` is ``TaskAllocationBy*`` under its older name."""

from sedna.algorithms.multi_task_learning.multi_task_learning import MulTaskLearning

__all__ = ["MulTaskLearning"]
