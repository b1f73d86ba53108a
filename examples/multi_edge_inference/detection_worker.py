"""Detection worker (VideoAnalyticsJob): feeds the video's frames to an ``ObjectDetector``, then waits until
feature extraction stops sending results back and prints a JSON summary.

Env: ``video_address`` (``video.npy``), ``video_id`` (camera), ``MODEL_URL`` (``detector.json``),
``DET_MODEL_BIND_URL``/``DET_MODEL_BIND_PORT`` (where to listen), ``FE_MODEL_BIND_URL``/``FE_MODEL_BIND_PORT``
(feature extraction), ``MULTI_EDGE_SHARED_DIR`` (where results for ReID go), ``idle_seconds`` (2).
"""

from __future__ import annotations

import datetime
import json
import logging
import time

import numpy as np
from models import BrightBoxDetector

from sedna.core.multi_edge_inference.components.detector import ObjectDetector
from sedna.core.multi_edge_inference.data_classes import DETECTION_TIME_FORMAT
from sedna.core.multi_edge_inference.utils import get_parameters

logging.basicConfig(level=logging.INFO, format="%(asctime)s detection %(levelname)s %(message)s")


def main() -> None:
    frames = np.load(get_parameters("video_address", "video.npy"), allow_pickle=False)
    idle = float(get_parameters("idle_seconds", 2))
    service = ObjectDetector(models=[BrightBoxDetector(video_id=get_parameters("video_id", 0))])
    started = time.time()
    for index, frame in enumerate(frames):
        det_time = datetime.datetime.now().strftime(DETECTION_TIME_FORMAT)
        service.put((frame, det_time, index))
    service.flush()
    while time.time() - service.heartbeat <= idle and time.time() - started < 120:
        time.sleep(0.1)
    service.close()
    print(json.dumps({"frames": len(frames), "dropped": service.frames_dropped,
                      "results_received": service.data_counter}), flush=True)


if __name__ == "__main__":
    main()
