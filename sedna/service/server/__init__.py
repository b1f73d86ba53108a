"""Servers that workers run: model inference (REST) and federated aggregation (websocket).

Names resolve lazily so importing one server does not import the other's stack.
"""

import importlib

_EXPORTS = {
    "InferenceServer": "sedna.service.server.inference",
    "AggregationServer": "sedna.service.server.aggregation",
    "AggregationServerV2": "sedna.service.server.aggregation",
    "KBServer": "sedna.service.server.knowledge_base",
}

__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
