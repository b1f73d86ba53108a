"""``ReID``: matches enriched detections against a user's target (sdk.md §12.1).

On start-up every model's ``update_plugin(None)`` gives the query data (e.g. a ``DetTrackResult`` whose
``bbox`` holds the query images); its features come from feature extraction (``get_target_features`` over
``Feature_Extraction_I``) and go to the model's ``update_target``. Data — read from the shared folder by the
worker script and ``put`` here, or posted to ``/reid/reid`` — is matched by the model's ``predict``.

Ours: ``inference(data)`` runs the models synchronously and returns their results (upstream's ReID server
called an ``inference`` this component did not have).
"""

from __future__ import annotations

import logging
from typing import Any

from sedna.core.multi_edge_inference.components import BaseService, FileOperations
from sedna.core.multi_edge_inference.plugins import PLUGIN
from sedna.core.multi_edge_inference.plugins.registered import Feature_Extraction_I, ReID_Server

__all__ = ["ReID"]

logger = logging.getLogger(__name__)


class ReID(BaseService, FileOperations):
    def __init__(self, consumer_topics: list | None = None, producer_topics: list | None = None,
                 plugins: list | None = None, models: list | None = None, timeout: float = 10,
                 asynchronous: bool = True):
        if not models:
            raise ValueError("ReID needs at least one model")
        self.targets_loaded = False
        super().__init__(consumer_topics or [], producer_topics or [], plugins, models, timeout, asynchronous)

    def _default_plugins(self):
        server = ReID_Server(wrapper=self)
        try:
            return [server, Feature_Extraction_I()]
        except Exception:
            server.stop()
            raise

    def _post_init(self) -> None:
        super()._post_init()
        self.update_operational_mode(None)

    def process_data(self, ai: Any, data: Any, **kwargs: Any) -> Any:
        return ai.predict(data)

    def inference(self, data: Any, **kwargs: Any) -> list:
        """Match ``data`` now with every model; the concatenated non-empty results."""
        items = self.flatten(data if isinstance(data, list) else [data])
        results: list = []
        for ai in self.models:
            out = self.process_data(ai, items, **kwargs)
            if isinstance(out, list):
                results.extend(out)
            elif out is not None:
                results.append(out)
        return results

    def update_operational_mode(self, status: Any) -> None:
        for ai in self.models:
            try:
                query = ai.update_plugin(status)
                targets = self.get_target_features(query)
                if targets is None:
                    logger.error("feature extraction returned no target features for %s", type(ai).__name__)
                    continue
                ai.update_target(targets)
                self.targets_loaded = True
            except Exception as exc:  # noqa: BLE001 - logged; the job keeps running without a target
                logger.error("unable to update the target of %s: %s", type(ai).__name__, exc)

    def get_target_features(self, ldata: Any) -> Any:
        plugin = self.get_plugin(PLUGIN.FEATURE_EXTRACTION_I)
        if plugin is None:
            raise RuntimeError("ReID has no Feature_Extraction_I plugin")
        return plugin.plugin_api.get_target_features(ldata)
