"""ReID worker (ObjectSearchService): compares the people the tracking workers send with the user's target
and reports every sighting to the user worker.

A ``ReID`` component on the ReID Service's port (``REID_MODEL_BIND_PORT``, default 9378, the port of the
``<name>-reidworker`` Service): tracking workers post tracked frames to ``/reid/reid`` and get the
sightings back. The target's features come from the user worker (``Feature_Extraction_I``:
``FE_MODEL_BIND_URL``/``FE_MODEL_BIND_PORT``, the ``<name>-userworker`` Service on 9379); the worker asks
again until it answers (bounded by ``wait_seconds``, default 120; then exit 1). Until the target is known,
frames are refused (500), so the tracking workers' clients retry them instead of losing them.
Serves until SIGTERM (replicas of a Deployment).

Env: ``match_threshold`` (0.8), ``FE_MODEL_BIND_URL``, ``FE_MODEL_BIND_PORT``, ``REID_MODEL_BIND_PORT``,
``wait_seconds``.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from typing import Any

from search_models import TargetMatcher

from sedna.core.multi_edge_inference.components.reid import ReID
from sedna.core.multi_edge_inference.plugins import PLUGIN
from sedna.core.multi_edge_inference.utils import get_parameters

logging.basicConfig(level=logging.INFO, format="%(asctime)s reid %(levelname)s %(message)s")
logging.getLogger("httpx").setLevel(logging.WARNING)
logger = logging.getLogger("search_reid_worker")


class SearchReID(ReID):
    """Refuses frames until the target is known (they would be matched against nothing)."""

    def inference(self, data: Any, **kwargs: Any) -> list:
        if not self.targets_loaded:
            raise RuntimeError("the search target is not known yet")
        return super().inference(data, **kwargs)


def main() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    deadline = time.monotonic() + float(get_parameters("wait_seconds", 120))
    os.environ.setdefault("REID_MODEL_BIND_PORT", "9378")
    job: list[ReID] = []

    def report(sightings: list) -> None:
        user = job[0].get_plugin(PLUGIN.FEATURE_EXTRACTION_I).plugin_api
        if user.transmit(sightings) is None:
            logger.error("the user worker did not take %d sightings", len(sightings))

    matcher = TargetMatcher(float(get_parameters("match_threshold", 0.8)), report)
    job.append(SearchReID(models=[matcher], asynchronous=False))
    while not job[0].targets_loaded:
        if time.monotonic() > deadline:
            job[0].close(flush=False)
            sys.exit("the user worker gave no search target before the deadline")
        time.sleep(1)
        job[0].update_operational_mode(None)
    logger.info("searching for %s", [t.userid for t in matcher.targets])
    stop.wait()
    job[0].close(flush=False)
    logger.info("%d frames compared, %d sightings", matcher.frames_seen, matcher.sightings)


if __name__ == "__main__":
    main()
