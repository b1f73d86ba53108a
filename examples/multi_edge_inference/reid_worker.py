"""ReID worker (ReidJob): loads the target from its query photo (features by the feature-extraction
service), matches every result file the detector left in the shared folder, prints a JSON summary.

Env: ``MULTI_EDGE_SHARED_DIR``, ``user_id``, ``query_images``, ``match_threshold``, ``results_file``,
``FE_MODEL_BIND_URL``/``FE_MODEL_BIND_PORT``, ``REID_MODEL_BIND_URL``/``REID_MODEL_BIND_PORT``.
"""

from __future__ import annotations

import json
import logging
import pathlib
import time

from models import ReIDMatcher

from sedna.core.multi_edge_inference.components.detector import DEFAULT_SHARED_DIR
from sedna.core.multi_edge_inference.components.reid import ReID
from sedna.core.multi_edge_inference.utils import get_parameters

logging.basicConfig(level=logging.INFO, format="%(asctime)s reid %(levelname)s %(message)s")
logger = logging.getLogger("reid_worker")


def main() -> None:
    folder = get_parameters("MULTI_EDGE_SHARED_DIR", DEFAULT_SHARED_DIR)
    matcher = ReIDMatcher()
    job = ReID(models=[matcher], asynchronous=False)
    files_read = 0
    for _attempt in range(3):
        files = [f for f in job.get_files_list(folder) if pathlib.Path(f).suffix == ".dat"]
        if files:
            for filename in files:
                data = job.read_from_disk(filename)
                if data:
                    job.put(data)
                    files_read += 1
                job.delete_from_disk(filename)
            break
        logger.warning("no data in %s yet", folder)
        time.sleep(1)
    job.close()
    print(json.dumps({"files": files_read, "targets": len(matcher.targets_list),
                      "results_file": matcher.results_file}), flush=True)


if __name__ == "__main__":
    main()
