"""``DetectionServer``: the video-analytics (object detection/tracking) component's REST API, port 4000."""

from __future__ import annotations

from sedna.service.multi_edge_inference.server.base import MultiEdgeServer

__all__ = ["DetectionServer"]


class DetectionServer(MultiEdgeServer):
    """``POST /<service>/video_analytics`` → ``model.put(list)`` (results coming back from feature
    extraction); ``POST /<service>/update_service`` → ``model.update_operational_mode(body)``."""

    def post_routes(self):
        return {
            "video_analytics": (lambda data: self.model.put(self.as_list(data)), False),
            "update_service": (lambda data: self.model.update_operational_mode(data), False),
        }
