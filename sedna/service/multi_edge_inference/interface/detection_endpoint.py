"""Client of the detection (video analytics) server."""

from __future__ import annotations

from typing import Any

from sedna.service.multi_edge_inference.interface.base import EndpointClient

__all__ = ["Detection"]


class Detection(EndpointClient):
    """``transmit`` posts results to ``/video_analytics``; ``update_service`` to ``/update_service``."""

    def transmit(self, data: Any, **kwargs: Any) -> Any:
        return self._post("video_analytics", data)

    def update_service(self, data: Any, **kwargs: Any) -> Any:
        return self._post("update_service", data)
