"""The lifelong-learning knowledge base server (``KBServer``); run it with
``python -m sedna.service.server.knowledge_base``."""

from sedna.service.server.knowledge_base.server import KBServer, create_kb_app

__all__ = ["KBServer", "create_kb_app"]
