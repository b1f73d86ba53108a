"""Hard-example-mining algorithms; importing this package registers them under ``ClassType.HEM``."""

from sedna.algorithms.hard_example_mining.hard_example_mining import (
    BaseFilter,
    CloudOnlyFilter,
    CrossEntropyFilter,
    EdgeOnlyFilter,
    IBTFilter,
    RandomFilter,
    RandomRouter,
    ThresholdFilter,
    box_scores,
)

__all__ = [
    "BaseFilter",
    "CloudOnlyFilter",
    "CrossEntropyFilter",
    "EdgeOnlyFilter",
    "IBTFilter",
    "RandomFilter",
    "RandomRouter",
    "ThresholdFilter",
    "box_scores",
]
