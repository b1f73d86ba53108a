"""``http_request``: upstream's small REST helper, on a pooled httpx client.

Upstream semantics kept: 200 → decoded JSON (text with ``binary=False``, the raw response with
``no_decode=True``); any other status or a transport error → None, retried while the answer is None (5 tries,
3 s apart). Differences: ``timeout`` is honoured (upstream drops it), retries/interval are keyword-adjustable,
and connections are kept alive in one process-wide pool.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Any

import httpx

__all__ = ["DEFAULT_RETRIES", "DEFAULT_RETRY_INTERVAL", "DEFAULT_TIMEOUT", "bearer_headers", "http_request",
           "nodelay_transport", "shared_client"]

logger = logging.getLogger(__name__)

DEFAULT_RETRIES = 5
DEFAULT_RETRY_INTERVAL = 3.0
DEFAULT_TIMEOUT = 30.0
MAX_CONNECTIONS = 32
KEEPALIVE_EXPIRY = 60.0

_client: httpx.Client | None = None
_client_lock = threading.Lock()


def shared_client() -> httpx.Client:
    """The process-wide pooled client (created on first use, reused across threads)."""
    global _client
    with _client_lock:
        if _client is None or _client.is_closed:
            _client = httpx.Client(
                limits=httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS,
                                    keepalive_expiry=KEEPALIVE_EXPIRY),
                timeout=DEFAULT_TIMEOUT,
                trust_env=False,
                transport=nodelay_transport(),
            )
        return _client


def nodelay_transport(**kwargs: Any) -> httpx.HTTPTransport:
    """A transport whose sockets set TCP_NODELAY: a request's headers and body leave in separate writes, and
    with Nagle's algorithm the body would wait for the server's delayed ACK (~40 ms per request)."""
    return httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)], **kwargs)


def bearer_headers(token: str | None, headers: dict[str, str] | None = None) -> dict[str, str]:
    """``headers`` plus ``Authorization: Bearer <token>`` when a token is given."""
    merged = dict(headers or {})
    if token:
        merged["Authorization"] = f"Bearer {token}"
    return merged


def _decode(response: httpx.Response, binary: bool, no_decode: bool) -> Any:
    if no_decode:
        return response
    if not binary:
        return response.text
    try:
        return response.json()
    except ValueError:
        logger.warning("response from %s is not JSON", response.request.url)
        return None


def http_request(url: str, method: str | None = None, timeout: float | None = None, binary: bool = True,
                 no_decode: bool = False, retries: int | None = None, retry_interval: float | None = None,
                 **kwargs: Any) -> Any:
    """Send one request, retried while it yields None; returns the decoded 200 body or None.

    ``kwargs`` take requests-style names: ``json``, ``data`` (bytes or form dict), ``params``, ``headers``,
    ``files``. ``method`` defaults to GET.
    """
    attempts = max(1, DEFAULT_RETRIES if retries is None else int(retries))
    interval = DEFAULT_RETRY_INTERVAL if retry_interval is None else float(retry_interval)
    if isinstance(kwargs.get("data"), (bytes, bytearray, memoryview, str)):
        kwargs["content"] = kwargs.pop("data")
    kwargs.pop("verify", None)  # a requests option; TLS verification stays on
    request_timeout = DEFAULT_TIMEOUT if timeout is None else float(timeout)
    for attempt in range(1, attempts + 1):
        try:
            response = shared_client().request((method or "GET").upper(), url, timeout=request_timeout, **kwargs)
            if response.status_code == 200:
                result = _decode(response, binary, no_decode)
                if result is not None:
                    return result
            else:
                logger.warning("%s %s answered %s: %s", (method or "GET").upper(), url, response.status_code,
                               response.text[:200])
        except httpx.HTTPError as exc:
            logger.warning("%s %s failed: %s", (method or "GET").upper(), url, exc)
        if attempt < attempts and interval > 0:
            time.sleep(interval)
    return None


def env_float(name: str, default: float) -> float:
    """A float from the environment; unset, empty or unparsable → ``default`` (with a warning)."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        logger.warning("env %s=%r is not a number; using %s", name, raw, default)
        return default
