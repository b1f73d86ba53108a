"""How weight payloads travel between federated-learning clients and the aggregation server.

``WSTransmitter`` sends them inside the websocket as binary frames; ``S3Transmitter`` stores each payload as
an S3 object under ``transmitter_url`` (``AGG_DATA_PATH``) and sends a small text frame pointing at it — useful
when models are large and object storage sits next to the nodes. Both keep upstream's ``parameters`` dict.
"""

from sedna.algorithms.transmitter.transmitter import AbstractTransmitter, S3Transmitter, WSTransmitter

__all__ = ["AbstractTransmitter", "S3Transmitter", "WSTransmitter"]
