"""Backends wrap a user estimator for the framework named by ``BACKEND_TYPE`` (sdk.md §10).

``set_backend(estimator, config)`` picks the wrapper; framework stacks are imported only when their backend
is chosen, so the base install needs none of them.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Mapping
from typing import Any

from sedna.backend._require import BackendNotInstalledError
from sedna.backend.base import BackendBase

__all__ = ["BackendBase", "BackendNotInstalledError", "resolve_backend_type", "set_backend"]

logger = logging.getLogger(__name__)

_GENERIC_NAMES = {"SKLEARN", "SCIKIT-LEARN", "NUMPY", "DEFAULT", "GENERIC", "BASE"}


def _config_get(config: Any, key: str) -> Any:
    if config is None:
        return None
    if isinstance(config, Mapping):
        return config.get(key)
    getter = getattr(config, "get", None)
    if callable(getter):
        return getter(key, None)
    return getattr(config, key, None)


def resolve_backend_type(config: Any = None) -> str:
    """Upper-cased backend name: env ``BACKEND_TYPE``, else the config's ``backend_type``.

    When neither was chosen explicitly (the config still holds its ``TENSORFLOW`` default) and tensorflow is
    not installed, the generic backend (``SKLEARN``) is used instead of failing.
    """
    env_value = os.environ.get("BACKEND_TYPE", "").strip()
    if env_value:
        return env_value.upper()
    value = str(_config_get(config, "backend_type") or "").strip().upper()
    if value in ("", "TENSORFLOW") and importlib.util.find_spec("tensorflow") is None:
        if value:
            logger.info("BACKEND_TYPE not set and tensorflow not installed: using the generic backend")
        return "SKLEARN"
    return value or "SKLEARN"


def _backend_class(backend_type: str) -> type[BackendBase]:
    if backend_type == "TENSORFLOW":
        from sedna.backend.tensorflow import TFBackend

        return TFBackend
    if backend_type == "KERAS":
        from sedna.backend.tensorflow import KerasBackend

        return KerasBackend
    if backend_type in ("TORCH", "PYTORCH"):
        from sedna.backend.torch import TorchBackend

        return TorchBackend
    if backend_type == "MINDSPORE":
        from sedna.backend.mindspore import MSBackend

        return MSBackend
    if backend_type not in _GENERIC_NAMES:
        logger.warning("BACKEND_TYPE %s is not supported; using the estimator through the generic backend",
                       backend_type)
    return BackendBase


def set_backend(estimator: Any = None, config: Any = None) -> BackendBase | None:
    """Wrap ``estimator`` in the backend for ``BACKEND_TYPE``; None if there is no estimator.

    Device: ``DEVICE_CATEGORY`` (default CPU); a non-empty ``CUDA_VISIBLE_DEVICES`` (other than ``-1``) turns
    on CUDA and exports ``DEVICE_CATEGORY=GPU``. Paths: ``model_save_path`` = config ``base_model_url`` or
    ``model_url``; ``model_name`` = config ``model_name`` (``MODEL_NAME``).
    """
    if estimator is None:
        return None
    if config is None:
        from sedna.common.config import BaseConfig

        config = BaseConfig()
    backend_type = resolve_backend_type(config)
    device_category = os.environ.get("DEVICE_CATEGORY") or _config_get(config, "device_category") or "CPU"
    use_cuda = False
    cuda_devices = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
    if cuda_devices and cuda_devices != "-1":
        use_cuda = True
        device_category = "GPU"
        os.environ["DEVICE_CATEGORY"] = "GPU"
    model_save_url = _config_get(config, "model_url")
    model_save_path = _config_get(config, "base_model_url") or model_save_url
    model_name = _config_get(config, "model_name")
    backend_cls = _backend_class(backend_type)
    return backend_cls(
        estimator=estimator,
        use_cuda=use_cuda,
        device_category=str(device_category).upper(),
        model_save_path=model_save_path,
        model_save_url=model_save_url,
        model_name=model_name,
    )
