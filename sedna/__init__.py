"""Sedna: edge-cloud collaborative AI on Kubernetes (Python reimplementation)."""

__version__ = "0.1.0"
