"""Unseen-task detection; registers the ``ClassType.UTD`` algorithms on import."""

from sedna.algorithms.unseen_task_detection.unseen_sample_detection import UnseenSampleDetection
from sedna.algorithms.unseen_task_detection.unseen_task_detection import (
                                                                          ModelProbeFilter,
                                                                          SampleRecognitionByModelProbe,
                                                                          SampleRecognitionByTaskAttr,
                                                                          SampleRegonitionDefault,
                                                                          SampleReRegonitionDefault,
                                                                          TaskAttrFilter,
)

__all__ = [
                                                                          "ModelProbeFilter",
                                                                          "SampleReRegonitionDefault",
                                                                          "SampleRecognitionByModelProbe",
                                                                          "SampleRecognitionByTaskAttr",
                                                                          "SampleRegonitionDefault",
                                                                          "TaskAttrFilter",
                                                                          "UnseenSampleDetection",
]
