"""Client of the ReID server."""

from __future__ import annotations

from typing import Any

from sedna.service.multi_edge_inference.interface.base import EndpointClient

__all__ = ["ReID_Endpoint"]


class ReID_Endpoint(EndpointClient):
    """``transmit`` posts detections to ``/reid`` and returns the decoded ReID results."""

    def transmit(self, data: Any, **kwargs: Any) -> Any:
        return self._post("reid", data, answers_result=True)
