"""``FEService``: extracts features of detected objects and sends the enriched results back (sdk.md §12.1).

Input: lists of ``DetTrackResult`` (``Feature_Extraction`` server, or Kafka topic ``object_detection``).
``model.inference(batch)`` returns the enriched list, sent to the detector (``VideoAnalytics_I`` client, or
Kafka topic ``enriched_object``). ``get_target_features(data)`` (used by ReID) is ``models[0]``'s.
"""

from __future__ import annotations

import logging
from typing import Any

from sedna.core.multi_edge_inference.components import BaseService
from sedna.core.multi_edge_inference.plugins import PLUGIN
from sedna.core.multi_edge_inference.plugins.registered import Feature_Extraction, VideoAnalytics_I

__all__ = ["FEService"]

logger = logging.getLogger(__name__)


class FEService(BaseService):
    def __init__(self, consumer_topics: list | None = None, producer_topics: list | None = None,
                 plugins: list | None = None, models: list | None = None, timeout: float = 10,
                 asynchronous: bool = False):
        if not models:
            raise ValueError("FEService needs at least one model")
        super().__init__(["object_detection"] if consumer_topics is None else consumer_topics,
                         ["enriched_object"] if producer_topics is None else producer_topics,
                         plugins, models, timeout, asynchronous)

    def _default_plugins(self):
        client = VideoAnalytics_I()
        return [client, Feature_Extraction(wrapper=self)]

    def process_data(self, ai: Any, data: Any, **kwargs: Any) -> Any:
        result = ai.inference(data)
        if result:
            self._send(result, PLUGIN.VIDEO_ANALYTICS_I, **kwargs)
        return result

    def get_target_features(self, data: Any) -> Any:
        return self.models[0].get_target_features(data)

    def update_operational_mode(self, status: Any) -> None:
        for ai in self.models:
            try:
                ai.update_plugin(status)
            except Exception as exc:  # noqa: BLE001
                logger.error("model %s refused the update: %s", type(ai).__name__, exc)
