"""``MSBackend`` (``BACKEND_TYPE=MINDSPORE``); mindspore is imported when the backend is created."""

from __future__ import annotations

from typing import Any

from sedna.backend._require import require
from sedna.backend.base import BackendBase

__all__ = ["MSBackend"]

_DEVICE_TARGETS = {"NPU": "Ascend", "ASCEND": "Ascend", "GPU": "GPU", "CPU": "CPU"}


class MSBackend(BackendBase):
    """MindSpore estimators in graph mode on the device named by ``DEVICE_CATEGORY``."""

    framework = "mindspore"

    def __init__(self, estimator: Any, fine_tune: bool = True, **kwargs: Any):
        super().__init__(estimator=estimator, fine_tune=fine_tune, **kwargs)
        self.ms = require("mindspore", "MINDSPORE")
        category = "GPU" if self.use_cuda else self.device_category
        self.device_target = _DEVICE_TARGETS.get(category, "CPU")
        self.ms.context.set_context(mode=self.ms.context.GRAPH_MODE, device_target=self.device_target)
        self._instantiate(**kwargs)

    def train(self, train_data: Any, valid_data: Any = None, **kwargs: Any) -> Any:
        self._instantiate(**kwargs)
        return self._call(("train", "fit"), train_data=train_data, valid_data=valid_data, **kwargs)

    def predict(self, data: Any, **kwargs: Any) -> Any:
        if not self.has_load:
            self.load()
        return self._call(("predict",), data=data, **kwargs)

    def evaluate(self, data: Any, **kwargs: Any) -> Any:
        if not self.has_load:
            self.load()
        return self._call(("evaluate",), data=data, **kwargs)
