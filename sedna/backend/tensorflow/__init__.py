"""``TFBackend`` (``BACKEND_TYPE=TENSORFLOW``) and ``KerasBackend`` (``KERAS``); tensorflow loads lazily."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from sedna.backend._require import require
from sedna.backend.base import BackendBase

__all__ = ["KerasBackend", "TFBackend"]


class TFBackend(BackendBase):
    """TensorFlow estimators: a TF1-compatible session (GPU memory capped at 70 %, allow growth), class
    estimators instantiated at construction, lazy ``load()`` before predict/evaluate."""

    framework = "tensorflow"

    def __init__(self, estimator: Any, fine_tune: bool = True, **kwargs: Any):
        super().__init__(estimator=estimator, fine_tune=fine_tune, **kwargs)
        self.tf = require("tensorflow", "TENSORFLOW")
        compat = self.tf.compat.v1
        if self.use_cuda:
            sess_config = compat.ConfigProto(allow_soft_placement=True)
            sess_config.gpu_options.per_process_gpu_memory_fraction = 0.7
            sess_config.gpu_options.allow_growth = True
        else:
            sess_config = compat.ConfigProto(log_device_placement=False, device_count={"GPU": 0})
        self.graph = self.tf.Graph()
        self.sess = compat.Session(graph=self.graph, config=sess_config)
        self._instantiate(**kwargs)

    def train(self, train_data: Any, valid_data: Any = None, **kwargs: Any) -> Any:
        self._instantiate(**kwargs)
        return self._call(("train", "fit"), train_data=train_data, valid_data=valid_data, **kwargs)

    def predict(self, data: Any, **kwargs: Any) -> Any:
        if not self.has_load:
            self.tf.compat.v1.reset_default_graph()
            self.load()
        return self._call(("predict",), data, **kwargs)

    def evaluate(self, data: Any, **kwargs: Any) -> Any:
        if not self.has_load:
            self.tf.compat.v1.reset_default_graph()
            self.load()
        return self._call(("evaluate",), data, **kwargs)

    def model_info(self, model: str, relpath: str | None = None, result: Any = None) -> list[dict[str, Any]]:
        info = super().model_info(model, relpath=relpath, result=result)
        if info and info[0]["format"] == "pb":
            ckpt = os.path.dirname(info[0]["url"])
            info.append({"format": "ckpt", "url": ckpt, "metrics": result})
        return info


class KerasBackend(TFBackend):
    """Keras models: ``finetune`` restores saved weights; weights travel as numpy arrays."""

    framework = "keras"

    def finetune(self) -> Any:
        path = os.path.join(str(self.model_save_path), self.model_name)
        if not os.path.exists(path):
            return None
        return self._call(("load_weights",), path)

    def get_weights(self) -> list[np.ndarray]:
        return [np.asarray(w) for w in self._method("get_weights")()]

    def set_weights(self, weights: Any) -> Any:
        return self._method("set_weights")([np.asarray(w) for w in weights])
