"""MistNet aggregation server: trains the model's upper layers on the clients' cut-layer features.

``AggregationServerV2(aggregation=MistNet(...))`` returns one of these (see ``aggregation.py``). Protocol on
``ws://<AGG_BIND_IP>:<AGG_BIND_PORT>/MistNet`` (frames in ``sedna.algorithms.aggregation.mistnet``):

1. a client sends ``{"type":"subscribe","client_id":...}``; it gets the current model as a
   ``mistnet_model`` binary frame (round 0 = the pretrained model), then the subscribe echo;
2. each round, each client sends one ``mistnet_features`` frame (noisy features + targets of all its local
   batches) tagged with the round it is for; a duplicate is ignored, a stale one answered with the current
   model, a malformed one with an ``error`` naming the problem;
3. when ``per_round`` clients have sent features the server trains the upper layers for ``epochs`` passes
   over the union of their batches (shuffled across clients), writes the model to ``estimator.saved``
   (safetensors, atomic replace) and sends the new model with the round's mean training loss to every
   connected client;
4. after ``rounds`` rounds it exits once no client has been connected for ``AGG_EXIT_GRACE`` seconds.

With ``TRANSMITTER=s3`` the binary frames travel as S3 objects and the websocket carries
``{"type":"weights_ref","url":...}`` references, as for FedAvg.
"""

from __future__ import annotations

import asyncio
import http
import json
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import numpy as np
from websockets.exceptions import ConnectionClosed, WebSocketException

from sedna.algorithms.aggregation.mistnet import (
    SERVER_PATH,
    MistNetSettings,
    MistNetWireError,
    decode_features,
    encode_model,
    forward_from,
    load_state_arrays,
    server_settings,
    state_arrays,
)
from sedna.algorithms.transmitter import AbstractTransmitter, WSTransmitter
from sedna.algorithms.transmitter.transmitter import REF_TYPE
from sedna.algorithms.transmitter.wire import WireError, decode_control, encode_control, fragments
from sedna.common.tensors import TensorFormatError, loads_arrays
from sedna.service.server import agg_auth

__all__ = ["MistNetServer", "load_model_file", "model_file_path", "train_upper_layers"]

logger = logging.getLogger(__name__)

MODEL_FILE = "global_model.safetensors"
DEFAULT_MAX_BYTES = 512 * 1024 * 1024


def model_file_path(url: str) -> str:
    """A model URL with a file extension is the file; otherwise it is a directory holding ``MODEL_FILE``."""
    return url if os.path.splitext(url.rstrip("/"))[1] and not url.endswith("/") else os.path.join(url, MODEL_FILE)


def load_model_file(model: Any, url: str) -> bool:
    """Load a safetensors model (a file, or ``MODEL_FILE`` / the only ``*.safetensors`` in a directory)."""
    path = url
    if os.path.isdir(url):
        candidates = sorted(f for f in os.listdir(url) if f.endswith(".safetensors"))
        path = os.path.join(url, MODEL_FILE if MODEL_FILE in candidates else (candidates[0] if candidates else ""))
    if not os.path.isfile(path):
        return False
    with open(path, "rb") as fh:
        try:
            arrays, _ = loads_arrays(fh.read())
        except TensorFormatError as exc:
            raise ValueError(f"pretrained model {path} is not a safetensors file: {exc}") from None
    load_state_arrays(model, arrays)
    logger.info("loaded model from %s", path)
    return True


