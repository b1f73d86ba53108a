"""REST servers and clients of the multi-edge inference pipeline (sdk.md §12.2).

``server``: ``DetectionServer`` (``/video_analytics``), ``FEServer`` (``/feature_extraction``), ``ReIDServer``
(``/reid``). ``interface``: the matching clients ``Detection``, ``FE``, ``ReID_Endpoint``. Bodies are
msgpack (or JSON) from :mod:`sedna.core.multi_edge_inference.codec` instead of upstream's pickle.
"""
