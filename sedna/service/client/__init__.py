"""Clients that workers use: LC reporting, model inference, aggregation, knowledge base.

Names resolve lazily so importing one client does not import the other's stack.
"""

import importlib

_EXPORTS = {
    "http_request": "sedna.service.client.http",
    "LCClient": "sedna.service.client.lc",
    "LCReporter": "sedna.service.client.lc",
    "ModelClient": "sedna.service.client.model",
    "AggregationClient": "sedna.service.client.aggregation",
    "KBClient": "sedna.service.client.knowledge_base",
}

__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
