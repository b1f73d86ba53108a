"""Federated learning workers: ``FederatedLearning`` (websocket FedAvg) and ``FederatedLearningV2``."""

from sedna.core.federated_learning.federated_learning import FederatedLearning, FederatedLearningV2

__all__ = ["FederatedLearning", "FederatedLearningV2"]
