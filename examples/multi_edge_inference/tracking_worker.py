"""Tracking worker (ObjectSearchService / ObjectTrackingService): reads its cameras, detects and tracks people
in every frame, and sends each frame's tracked boxes to the ReID workers behind ``EDGEMESH_URL``.

Like upstream's data-load-and-tracking worker it is one pod per entry of ``trackingWorkers``; the GM gives it
``EDGEMESH_URL`` (the ReID Service, ``host:port``) and, in object search, ``USERWORKER_URL``. Nothing is timed
by sleeping: before the first frame it waits (bounded by ``wait_seconds``, default 120) until the ReID
workers answer (and, in object search, the user worker), and exits non-zero with the reason if they do not.
After its videos it prints a JSON summary and stays up, as a camera stream that ended (a bare pod restarts a
process that exits).

Env: ``dataSources`` (video files, ``|`` or ``,`` separated; each file's stem names the camera), ``modelUri``
(the detector's JSON file; upstream's name), ``EDGEMESH_URL``, ``USERWORKER_URL``, ``wait_seconds``.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from search_models import TrackingDetector

from sedna.core.multi_edge_inference.components import BaseService
from sedna.core.multi_edge_inference.data_classes import DETECTION_TIME_FORMAT
from sedna.core.multi_edge_inference.plugins import PLUGIN
from sedna.core.multi_edge_inference.plugins.registered import ReID_I
from sedna.core.multi_edge_inference.utils import get_parameters
from sedna.service.multi_edge_inference.interface import FE

logging.basicConfig(level=logging.INFO, format="%(asctime)s tracking %(levelname)s %(message)s")
logging.getLogger("httpx").setLevel(logging.WARNING)
logger = logging.getLogger("tracking_worker")


def split_address(value: str, name: str) -> tuple[str, int]:
    host, sep, port = value.strip().rpartition(":")
    if not sep or not host or not port.isdigit():
        sys.exit(f"{name}={value!r}: expected host:port")
    return host, int(port)


class TrackingService(BaseService):
    """Tracked frames → the ReID workers (``ReID_I``); counts what the ReID workers answered."""

    def __init__(self, models: list, reid: ReID_I):
        self.frames_sent = 0
        self.answers = 0
        self.matched = 0
        super().__init__([], [], [reid], models, asynchronous=False)

    def process_data(self, ai: Any, data: Any, **kwargs: Any) -> Any:
        result = ai.inference(data)
        if result:
            answer = self._send(result, PLUGIN.REID_I)
            self.frames_sent += len(result)
            if answer is not None:
                self.answers += len(result)
                self.matched += len(answer) if isinstance(answer, list) else 0
        return result

    def update_operational_mode(self, status: Any) -> None:
        for ai in self.models:
            ai.update_plugin(status)


def wait_until_answers(client: Any, what: str, deadline: float) -> None:
    retries, client.retries = client.retries, 1
    try:
        while client.check_server_status() is None:
            if time.monotonic() > deadline:
                sys.exit(f"{what} at {client.ip}:{client.port} did not answer before the deadline")
            time.sleep(0.5)
    finally:
        client.retries = retries
    logger.info("reached %s at %s:%s", what, client.ip, client.port)


def main() -> None:
    sources = [s for s in re.split(r"[|,\s]+", str(get_parameters("dataSources", ""))) if s]
    if not sources:
        sys.exit("dataSources is empty: give the video files to read")
    model_uri = get_parameters("modelUri", "")
    if model_uri:
        os.environ.setdefault("model_path", model_uri)
    deadline = time.monotonic() + float(get_parameters("wait_seconds", 120))
    reid_host, reid_port = split_address(get_parameters("EDGEMESH_URL", ""), "EDGEMESH_URL")
    model = TrackingDetector(video_id=Path(sources[0]).stem)
    service = TrackingService([model], ReID_I(ip=reid_host, port=reid_port))
    wait_until_answers(service.get_plugin(PLUGIN.REID_I).plugin_api, "the ReID workers", deadline)
    user_url = get_parameters("USERWORKER_URL", "")
    if user_url:
        host, port = split_address(user_url, "USERWORKER_URL")
        wait_until_answers(FE("feature_extraction", ip=host, port=port), "the user worker", deadline)

    frames_read = 0
    for source in sources:
        frames = np.load(source, allow_pickle=False)
        model.camera_code, model.tracks = Path(source).stem, {}
        for index, frame in enumerate(frames):
            service.put((frame, datetime.datetime.now().strftime(DETECTION_TIME_FORMAT), index))
            frames_read += 1
        service.flush()
        logger.info("camera %s: %d frames", model.camera_code, len(frames))
    summary = {"cameras": [Path(s).stem for s in sources], "frames": frames_read,
               "frames_sent": service.frames_sent, "answered": service.answers, "matched": service.matched,
               "send_failures": service.send_failures}
    print(json.dumps(summary), flush=True)
    if service.answers == 0:
        sys.exit("the ReID workers answered none of the frames")

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    service.close(flush=False)


if __name__ == "__main__":
    main()
