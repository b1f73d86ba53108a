"""ReID worker (ObjectTrackingService): gives every person the tracking workers send a global identity, the
same one in every camera, and records each camera's frames with those identities.

A ``ReID`` component on the ReID Service's port (``REID_MODEL_BIND_PORT``, default 9378, the port of the
``<name>-reidworker`` Service): tracking workers post tracked frames to ``/reid/reid``. Identities live in
the fingerprint hub (``fingerPrintHub``, upstream's name: a folder all replicas share, see
``search_models.FingerprintHub``); each frame's result goes to ``<tracks_dir>/<camera>_<frame>.json``. There
is no search target, so no feature-extraction service is asked for one. Serves until SIGTERM.

Env: ``fingerPrintHub``, ``tracks_dir``, ``match_threshold`` (0.8), ``REID_MODEL_BIND_PORT``.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any

from search_models import FingerprintHub, IdentityAssigner

from sedna.core.multi_edge_inference.components.reid import ReID
from sedna.core.multi_edge_inference.utils import get_parameters

logging.basicConfig(level=logging.INFO, format="%(asctime)s reid %(levelname)s %(message)s")
logging.getLogger("httpx").setLevel(logging.WARNING)
logger = logging.getLogger("tracking_reid_worker")


class TrackingReID(ReID):
    """ReID without a target: nothing to fetch at start or on ``update_service``."""

    def update_operational_mode(self, status: Any) -> None:
        for ai in self.models:
            ai.update_plugin(status)


def main() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    os.environ.setdefault("REID_MODEL_BIND_PORT", "9378")
    hub = FingerprintHub(str(get_parameters("fingerPrintHub", "hub")), float(get_parameters("match_threshold", 0.8)))
    assigner = IdentityAssigner(hub, str(get_parameters("tracks_dir", "tracks")))
    job = TrackingReID(models=[assigner], asynchronous=False)
    logger.info("assigning identities from the hub in %s", hub.folder)
    stop.wait()
    job.close(flush=False)
    logger.info("%d frames given identities", assigner.frames_seen)


if __name__ == "__main__":
    main()
