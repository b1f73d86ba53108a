"""Shared client of the multi-edge REST servers: encodes with the codec, posts with ``http_request``.

Upstream pickled the payload; we send ``application/x-msgpack`` (``wire_format="json"`` for JSON) and decode
answers by their Content-Type. Requests use the pooled client of :mod:`sedna.service.client.http` with
``http_request``'s retry loop (upstream's 5 tries 3 s apart unless ``retries``/``retry_interval`` say
otherwise), except that a refusal (4xx other than 408/429) is not retried; env
``MULTI_EDGE_RETRIES`` / ``MULTI_EDGE_RETRY_INTERVAL`` / ``MULTI_EDGE_TIMEOUT`` set the defaults). The bearer
token is ``token`` or env ``SEDNA_INFERENCE_TOKEN``; the body format is ``wire_format`` or env
``MULTI_EDGE_WIRE_FORMAT`` (``msgpack``, default, or ``json``).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import httpx

from sedna.core.multi_edge_inference import codec
from sedna.service.client.http import (
    DEFAULT_RETRIES,
    DEFAULT_RETRY_INTERVAL,
    bearer_headers,
    env_float,
    http_request,
    shared_client,
)

__all__ = ["TOKEN_ENV", "EndpointClient"]

logger = logging.getLogger(__name__)

TOKEN_ENV = "SEDNA_INFERENCE_TOKEN"
_RETRYABLE = {408, 429}


class EndpointClient:
    """``<protocol>://<ip>:<port>/<service_name>`` of one multi-edge server."""

    def __init__(self, service_name: str, version: str = "", ip: str = "127.0.0.1", port: Any = "8080",
                 protocol: str = "http", *, token: str | None = None, wire_format: str | None = None,
                 retries: int | None = None, retry_interval: float | None = None, timeout: float | None = None):
        if wire_format is None:
            wire_format = (os.environ.get("MULTI_EDGE_WIRE_FORMAT") or "msgpack").strip().lower()
        if wire_format not in ("msgpack", "json"):
            raise ValueError(f"wire_format must be 'msgpack' or 'json', not {wire_format!r}")
        self.service_name = service_name
        self.server_name = f"{service_name}{version}"
        self.protocol = protocol
        self.ip = ip
        self.port = port
        self.endpoint = f"{protocol}://{ip}:{port}/{service_name}"
        self.token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        self.wire_format = wire_format
        self.retries = int(env_float("MULTI_EDGE_RETRIES", DEFAULT_RETRIES)) if retries is None else int(retries)
        self.retry_interval = (env_float("MULTI_EDGE_RETRY_INTERVAL", DEFAULT_RETRY_INTERVAL)
                               if retry_interval is None else float(retry_interval))
        self.timeout = env_float("MULTI_EDGE_TIMEOUT", 30.0) if timeout is None else float(timeout)

    def set_address(self, ip: str, port: Any) -> None:
        """Point the client at another host/port (ours: e.g. a server started on port 0)."""
        self.ip, self.port = ip, port
        self.endpoint = f"{self.protocol}://{ip}:{port}/{self.service_name}"

    def check_server_status(self) -> Any:
        """GET the endpoint: the route list, or None if the server does not answer."""
        return http_request(url=self.endpoint, method="GET", timeout=self.timeout, retries=self.retries,
                            retry_interval=self.retry_interval, headers=bearer_headers(self.token))

    def _send(self, url: str, body: bytes, headers: dict[str, str]) -> httpx.Response | None:
        """POST with the retry loop of ``http_request``, except that a refusal (4xx other than 408/429) is
        final: the same body would be refused again, and retrying would stall the pipeline for nothing."""
        attempts = max(1, self.retries)
        for attempt in range(1, attempts + 1):
            try:
                response = shared_client().post(url, content=body, headers=headers, timeout=self.timeout)
            except httpx.HTTPError as exc:
                logger.warning("POST %s failed: %s", url, exc)
            else:
                if response.status_code == 200:
                    return response
                logger.warning("POST %s answered %s: %s", url, response.status_code, response.text[:200])
                if 400 <= response.status_code < 500 and response.status_code not in _RETRYABLE:
                    return None
            if attempt < attempts and self.retry_interval > 0:
                time.sleep(self.retry_interval)
        return None

    def _post(self, suffix: str, data: Any, answers_result: bool = False) -> Any:
        body = codec.encode(data, self.wire_format)
        headers = bearer_headers(self.token, {"Content-Type": codec.content_type(self.wire_format)})
        response = self._send(f"{self.endpoint}/{suffix}", body, headers)
        if response is None:
            return None
        if not answers_result:
            try:
                return response.json()
            except ValueError:
                return None
        try:
            fmt = codec.format_for(response.headers.get("content-type"))
            return codec.decode(response.content, fmt)
        except codec.CodecError as exc:
            logger.warning("undecodable answer from %s/%s: %s", self.endpoint, suffix, exc)
            return None
