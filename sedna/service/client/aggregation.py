"""Federated-learning client of the aggregation server (sdk.md §7.2; wire format in
``sedna.algorithms.transmitter.wire``).

Upstream's calls keep their meaning: ``send(data, msg_type, job_name)`` and ``recv(wait_data_type)``; an
``update_weight`` whose ``data`` holds ``weights`` goes out as a binary safetensors frame (compressed by the
job's codec), and ``recv`` turns ``recv_weight`` frames back into upstream's dict shape with the weights as a
list of numpy arrays. ``exchange()`` is the robust round trip ``FederatedLearning`` uses: it survives server
restarts and dropped connections by reconnecting, picking up a global model it missed, or resending its
update.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sedna.algorithms.compression import Codec, get_codec
from sedna.algorithms.transmitter import AbstractTransmitter
from sedna.algorithms.transmitter.transmitter import REF_TYPE, transmitter_from_env
from sedna.algorithms.transmitter.wire import (
    FRAGMENT_BYTES,
    Parts,
    WireError,
    decode_control,
    decode_weights,
    encode_control,
    encode_weights_parts,
    fragments,
    message_size,
)
from sedna.common.tensors import arrays_to_list, list_to_arrays
from sedna.service.client import wsclient

# what a dropped or refused connection raises: the socket layer, or wsclient (its errors are OSErrors)
_CONNECTION_ERRORS = (OSError, EOFError)

__all__ = ["AggregationClient", "AggregationError"]

logger = logging.getLogger(__name__)

RETRY_INTERVAL = 3.0


class AggregationError(RuntimeError):
    """The server refused what this client sent, or could not be reached in time."""


class AggregationClient:
    """Websocket client of one aggregation job; connects (and subscribes) on construction, as upstream.

    Keyword-only extras: ``token`` (bearer token, env ``AGG_TOKEN``), ``connect_timeout`` (overall budget for
    (re)connecting, env ``CONNECT_TIMEOUT``, default 300 s), ``compression`` (codec name or instance, env
    ``AGG_COMPRESSION``), ``transmitter`` (default from ``TRANSMITTER``), ``job_name``.
    ``max_size`` defaults to ``AGG_MAX_MESSAGE_BYTES`` or 512 MiB (upstream caps it at 16 MiB).
    """

    def __init__(self, url: str, client_id: str, ping_timeout: float = 60, ping_interval: float = 20,
                 max_size: int | None = None, *, token: str | None = None, connect_timeout: float | None = None,
                 compression: str | Codec | None = None, transmitter: AbstractTransmitter | None = None,
                 job_name: str = "", **kwargs: Any) -> None:
        self.uri = url
        self.client_id = client_id
        self.ping_timeout = ping_timeout
        self.ping_interval = ping_interval
        self.max_size = int(max_size or os.getenv("AGG_MAX_MESSAGE_BYTES") or 512 * 1024 * 1024)
        self.token = token if token is not None else (os.getenv("AGG_TOKEN") or None)
        self.connect_timeout = float(connect_timeout if connect_timeout is not None
                                     else os.getenv("CONNECT_TIMEOUT") or 300)
        self.codec = compression if isinstance(compression, Codec) else get_codec(compression)
        self.transmitter = transmitter or transmitter_from_env()
        self.job_name = job_name
        self.ws = None
        self.global_round = 0
        self.global_weights: dict[str, np.ndarray] | None = None
        self.total_sample = 0
        self.exit_flag = "continue"
        self.last_round: dict[str, Any] = {}
        self.bytes_sent = 0
        self.bytes_received = 0
        self._sent_updates = 0
        self._last_sent_size = 0
        self.connect()

    # ---- connection ---------------------------------------------------------------------------------------
    def connect(self) -> None:
        """Connect and subscribe, retrying every 3 s until ``connect_timeout`` has passed."""
        deadline = time.monotonic() + self.connect_timeout
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        last_error: Exception | None = None
        while True:
            try:
                self.ws = wsclient.connect(self.uri, headers=headers, max_size=self.max_size,
                                           max_queue=self._queue_bytes(),
                                           open_timeout=min(30.0, max(1.0, deadline - time.monotonic())),
                                           ping_interval=self.ping_interval, ping_timeout=self.ping_timeout,
                                           close_timeout=5)
                self._subscribe(deadline)
                return
            except wsclient.InvalidStatus as exc:
                status = exc.status_code
                if status in (401, 403, 404):
                    raise AggregationError(f"server refused {self.uri}: HTTP {status} "
                                           f"{exc.body.decode(errors='replace').strip()}") from None
                last_error = exc
            except _CONNECTION_ERRORS as exc:
                self._raise_if_too_big(exc)
                last_error = exc
            self._drop()
            if time.monotonic() + RETRY_INTERVAL > deadline:
                raise AggregationError(f"cannot connect to {self.uri} within {self.connect_timeout:.0f} s: "
                                       f"{last_error}")
            logger.info("aggregation server %s not reachable (%s); retrying", self.uri, last_error)
            time.sleep(RETRY_INTERVAL)

    def _queue_bytes(self) -> int:
        """Bytes of whole messages the connection may buffer while the caller is busy (training): room for two
        messages of ``max_size``. A smaller queue would stop the reader thread mid-broadcast, and with it the
        answers to the server's pings, so the connection would time out while the worker trains."""
        return 2 * self.max_size + 16 * FRAGMENT_BYTES

    def _subscribe(self, deadline: float) -> None:
        self.ws.send(encode_control({"type": "subscribe", "client_id": self.client_id}))
        while True:
            frame = self.ws.recv(timeout=max(1.0, deadline - time.monotonic()))
            message = self._decode(frame)
            if message is None:
                continue
            if message.get("type") == "subscribe" and message.get("client_id") == self.client_id:
                logger.info("subscribed to %s as %s (global round %d)", self.uri, self.client_id,
                            self.global_round)
                return

    def _drop(self) -> None:
        if self.ws is not None:
            try:
                self.ws.close()
            except _CONNECTION_ERRORS as exc:  # already broken
                logger.debug("close failed: %s", exc)
        self.ws = None

    def close(self) -> None:
        self._drop()

    # ---- frames -------------------------------------------------------------------------------------------
    def _decode(self, frame: bytes | str) -> dict[str, Any] | None:
        """Frame → upstream-shaped dict; weights frames also update this client's view of the global model."""
        self.bytes_received += len(frame)
        if isinstance(frame, str):
            try:
                message = decode_control(frame, max_bytes=self.max_size)
            except WireError as exc:
                logger.warning("ignoring malformed control frame: %s", exc)
                return None
            if message["type"] != REF_TYPE:
                return message
            try:
                frame = self.transmitter.unpack(message, self.max_size)
            except WireError as exc:
                logger.warning("ignoring weights reference: %s", exc)
                return None
        try:
            # memory of our own (a received message already is): the arrays are writable views of it
            own = frame if isinstance(frame, bytearray | memoryview) and not memoryview(frame).readonly \
                else bytearray(frame)
            weights = decode_weights(own, self.max_size, base=self.global_weights, copy=False)
        except WireError as exc:
            logger.warning("ignoring malformed weights frame: %s", exc)
            return None
        meta = weights.meta
        if weights.type in ("recv_weight", "global_model"):
            round_number = int(meta.get("round_number", 0))
            if round_number >= self.global_round:
                self.global_round = round_number
                self.global_weights = weights.arrays
                self.total_sample = int(meta.get("total_sample", 0))
                self.exit_flag = meta.get("exit_flag", "continue")
                self.last_round = {k: meta.get(k) for k in ("participants", "dropped")}
        data = {"total_sample": meta.get("total_sample"), "round_number": meta.get("round_number"),
                "weights": arrays_to_list(weights.arrays), "exit_flag": meta.get("exit_flag")}
        return {"type": weights.type, "client": meta.get("client"), "job_name": meta.get("job_name"),
                "round_number": meta.get("round_number"), "data": data,
                "participants": meta.get("participants", []), "dropped": meta.get("dropped", [])}

    def _encode_update(self, weights: Sequence[Any], num_samples: int, job_name: str) -> Parts | bytes | str:
        """The update as a message; uncompressed layers are sent from the caller's arrays (no copy), so they
        must not change until :meth:`exchange` returns."""
        arrays = list_to_arrays([np.asarray(w) for w in weights])
        update_round = self.global_round + 1
        fields = {"client": self.client_id, "job_name": job_name or self.job_name, "round": update_round,
                  "num_samples": int(num_samples)}
        payload = encode_weights_parts("update_weight", arrays, fields, codec=self.codec, base=self.global_weights)
        self._sent_updates += 1
        key = f"{job_name or self.job_name or 'sedna'}/updates/round-{update_round:05d}/{self.client_id}" \
              f"-{self._sent_updates}.safetensors"
        return self.transmitter.pack(payload, key)

    def _send_raw(self, frame: Parts | bytes | str) -> None:
        """Send once, reconnecting (and resubscribing) while ``connect_timeout`` allows."""
        deadline = time.monotonic() + self.connect_timeout
        while True:
            try:
                if self.ws is None:
                    self.connect()
                self._last_sent_size = message_size(frame)
                self.ws.send(fragments(frame))
                self.bytes_sent += self._last_sent_size
                return
            except AggregationError:
                raise
            except _CONNECTION_ERRORS as exc:
                self._raise_if_refused(exc, message_size(frame))
                if time.monotonic() > deadline:
                    raise AggregationError(f"cannot send to {self.uri}: {exc}") from None
                logger.warning("send failed (%s); reconnecting", exc)
                self._drop()

    def _raise_if_refused(self, exc: BaseException, size: int) -> None:
        """A message the server closed the connection over (too big, policy) must not be resent forever; nor
        must a client reconnect forever to a server whose messages exceed this client's ``max_size``."""
        close = getattr(exc, "rcvd", None)
        if close is not None and close.code in (1008, 1009):
            self._drop()
            raise AggregationError(f"server closed the connection ({close.code} {close.reason or ''}) after a "
                                   f"{size}-byte message; its limit is AGG_MAX_MESSAGE_BYTES / ws_size") from None
        self._raise_if_too_big(exc)

    def _raise_if_too_big(self, exc: BaseException) -> None:
        """This client closed the connection (1009) over a message of the server's: it would come again."""
        sent = getattr(exc, "sent", None)
        if sent is not None and sent.code == 1009:
            self._drop()
            raise AggregationError(f"the server sent a message over this client's limit of {self.max_size} bytes "
                                   f"(close 1009); raise AGG_MAX_MESSAGE_BYTES / max_size") from None

    def _recv_raw(self, timeout: float | None) -> tuple[memoryview | str | None, bool]:
        """Next message (or None when ``timeout`` passed) and whether the connection had to be re-established
        first. A timeout closes the connection (the next call reconnects), as a message cut short by the
        deadline cannot be resumed."""
        reconnected = False
        if self.ws is None:
            self.connect()
            reconnected = True
        try:
            return self.ws.recv(timeout=None if timeout is None else max(0.0, timeout)), reconnected
        except TimeoutError:
            self._drop()
            return None, reconnected
        except _CONNECTION_ERRORS as exc:  # the server went away
            self._raise_if_refused(exc, self._last_sent_size)
            logger.warning("connection to %s lost (%s); reconnecting", self.uri, exc)
            self._drop()
            self.connect()
            return None, True

    # ---- upstream API -------------------------------------------------------------------------------------
    def send(self, data: Any, msg_type: str = "message", job_name: str = "") -> None:
        if msg_type == "update_weight" and isinstance(data, Mapping) and "weights" in data:
            frame = self._encode_update(data["weights"], data.get("num_samples", 0), job_name)
        else:
            frame = encode_control({"type": msg_type, "client": self.client_id, "data": data,
                                    "job_name": job_name})
        self._send_raw(frame)

    def recv(self, wait_data_type: str | None = None) -> dict[str, Any] | None:
        while True:
            frame, _ = self._recv_raw(timeout=None)
            if frame is None:
                continue
            message = self._decode(frame)
            if message is None:
                return None
            if wait_data_type is not None and message.get("type") != wait_data_type:
                return None
            return message

    # ---- robust round trip --------------------------------------------------------------------------------
    def exchange(self, weights: Sequence[Any], num_samples: int, job_name: str = "",
                 timeout: float | None = None) -> dict[str, Any]:
        """Send this round's update and wait for the global model of that round (or a later one).

        Reconnects if the connection drops; after a reconnect, a global model the client missed is taken as
        the answer, otherwise the same update is sent again (the server ignores duplicates).
        Raises :class:`AggregationError` if the server rejects the update or ``timeout`` passes.
        """
        update_round = self.global_round + 1
        frame = self._encode_update(weights, num_samples, job_name)
        self._send_raw(frame)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self.global_round >= update_round:
                return self.round_result()
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise AggregationError(f"no global model for round {update_round} within {timeout} s")
            raw, reconnected = self._recv_raw(timeout=remaining)
            if reconnected and self.global_round < update_round:
                logger.info("reconnected during round %d; sending the update again", update_round)
                self._send_raw(frame)
            if raw is None:
                continue
            message = self._decode(raw)
            if message is None:
                continue
            if message["type"] == "error":
                raise AggregationError(f"server rejected the update: {(message.get('data') or {}).get('error')}")
            if message["type"] == "ignored":
                logger.info("server ignored the update: %s", message.get("data"))

    def round_result(self) -> dict[str, Any]:
        """The global model this client holds, in upstream's ``recv_weight`` message shape."""
        return {"type": "recv_weight", "client": self.client_id, "job_name": self.job_name,
                "round_number": self.global_round,
                "data": {"total_sample": self.total_sample, "round_number": self.global_round,
                         "weights": arrays_to_list(self.global_weights or {}), "exit_flag": self.exit_flag},
                "participants": self.last_round.get("participants") or [],
                "dropped": self.last_round.get("dropped") or []}

