"""Feature-extraction worker (FeatureExtractionService): serves ``/feature_extraction`` until SIGTERM.

Env: ``MODEL_URL`` (``fe.json``), ``FE_MODEL_BIND_URL``/``FE_MODEL_BIND_PORT`` (where to listen),
``DET_MODEL_BIND_URL``/``DET_MODEL_BIND_PORT`` (where the detector listens).
"""

from __future__ import annotations

import logging
import signal
import threading

from models import ColorHistogramFE

from sedna.core.multi_edge_inference.components.feature_extraction import FEService
from sedna.core.multi_edge_inference.plugins import PLUGIN

logging.basicConfig(level=logging.INFO, format="%(asctime)s fe %(levelname)s %(message)s")


def main() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    service = FEService(models=[ColorHistogramFE()], asynchronous=False)
    print(f"feature extraction ready on port {service.get_plugin(PLUGIN.FEATURE_EXTRACTION).port}", flush=True)
    stop.wait()
    service.close()


if __name__ == "__main__":
    main()
