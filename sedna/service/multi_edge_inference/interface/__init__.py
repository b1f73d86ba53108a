"""Clients of the multi-edge REST servers."""

from sedna.service.multi_edge_inference.interface.base import EndpointClient
from sedna.service.multi_edge_inference.interface.detection_endpoint import Detection
from sedna.service.multi_edge_inference.interface.fe_endpoint import FE
from sedna.service.multi_edge_inference.interface.reid_endpoint import ReID_Endpoint

__all__ = ["FE", "Detection", "EndpointClient", "ReID_Endpoint"]
