"""Detection worker (VideoAnalyticsJob): feeds the video's frames to an ``ObjectDetector``, waits until feature
extraction stops sending results back, leaves a summary for the ReID job and prints it as JSON.

Nothing is timed by sleeping: before the video the worker waits (bounded by ``wait_seconds``, default 120)
until feature extraction answers and then until one detection makes the round trip detector → feature
extraction → detector (so a job applied together with its FeatureExtractionService, or before the Service
names resolve, starts sending only when both directions work). It exits non-zero with the reason when that
does not happen in time or when no result came back at all.

Env: ``video_address`` (``video.npy``), ``video_id`` (camera), ``MODEL_URL`` (``detector.json``),
``DET_MODEL_BIND_URL``/``DET_MODEL_BIND_PORT`` (where to listen), ``FE_MODEL_BIND_URL``/``FE_MODEL_BIND_PORT``
(feature extraction), ``MULTI_EDGE_SHARED_DIR`` (where results for ReID go), ``idle_seconds`` (2: the video
is done when no result came back for that long), ``wait_seconds`` (120; 0 skips the waits).
The summary (``frames``, ``dropped``, ``results_received``) is also written to
``<MULTI_EDGE_SHARED_DIR>/detection_done.json``, which tells the ReID job that no more files will come.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import sys
import tempfile
import time

import numpy as np
from models import BrightBoxDetector

from sedna.core.multi_edge_inference.components.detector import ObjectDetector
from sedna.core.multi_edge_inference.data_classes import DETECTION_TIME_FORMAT
from sedna.core.multi_edge_inference.plugins import PLUGIN
from sedna.core.multi_edge_inference.utils import get_parameters

logging.basicConfig(level=logging.INFO, format="%(asctime)s detection %(levelname)s %(message)s")
logger = logging.getLogger("detection_worker")

DONE_FILE = "detection_done.json"


def wait_for_round_trip(service: ObjectDetector, model: BrightBoxDetector, frame, seconds: float) -> None:
    """Send the first frame's detections until feature extraction returns them, or exit after ``seconds``.
    The answers go to a private folder (they are not frames of the video) that is removed afterwards."""
    fe = service.get_plugin(PLUGIN.FEATURE_EXTRACTION_I).plugin_api
    det_time = datetime.datetime.now().strftime(DETECTION_TIME_FORMAT)
    probe = model.inference([(frame, det_time, -1)])
    deadline = time.monotonic() + seconds
    shared, reached, retries = service.shared_folder, False, fe.retries
    with tempfile.TemporaryDirectory(prefix="handshake-") as private:
        service.shared_folder, fe.retries = private, 1      # this loop does its own retrying
        try:
            while service.data_counter == 0:
                if time.monotonic() > deadline:
                    where = f"{fe.ip}:{fe.port}"
                    reason = ("feature extraction at %s answered, but sent nothing back to this job's Service"
                              if reached else "feature extraction at %s did not answer")
                    sys.exit(f"{reason % where} within {seconds:.0f} s")
                if fe.check_server_status() is not None:
                    if not reached:
                        logger.info("feature extraction answers at %s:%s", fe.ip, fe.port)
                    reached = True
                    fe.transmit(probe)
                if service.data_counter == 0:
                    time.sleep(0.5)
        finally:
            service.shared_folder, fe.retries = shared, retries
    service.data_counter = 0
    logger.info("round trip through feature extraction works; starting the video")


def main() -> None:
    frames = np.load(get_parameters("video_address", "video.npy"), allow_pickle=False)
    idle = float(get_parameters("idle_seconds", 2))
    wait = float(get_parameters("wait_seconds", 120))
    model = BrightBoxDetector(video_id=get_parameters("video_id", 0))
    service = ObjectDetector(models=[model])
    if wait > 0:
        wait_for_round_trip(service, model, frames[0], wait)
    started = time.time()
    for index, frame in enumerate(frames):
        det_time = datetime.datetime.now().strftime(DETECTION_TIME_FORMAT)
        service.put((frame, det_time, index))
    service.flush()
    while time.time() - service.heartbeat <= idle and time.time() - started < 120:
        time.sleep(0.1)
    service.close()
    summary = {"frames": len(frames), "dropped": service.frames_dropped,
               "results_received": service.data_counter}
    os.makedirs(service.shared_folder, exist_ok=True)
    done = os.path.join(service.shared_folder, DONE_FILE)
    with open(done + ".tmp", "w", encoding="utf-8") as fh:
        json.dump(summary, fh)
    os.replace(done + ".tmp", done)
    print(json.dumps(summary), flush=True)
    if service.data_counter == 0:
        sys.exit(f"no result came back from feature extraction for {len(frames)} frames")


if __name__ == "__main__":
    main()
