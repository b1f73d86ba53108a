"""Pluggable algorithms. Importing this package registers the built-in hard-example-mining and aggregation
algorithms in :class:`~sedna.common.class_factory.ClassFactory`, as upstream's import of ``sedna`` does."""

from sedna.algorithms import aggregation, hard_example_mining  # noqa: F401  (registration side effect)
