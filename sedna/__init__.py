"""Sedna: edge-cloud collaborative AI on Kubernetes (Python reimplementation)."""

__version__ = "0.1.0"

from sedna import algorithms  # noqa: E402,F401  (registers built-in algorithms, as upstream's import does)
