"""``ModelClient``: calls an :class:`~sedna.service.server.InferenceServer` (the big model of joint inference).

Upstream posts ``{"data": x, **kwargs}`` as JSON. We keep that for lists and for servers that do not
advertise npy, and send arrays as ``application/x-npy`` (``sedna.common.tensors``) when the server lists that
content type in ``GET /<service>``: an image travels as its raw bytes instead of a JSON float list.

Failure handling: bounded timeouts, one retry on connection errors, and a short cool-down after repeated
failures so an unreachable cloud costs the edge almost nothing per frame.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Any

import httpx
import numpy as np

from sedna.common.tensors import NPY_CONTENT_TYPE, dumps_npy
from sedna.service.client.http import bearer_headers, env_float, nodelay_transport

__all__ = ["INFERENCE_TOKEN_ENV", "ModelClient", "ModelClientError"]

logger = logging.getLogger(__name__)

INFERENCE_TOKEN_ENV = "SEDNA_INFERENCE_TOKEN"
"""Bearer token shared by InferenceServer and ModelClient; unset = no authentication (upstream behaviour)."""

JSON_CONTENT_TYPE = "application/json"
FAILURES_BEFORE_COOLDOWN = 3


class ModelClientError(RuntimeError):
    """A remote inference that did not produce a result (unreachable, timed out, rejected, bad answer)."""


class ModelClient:
    """Client of ``<protocol>://<host>:<port>/<service_name>``.

    Our additions (keyword-only): ``timeout`` (seconds; env ``MODEL_CLIENT_TIMEOUT``, default 10),
    ``retries`` on connection errors (env ``MODEL_CLIENT_RETRIES``, default 1), ``cooldown`` seconds during
    which calls fail fast after 3 consecutive failures (env ``MODEL_CLIENT_COOLDOWN``, default 5), ``token``
    (env ``SEDNA_INFERENCE_TOKEN``) and ``use_npy`` (None = negotiate, False = always JSON).
    """

    def __init__(self, service_name: str, version: str = "", host: str = "127.0.0.1", port: Any = "8080",
                 protocol: str = "http", *, timeout: float | None = None, retries: int | None = None,
                 cooldown: float | None = None, token: str | None = None, use_npy: bool | None = None):
        self.server_name = f"{service_name}{version}"
        self.endpoint = f"{protocol}://{host}:{port}/{service_name}"
        self.timeout = env_float("MODEL_CLIENT_TIMEOUT", 10.0) if timeout is None else float(timeout)
        self.retries = int(env_float("MODEL_CLIENT_RETRIES", 1)) if retries is None else int(retries)
        self.cooldown = env_float("MODEL_CLIENT_COOLDOWN", 5.0) if cooldown is None else float(cooldown)
        self.token = token if token is not None else os.environ.get(INFERENCE_TOKEN_ENV) or None
        self._use_npy = use_npy
        self._server_npy: bool | None = None  # learned from GET <endpoint>
        self._lock = threading.Lock()
        self._consecutive_failures = 0
        self._open_until = 0.0
        self.last_error: str | None = None
        self._client = httpx.Client(
            timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 3.0)),
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=16, keepalive_expiry=60.0),
            headers=bearer_headers(self.token),
            trust_env=False,
            transport=nodelay_transport(),
        )

    # -- upstream API ----------------------------------------------------------------------------------------

    def check_server_status(self) -> Any:
        """GET the endpoint: the server's route list (``{"infos": [...]}``) or None if it does not answer."""
        try:
            response = self._client.get(self.endpoint)
        except httpx.HTTPError as exc:
            logger.warning("inference server %s unreachable: %s", self.endpoint, exc)
            return None
        # the server answered: from now on it gets npy only if it said so
        self._server_npy = False
        if response.status_code != 200:
            logger.warning("inference server %s answered %s", self.endpoint, response.status_code)
            return None
        try:
            doc = response.json()
        except ValueError:
            return None
        if isinstance(doc, dict):
            self._server_npy = NPY_CONTENT_TYPE in (doc.get("contentTypes") or [])
        return doc

    def inference(self, x: Any, **kwargs: Any) -> Any:
        """POST ``x`` to ``<endpoint>/predict``; the decoded answer (``{"result": ...}``) or None on failure."""
        try:
            return self.predict_or_raise(x, **kwargs)
        except ModelClientError as exc:
            logger.warning("remote inference at %s failed: %s", self.endpoint, exc)
            return None

    # -- ours ------------------------------------------------------------------------------------------------

    def predict_or_raise(self, x: Any, **kwargs: Any) -> dict:
        """Like :meth:`inference` but raises :class:`ModelClientError` with the reason."""
        now = time.monotonic()
        with self._lock:
            if now < self._open_until:
                self.last_error = f"cooling down after {self._consecutive_failures} failures"
                raise ModelClientError(self.last_error)
        try:
            answer = self._post_with_retries(x, kwargs)
        except ModelClientError as exc:
            with self._lock:
                self._consecutive_failures += 1
                self.last_error = str(exc)
                if self._consecutive_failures >= FAILURES_BEFORE_COOLDOWN and self.cooldown > 0:
                    self._open_until = time.monotonic() + self.cooldown
            raise
        with self._lock:
            self._consecutive_failures = 0
            self._open_until = 0.0
        return answer

    def close(self) -> None:
        self._client.close()

    def _wants_npy(self, x: Any) -> bool:
        if self._use_npy is False or not isinstance(x, np.ndarray) or x.dtype == object:
            return False
        if self._server_npy is None and self.check_server_status() is None and self._server_npy is None:
            # unreachable: fail now rather than spend the CPU on a JSON body that cannot be sent
            raise httpx.ConnectError(f"inference server {self.endpoint} did not answer")
        return bool(self._server_npy)

    def _post_with_retries(self, x: Any, kwargs: dict) -> dict:
        last: Exception | None = None
        for _attempt in range(self.retries + 1):
            try:
                return self._post(x, kwargs)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError) as exc:
                # nothing reached the model (or a pooled keep-alive connection was closed): safe to resend;
                # the server may come back as another version, so its content types are asked again
                last = exc
                self._server_npy = None
            except httpx.HTTPError as exc:
                raise ModelClientError(f"{type(exc).__name__}: {exc}") from None
        raise ModelClientError(f"{type(last).__name__}: {last}")

    def _post(self, x: Any, kwargs: dict) -> dict:
        url = f"{self.endpoint}/predict"
        callback = kwargs.get("callback")
        if self._wants_npy(x):
            params = {"callback": callback} if isinstance(callback, str) and callback else None
            response = self._client.post(url, content=dumps_npy(x), params=params,
                                         headers={"Content-Type": NPY_CONTENT_TYPE})
            if response.status_code == 415:  # server changed under us: fall back to JSON for good
                self._server_npy = False
                return self._post(x, kwargs)
        else:
            body = {"data": x.tolist() if isinstance(x, np.ndarray) else x}
            # callables (upstream forwards post_process here, which cannot serialise) are dropped
            body.update({k: v for k, v in kwargs.items() if not callable(v)})
            try:
                content = json.dumps(body, default=_json_default, separators=(",", ":"))
            except (TypeError, ValueError) as exc:
                raise ModelClientError(f"request is not JSON-serialisable: {exc}") from None
            response = self._client.post(url, content=content, headers={"Content-Type": JSON_CONTENT_TYPE})
        if response.status_code != 200:
            raise ModelClientError(f"{url} answered {response.status_code}: {response.text[:300]}")
        try:
            answer = response.json()
        except ValueError:
            raise ModelClientError(f"{url} answered non-JSON") from None
        if not isinstance(answer, dict) or "result" not in answer:
            raise ModelClientError(f"{url} answered without a 'result' key")
        return answer


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")
