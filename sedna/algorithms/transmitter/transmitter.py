"""Payload transports: inline websocket frames or S3 objects referenced from a text frame."""

from __future__ import annotations

import logging
import threading
from typing import Any
from urllib.parse import urlparse

from sedna.algorithms.transmitter.wire import Parts, WireError, encode_control

__all__ = ["AbstractTransmitter", "S3Transmitter", "WSTransmitter"]

logger = logging.getLogger(__name__)

REF_TYPE = "weights_ref"


class AbstractTransmitter:
    """``pack(payload, key)`` → what to put on the websocket; ``unpack(ref_message, max_bytes)`` → payload."""

    name = "abstract"

    def __init__(self) -> None:
        self.parameters: dict[str, Any] = {}

    def pack(self, payload: bytes | Parts, key: str) -> bytes | Parts | str:
        """``payload`` may be :class:`~sedna.algorithms.transmitter.wire.Parts` (a message as buffers)."""
        raise TypeError(f"{type(self).__name__} cannot send payloads")

    def unpack(self, message: dict[str, Any], max_bytes: int | None = None) -> bytes:
        raise WireError(f"{type(self).__name__} does not accept payload references")


class WSTransmitter(AbstractTransmitter):
    """Weights inside the websocket connection, as binary frames (the default, ``TRANSMITTER=ws``)."""

    name = "ws"

    def pack(self, payload: bytes | Parts, key: str) -> bytes | Parts:
        return payload


class S3Transmitter(AbstractTransmitter):
    """Weights as S3 objects ``<transmitter_url>/<key>``; the websocket carries ``{"type":"weights_ref",...}``.

    References are accepted only for objects under this transmitter's own bucket and prefix, and no larger
    than the receiver's message limit.
    """

    name = "s3"

    def __init__(self, s3_endpoint_url: str = "", access_key: str = "", secret_key: str = "",
                 transmitter_url: str = "") -> None:
        super().__init__()
        self.s3_endpoint_url = s3_endpoint_url or ""
        self.access_key = access_key or ""
        self.secret_key = secret_key or ""
        self.transmitter_url = transmitter_url or ""
        self.parameters = {"s3_endpoint_url": self.s3_endpoint_url, "s3_bucket": self.transmitter_url,
                           "access_key": self.access_key, "secret_key": self.secret_key}
        parsed = urlparse(self.transmitter_url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ValueError(f"S3Transmitter transmitter_url must look like s3://bucket/prefix, "
                             f"got {self.transmitter_url!r} (AGG_DATA_PATH)")
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        self._client = None
        self._lock = threading.Lock()

    def _s3(self):
        with self._lock:
            if self._client is None:
                import boto3  # only S3 users pay for importing boto3

                endpoint = self.s3_endpoint_url
                if endpoint and "://" not in endpoint:
                    endpoint = "https://" + endpoint
                self._client = boto3.client("s3", endpoint_url=endpoint or None,
                                            aws_access_key_id=self.access_key or None,
                                            aws_secret_access_key=self.secret_key or None,
                                            region_name="us-east-1")
            return self._client

    def _key(self, key: str) -> str:
        key = key.strip("/")
        if not key or ".." in key.split("/"):
            raise ValueError(f"bad object key {key!r}")
        return f"{self.prefix}/{key}" if self.prefix else key

    def pack(self, payload: bytes | Parts, key: str) -> str:
        payload = bytes(payload)
        object_key = self._key(key)
        self._s3().put_object(Bucket=self.bucket, Key=object_key, Body=payload)
        url = f"s3://{self.bucket}/{object_key}"
        logger.debug("stored %d bytes at %s", len(payload), url)
        return encode_control({"type": REF_TYPE, "url": url, "size": len(payload)})

    def unpack(self, message: dict[str, Any], max_bytes: int | None = None) -> bytes:
        url = message.get("url")
        parsed = urlparse(url if isinstance(url, str) else "")
        key = parsed.path.lstrip("/")
        if parsed.scheme != "s3" or parsed.netloc != self.bucket or ".." in key.split("/") or \
                (self.prefix and not key.startswith(self.prefix + "/")):
            raise WireError(f"weights_ref url {url!r} is outside s3://{self.bucket}/{self.prefix}")
        from botocore.exceptions import BotoCoreError, ClientError

        s3 = self._s3()
        try:
            head = s3.head_object(Bucket=self.bucket, Key=key)
            if max_bytes is not None and head["ContentLength"] > max_bytes:
                raise WireError(f"object {url} of {head['ContentLength']} bytes exceeds limit {max_bytes}")
            return s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except (BotoCoreError, ClientError, KeyError) as exc:
            raise WireError(f"cannot fetch {url}: {exc}") from None


def transmitter_from_env() -> AbstractTransmitter:
    """``TRANSMITTER=ws`` (default) or ``s3`` with ``S3_ENDPOINT_URL``/``ACCESS_KEY_ID``/... from the env."""
    import os

    kind = (os.getenv("TRANSMITTER") or "ws").strip().lower()
    if kind == "s3":
        return S3Transmitter(s3_endpoint_url=os.getenv("S3_ENDPOINT_URL", ""),
                             access_key=os.getenv("ACCESS_KEY_ID", ""),
                             secret_key=os.getenv("SECRET_ACCESS_KEY", ""),
                             transmitter_url=os.getenv("AGG_DATA_PATH", ""))
    if kind != "ws":
        raise ValueError(f"TRANSMITTER must be ws or s3, got {kind!r}")
    return WSTransmitter()
