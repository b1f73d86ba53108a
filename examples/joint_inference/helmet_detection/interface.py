"""The estimator both workers hand to Sedna: ``load`` / ``predict`` (and ``save``) over a helmet model file."""

from __future__ import annotations

import numpy as np
from helmet import SoftmaxModel, detect


class Estimator:
    """Wraps a :class:`helmet.SoftmaxModel` (little or big, whichever the model file holds)."""

    def __init__(self, **kwargs):
        self.model: SoftmaxModel | None = None

    def load(self, model_url: str = "") -> None:
        self.model = SoftmaxModel.load(model_url)

    def save(self, model_path: str) -> str:
        return self.model.save(model_path)

    def predict(self, data, **kwargs):
        """Boxes ``[x1, y1, x2, y2, score, label]`` for one ``H x W x 3`` frame (array or nested list)."""
        if self.model is None:
            raise RuntimeError("no model loaded")
        frame = np.asarray(data)
        if frame.dtype != np.uint8:
            frame = np.clip(frame, 0, 255).astype(np.uint8)
        return detect(frame, self.model)