def _save_model(url: str, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> str:
    from sedna.service.server.aggregation import save_checkpoint

    path = model_file_path(url)
    save_checkpoint(path, arrays, meta)
    return path


def _loss_fn(estimator: Any, model: Any):
    """``estimator.loss(outputs, targets)``, else ``model.loss(outputs, targets)``, else cross-entropy."""
    for owner in (estimator, model):
        fn = getattr(owner, "loss", None)
        if callable(fn):
            return fn
    import torch.nn.functional as F

    return lambda outputs, targets: F.cross_entropy(outputs, targets.long())


def train_upper_layers(model: Any, batches: list[tuple[np.ndarray, np.ndarray]], settings: MistNetSettings,
                       loss_fn: Any, seed: int = 0) -> list[float]:
    """Train the layers after the cut on ``batches`` for ``settings.epochs`` passes; mean loss per epoch.

    Only parameters that receive gradients through ``forward_from`` change, so the lower layers (which the
    clients use to compute features) stay exactly as they were.
    """
    import torch

    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    name = settings.optimizer.lower()
    if name == "adam":
        opt = torch.optim.Adam(params, lr=settings.learning_rate)
    elif name == "sgd":
        opt = torch.optim.SGD(params, lr=settings.learning_rate, momentum=0.9)
    else:
        raise ValueError(f"optimizer must be SGD or Adam, got {settings.optimizer!r}")
    rng = np.random.default_rng(seed)
    tensors = [(torch.from_numpy(np.array(f)), torch.from_numpy(np.array(t))) for f, t in batches]
    losses = []
    for _ in range(settings.epochs):
        total, count = 0.0, 0
        for i in rng.permutation(len(tensors)):
            features, targets = tensors[i]
            opt.zero_grad()
            loss = loss_fn(forward_from(model, features, settings.cut_layer), targets)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(features)
            count += len(features)
        losses.append(total / max(count, 1))
    model.eval()
    return losses


@dataclass
class _Client:
    client_id: str
    ws: Any
    connected_at: float = field(default_factory=time.time)


class MistNetServer:
    """The MistNet side of ``AggregationServerV2``; ``start()`` blocks until the last round is served."""

    def __init__(self, data: Any = None, estimator: Any = None, aggregation: Any = None,
                 transmitter: AbstractTransmitter | None = None, chooser: Any = None, *,
                 token: str | None = None, job_name: str | None = None, exit_grace: float | None = None,
                 max_message_bytes: int | None = None) -> None:
        self.settings = server_settings(estimator, aggregation, transmitter, chooser)
        self.data = data
        self.estimator = estimator
        self.aggregation = aggregation
        self.chooser = chooser
        self.transmitter = transmitter or WSTransmitter()
        self.model = getattr(estimator, "model", None)
        if self.model is None or not hasattr(self.model, "state_dict"):
            raise ValueError("MistNet needs estimator.model, a torch.nn.Module (Plato's model registry is not used)")
        self.loss_fn = _loss_fn(estimator, self.model)
        if self.settings.pretrained and not load_model_file(self.model, str(self.settings.pretrained)):
            logger.warning("pretrained model %s not found; starting from the model as constructed",
                           self.settings.pretrained)
        self.model.eval()
        self.host, self.http_port = self.settings.host, self.settings.port
        self.port: int | None = None
        self.token = token if token is not None else (os.getenv("AGG_TOKEN") or None)
        self.job_name = job_name if job_name is not None else os.getenv("JOB_NAME", "")
        self.exit_grace = float(exit_grace if exit_grace is not None else os.getenv("AGG_EXIT_GRACE") or 5.0)
        self.max_message_bytes = int(max_message_bytes or os.getenv("AGG_MAX_MESSAGE_BYTES") or DEFAULT_MAX_BYTES)
        self.round = 0
        self.total_sample = 0
        self.losses: list[float] = []        # mean training loss of the last epoch, per round
        self.features_received: list[dict[str, Any]] = []   # header + tensor names of every accepted frame
        self.saved_path: str | None = None
        self.bytes_received = 0
        self.bytes_sent = 0
        self.clients: dict[str, _Client] = {}
        self._features: dict[str, tuple[list[tuple[np.ndarray, np.ndarray]], int]] = {}
        self._frame_cache: tuple[int, bytes | str] | None = None
        self._empty_since = time.monotonic()
        self._lock: asyncio.Lock | None = None
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()

    @property
    def finished(self) -> bool:
        return self.round >= self.settings.rounds

    # ---- lifecycle ----------------------------------------------------------------------------------------
    def start(self) -> None:
        asyncio.run(self.serve())

    def start_background(self, timeout: float = 10.0) -> threading.Thread:
        thread = threading.Thread(target=self.start, name="mistnet-server", daemon=True)
        thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("MistNet server did not start")
        return thread

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    async def serve(self) -> None:
        from websockets.asyncio.server import serve

        self._loop = asyncio.get_running_loop()
        self._lock = asyncio.Lock()
        self._stop = asyncio.Event()
        async with serve(self._handle, self.host, self.http_port, process_request=self._process_request,
                         max_size=self.max_message_bytes, compression=None, ping_interval=20,
                         ping_timeout=300) as server:
            self.port = server.sockets[0].getsockname()[1]
            logger.info("MistNet server on ws://%s:%d/%s (rounds=%d, clients per round=%d, cut_layer=%d, "
                        "epsilon=%g)", self.host, self.port, SERVER_PATH, self.settings.rounds,
                        self.settings.per_round, self.settings.cut_layer, self.settings.epsilon)
            self._ready.set()
            ticker = asyncio.create_task(self._tick())
            try:
                await self._stop.wait()
            finally:
                ticker.cancel()
        logger.info("MistNet server stopped after round %d", self.round)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(0.2)
            now = time.monotonic()
            if self.clients:
                self._empty_since = now
            elif self.finished and now - self._empty_since >= self.exit_grace:
                logger.info("all %d rounds done and no client connected: exiting", self.settings.rounds)
                self._stop.set()
                return

    def _process_request(self, connection, request):
        parsed = urlparse(request.path)
        if parsed.path.rstrip("/") != f"/{SERVER_PATH}":
            return connection.respond(http.HTTPStatus.NOT_FOUND, f"no aggregation at {parsed.path}\n")
        if self.token and not secrets.compare_digest(request.headers.get("Authorization", "").encode(),
                                                     f"Bearer {self.token}".encode()):
            return connection.respond(http.HTTPStatus.UNAUTHORIZED, "missing or wrong bearer token\n")
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return None
        body = {"clients": sorted(self.clients), "round": self.round, "exit_round": self.settings.rounds,
                "losses": self.losses}
        response = connection.respond(http.HTTPStatus.OK, json.dumps(body))
        response.headers["Content-Type"] = "application/json"
        return response

    # ---- websocket side -----------------------------------------------------------------------------------
    async def _handle(self, ws) -> None:
        client: _Client | None = None
        try:
            async for frame in ws:
                self.bytes_received += len(frame)
                if isinstance(frame, bytes):
                    await self._on_features(ws, client, frame)
                    continue
                try:
                    message = decode_control(frame)
                except WireError as exc:
                    await self._reply_error(ws, str(exc))
                    continue
                if message["type"] == "subscribe":
                    client = await self._subscribe(ws, message, client)
                elif message["type"] == REF_TYPE:
                    try:
                        payload = await asyncio.to_thread(self.transmitter.unpack, message, self.max_message_bytes)
                    except WireError as exc:
                        await self._reply_error(ws, str(exc))
                        continue
                    await self._on_features(ws, client, payload)
                else:
                    await self._reply_error(ws, f"unexpected message type {message['type']!r} on the MistNet "
                                                "server (clients send subscribe and mistnet_features)")
        except ConnectionClosed:
            logger.debug("connection closed")
        finally:
            if client is not None and self.clients.get(client.client_id) is client:
                del self.clients[client.client_id]
                logger.info("client %s disconnected", client.client_id)

    async def _subscribe(self, ws, message: dict[str, Any], current: _Client | None) -> _Client | None:
        client_id = str(message.get("client_id") or current and current.client_id or secrets.token_hex(8))
        try:   # the id is bound to its first connection, as on the FedAvg server (docs/security.md)
            agg_auth.check_subscribe(self.clients, client_id, ws, current)
        except agg_auth.SubscribeRefused as exc:
            await self._reply_error(ws, exc.reason)
            await ws.close(exc.code, exc.reason[:120])
            return current
        client = _Client(client_id, ws)
        self.clients[client_id] = client
        await self._send(ws, await self._model_message())
        await self._send(ws, encode_control({"type": "subscribe", "client_id": client_id}))
        logger.info("client %s subscribed (round %d)", client_id, self.round)
        return client

    async def _on_features(self, ws, client: _Client | None, data: bytes) -> None:
        if client is None:
            await self._reply_error(ws, "send subscribe before features")
            return
        async with self._lock:
            try:
                batches, meta = await asyncio.to_thread(decode_features, data, self.max_message_bytes)
                update_round = int(meta.get("round", -1))
                num_samples = int(meta.get("num_samples", 0))
            except (MistNetWireError, TypeError, ValueError) as exc:
                logger.warning("rejected features from %s: %s", client.client_id, exc)
                await self._reply_error(ws, str(exc))
                return
            if self.finished or update_round <= self.round:
                await self._send(ws, await self._model_message())
                return
            if update_round > self.round + 1:
                await self._reply_error(ws, f"features for round {update_round} but the next round is "
                                            f"{self.round + 1}")
                return
            if client.client_id in self._features:
                await self._send(ws, encode_control({"type": "ignored", "data": {"reason": "duplicate features",
                                                                                 "round": update_round}}))
                return
            self._features[client.client_id] = (batches, num_samples)
            self.features_received.append({"client": client.client_id, "meta": meta,
                                            "shapes": [list(f.shape) for f, _ in batches], "bytes": len(data)})
            logger.info("round %d: features %d/%d from %s (%d samples in %d batches, %d bytes)", update_round,
                        len(self._features), self.settings.per_round, client.client_id, num_samples,
                        len(batches), len(data))
            if len(self._features) >= self.settings.per_round:
                await self._close_round()

    async def _close_round(self) -> None:
        batches = [b for client_batches, _ in self._features.values() for b in client_batches]
        participants = sorted(self._features)
        self.total_sample = sum(n for _, n in self._features.values())
        self._features = {}
        started = time.monotonic()
        losses = await asyncio.to_thread(train_upper_layers, self.model, batches, self.settings, self.loss_fn,
                                         self.round)
        self.round += 1
        self.losses.append(losses[-1])
        logger.info("round %d: trained the layers after cut %d on %d batches from %s for %d epochs in %.1f s; "
                    "loss %.4f -> %.4f", self.round, self.settings.cut_layer, len(batches), ", ".join(participants),
                    self.settings.epochs, time.monotonic() - started, losses[0], losses[-1])
        print(f"MistNet round {self.round}: loss {losses[-1]:.4f}", flush=True)
        if self.settings.saved:
            try:
                self.saved_path = await asyncio.to_thread(
                    _save_model, str(self.settings.saved), state_arrays(self.model),
                    {"round": self.round, "job_name": self.job_name, "loss": losses[-1]})
                logger.info("round %d model written to %s", self.round, self.saved_path)
            except OSError as exc:
                logger.error("could not write the model to %s: %s", self.settings.saved, exc)
        frame = await self._model_message(participants)
        await asyncio.gather(*(self._send(c.ws, frame) for c in list(self.clients.values())))

    async def _model_message(self, participants: list[str] | None = None) -> bytes | str:
        """The current model as a ``mistnet_model`` frame, encoded (and stored, for S3) once per round."""
        if self._frame_cache is None or self._frame_cache[0] != self.round:
            fields = {"round_number": self.round, "exit_flag": "ok" if self.finished else "continue",
                      "total_sample": self.total_sample, "job_name": self.job_name,
                      "loss": self.losses[-1] if self.losses else None, "participants": participants or []}
            arrays = state_arrays(self.model)
            payload = await asyncio.to_thread(encode_model, arrays, fields)
            key = f"{self.job_name or 'sedna'}/mistnet/model-round-{self.round:05d}.safetensors"
            frame = await asyncio.to_thread(self.transmitter.pack, payload, key)
            self._frame_cache = (self.round, frame)
        return self._frame_cache[1]

    async def _send(self, ws, frame: bytes | str) -> None:
        try:
            await ws.send(fragments(frame))
            self.bytes_sent += len(frame)
        except (OSError, WebSocketException) as exc:
            logger.debug("send failed: %s", exc)

    async def _reply_error(self, ws, message: str) -> None:
        await self._send(ws, encode_control({"type": "error", "data": {"error": message}}))

