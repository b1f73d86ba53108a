"""Upstream's import path for the knowledge base server; the implementation is :mod:`sedna.service.server.knowledge_base`."""
