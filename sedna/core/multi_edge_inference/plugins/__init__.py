"""Plugins of the multi-edge components: network services (servers and clients) and AI models.

``PluggableNetworkService(ip, port, plugin_api)`` wraps a server (it has ``start``) or a client; its class
name must be a :class:`PLUGIN` value and ``kind`` is the member name. ``PluggableModel`` is the base of the
AI models the components run.
"""

from __future__ import annotations

import logging
import os
import threading
from abc import ABC, abstractmethod
from enum import Enum
from typing import Any

from sedna.backend import set_backend
from sedna.common.config import BaseConfig
from sedna.common.file_ops import FileOps
from sedna.core.base import resolve_callback
from sedna.core.multi_edge_inference.utils import get_parameters

__all__ = ["PLUGIN", "PluggableModel", "PluggableNetworkService"]

logger = logging.getLogger(__name__)


class PLUGIN(Enum):
    """The known network services; a plugin class is named after one of the values."""

    REID_MANAGER = "ReIDManager"
    REID_MANAGER_I = "ReIDManager_I"
    REID = "ReID_Server"
    REID_I = "ReID_I"
    FEATURE_EXTRACTION = "Feature_Extraction"
    FEATURE_EXTRACTION_I = "Feature_Extraction_I"
    VIDEO_ANALYTICS = "VideoAnalytics"
    VIDEO_ANALYTICS_I = "VideoAnalytics_I"


class PluggableNetworkService(ABC):
    """A REST service a component hosts (server) or uses (client).

    A hosted server is started on construction: ``start_background()`` when it has one (ours: returns once
    listening and raises if the port cannot be bound; ``port`` then holds the bound port, so port 0 works),
    else ``start()`` in a daemon thread, as upstream.
    """

    def __init__(self, ip: str, port: Any, plugin_api: Any = None):
        name = type(self).__name__
        if name not in PLUGIN._value2member_map_:
            raise ValueError(f"plugin {name} is not registered in PLUGIN")
        self.ip = ip
        self.port = port
        self.plugin_api = plugin_api
        self.kind = PLUGIN(name).name
        self._thread: threading.Thread | None = None
        self._post_init()
        logger.info("plugin %s (%s) at %s:%s", self.kind, name, self.ip, self.port)

    def _post_init(self) -> None:
        if self.plugin_api is None:
            return
        start_background = getattr(self.plugin_api, "start_background", None)
        if callable(start_background):
            start_background()
            self.port = getattr(self.plugin_api, "port", self.port)
            return
        start = getattr(self.plugin_api, "start", None)
        if callable(start):
            self._thread = threading.Thread(target=start, daemon=True, name=f"plugin-{self.kind}")
            self._thread.start()

    def set_address(self, ip: str, port: Any) -> None:
        """Re-point a client plugin (ours)."""
        self.ip, self.port = ip, port
        setter = getattr(self.plugin_api, "set_address", None)
        if callable(setter):
            setter(ip, port)

    def stop(self) -> None:
        """Stop a hosted server (ours); clients have nothing to stop."""
        stop = getattr(self.plugin_api, "stop", None)
        if callable(stop):
            stop()


class PluggableModel(ABC):
    """Base of a component's AI model.

    On construction: the backend for ``BACKEND_TYPE`` is built around ``self``; ``model_path`` must exist
    (FileExistsError otherwise, as upstream); then ``load()`` and ``evaluate()`` are called. Subclasses
    implement ``load``, ``update_plugin`` and ``predict`` (called through ``inference``), and usually
    ``evaluate`` (switch to eval mode).
    """

    def __init__(self) -> None:
        self.config = BaseConfig()
        self.model_backend = set_backend(estimator=self, config=self.config)
        path = self.model_path
        logger.info("loading model %s", self.model_name)
        if not path or not os.path.exists(path):
            raise FileExistsError(f"Cannot find model: {path or '(MODEL_URL not set)'}")
        self.load()
        self.evaluate()

    @property
    def model_path(self) -> str:
        model_url = self.config.model_url
        if model_url and os.path.isfile(str(model_url)):
            return str(model_url)
        explicit = get_parameters("model_path")
        if explicit:
            return explicit
        if not model_url:
            return ""
        return FileOps.join_path(str(model_url), self.model_backend.model_name)

    @property
    def model_name(self) -> str:
        model_url = self.config.model_url
        if model_url and os.path.isfile(str(model_url)):
            return os.path.basename(str(model_url))
        return "unknown"

    @abstractmethod
    def load(self, **kwargs: Any) -> Any:
        """Load the weights at ``self.model_path``."""

    @abstractmethod
    def update_plugin(self, update_object: Any, **kwargs: Any) -> Any:
        """React to an operational-mode update (``update_service``)."""

    def evaluate(self, data: Any = None, post_process: Any = None, **kwargs: Any) -> Any:
        """Without data: the hook called after ``load`` (nothing by default). With data: backend evaluate."""
        if data is None:
            return None
        callback = resolve_callback(post_process)
        res = self.model_backend.evaluate(data=data, **kwargs)
        return callback(res) if callback else res

    def train(self, **kwargs: Any) -> Any:
        raise TypeError(f"{type(self).__name__} is an inference model; it does not train")

    def inference(self, data: Any = None, post_process: Any = None, **kwargs: Any) -> Any:
        """``predict`` through the backend, then the optional callback (callable or CALLBACK name)."""
        callback = resolve_callback(post_process)
        res = self.model_backend.predict(data, **kwargs)
        return callback(res) if callback else res
