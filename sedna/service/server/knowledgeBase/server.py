"""Upstream's ``sedna.service.server.knowledgeBase.server.KBServer`` path, kept for worker scripts and images."""

from sedna.service.server.knowledge_base import KBServer

__all__ = ["KBServer"]
