"""Unseen-task processing; registers ``UnseenTaskAllocationDefault`` under ``ClassType.UTP`` on import."""

from sedna.algorithms.unseen_task_processing.unseen_task_processing import (
                                                                            UnseenTaskAllocationDefault,
                                                                            UnseenTaskProcessing,
)

__all__ = ["UnseenTaskAllocationDefault", "UnseenTaskProcessing"]
