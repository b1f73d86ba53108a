"""Pluggable algorithms. Importing this package registers the built-in algorithms (hard-example mining,
aggregation, multi-task / seen-task learning, unseen-task detection and processing, knowledge management) in
:class:`~sedna.common.class_factory.ClassFactory`, as upstream's import of ``sedna`` does."""

from sedna.algorithms import (  # noqa: F401  (registration side effect)
    aggregation,
    hard_example_mining,
    knowledge_management,
    multi_task_learning,
    seen_task_learning,
    unseen_task_detection,
    unseen_task_processing,
)
