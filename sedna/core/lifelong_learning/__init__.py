"""Lifelong learning: a knowledge base of tasks and task models that grows with every training round, and
inference that knows when a sample belongs to no task it has learned."""

from sedna.core.lifelong_learning.lifelong_learning import LifelongLearning

__all__ = ["LifelongLearning"]
