"""MistNet training worker: ``FederatedLearningV2(..., aggregation=MistNet(...))`` is one of these.

Each round the worker runs the first ``cut_layer`` layers of the current model over its local data, adds
Laplace noise of scale ``sensitivity / epsilon`` to the features, and sends only those features and the
labels (``mistnet_features`` frame, see ``sedna.algorithms.aggregation.mistnet``) to the MistNet server at
``AGG_IP``/``AGG_PORT``; weights and raw inputs never leave the worker. It then waits for the model the
server trained on all clients' features, loads it and reports the round to the LC.

The websocket connection is re-established (and the round's features resent) if it drops, within
``CONNECT_TIMEOUT`` seconds; the server ignores duplicates.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from typing import Any

import numpy as np
from websockets.exceptions import WebSocketException

from sedna.algorithms.aggregation.mistnet import (
    MODEL_TYPE,
    SERVER_PATH,
    MistNetWireError,
    client_settings,
    decode_model,
    encode_features,
    forward_to,
    laplace_noise,
    load_state_arrays,
)
from sedna.algorithms.transmitter import WSTransmitter
from sedna.algorithms.transmitter.transmitter import REF_TYPE
from sedna.algorithms.transmitter.wire import WireError, decode_control, encode_control, fragments
from sedna.common.config import Context
from sedna.common.constant import K8sResourceKind, K8sResourceKindStatus
from sedna.core.base import JobBase
from sedna.core.federated_learning.federated_learning import FederatedLearningV2
from sedna.service.client.aggregation import AggregationError

__all__ = ["MistNetClient", "local_batches"]

logger = logging.getLogger(__name__)

_CONNECTION_ERRORS = (OSError, EOFError, TimeoutError, WebSocketException)
RETRY_INTERVAL = 1.0


def local_batches(data: Any, batch_size: int):
    """The worker's training batches as ``(inputs, targets)`` tensors.

    ``data.trainset`` may be ``(x, y)`` arrays/tensors or a torch ``Dataset`` (its ``collate_fn``, if any,
    forms the batches); without a trainset, ``data.parameters`` with ``datasource: "YOLO"`` reads a YOLO
    directory (``train_path``, else ``data_path``) with :class:`sedna.datasources.yolo.YoloDirDataset`.
    """
    import torch
    from torch.utils.data import DataLoader

    trainset = getattr(data, "trainset", None)
    if trainset is None:
        params = dict(getattr(data, "parameters", None) or {})
        if str(params.get("datasource", "")).upper() != "YOLO":
            raise ValueError("MistNet needs data.trainset, or data.parameters with datasource 'YOLO' "
                             f"(got datasource {params.get('datasource')!r})")
        from sedna.datasources.yolo import YoloDirDataset

        path = params.get("train_path") or params.get("data_path")
        if not path:
            raise ValueError("data.parameters needs train_path (or data_path) for datasource 'YOLO'")
        trainset = YoloDirDataset(path, image_size=int(params.get("image_size", 640)))
    if isinstance(trainset, tuple):
        x, y = (torch.as_tensor(np.asarray(v)) if not isinstance(v, torch.Tensor) else v for v in trainset)
        for start in range(0, len(x), batch_size):
            yield x[start:start + batch_size], y[start:start + batch_size]
        return
    loader = DataLoader(trainset, batch_size=batch_size, shuffle=False,
                        collate_fn=getattr(data, "collate_fn", None) or getattr(trainset, "collate_fn", None))
    yield from loader


class MistNetClient(FederatedLearningV2):
    """MistNet side of ``FederatedLearningV2`` (same constructor; created by ``FederatedLearningV2`` itself)."""

    def __init__(self, data: Any = None, estimator: Any = None, aggregation: Any = None,
                 transmitter: Any = None) -> None:
        JobBase.__init__(self, estimator=None)
        self.job_kind = K8sResourceKind.FEDERATED_LEARNING_JOB.value
        self.settings = client_settings(estimator, aggregation, transmitter)
        self.data = data
        self.fl_estimator = estimator
        self.aggregation = aggregation
        self.transmitter = transmitter or WSTransmitter()
        self.hyperparameters = dict(getattr(estimator, "hyperparameters", None) or {})
        if getattr(estimator, "model", None) is None or not hasattr(estimator.model, "state_dict"):
            raise ValueError("MistNet needs estimator.model, a torch.nn.Module (Plato's model registry is not used)")
        self.agg_uri = f"{Context.get_parameters('AGG_PROTOCOL', 'ws')}://{self.settings.host}:" \
                       f"{self.settings.port}/{SERVER_PATH}"
        self.client_id = os.getenv("WORKER_NAME") or f"client-{secrets.token_hex(4)}"
        self.connect_timeout = float(Context.get_parameters("CONNECT_TIMEOUT", "300"))
        self.token = os.getenv("AGG_TOKEN") or None
        self.max_size = int(os.getenv("AGG_MAX_MESSAGE_BYTES") or 512 * 1024 * 1024)
        self.rng = np.random.default_rng()
        self.ws = None
        self.round = 0
        self.exit_flag = "continue"
        self.losses: list[float] = []
        self.bytes_sent: list[int] = []     # features frame size per round
        self.test_results: list[dict[str, Any]] = []

    # ---- features -----------------------------------------------------------------------------------------
    def extract_features(self) -> tuple[list[tuple[np.ndarray, np.ndarray]], int]:
        """Noisy cut-layer features and targets of every local batch, and the number of samples."""
        import torch

        model = self.model
        model.eval()
        batches, samples = [], 0
        with torch.no_grad():
            for inputs, targets in local_batches(self.data, self.settings.batch_size):
                features = forward_to(model, inputs, self.settings.cut_layer).detach().cpu().numpy()
                noisy = laplace_noise(features, self.settings.epsilon, self.settings.sensitivity, self.rng)
                batches.append((noisy, np.asarray(targets)))
                samples += len(inputs)
        if not batches:
            raise ValueError("MistNet worker has no training data")
        return batches, samples

    # ---- connection ---------------------------------------------------------------------------------------
    def _connect(self) -> None:
        from websockets.exceptions import InvalidStatus
        from websockets.sync.client import connect

        deadline = time.monotonic() + self.connect_timeout
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        while True:
            try:
                self.ws = connect(self.agg_uri, additional_headers=headers, max_size=self.max_size,
                                  open_timeout=min(30.0, max(1.0, deadline - time.monotonic())),
                                  ping_interval=20, ping_timeout=self.connect_timeout, compression=None,
                                  proxy=None, close_timeout=5)
                self.ws.send(encode_control({"type": "subscribe", "client_id": self.client_id}))
                while True:
                    message = self._on_frame(self.ws.recv(timeout=max(1.0, deadline - time.monotonic())))
                    if message and message.get("type") == "subscribe":
                        logger.info("subscribed to %s as %s (round %d)", self.agg_uri, self.client_id, self.round)
                        return
            except InvalidStatus as exc:
                if exc.response.status_code in (401, 403, 404):
                    raise AggregationError(f"server refused {self.agg_uri}: HTTP {exc.response.status_code}") \
                        from None
                error: Exception = exc
            except _CONNECTION_ERRORS as exc:
                error = exc
            self._close_ws()
            if time.monotonic() + RETRY_INTERVAL > deadline:
                raise AggregationError(f"cannot connect to {self.agg_uri} within {self.connect_timeout:.0f} s: "
                                       f"{error}")
            logger.info("MistNet server %s not reachable (%s); retrying", self.agg_uri, error)
            time.sleep(RETRY_INTERVAL)

    def _close_ws(self) -> None:
        if self.ws is not None:
            try:
                self.ws.close()
            except _CONNECTION_ERRORS:
                pass
        self.ws = None

    def _on_frame(self, frame: bytes | str) -> dict[str, Any] | None:
        """Apply a model frame (load it if newer); return control messages to the caller."""
        if isinstance(frame, str):
            try:
                message = decode_control(frame, max_bytes=self.max_size)
            except WireError as exc:
                logger.warning("ignoring malformed control frame: %s", exc)
                return None
            if message["type"] != REF_TYPE:
                return message
            frame = self.transmitter.unpack(message, self.max_size)
        try:
            arrays, meta = decode_model(bytes(frame), self.max_size)
        except MistNetWireError as exc:
            logger.warning("ignoring frame: %s", exc)
            return None
        round_number = int(meta.get("round_number", 0))
        if round_number >= self.round:
            load_state_arrays(self.model, arrays)
            self.round = round_number
            self.exit_flag = meta.get("exit_flag", "continue")
            if meta.get("loss") is not None and round_number > 0:
                self.losses.append(float(meta["loss"]))
        return {"type": MODEL_TYPE, **meta}

    def _send(self, frame: bytes | str) -> None:
        deadline = time.monotonic() + self.connect_timeout
        while True:
            try:
                if self.ws is None:
                    self._connect()
                self.ws.send(fragments(frame))
                return
            except _CONNECTION_ERRORS as exc:
                if time.monotonic() > deadline:
                    raise AggregationError(f"cannot send to {self.agg_uri}: {exc}") from None
                logger.warning("send failed (%s); reconnecting", exc)
                self._close_ws()

    def _exchange(self, frame: bytes | str, update_round: int) -> None:
        """Send this round's features; return once the model of that round (or a later one) is loaded."""
        self._send(frame)
        while self.round < update_round:
            try:
                raw = self.ws.recv(timeout=5.0)
            except TimeoutError:
                continue
            except _CONNECTION_ERRORS as exc:
                logger.warning("connection to %s lost (%s); reconnecting", self.agg_uri, exc)
                self._close_ws()
                self._connect()
                if self.round < update_round:
                    self._send(frame)
                continue
            message = self._on_frame(raw)
            if message and message.get("type") == "error":
                raise AggregationError(f"server rejected the features: {(message.get('data') or {}).get('error')}")

    # ---- upstream API -------------------------------------------------------------------------------------
    def train(self) -> Any:
        self._connect()
        while self.exit_flag != "ok":
            start = time.time()
            update_round = self.round + 1
            batches, samples = self.extract_features()
            payload = encode_features(batches, {"client": self.client_id, "job_name": self.job_name,
                                                "round": update_round, "num_samples": samples,
                                                "cut_layer": self.settings.cut_layer,
                                                "epsilon": self.settings.epsilon})
            self.bytes_sent.append(len(payload))
            key = f"{self.job_name or 'sedna'}/mistnet/round-{update_round:05d}/{self.client_id}.safetensors"
            logger.info("round %d: sending features of %d samples (%d batches, %d bytes)", update_round, samples,
                        len(batches), len(payload))
            self._exchange(self.transmitter.pack(payload, key), update_round)
            loss = self.losses[-1] if self.losses else None
            logger.info("round %d: model received (server training loss %s)", self.round, loss)
            self._test(self.round)
            status = K8sResourceKindStatus.COMPLETED if self.exit_flag == "ok" else K8sResourceKindStatus.RUNNING
            info = {"currentRound": self.round, "sampleCount": samples, "startTime": str(start),
                    "updateTime": str(time.time())}
            if loss is not None:
                info["loss"] = loss
            self.report_task_info(info, status.value)
        self._close_ws()
        return self.model
