"""``FEServer``: the feature-extraction component's REST API, port 6000."""

from __future__ import annotations

from sedna.service.multi_edge_inference.server.base import MultiEdgeServer

__all__ = ["FEServer"]


class FEServer(MultiEdgeServer):
    """``POST /<service>/feature_extraction`` → ``model.put(list)``; ``/update_service`` →
    ``model.update_operational_mode(body)``; ``/get_target_features`` → the encoded
    ``model.get_target_features(body)``."""

    def post_routes(self):
        return {
            "feature_extraction": (lambda data: self.model.put(self.as_list(data)), False),
            "update_service": (lambda data: self.model.update_operational_mode(data), False),
            "get_target_features": (lambda data: self.model.get_target_features(data), True),
        }
