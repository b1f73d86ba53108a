"""Federated-learning aggregation server (websocket, path ``/<aggregation>``).

Round protocol (sdk.md §7.2, with the robustness rules of docs/sdk-federated.md):

- a client sends ``{"type":"subscribe","client_id":...}``; others get ``CLIENT_JOIN``; the newcomer gets the
  current global model (a ``global_model`` binary frame) if there is one, then the subscribe echo;
- each client sends one ``update_weight`` binary frame per round, tagged with the round it is for
  (``completed rounds + 1``); the server decodes it under a lock and adds it to a running weighted sum, so it
  never holds more than one decoded update;
- the round closes when ``participants_count`` updates arrived, or — a client dropped or is slow — when
  ``round_timeout`` seconds passed since the round's first update and at least ``min_participants`` arrived;
- closing: weighted mean (the running sum, divided in place) → new global model → one ``recv_weight``
  frame, encoded once as views of that model and sent to every connected client → checkpoint file
  (safetensors, atomic replace; written in the background, awaited before the server exits) in the job's
  own directory, resumed on restart only by the same job (name, aggregation and UID);
- duplicate updates get an ``ignored`` reply, stale ones (for a closed round) the current global model,
  malformed ones an ``error`` reply naming the problem; the connection stays open in all three cases;
  frames above the size limit close the connection (websocket close code 1009), as the whole frame would
  otherwise have to be read;
- other text frames are broadcast unchanged to every client (upstream behaviour);
- after ``exit_round`` rounds the server exits once no client has been connected for ``exit_grace`` seconds.

Upstream's server keeps all updates and broadcasts JSON float lists; the running sum and binary frames are
what make 32 × 200 MB rounds possible.
"""

from __future__ import annotations

import asyncio
import http
import json
import logging
import os
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np

import sedna.algorithms.aggregation  # noqa: F401  (registers the FL_AGG strategies)
from sedna.algorithms.aggregation import AggClient, FedAvg, WeightedSum
from sedna.algorithms.compression import FP16Codec, NoCompression, decode_tensors
from sedna.algorithms.transmitter import AbstractTransmitter, WSTransmitter
from sedna.algorithms.transmitter.transmitter import REF_TYPE, transmitter_from_env
from sedna.algorithms.transmitter.wire import (
    Parts,
    WireError,
    check_layout,
    decode_control,
    decode_weights,
    encode_control,
    encode_weights_parts,
    fragments,
    layout_of,
    message_buffer,
    message_size,
    safetensors_size,
)
from sedna.common.class_factory import ClassFactory, ClassType
from sedna.common.logfmt import enable_worker_logging
from sedna.common.sockets import listening_socket
from sedna.common.tensors import TensorFormatError, dumps_arrays_parts, loads_arrays
from sedna.service.server import agg_auth

try:
    from websockets.exceptions import ConnectionClosed, WebSocketException
except ImportError:  # pragma: no cover - websockets is a hard dependency
    ConnectionClosed = WebSocketException = OSError

__all__ = [
    "AggregationServer",
    "AggregationServerV2",
    "ReceiveBuffers",
    "RoundSettings",
    "classify_update",
    "default_checkpoint_path",
    "load_checkpoint",
    "round_due",
    "save_checkpoint",
]

logger = logging.getLogger(__name__)

DEFAULT_PORT = 7363
DEFAULT_WS_SIZE = 10 * 1024 * 1024
BROADCAST_CONCURRENCY = 4
RECEIVE_SLOTS = 2


def _env_float(name: str, default: float) -> float:
    raw = os.getenv(name)
    if raw in (None, ""):
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None


def _env_int(name: str, default: int) -> int:
    return int(_env_float(name, default))


def _host_ip() -> str:
    try:
        from sedna.common.utils import get_host_ip

        return get_host_ip()
    except ImportError:
        return "127.0.0.1"


@dataclass
class RoundSettings:
    """Knobs of the round protocol; ``from_env`` reads the ``AGG_*`` variables documented in the module."""

    exit_round: int = 3
    participants_count: int = 1
    min_participants: int = 1
    round_timeout: float = 600.0
    exit_grace: float = 5.0
    max_message_bytes: int = DEFAULT_WS_SIZE
    downlink: str = "none"


