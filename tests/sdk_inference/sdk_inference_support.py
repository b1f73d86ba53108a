"""Shared helpers of the sdk_inference tests: real uvicorn servers on free loopback ports, a recording LC."""

from __future__ import annotations

import time

from support_http import AppServer, recording_lc_app  # noqa: F401 - the tests import them from here
from support_procs import free_port  # noqa: F401


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


class ScaleEstimator:
    """A tiny estimator whose model file is JSON ``{"scale": s, "tag": t}``.

    ``predict(x)`` → one box ``[0, 0, 1, 1, score, label]`` with ``score = clip(mean(x) * scale)`` and label
    = ``tag``; ``load`` raises on a broken file, which is how hot update must reject it.
    """

    def __init__(self):
        self.scale = 1.0
        self.tag = 0

    def load(self, model_url):
        import json

        with open(model_url, encoding="utf-8") as fh:
            doc = json.load(fh)
        self.scale = float(doc["scale"])
        self.tag = int(doc.get("tag", 0))

    def save(self, model_path):
        import json

        with open(model_path, "w", encoding="utf-8") as fh:
            json.dump({"scale": self.scale, "tag": self.tag}, fh)

    def predict(self, data, **kwargs):
        import numpy as np

        arr = np.asarray(data, dtype=np.float64)
        if arr.size == 0:
            raise ValueError("empty input")
        score = float(np.clip(arr.mean() * self.scale, 0.0, 1.0))
        return [[0.0, 0.0, 1.0, 1.0, score, float(self.tag)]]

    def train(self, train_data, valid_data=None, **kwargs):
        import numpy as np

        self.scale = float(np.mean(train_data)) if len(train_data) else 1.0
        self.tag = int(kwargs.get("tag", 7))
        return {"loss": [0.5]}

    def evaluate(self, data, model_path=None, **kwargs):
        self.load(model_path)
        return {"precision": [self.scale], "recall": [0.5]}


def write_model(path, scale, tag=0):
    import json

    with open(path, "w", encoding="utf-8") as fh:
        json.dump({"scale": scale, "tag": tag}, fh)
    return str(path)


def sdk_env(monkeypatch, **env):
    """Set worker env vars and re-read BaseConfig (which reads the environment once)."""
    from sedna.common.config import BaseConfig

    for key in ("JOB_NAME", "SERVICE_NAME", "MODEL_URL", "MODEL_URLS", "MODEL_NAME", "HEM_NAME", "HEM_PARAMETERS",
                "MINING_MODE", "MODEL_HOT_UPDATE", "MODEL_HOT_UPDATE_CONFIG", "MODEL_POLL_PERIOD_SECONDS",
                "BACKEND_TYPE", "DATA_PATH_PREFIX", "LC_API_TOKEN", "SEDNA_INFERENCE_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("BACKEND_TYPE", "SKLEARN")
    for key, value in env.items():
        monkeypatch.setenv(key, str(value))
    BaseConfig.reload_from_env()
