"""Federated aggregation algorithms; importing this package registers them under ``ClassType.FL_AGG``."""

from sedna.algorithms.aggregation.aggregation import (
    AggClient,
    BaseAggregation,
    FedAvg,
    FedAvgV2,
    MistNet,
    WeightedSum,
    weighted_mean,
)

__all__ = ["AggClient", "BaseAggregation", "FedAvg", "FedAvgV2", "MistNet", "WeightedSum", "weighted_mean"]