def round_due(settings: RoundSettings, finished: bool, updates: int, seconds_since_first_update: float | None
              ) -> bool:
    """Whether the open round closes now: all expected updates are in, or the timeout passed with a quorum."""
    if finished or updates == 0:
        return False
    if updates >= settings.participants_count:
        return True
    return (seconds_since_first_update is not None and seconds_since_first_update >= settings.round_timeout
            and updates >= settings.min_participants)


ACCEPT, STALE, DUPLICATE, FUTURE = "accept", "stale", "duplicate", "future"


def classify_update(update_round: int, completed_rounds: int, finished: bool, already_sent: bool) -> str:
    """What to do with a client's update for ``update_round`` when ``completed_rounds`` rounds are done."""
    if finished or update_round <= completed_rounds:
        return STALE
    if update_round > completed_rounds + 1:
        return FUTURE
    return DUPLICATE if already_sent else ACCEPT


@dataclass
class _Client:
    client_id: str
    ws: Any
    connected_at: float = field(default_factory=time.time)
    info: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(path: str, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Write the global model atomically: temp file in the same directory, fsync, ``os.replace``."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".agg-ckpt-", dir=directory)
    try:
        with os.fdopen(fd, "wb", buffering=0) as fh:
            for part in dumps_arrays_parts(arrays, meta):    # the arrays' own memory, no joined copy
                view = memoryview(part)
                while view:
                    view = view[fh.write(view):]
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def default_checkpoint_path(job_name: str, job_uid: str) -> str:
    """``<AGG_CHECKPOINT_DIR or .>/<job>-<uid>/global.safetensors``: one directory per job instance, so a new
    job reusing a name never finds its predecessor's model."""
    job_dir = f"{job_name or 'sedna'}-{job_uid}" if job_uid else (job_name or "sedna")
    return os.path.join(os.getenv("AGG_CHECKPOINT_DIR") or ".", job_dir, "global.safetensors")


def load_checkpoint(path: str) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    if not path or not os.path.isfile(path):
        return None
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        return loads_arrays(data)
    except TensorFormatError as exc:
        logger.error("ignoring unreadable checkpoint %s: %s", path, exc)
        return None


class ReceiveBuffers:
    """Receive buffers reused across messages: a 200 MB update is copied once, into memory that is already
    mapped, instead of into a list of fragments and then a joined copy (issue 16). A new buffer is sized from
    the message's safetensors header when the first fragment holds it (else it grows); at most ``keep`` idle
    ones are kept. The server holds a receive slot per buffer in use, so there are never more than
    ``RECEIVE_SLOTS`` + ``keep`` of them."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.size = 1 << 20
        self._idle: list[memoryview] = []

    def take(self, needed: int = 0) -> memoryview:
        for i, buf in enumerate(self._idle):
            if len(buf) >= needed:
                return self._idle.pop(i)
        self.size = max(self.size, needed)
        return message_buffer(self.size)

    def grow(self, buf: memoryview, filled: int, needed: int) -> memoryview:
        self.size = max(self.size, needed, 2 * len(buf) if needed < (1 << 26) else needed + (needed >> 3))
        bigger = message_buffer(self.size)
        bigger[:filled] = buf[:filled]
        return bigger

    def give(self, buf: memoryview) -> None:
        if len(buf) >= self.size and len(self._idle) < self.keep:
            self._idle.append(buf)


class AggregationServer:
    """Websocket aggregation server; ``start()`` blocks until the job's last round is served.

    Signature as upstream; keyword-only extras: ``token`` (bearer token, env ``AGG_TOKEN``), ``round_timeout``
    (``AGG_ROUND_TIMEOUT``), ``min_participants`` (``AGG_MIN_PARTICIPANTS``), ``checkpoint_path``
    (``AGG_CHECKPOINT``), ``downlink_compression`` (``AGG_DOWNLINK_COMPRESSION``: none|fp16), ``transmitter``
    (default from ``TRANSMITTER``), ``job_name`` (``JOB_NAME``), ``job_uid`` (``JOB_UID``: the checkpoint is
    resumed only by the same job instance), ``exit_grace`` (``AGG_EXIT_GRACE``).
    ``ws_size`` is the largest accepted message; ``AGG_MAX_MESSAGE_BYTES`` overrides it.
    """

    def __init__(self, aggregation: str = "FedAvg", host: str | None = None, http_port: int | None = None,
                 exit_round: int = 1, participants_count: int = 1, ws_size: int = DEFAULT_WS_SIZE, *,
                 token: str | None = None, round_timeout: float | None = None,
                 min_participants: int | None = None, checkpoint_path: str | None = None,
                 downlink_compression: str | None = None, transmitter: AbstractTransmitter | None = None,
                 job_name: str | None = None, exit_grace: float | None = None, job_uid: str | None = None) -> None:
        enable_worker_logging()
        self.aggregation = aggregation or "FedAvg"
        self.strategy = ClassFactory.get_cls(ClassType.FL_AGG, self.aggregation)()
        self.host = host or os.getenv("AGG_BIND_IP") or _host_ip()
        self.http_port = int(http_port if http_port is not None else (os.getenv("AGG_BIND_PORT") or DEFAULT_PORT))
        self.port: int | None = None
        downlink = (downlink_compression or os.getenv("AGG_DOWNLINK_COMPRESSION") or "none").lower()
        if downlink not in ("none", "fp16"):
            raise ValueError(f"AGG_DOWNLINK_COMPRESSION must be none or fp16, got {downlink!r}")
        self.settings = RoundSettings(
            exit_round=max(int(exit_round), 1),
            participants_count=max(int(participants_count), 1),
            min_participants=max(int(min_participants if min_participants is not None
                                     else _env_int("AGG_MIN_PARTICIPANTS", 1)), 1),
            round_timeout=float(round_timeout if round_timeout is not None
                                else _env_float("AGG_ROUND_TIMEOUT", 600.0)),
            exit_grace=float(exit_grace if exit_grace is not None else _env_float("AGG_EXIT_GRACE", 5.0)),
            max_message_bytes=_env_int("AGG_MAX_MESSAGE_BYTES", int(ws_size)),
            downlink=downlink,
        )
        self.token = token if token is not None else (os.getenv("AGG_TOKEN") or None)
        self.job_name = job_name if job_name is not None else os.getenv("JOB_NAME", "")
        self.transmitter = transmitter or transmitter_from_env()
        self.job_uid = job_uid if job_uid is not None else os.getenv("JOB_UID", "")
        explicit = checkpoint_path or os.getenv("AGG_CHECKPOINT")
        self.checkpoint_path = explicit or default_checkpoint_path(self.job_name, self.job_uid)
        # Without a job UID the default file could be another run's of a job with the same name (the trap of
        # issue 16: a new job silently starting at "round 3 done"), so only a path given on purpose resumes.
        self._may_resume = bool(explicit or self.job_uid)

        self.clients: dict[str, _Client] = {}
        self.known_clients: set[str] = set()
        self.round = 0
        self.total_sample = 0
        self.global_arrays: dict[str, np.ndarray] | None = None
        self.last_round_info: dict[str, Any] = {}
        self._round_sender = ""
        self._frame_cache: dict[tuple[int, str], bytes | str] = {}
        self._reset_round()
        self._lock: asyncio.Lock | None = None
        self._checkpointing: asyncio.Task | None = None
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._empty_since = time.monotonic()
        self.bytes_received = 0
        self.bytes_sent = 0
        self.events: list[dict[str, Any]] = []
        self._restore()

    # ---- state --------------------------------------------------------------------------------------------
    def _reset_round(self) -> None:
        self._acc = WeightedSum()
        self._collected: list[AggClient] = []
        self._contributors: dict[str, int] = {}
        self._round_started: float | None = None
        self._last_sender = ""
        self._round_layout: dict[str, tuple[tuple[int, ...], str]] = {}
        self._collected_names: list[str] = []

    @property
    def finished(self) -> bool:
        return self.round >= self.settings.exit_round

    @property
    def exit_flag(self) -> str:
        return "ok" if self.finished else "continue"

    def _restore(self) -> None:
        if not self._may_resume:
            return
        loaded = load_checkpoint(self.checkpoint_path)
        if loaded is None:
            return
        arrays, meta = loaded
        if (meta.get("job_name", "") != self.job_name or meta.get("aggregation") != self.aggregation
                or str(meta.get("job_uid", "")) != self.job_uid):
            logger.warning("checkpoint %s belongs to job %r (uid %r)/%s, not %r (uid %r)/%s; starting fresh",
                           self.checkpoint_path, meta.get("job_name"), meta.get("job_uid", ""),
                           meta.get("aggregation"), self.job_name, self.job_uid, self.aggregation)
            return
        self.global_arrays = arrays
        self.round = int(meta.get("round", 0))
        self.total_sample = int(meta.get("total_sample", 0))
        self._event("resumed", round=self.round, checkpoint=self.checkpoint_path)
        logger.info("resumed from %s at round %d", self.checkpoint_path, self.round)

    def _event(self, kind: str, **fields: Any) -> None:
        entry = {"event": kind, "time": time.time(), **fields}
        self.events.append(entry)
        del self.events[:-1000]

    # ---- lifecycle ----------------------------------------------------------------------------------------
    def start(self) -> None:
        """Serve until the job is done (blocking), as upstream's ``start()``."""
        asyncio.run(self.serve())

    def start_background(self, timeout: float = 10.0) -> threading.Thread:
        """Run :meth:`start` in a daemon thread and wait until the port is bound (tests, tools)."""
        thread = threading.Thread(target=self.start, name="aggregation-server", daemon=True)
        thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("aggregation server did not start")
        return thread

    def stop(self) -> None:
        """Ask the server to stop; a server that already stopped itself (all rounds done) is left as it is."""
        if self._loop is None or self._stop is None or self._loop.is_closed():
            return
        try:
            self._loop.call_soon_threadsafe(self._stop.set)
        except RuntimeError:            # the loop closed between the check and the call
            logger.debug("aggregation server already stopped")

    async def serve(self) -> None:
        from websockets.asyncio.server import serve

        self._loop = asyncio.get_running_loop()
        self._lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._broadcast_slots = asyncio.Semaphore(BROADCAST_CONCURRENCY)
        self._checkpointing = None
        self._receive_slots = asyncio.Semaphore(RECEIVE_SLOTS)
        self._buffers = ReceiveBuffers(keep=RECEIVE_SLOTS + 1)
        async with serve(self._handle, sock=listening_socket(self.host, self.http_port),
                         process_request=self._process_request,
                         max_size=self.settings.max_message_bytes, max_queue=4, compression=None,
                         ping_interval=20, ping_timeout=300, write_limit=2 ** 20) as server:
            self.port = server.sockets[0].getsockname()[1]
            logger.info("aggregation server %s on ws://%s:%d/%s (exit_round=%d, participants=%d)",
                        self.job_name, self.host, self.port, self.aggregation, self.settings.exit_round,
                        self.settings.participants_count)
            self._ready.set()
            ticker = asyncio.create_task(self._tick())
            try:
                await self._stop.wait()
            finally:
                ticker.cancel()
                if self._checkpointing is not None:
                    await self._checkpointing      # the last round's checkpoint is on disk before we return
        logger.info("aggregation server stopped after round %d", self.round)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(0.2)
            now = time.monotonic()
            if self.clients:
                self._empty_since = now
            elif self.finished and now - self._empty_since >= self.settings.exit_grace:
                logger.info("all %d rounds done and no client connected: exiting", self.settings.exit_round)
                self._stop.set()
                return
            if self._round_due(now):
                try:
                    async with self._lock:
                        if self._round_due(time.monotonic()):
                            await self._close_round()
                except Exception:  # the ticker must survive a failing strategy
                    logger.exception("closing round %d failed", self.round + 1)

    def _round_due(self, now: float) -> bool:
        waited = None if self._round_started is None else now - self._round_started
        return round_due(self.settings, self.finished, len(self._contributors), waited)

    # ---- HTTP side ----------------------------------------------------------------------------------------
    def _authorized(self, headers) -> bool:
        if not self.token:
            return True
        supplied = headers.get("Authorization", "")
        return secrets.compare_digest(supplied.encode(), f"Bearer {self.token}".encode())

    def _process_request(self, connection, request):
        parsed = urlparse(request.path)
        if parsed.path.rstrip("/") != f"/{self.aggregation}":
            return connection.respond(http.HTTPStatus.NOT_FOUND, f"no aggregation at {parsed.path}\n")
        if not self._authorized(request.headers):
            return connection.respond(http.HTTPStatus.UNAUTHORIZED, "missing or wrong bearer token\n")
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return None
        client_id = (parse_qs(parsed.query).get("client_id") or [None])[0]
        if client_id is None:
            body = {"clients": sorted(self.clients), "round": self.round, "exit_round": self.settings.exit_round}
        elif client_id in self.clients:
            c = self.clients[client_id]
            body = {"client_id": c.client_id, "connected_at": c.connected_at, "info": c.info}
        else:
            body = {"client_id": client_id, "error": "not connected"}
        response = connection.respond(http.HTTPStatus.OK, json.dumps(body))
        response.headers["Content-Type"] = "application/json"
        return response

    # ---- websocket side -----------------------------------------------------------------------------------
    async def _next_message(self, ws) -> tuple[str | None, memoryview | None]:
        """Next message as (text, None) or (None, binary); a binary message is read under a receive slot.

        Our clients send large messages in 256 KiB fragments (``wire.FRAGMENT_BYTES``). Reading a
        connection's fragments only while holding one of ``RECEIVE_SLOTS`` slots, with a small frame queue
        (``max_queue``), makes the other senders wait in TCP flow control instead of in server memory. A
        binary message is copied fragment by fragment into a reused buffer (:class:`ReceiveBuffers`) and
        returned as a view of it, with the slot still held: the caller hands back buffer and slot
        (:meth:`_release`) once the update is added, so at most ``RECEIVE_SLOTS`` buffers are in use however
        many updates wait for the aggregation lock.
        """
        stream = ws.recv_streaming()
        first = await anext(stream)
        if isinstance(first, str):
            parts = [first]
            async for part in stream:
                parts.append(part)
            return "".join(parts), None
        await self._receive_slots.acquire()
        try:
            buf = self._buffers.take(safetensors_size(first, self.settings.max_message_bytes))
            filled = 0
            part = first
            while part is not None:
                end = filled + len(part)
                if end > len(buf):
                    buf = self._buffers.grow(buf, filled, end)
                buf[filled:end] = part          # the one copy: websocket fragment -> our buffer
                filled = end
                part = await anext(stream, None)
        except BaseException:
            self._receive_slots.release()
            raise
        return None, buf[:filled]

    def _release(self, data: memoryview) -> None:
        self._buffers.give(memoryview(data.obj))
        self._receive_slots.release()

    async def _handle(self, ws) -> None:
        client: _Client | None = None
        try:
            while True:
                text, data = await self._next_message(ws)
                if text is None:
                    self.bytes_received += len(data)
                    try:
                        await self._on_weights(ws, client, data)
                    finally:
                        # nothing refers to the buffer any more: the update was added (or rejected)
                        self._release(data)
                    del data
                    continue
                self.bytes_received += len(text)
                try:
                    message = decode_control(text)
                except WireError as exc:
                    await self._reply_error(ws, str(exc))
                    continue
                if message["type"] == "subscribe":
                    client = await self._subscribe(ws, message, client)
                elif message["type"] == REF_TYPE:
                    await self._on_reference(ws, client, message)
                elif message["type"] == "update_weight":
                    await self._reply_error(ws, "update_weight must be a binary frame (safetensors); "
                                                "JSON weights are not accepted")
                else:
                    await self._broadcast_text(text)
        except ConnectionClosed:
            logger.debug("connection closed")
        finally:
            if client is not None and self.clients.get(client.client_id) is client:
                del self.clients[client.client_id]
                during = "" if self.finished else (
                    f" during round {self.round + 1} (update "
                    f"{'received' if client.client_id in self._contributors else 'missing'})")
                (logger.info if self.finished else logger.warning)("client %s disconnected%s",
                                                                   client.client_id, during)
                self._event("disconnect", client=client.client_id, round=self.round + 1,
                            sent_update=client.client_id in self._contributors)

    async def _subscribe(self, ws, message: dict[str, Any], current: _Client | None) -> _Client:
        client_id = str(message.get("client_id") or current and current.client_id or secrets.token_hex(8))
        try:
            agg_auth.check_subscribe(self.clients, client_id, ws, current)
        except agg_auth.SubscribeRefused as exc:
            await self._reply_error(ws, exc.reason)
            await ws.close(exc.code, exc.reason[:120])
            return current
        join = encode_control({"type": "CLIENT_JOIN", "data": client_id})
        for other in list(self.clients.values()):
            if other.client_id != client_id:
                await self._send(other.ws, join)
        client = _Client(client_id=client_id, ws=ws, info={k: v for k, v in message.items() if k != "type"})
        self.clients[client_id] = client
        self.known_clients.add(client_id)
        self._event("subscribe", client=client_id, round=self.round)
        if self.global_arrays is not None:
            await self._send(ws, await self._global_message("global_model"))
        await self._broadcast_text(encode_control(message if message.get("client_id") else
                                                  {**message, "client_id": client_id}))
        return client

    async def _on_reference(self, ws, client: _Client | None, message: dict[str, Any]) -> None:
        try:
            payload = await asyncio.to_thread(self.transmitter.unpack, message, self.settings.max_message_bytes)
        except WireError as exc:
            await self._reply_error(ws, str(exc))
            return
        await self._on_weights(ws, client, payload)

    async def _on_weights(self, ws, client: _Client | None, data: bytes | memoryview) -> None:
        if client is None:
            await self._reply_error(ws, "send subscribe before weights")
            return
        async with self._lock:
            try:
                reply = await self._accept_update(client, data)
            except WireError as exc:
                logger.warning("rejected update from %s: %s", client.client_id, exc)
                self._event("rejected", client=client.client_id, reason=str(exc))
                await self._reply_error(ws, str(exc))
                return
            if reply is not None:
                await self._send(ws, reply)
                return
            if self._round_due(time.monotonic()):
                await self._close_round()

    async def _accept_update(self, client: _Client, data: bytes) -> bytes | str | None:
        """Validate and add one update; returns a direct reply for ignored updates, else None."""
        header = _peek_header(data)
        if header.get("type") != "update_weight":
            raise WireError(f"clients may only send update_weight binary frames, got {header.get('type')!r}")
        try:
            update_round = int(header.get("round"))
            num_samples = int(header.get("num_samples"))
        except (TypeError, ValueError):
            raise WireError("update_weight header needs integer 'round' and 'num_samples'") from None
        if num_samples < 0:
            raise WireError(f"num_samples must be >= 0, got {num_samples}")
        cid = client.client_id
        verdict = classify_update(update_round, self.round, self.finished, cid in self._contributors)
        if verdict == STALE:
            logger.info("stale update from %s for round %d (round %d is done); sending the global model",
                        cid, update_round, self.round)
            self._event("stale", client=cid, update_round=update_round, round=self.round)
            return await self._global_message("recv_weight") if self.global_arrays is not None else \
                encode_control({"type": "ignored", "data": {"reason": "stale round", "round": self.round}})
        if verdict == FUTURE:
            raise WireError(f"update for round {update_round} but the next round is {self.round + 1}")
        if verdict == DUPLICATE:
            logger.info("duplicate update from %s for round %d ignored", cid, update_round)
            self._event("duplicate", client=cid, round=update_round)
            return encode_control({"type": "ignored",
                                   "data": {"reason": "duplicate update", "round": update_round}})
        await asyncio.to_thread(self._decode_and_add, data, num_samples)
        self._contributors[cid] = num_samples
        self._last_sender = cid
        if self._round_started is None:
            self._round_started = time.monotonic()
        logger.info("round %d: update %d/%d from %s (%d samples, %d bytes)", update_round,
                    len(self._contributors), self.settings.participants_count, cid, num_samples, len(data))
        return None

    def _decode_and_add(self, data: bytes | memoryview, num_samples: int) -> None:
        # streaming FedAvg adds the update at once: its arrays may be views of the receive buffer
        frame = decode_weights(data, self.settings.max_message_bytes, base=self.global_arrays,
                               copy=not self._streaming)
        if self.global_arrays is not None:
            check_layout(frame.arrays, layout_of(self.global_arrays))
        elif self._contributors:
            check_layout(frame.arrays, self._round_layout)
        else:
            self._round_layout = layout_of(frame.arrays)
        if self._streaming:
            try:
                self._acc.add(frame.arrays, num_samples)
            except ValueError as exc:
                raise WireError(str(exc)) from None
        else:
            names = sorted(frame.arrays)
            self._collected.append(AggClient(num_samples, [frame.arrays[n] for n in names]))
            self._collected_names = names

    @property
    def _streaming(self) -> bool:
        return isinstance(self.strategy, FedAvg) and type(self.strategy).aggregate is FedAvg.aggregate

    async def _close_round(self) -> None:
        participants = sorted(self._contributors)
        dropped = sorted(self.known_clients - set(participants))
        new_global = await asyncio.to_thread(self._aggregate)
        self.round += 1
        self.total_sample = sum(self._contributors.values())
        self.global_arrays = new_global
        info = {"round": self.round, "participants": participants, "dropped": dropped,
                "total_sample": self.total_sample}
        self.last_round_info = info
        if dropped:
            logger.warning("round %d closed without updates from %s", self.round, ", ".join(dropped))
        logger.info("round %d aggregated from %d clients (%d samples)", self.round, len(participants),
                    self.total_sample)
        self._event("round", **info)
        self._round_sender = self._last_sender
        self._reset_round()
        # clients wait for the broadcast, not for the disk: checkpoint once they have the model, in the background
        # (the next round's updates need the lock, not the disk); checkpoints are written one after the other
        await self._broadcast(await self._global_message("recv_weight"))
        meta = {"round": self.round, "total_sample": self.total_sample, "job_name": self.job_name,
                "job_uid": self.job_uid, "aggregation": self.aggregation, "exit_round": self.settings.exit_round}
        self._checkpointing = asyncio.create_task(self._checkpoint(self._checkpointing, new_global, meta))

    async def _checkpoint(self, previous: asyncio.Task | None, arrays: dict[str, np.ndarray],
                          meta: dict[str, Any]) -> None:
        if previous is not None:
            await previous
        try:
            await asyncio.to_thread(save_checkpoint, self.checkpoint_path, arrays, meta)
        except OSError as exc:
            logger.error("could not write checkpoint %s: %s", self.checkpoint_path, exc)

    def _aggregate(self) -> dict[str, np.ndarray]:
        if self._streaming:
            self.strategy.total_size = self._acc.total
            mean = self._acc.mean(spend=True)      # the running sum's memory becomes the global model
        else:
            weights = self.strategy.aggregate(self._collected)
            mean = {name: np.asarray(w) for name, w in zip(self._collected_names, weights)}
        if self.settings.downlink == "fp16":
            # the global model every client holds is the fp16-rounded one; keep the same as top-k base
            wire, specs = FP16Codec().encode(mean)
            mean = decode_tensors(wire, specs)
        return mean

    async def _global_message(self, msg_type: str) -> Parts | str:
        """The current global model as a ``recv_weight``/``global_model`` message, encoded once per round and
        type (off the event loop: encoding and an S3 upload can take a while) and shared by all receivers."""
        key = (self.round, msg_type)
        if key not in self._frame_cache:
            frame = await asyncio.to_thread(self._global_frame, msg_type)
            self._frame_cache = {k: v for k, v in self._frame_cache.items() if k[0] == self.round}
            self._frame_cache[key] = frame
        return self._frame_cache[key]

    def _global_frame(self, msg_type: str) -> Parts | str:
        """Encoded once, sent to every client: the frame's parts are views of ``global_arrays``, which are
        never changed in place (each round makes new arrays)."""
        codec = FP16Codec() if self.settings.downlink == "fp16" else NoCompression()
        # "client" echoes the sender of the update that closed the round, as upstream's broadcast does
        fields = {"client": self._round_sender, "job_name": self.job_name, "round_number": self.round,
                  "total_sample": self.total_sample, "exit_flag": self.exit_flag,
                  "participants": self.last_round_info.get("participants", []),
                  "dropped": self.last_round_info.get("dropped", [])}
        payload = encode_weights_parts(msg_type, self.global_arrays or {}, fields, codec=codec)
        return self.transmitter.pack(payload, f"{self.job_name or 'sedna'}/global/round-{self.round:05d}"
                                              f"-{msg_type}.safetensors")

    # ---- sending ------------------------------------------------------------------------------------------
    async def _send(self, ws, frame: Parts | bytes | str) -> bool:
        try:
            await ws.send(fragments(frame))
        except (OSError, WebSocketException) as exc:  # closed socket; the handler's finally cleans up
            logger.debug("send failed: %s", exc)
            return False
        self.bytes_sent += message_size(frame)
        return True

    async def _broadcast(self, frame: Parts | bytes | str) -> None:
        async def one(ws):
            async with self._broadcast_slots:
                await self._send(ws, frame)

        await asyncio.gather(*(one(c.ws) for c in list(self.clients.values())))

    async def _broadcast_text(self, text: str) -> None:
        await asyncio.gather(*(self._send(c.ws, text) for c in list(self.clients.values())))

    async def _reply_error(self, ws, message: str) -> None:
        await self._send(ws, encode_control({"type": "error", "data": {"error": message}}))


def _peek_header(data: bytes) -> dict[str, Any]:
    """The JSON header of a safetensors frame, without decoding its tensors."""
    try:
        size = int.from_bytes(data[:8], "little")
        if len(data) < 8 or size <= 0 or size > min(len(data) - 8, 100 * 1024 * 1024):
            raise ValueError("bad header length")
        header = json.loads(bytes(data[8:8 + size]))
        meta = json.loads((header.get("__metadata__") or {}).get("sedna", "{}"))
    except (ValueError, AttributeError, TypeError) as exc:
        raise WireError(f"binary frame is not a safetensors payload: {exc}") from None
    if not isinstance(meta, dict):
        raise WireError("binary frame header is not a JSON object")
    return meta


class AggregationServerV2(AggregationServer):
    """Upstream's Plato-based server surface on our own server (no Plato).

    ``estimator.hyperparameters["rounds"]`` (else env ``exit_round``, else 3) sets the rounds,
    ``chooser.parameters["per_round"]`` (else ``PARTICIPANTS_COUNT``) how many updates close a round,
    ``transmitter`` how payloads travel. With ``aggregation=MistNet(...)`` the constructor returns a
    ``sedna.service.server.mistnet.MistNetServer`` (split learning) instead.
    The final global model is written to ``estimator.saved`` (a file path or directory) if set.
    """

    def __new__(cls, data=None, estimator=None, aggregation=None, transmitter=None, chooser=None, **kwargs: Any):
        # MistNet trains on client features instead of averaging weights: a server of its own (mistnet.py)
        params = getattr(aggregation, "parameters", None) or {}
        if cls is AggregationServerV2 and str(params.get("type", "")).lower() == "mistnet":
            from sedna.service.server.mistnet import MistNetServer

            return MistNetServer(data=data, estimator=estimator, aggregation=aggregation, transmitter=transmitter,
                                 chooser=chooser, **kwargs)
        return super().__new__(cls)

    def __init__(self, data=None, estimator=None, aggregation=None, transmitter=None, chooser=None,
                 **kwargs: Any) -> None:
        from sedna.common.config import Context

        params = dict(getattr(aggregation, "parameters", None) or {"type": "fedavg"})
        if params.get("type", "fedavg") != "fedavg":
            raise ValueError(f"AggregationServerV2 supports aggregation types 'fedavg' and 'mistnet', got "
                             f"{params.get('type')!r}")
        hyper = dict(getattr(estimator, "hyperparameters", None) or {})
        rounds = int(hyper.get("rounds") or Context.get_parameters("exit_round", 3))
        per_round = (getattr(chooser, "parameters", None) or {}).get("per_round")
        participants = int(per_round or Context.get_parameters("PARTICIPANTS_COUNT", 1))
        self.data = data
        self.estimator = estimator
        self.chooser = chooser
        self.saved = getattr(estimator, "saved", None)
        pretrained = getattr(estimator, "pretrained", None)
        super().__init__(aggregation="FedAvgV2", host=os.getenv("AGG_BIND_IP") or "0.0.0.0",
                         http_port=int(os.getenv("AGG_BIND_PORT") or DEFAULT_PORT), exit_round=rounds,
                         participants_count=participants,
                         ws_size=kwargs.pop("ws_size", 512 * 1024 * 1024),
                         transmitter=transmitter or WSTransmitter(), **kwargs)
        if pretrained and self.global_arrays is None and os.path.isfile(str(pretrained)):
            loaded = load_checkpoint(str(pretrained))
            if loaded is not None:
                self.global_arrays = loaded[0]
                logger.info("starting from pretrained model %s", pretrained)

    async def serve(self) -> None:
        await super().serve()
        if self.saved and self.global_arrays is not None:
            path = str(self.saved)
            if os.path.isdir(path) or path.endswith("/"):
                path = os.path.join(path, "global_model.safetensors")
            save_checkpoint(path, self.global_arrays, {"round": self.round, "job_name": self.job_name})
            logger.info("final global model written to %s", path)
