"""``MulTaskLearning``: upstream's older name of seen-task learning (sdk.md §8.2).

Same pipeline as :class:`~sedna.algorithms.seen_task_learning.SeenTaskLearning`, with the algorithms looked
up under ``ClassType.MTL`` first, "task mining" in place of "task allocation", and the rare-task rule
strict (a group with exactly ``MIN_TRAIN_SAMPLE`` samples is rare).
"""

from __future__ import annotations

from typing import Any

from sedna.algorithms.seen_task_learning.seen_task_learning import SeenTaskLearning
from sedna.algorithms.seen_task_learning.task_jobs.inference_integrate import DefaultInferenceIntegrate
from sedna.algorithms.seen_task_learning.task_jobs.task_allocation import (
    TaskAllocationByDataAttr,
    TaskAllocationBySVC,
)
from sedna.algorithms.seen_task_learning.task_jobs.task_definition import (
    TaskDefinitionByDataAttr,
    TaskDefinitionBySVC,
)
from sedna.algorithms.seen_task_learning.task_jobs.task_relation_discover import DefaultTaskRelationDiscover
from sedna.algorithms.seen_task_learning.task_jobs.task_remodeling import DefaultTaskRemodeling
from sedna.common.class_factory import ClassFactory, ClassType

__all__ = ["MulTaskLearning"]

for _cls, _alias in ((TaskDefinitionBySVC, None), (TaskDefinitionByDataAttr, None),
                     (TaskAllocationBySVC, "TaskMiningBySVC"), (TaskAllocationByDataAttr, "TaskMiningByDataAttr"),
                     (DefaultTaskRelationDiscover, None), (DefaultTaskRemodeling, None),
                     (DefaultInferenceIntegrate, None)):
    ClassFactory.register_cls(_cls, type_name=ClassType.MTL, alias=_alias)


class MulTaskLearning(SeenTaskLearning):
    """``MulTaskLearning(estimator=None, task_definition=None, task_relationship_discovery=None,
    task_mining=None, task_remodeling=None, inference_integrate=None)``."""

    algorithm_types = (ClassType.MTL, ClassType.STP)
    rare_strict = True

    def __init__(self, estimator: Any = None, task_definition: Any = None, task_relationship_discovery: Any = None,
                 task_mining: Any = None, task_remodeling: Any = None, inference_integrate: Any = None,
                 **kwargs: Any):
        super().__init__(estimator=estimator, task_definition=task_definition,
                         task_relationship_discovery=task_relationship_discovery,
                         task_allocation=task_mining or kwargs.pop("task_allocation", None),
                         task_remodeling=task_remodeling, inference_integrate=inference_integrate, **kwargs)
        self.task_mining = self.task_allocation
