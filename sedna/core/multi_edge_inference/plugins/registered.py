"""The registered network plugins: a server (hosted by a component) and a client (``_I``) per component.

Host and port come from the environment **when the plugin is created** (upstream read them at import time):

| Plugin | Env (host, port) | Host default | Port default | Service |
|---|---|---|---|---|
| ``ReID_Server`` / ``ReID_I`` | ``REID_MODEL_BIND_URL``, ``REID_MODEL_BIND_PORT`` | host IP / ``reid-reid`` | 5000 | ``reid`` |
| ``Feature_Extraction`` / ``Feature_Extraction_I`` | ``FE_MODEL_BIND_URL``, ``FE_MODEL_BIND_PORT`` | host IP / ``feature-extraction-fe`` | 6000 | ``feature_extraction`` |
| ``VideoAnalytics`` / ``VideoAnalytics_I`` | ``DET_MODEL_BIND_URL``, ``DET_MODEL_BIND_PORT`` | host IP / ``video-analytics-videoanalytics`` | 4000 | ``video_analytics`` |
"""

from __future__ import annotations

from typing import Any

from sedna.common.utils import get_host_ip
from sedna.core.multi_edge_inference.plugins import PluggableNetworkService
from sedna.core.multi_edge_inference.utils import get_parameters
from sedna.service.multi_edge_inference.interface import FE, Detection, ReID_Endpoint
from sedna.service.multi_edge_inference.server import DetectionServer, FEServer, ReIDServer

__all__ = ["Feature_Extraction", "Feature_Extraction_I", "ReID_I", "ReID_Server", "VideoAnalytics",
           "VideoAnalytics_I"]


def _address(host_env: str, port_env: str, host_default: str | None, port_default: str,
             ip: Any, port: Any) -> tuple[str, int]:
    host = ip if ip is not None else get_parameters(host_env, host_default or get_host_ip())
    raw_port = port if port is not None else get_parameters(port_env, port_default)
    try:
        return str(host), int(raw_port)
    except (TypeError, ValueError):
        raise ValueError(f"{port_env}={raw_port!r} is not a port number") from None


class ReID_Server(PluggableNetworkService):
    def __init__(self, ip: str | None = None, port: Any = None, wrapper: Any = None):
        ip, port = _address("REID_MODEL_BIND_URL", "REID_MODEL_BIND_PORT", None, "5000", ip, port)
        super().__init__(ip, port, ReIDServer(wrapper, "reid", ip, port))


class ReID_I(PluggableNetworkService):
    def __init__(self, ip: str | None = None, port: Any = None):
        ip, port = _address("REID_MODEL_BIND_URL", "REID_MODEL_BIND_PORT", "reid-reid", "5000", ip, port)
        super().__init__(ip, port, ReID_Endpoint("reid", ip=ip, port=port))


class Feature_Extraction(PluggableNetworkService):
    def __init__(self, ip: str | None = None, port: Any = None, wrapper: Any = None):
        ip, port = _address("FE_MODEL_BIND_URL", "FE_MODEL_BIND_PORT", None, "6000", ip, port)
        super().__init__(ip, port, FEServer(wrapper, "feature_extraction", ip, port))


class Feature_Extraction_I(PluggableNetworkService):
    def __init__(self, ip: str | None = None, port: Any = None):
        ip, port = _address("FE_MODEL_BIND_URL", "FE_MODEL_BIND_PORT", "feature-extraction-fe", "6000", ip, port)
        super().__init__(ip, port, FE("feature_extraction", ip=ip, port=port))


class VideoAnalytics(PluggableNetworkService):
    def __init__(self, ip: str | None = None, port: Any = None, wrapper: Any = None):
        ip, port = _address("DET_MODEL_BIND_URL", "DET_MODEL_BIND_PORT", None, "4000", ip, port)
        super().__init__(ip, port, DetectionServer(wrapper, service_name="video_analytics", ip=ip, port=port))


class VideoAnalytics_I(PluggableNetworkService):
    def __init__(self, ip: str | None = None, port: Any = None):
        ip, port = _address("DET_MODEL_BIND_URL", "DET_MODEL_BIND_PORT", "video-analytics-videoanalytics", "4000",
                            ip, port)
        super().__init__(ip, port, Detection("video_analytics", ip=ip, port=port))
