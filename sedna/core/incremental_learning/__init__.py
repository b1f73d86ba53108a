"""Incremental learning: train, evaluate and serve a model that the LC's triggers keep improving."""

from sedna.core.incremental_learning.incremental_learning import IncrementalLearning

__all__ = ["IncrementalLearning"]
