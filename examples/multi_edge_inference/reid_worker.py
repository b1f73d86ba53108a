"""ReID worker (ReidJob): loads the target from its query photo (features by the feature-extraction service),
matches the result files the detector leaves in the shared folder as they arrive, prints a JSON summary.

It waits for what it needs instead of sleeping a fixed time, each wait bounded by the job's deadline
(``deadline_seconds``, default 240, counted from the start):
1. the target's features: asked again until feature extraction answers;
2. the detector's files: matched as they appear; the job is done when the detector's summary
   (``detection_done.json``) is there and every file is matched, or when files came and then none for
   ``idle_seconds`` (30).
It exits 0 only when it matched the target in at least one frame; otherwise non-zero with the reason (no
target features, no frames before the deadline, frames but no match).

Env: ``MULTI_EDGE_SHARED_DIR``, ``user_id``, ``query_images``, ``match_threshold``, ``results_file``,
``FE_MODEL_BIND_URL``/``FE_MODEL_BIND_PORT``, ``REID_MODEL_BIND_URL``/``REID_MODEL_BIND_PORT``,
``deadline_seconds``, ``idle_seconds``.
"""

from __future__ import annotations

import json
import logging
import os
import pathlib
import sys
import time

from models import ReIDMatcher

from sedna.core.multi_edge_inference.components.detector import DEFAULT_SHARED_DIR
from sedna.core.multi_edge_inference.components.reid import ReID
from sedna.core.multi_edge_inference.utils import get_parameters

logging.basicConfig(level=logging.INFO, format="%(asctime)s reid %(levelname)s %(message)s")
logger = logging.getLogger("reid_worker")

DONE_FILE = "detection_done.json"


def load_target(job: ReID, deadline: float) -> None:
    while not job.targets_loaded:
        if time.monotonic() > deadline:
            sys.exit("feature extraction gave no target features before the deadline")
        time.sleep(1)
        job.update_operational_mode(None)
    logger.info("target loaded")


def match_files(job: ReID, folder: str, deadline: float, idle: float) -> int:
    """Match files as they arrive; the number of files read."""
    files_read, last_file = 0, time.monotonic()
    while True:
        files = [f for f in job.get_files_list(folder) if pathlib.Path(f).suffix == ".dat"]
        for filename in files:
            data = job.read_from_disk(filename)
            if data:
                job.put(data)
                files_read += 1
            job.delete_from_disk(filename)
        now = time.monotonic()
        if files:
            last_file = now
            continue
        if os.path.exists(os.path.join(folder, DONE_FILE)):
            logger.info("the detector is done; %d files matched", files_read)
            return files_read
        if files_read and now - last_file > idle:
            logger.info("no new file for %.0f s; %d files matched", idle, files_read)
            return files_read
        if now > deadline:
            if files_read:
                return files_read
            sys.exit(f"no frames from the detector arrived in {folder} before the deadline")
        time.sleep(0.2)


def count_lines(path: str) -> int:
    if not os.path.exists(path):
        return 0
    with open(path, encoding="utf-8") as fh:
        return sum(1 for line in fh if line.strip())


def main() -> None:
    started = time.monotonic()
    deadline = started + float(get_parameters("deadline_seconds", 240))
    idle = float(get_parameters("idle_seconds", 30))
    folder = get_parameters("MULTI_EDGE_SHARED_DIR", DEFAULT_SHARED_DIR)
    matcher = ReIDMatcher()
    before = count_lines(matcher.results_file)
    job = ReID(models=[matcher], asynchronous=False)
    try:
        load_target(job, deadline)
        files_read = match_files(job, folder, deadline, idle)
    finally:
        job.close()
    matched = count_lines(matcher.results_file) - before
    print(json.dumps({"files": files_read, "targets": len(matcher.targets_list), "matched": matched,
                      "results_file": matcher.results_file}), flush=True)
    if matched == 0:
        sys.exit(f"{files_read} frames read, none matched the target of {matcher.user_id}")


if __name__ == "__main__":
    main()
