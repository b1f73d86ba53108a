"""One module per Sedna kind. Each exposes ``CONTROLLER`` (a ``base.Controller``) whose functions are pure:
``reconcile(obj, observed, refs, ctx) -> Plan``, ``downstream(obj, refs, deleted) -> [Downstream]``,
``upstream(obj, content, now) -> [StatusWrite]``. The kopf wiring in ``sedna.gm.operator`` feeds them."""

from __future__ import annotations

import importlib

KIND_MODULES = (
    "dataset", "model", "jointinferenceservice", "federatedlearningjob", "incrementallearningjob",
    "lifelonglearningjob", "objectsearchservice", "objecttrackingservice", "reidjob", "videoanalyticsjob",
    "featureextractionservice",
)


def all_controllers():
    """Controllers keyed by lower-cased kind."""
    out = {}
    for name in KIND_MODULES:
        controller = importlib.import_module(f"sedna.gm.controllers.{name}").CONTROLLER
        out[controller.kind.lower()] = controller
    return out
