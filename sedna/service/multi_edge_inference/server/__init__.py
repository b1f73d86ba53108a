"""REST servers the multi-edge components host (one per component)."""

from sedna.service.multi_edge_inference.server.base import MultiEdgeServer
from sedna.service.multi_edge_inference.server.detection import DetectionServer
from sedna.service.multi_edge_inference.server.feature_extraction import FEServer
from sedna.service.multi_edge_inference.server.reid import ReIDServer

__all__ = ["DetectionServer", "FEServer", "MultiEdgeServer", "ReIDServer"]
