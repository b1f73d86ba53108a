"""User worker (ObjectSearchService): the user's entry point. It holds the search task — who to look for, from
the user's photos — and collects what the ReID workers find.

It is an ``FEService`` on the user-worker Service's port (``FE_MODEL_BIND_PORT``, default 9379, the port of
the ``<name>-userworker`` Service the GM creates): the ReID workers ask it for the target's features
(``/feature_extraction/get_target_features``) and post their sightings to ``/feature_extraction/
feature_extraction``; each sighting is written to ``<results_dir>/<camera>_<frame>.json``. Serves until
SIGTERM.

Env: ``user_id``, ``query_images`` (``.npy`` photos, ``|`` separated), ``results_dir``.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

import numpy as np
from search_models import SearchTask

from sedna.core.multi_edge_inference.components.feature_extraction import FEService
from sedna.core.multi_edge_inference.plugins import PLUGIN
from sedna.core.multi_edge_inference.utils import get_parameters

logging.basicConfig(level=logging.INFO, format="%(asctime)s user %(levelname)s %(message)s")
logging.getLogger("httpx").setLevel(logging.WARNING)
logger = logging.getLogger("search_user_worker")


def main() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    paths = [p for p in str(get_parameters("query_images", "")).split("|") if p]
    if not paths:
        sys.exit("query_images is empty: give the photos of the person to search for")
    task = SearchTask(str(get_parameters("user_id", "DEFAULT")), [np.load(p, allow_pickle=False) for p in paths],
                      str(get_parameters("results_dir", "results")))
    os.environ.setdefault("FE_MODEL_BIND_PORT", "9379")
    service = FEService(models=[task], asynchronous=False)
    logger.info("search task of %s (%d photos) served on port %s; sightings go to %s", task.user_id, len(paths),
                service.get_plugin(PLUGIN.FEATURE_EXTRACTION).port, task.results_dir)
    stop.wait()
    service.close()
    logger.info("%d sightings recorded", task.found)


if __name__ == "__main__":
    main()
