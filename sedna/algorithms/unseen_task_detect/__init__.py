"""Upstream's older import path for the unseen-task filters; see :mod:`sedna.algorithms.unseen_task_detection`."""

from sedna.algorithms.unseen_task_detection import ModelProbeFilter, TaskAttrFilter

__all__ = ["ModelProbeFilter", "TaskAttrFilter"]
