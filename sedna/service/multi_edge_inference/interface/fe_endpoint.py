"""Client of the feature-extraction server."""

from __future__ import annotations

from typing import Any

from sedna.service.multi_edge_inference.interface.base import EndpointClient

__all__ = ["FE"]


class FE(EndpointClient):
    """``transmit`` → ``/feature_extraction``; ``get_target_features`` → the decoded features (None on
    failure); ``update_service`` → ``/update_service``."""

    def transmit(self, data: Any, **kwargs: Any) -> Any:
        return self._post("feature_extraction", data)

    def get_target_features(self, data: Any, **kwargs: Any) -> Any:
        return self._post("get_target_features", data, answers_result=True)

    def update_service(self, data: Any, **kwargs: Any) -> Any:
        return self._post("update_service", data)
