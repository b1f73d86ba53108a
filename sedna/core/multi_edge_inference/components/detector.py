"""``ObjectDetector``: the edge component that detects/tracks objects in video frames (sdk.md §12.1).

``put((frame, detection_time, index))`` feeds a frame; frames without motion since the previous frame
(optical flow, :mod:`sedna.algorithms.optical_flow`) are dropped, the first frame always passes. Batches go
to ``model.inference``; non-empty results are sent to feature extraction (REST ``Feature_Extraction_I`` or
Kafka topic ``object_detection``). Results coming back from feature extraction (a list, through this
component's own ``VideoAnalytics`` server or Kafka topic ``enriched_object``) are written to the shared
folder for the ReID job (anything but ``DetTrackResult`` items is refused with ValueError, i.e. a 400 at
the server): env ``MULTI_EDGE_SHARED_DIR`` (ours), default upstream's
``/data/network_shared/reid/``.

Difference from upstream: the previous frame is updated with every frame, so motion is judged between
consecutive frames (upstream compared every frame with the first one forever).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sedna.algorithms.optical_flow import LukasKanade, LukasKanadeCUDA
from sedna.core.multi_edge_inference.components import BaseService, FileOperations
from sedna.core.multi_edge_inference.data_classes import DetTrackResult
from sedna.core.multi_edge_inference.plugins import PLUGIN
from sedna.core.multi_edge_inference.plugins.registered import Feature_Extraction_I, VideoAnalytics
from sedna.core.multi_edge_inference.utils import get_parameters

__all__ = ["DEFAULT_SHARED_DIR", "ObjectDetector"]

logger = logging.getLogger(__name__)

DEFAULT_SHARED_DIR = "/data/network_shared/reid/"


class ObjectDetector(BaseService, FileOperations):
    """Detection/tracking component; ``models`` are PluggableModels whose ``predict`` takes a list of
    ``(frame, detection_time, index)`` tuples and returns a list of ``DetTrackResult``."""

    def __init__(self, consumer_topics: list | None = None, producer_topics: list | None = None,
                 plugins: list | None = None, models: list | None = None, timeout: float = 10,
                 asynchronous: bool = False):
        if not models:
            raise ValueError("ObjectDetector needs at least one model")
        device = getattr(models[0], "device", "cpu")
        self.optical_flow = LukasKanadeCUDA() if device == "cuda" else LukasKanade()
        self.prev_frame: Any = None
        self.heartbeat = time.time()
        self.data_counter = 0
        self.frames_dropped = 0
        self.shared_folder = get_parameters("MULTI_EDGE_SHARED_DIR", DEFAULT_SHARED_DIR)
        super().__init__(["enriched_object"] if consumer_topics is None else consumer_topics,
                         ["object_detection"] if producer_topics is None else producer_topics,
                         plugins, models, timeout, asynchronous)

    def _default_plugins(self):
        server = VideoAnalytics(wrapper=self)
        try:
            return [server, Feature_Extraction_I()]
        except Exception:
            server.stop()
            raise

    def preprocess(self, data: Any, **kwargs: Any) -> Any:
        if isinstance(data, list):  # enriched results coming back from feature extraction
            strangers = sorted({type(item).__name__ for item in self.flatten(data)
                                if not isinstance(item, DetTrackResult)})
            if strangers:
                raise ValueError(f"results from feature extraction must be DetTrackResult, got {strangers}")
            self.data_counter += len(data)
            path = self.write_to_disk(data, folder=self.shared_folder)
            logger.info("received %d results from feature extraction (total %d): %s", len(data),
                        self.data_counter, path)
            self.heartbeat = time.time()
            return None
        frame = data[0] if isinstance(data, tuple) else data
        previous, self.prev_frame = self.prev_frame, frame
        if previous is None or self.optical_flow(previous, frame):
            return data
        self.frames_dropped += 1
        return None

    def process_data(self, ai: Any, data: Any, **kwargs: Any) -> Any:
        result = ai.inference(data)
        if result:
            self._send(result, PLUGIN.FEATURE_EXTRACTION_I, **kwargs)
        return result

    def update_operational_mode(self, status: Any) -> None:
        for ai in self.models:
            try:
                ai.update_plugin(status)
            except Exception as exc:  # noqa: BLE001 - one model's refusal must not stop the others
                logger.error("model %s refused the update: %s", type(ai).__name__, exc)
