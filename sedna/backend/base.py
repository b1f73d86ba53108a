"""``BackendBase``: wraps a user estimator so jobs can train, predict, save and load it uniformly.

The estimator is either a class (instantiated on first use with the keyword arguments its ``__init__``
accepts) or an object with ``fit``/``train``, ``predict``, ``evaluate``, ``save``/``load`` and, for federated
learning, ``get_weights``/``set_weights``. Model files for estimators without ``save``/``load`` are written
without pickle when the estimator exposes weights (safetensors); otherwise joblib is used for **local** files
only — a joblib/pickle model is never uploaded to, or loaded from, another machine.
"""

from __future__ import annotations

import inspect
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from sedna.common import tensors
from sedna.common.file_ops import FileOps, FileOpsError
from sedna.common.utils import accepted_kwargs

__all__ = ["BackendBase"]

logger = logging.getLogger(__name__)

_MODEL_SUFFIX = {
    "tensorflow": ".pb",
    "keras": ".pb",
    "mindspore": ".ckpt",
    "pytorch": ".pth",
}


class BackendBase:
    """Framework-neutral backend; also the default for scikit-learn/numpy-style estimators."""

    framework = ""

    def __init__(self, estimator: Any, fine_tune: bool = True, **kwargs: Any):
        self.estimator = estimator
        self.fine_tune = fine_tune
        self.use_cuda = bool(kwargs.get("use_cuda"))
        self.device_category = str(kwargs.get("device_category") or os.getenv("DEVICE_CATEGORY") or "CPU").upper()
        self.model_save_path = kwargs.get("model_save_path") or "/tmp"
        self.model_save_url = kwargs.get("model_save_url")
        self.default_name = kwargs.get("model_name")
        self.has_load = False

    # ---------------------------------------------------------------- naming and helpers

    @property
    def model_name(self) -> str:
        """``MODEL_NAME`` if given, else ``model[_finetune_]<framework><suffix>``."""
        if self.default_name:
            return self.default_name
        flag = "_finetune_" if self.fine_tune else ""
        return f"model{flag}{self.framework}{_MODEL_SUFFIX.get(self.framework, '.pkl')}"

    @staticmethod
    def parse_kwargs(func: Any, **kwargs: Any) -> dict[str, Any]:
        """All ``kwargs`` if ``func`` takes ``**kwargs``; otherwise only the ones it names."""
        return accepted_kwargs(func, kwargs)

    @staticmethod
    def _is_factory(estimator: Any) -> bool:
        # Only classes and plain functions are factories. Upstream called any callable, which broke
        # estimator instances that implement __call__ (torch/keras modules).
        return inspect.isclass(estimator) or inspect.isfunction(estimator)

    def _instantiate(self, **kwargs: Any) -> Any:
        if self._is_factory(self.estimator):
            self.estimator = self.estimator(**self.parse_kwargs(self.estimator, **kwargs))
        return self.estimator

    def _method(self, *names: str):
        for name in names:
            method = getattr(self.estimator, name, None)
            if callable(method):
                return method
        raise TypeError(f"estimator {type(self.estimator).__name__} has none of: {', '.join(names)}")

    def _call(self, names: tuple[str, ...], *args: Any, **kwargs: Any) -> Any:
        method = self._method(*names)
        return method(*args, **self.parse_kwargs(method, **kwargs))

    # ---------------------------------------------------------------- estimator API

    def train(self, *args: Any, **kwargs: Any) -> Any:
        """Instantiate a class estimator, then call its ``fit`` (or ``train``)."""
        self._instantiate(**kwargs)
        return self._call(("fit", "train"), *args, **kwargs)

    def update(self, *args: Any, **kwargs: Any) -> Any:
        self._instantiate(**kwargs)
        return self._call(("fit", "update"), *args, **kwargs)

    def predict(self, data: Any, **kwargs: Any) -> Any:
        self._instantiate(**kwargs)
        return self._call(("predict",), data, **kwargs)

    def predict_proba(self, data: Any, **kwargs: Any) -> Any:
        self._instantiate(**kwargs)
        return self._call(("predict_proba",), data, **kwargs)

    def evaluate(self, data: Any, **kwargs: Any) -> Any:
        self._instantiate(**kwargs)
        return self._call(("evaluate",), data, **kwargs)

    def get_weights(self) -> list[np.ndarray]:
        """The estimator's ``get_weights()`` as a list of numpy arrays."""
        return [np.asarray(w) for w in self._method("get_weights")()]

    def set_weights(self, weights: Any) -> Any:
        return self._method("set_weights")([np.asarray(w) for w in weights])

    # ---------------------------------------------------------------- persistence

    def _split_save_target(self, model_name: str | None) -> tuple[str, str]:
        """(directory, file name) for saving; a save path that names a file is split."""
        name = model_name or self.model_name
        path = str(self.model_save_path)
        if FileOps.is_remote(path):
            return path, name
        if os.path.isfile(path) or (not os.path.isdir(path) and Path(path).suffix):
            directory, file_name = os.path.split(path)
            return directory or ".", model_name or file_name
        return path, name

    def save(self, model_url: str = "", model_name: str | None = None) -> str:
        """Save locally (``<save path>/<name>``); upload to ``model_url`` if given and return it."""
        directory, name = self._split_save_target(model_name)
        remote_dir = FileOps.is_remote(directory)
        local_dir = tempfile.mkdtemp(prefix="sedna-model-") if remote_dir else directory
        FileOps.clean_folder([local_dir], clean=False)
        local_path = os.path.join(local_dir, name)
        target = model_url or (FileOps.join_path(directory, name) if remote_dir else "")
        self._save_local(local_path, uploading=bool(target) and FileOps.is_remote(target))
        if target and FileOps.exists(local_path):
            FileOps.upload(local_path, target, clean=remote_dir)
            return target
        return local_path

    def _save_local(self, path: str, uploading: bool) -> None:
        save = getattr(self.estimator, "save", None)
        if callable(save):
            save(path)
            return
        if callable(getattr(self.estimator, "get_weights", None)):
            Path(path).write_bytes(tensors.dumps_arrays(tensors.list_to_arrays(self.get_weights()),
                                                        meta={"format": "sedna-weights"}))
            return
        if uploading:
            raise FileOpsError(path, f"estimator {type(self.estimator).__name__} has no save() or "
                               "get_weights(); refusing to upload a pickled model")
        import joblib

        joblib.dump(self.estimator, path)

    def load(self, model_url: str = "", model_name: str | None = None, **kwargs: Any) -> Any:
        """Instantiate if needed, fetch ``model_url`` (if given) next to the save path, then load it.

        A ``model_url`` that does not exist raises ``FileOpsNotFoundError``; without ``model_url`` a model
        file missing from the save path is not an error (returns None, nothing loaded).
        """
        self._instantiate(**kwargs)
        name = model_name or self.model_name
        local_dir = str(self.model_save_path)
        if model_url and os.path.isdir(FileOps._local_path(str(model_url))):
            # a model directory (e.g. a TF SavedModel) is loaded where it is, not copied
            self.has_load = True
            return self._load_local(FileOps._local_path(str(model_url)), from_remote=False)
        if model_url and os.path.isfile(FileOps._local_path(str(model_url))):
            local_dir, name = os.path.split(FileOps._local_path(str(model_url)))
        elif model_url and FileOps.is_remote(str(model_url)):
            name = os.path.basename(str(model_url).rstrip("/")) or name
        elif os.path.isfile(local_dir):
            local_dir, name = os.path.split(local_dir)
        if FileOps.is_remote(local_dir):
            local_dir = tempfile.mkdtemp(prefix="sedna-model-")
        model_path = os.path.join(local_dir, name)
        from_remote = bool(model_url) and FileOps.is_remote(str(model_url))
        if model_url:
            source = os.path.abspath(FileOps._local_path(str(model_url)))
            if source != os.path.abspath(model_path):
                model_path = FileOps.download(model_url, model_path)
        self.has_load = True
        if not os.path.exists(model_path):
            return None
        return self._load_local(model_path, from_remote)

    def _load_local(self, path: str, from_remote: bool) -> Any:
        load = getattr(self.estimator, "load", None)
        if callable(load):
            return load(model_url=path) if "model_url" in self.parse_kwargs(load, model_url=1) else load(path)
        if callable(getattr(self.estimator, "set_weights", None)) and _is_safetensors(path):
            arrays, _ = tensors.loads_arrays(Path(path).read_bytes())
            return self.set_weights(tensors.arrays_to_list(arrays))
        if from_remote:
            raise FileOpsError(path, "model came from another machine and is not a weights file; "
                               "refusing to unpickle it (give the estimator a load() method)")
        import joblib

        self.estimator = joblib.load(path)
        return self.estimator

    # ---------------------------------------------------------------- reporting

    def model_info(self, model: str, relpath: str | None = None, result: Any = None) -> list[dict[str, Any]]:
        """``[{"format": <extension>, "url": <model minus relpath>, "metrics": result}]`` for LC reports."""
        _, ext = os.path.splitext(str(model))
        url = FileOps.remove_path_prefix(str(model), relpath) if relpath else str(model)
        return [{"format": ext.lstrip("."), "url": url, "metrics": result}]


def _is_safetensors(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(9)
        return len(head) == 9 and head[8:9] == b"{"
    except OSError:
        return False
