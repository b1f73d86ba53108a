"""Seen-task algorithms, registered in ``ClassFactory`` under ``ClassType.STP`` (upstream's names)."""

from sedna.algorithms.seen_task_learning.task_jobs import (  # noqa: F401  (registration side effect)
    inference_integrate,
    task_allocation,
    task_definition,
    task_relation_discover,
    task_remodeling,
)
