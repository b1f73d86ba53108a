"""Detection worker (VideoAnalyticsJob): feeds the video's frames to an ``ObjectDetector``, then waits until
feature extraction stops sending results back and prints a JSON summary.

Env: ``video_address`` (``video.npy``), ``video_id`` (camera), ``MODEL_URL`` (``detector.json``),
``DET_MODEL_BIND_URL``/``DET_MODEL_BIND_PORT`` (where to listen), ``FE_MODEL_BIND_URL``/``FE_MODEL_BIND_PORT``
(feature extraction), ``MULTI_EDGE_SHARED_DIR`` (where results for ReID go), ``idle_seconds`` (2),
``handshake_seconds`` (0 = off): before the video, send the first frame's detections to feature extraction
until they come back (for a cluster where feature extraction may start before it can reach this job's
Service), then remove that handshake's files.
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
from sedna.core.multi_edge_inference.plugins import PLUGIN
from sedna.core.multi_edge_inference.utils import get_parameters

logging.basicConfig(level=logging.INFO, format="%(asctime)s detection %(levelname)s %(message)s")
logger = logging.getLogger("detection_worker")


def handshake(service: ObjectDetector, model: BrightBoxDetector, frame, seconds: float) -> None:
    """Send the first frame's detections until feature extraction returns them (or ``seconds`` pass)."""
    fe = service.get_plugin(PLUGIN.FEATURE_EXTRACTION_I).plugin_api
    det_time = datetime.datetime.now().strftime(DETECTION_TIME_FORMAT)
    result = model.inference([(frame, det_time, -1)])
    deadline = time.time() + seconds
    while service.data_counter == 0:
        if time.time() > deadline:
            raise SystemExit(f"feature extraction did not answer within {seconds:.0f} s")
        if fe.check_server_status() is not None:
            fe.transmit(result)
        if service.data_counter == 0:
            time.sleep(1)
    for path in service.get_files_list(service.shared_folder):
        service.delete_from_disk(path)
    service.data_counter = 0
    logger.info("feature extraction answers; starting the video")


def main() -> None:
    frames = np.load(get_parameters("video_address", "video.npy"), allow_pickle=False)
    idle = float(get_parameters("idle_seconds", 2))
    model = BrightBoxDetector(video_id=get_parameters("video_id", 0))
    service = ObjectDetector(models=[model])
    wait = float(get_parameters("handshake_seconds", 0))
    if wait > 0:
        handshake(service, model, frames[0], wait)
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
