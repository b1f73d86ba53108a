"""``TorchBackend`` (``BACKEND_TYPE=TORCH``); torch is imported when the backend is created."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from sedna.backend._require import require
from sedna.backend.base import BackendBase

__all__ = ["TorchBackend"]


class TorchBackend(BackendBase):
    """PyTorch estimators: device selection, lazy model loading, weights as numpy arrays.

    Differences from upstream: ``train`` trains (upstream's was a no-op), and ``get_weights``/``set_weights``
    fall back to the ``state_dict`` of the estimator (or of its ``model`` attribute) when it is an
    ``nn.Module``.
    """

    framework = "pytorch"

    def __init__(self, estimator: Any, fine_tune: bool = True, **kwargs: Any):
        super().__init__(estimator=estimator, fine_tune=fine_tune, **kwargs)
        self.torch = require("torch", "TORCH")
        self.device = "cuda" if self.use_cuda and self.torch.cuda.is_available() else "cpu"
        self.model_load_mode = os.getenv("MODEL_LOAD_MODE", "file")

    def train(self, *args: Any, **kwargs: Any) -> Any:
        self._instantiate(**kwargs)
        return self._call(("fit", "train"), *args, **kwargs)

    def predict(self, data: Any, **kwargs: Any) -> Any:
        if not self.has_load:
            self.load()
        return self._call(("predict",), data=data, **kwargs)

    def evaluate(self, **kwargs: Any) -> Any:
        if not self.has_load:
            self.load()
        return self._call(("evaluate",), **kwargs)

    def load(self, model_url: str = "", model_name: str | None = None, **kwargs: Any) -> Any:
        """Call the estimator's own ``load(**kwargs)`` when the load mode is not ``file`` or the save path
        exists; with ``model_url`` behave like :meth:`BackendBase.load`."""
        self._instantiate(**kwargs)
        if model_url:
            return super().load(model_url=model_url, model_name=model_name, **kwargs)
        self.has_load = True
        loader = getattr(self.estimator, "load", None)
        if callable(loader) and (self.model_load_mode != "file" or os.path.exists(str(self.model_save_path))):
            return loader(**self.parse_kwargs(loader, **kwargs))
        return None

    def _module(self):
        nn = self.torch.nn
        if isinstance(self.estimator, nn.Module):
            return self.estimator
        inner = getattr(self.estimator, "model", None)
        return inner if isinstance(inner, nn.Module) else None

    def get_weights(self) -> list[np.ndarray]:
        if callable(getattr(self.estimator, "get_weights", None)):
            return super().get_weights()
        module = self._module()
        if module is None:
            raise TypeError(f"estimator {type(self.estimator).__name__} has no get_weights() and no nn.Module")
        return [t.detach().cpu().numpy() for t in module.state_dict().values()]

    def set_weights(self, weights: Any) -> Any:
        if callable(getattr(self.estimator, "set_weights", None)):
            return super().set_weights(weights)
        module = self._module()
        if module is None:
            raise TypeError(f"estimator {type(self.estimator).__name__} has no set_weights() and no nn.Module")
        state = module.state_dict()
        if len(weights) != len(state):
            raise ValueError(f"got {len(weights)} arrays for a model with {len(state)} tensors")
        new_state = {name: self.torch.as_tensor(np.asarray(w), dtype=old.dtype).reshape(old.shape)
                     for (name, old), w in zip(state.items(), weights)}
        return module.load_state_dict(new_state)
