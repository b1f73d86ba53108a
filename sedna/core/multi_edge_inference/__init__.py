"""Multi-edge inference (sdk.md §12): object detection/tracking at the edge, feature extraction, ReID.

Components (``sedna.core.multi_edge_inference.components``): ``ObjectDetector``, ``FEService``, ``ReID``,
built on ``BaseService``. They talk over REST (``sedna.service.multi_edge_inference``) or Kafka, exchanging
the classes of ``data_classes`` encoded by ``codec`` (msgpack + ``.npy``, never pickle).
"""
