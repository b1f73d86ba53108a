"""Federated-learning training workers (sdk.md §7.1 and §7.4).

``FederatedLearning(estimator, aggregation)`` — each round: train locally, send the weights and sample count
to the aggregation server, wait for the aggregated global model, load it, save it, report the round to the LC;
stop when the server says ``exit_flag == "ok"``.

Differences from upstream (public API unchanged):

- ``job_kind`` is ``federatedlearningjob``, so the LC forwards round reports and the GM shows training
  progress (upstream left it ``default`` and the reports were dropped);
- weights travel as binary safetensors frames, optionally compressed (``AGG_COMPRESSION``);
- a client that joins late starts from the current global model, and a lost connection or server restart is
  survived by reconnecting and resending (see ``AggregationClient.exchange``);
- ``currentRound`` in the report is the server's round number (equal to upstream's local counter except
  for late joiners, for which the server's number is the meaningful one).

``FederatedLearningV2`` keeps upstream's Plato-based surface but runs on the same client/server (no Plato).
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import secrets
import time
from typing import Any

import numpy as np

import sedna.algorithms.aggregation  # noqa: F401  (registers the FL_AGG strategies)
from sedna.algorithms.transmitter import AbstractTransmitter, S3Transmitter, WSTransmitter
from sedna.common.class_factory import ClassFactory, ClassType
from sedna.common.config import BaseConfig, Context
from sedna.common.constant import K8sResourceKind, K8sResourceKindStatus
from sedna.common.file_ops import FileOps
from sedna.core.base import JobBase, resolve_callback
from sedna.service.client.aggregation import AggregationClient, AggregationError

__all__ = ["FederatedLearning", "FederatedLearningV2"]

logger = logging.getLogger(__name__)


def _jsonable_metrics(result: Any) -> Any:
    """Training results as the JSON object the GM copies into the Model's metrics, or None."""
    if not isinstance(result, dict):
        return None
    try:
        return json.loads(json.dumps(result, default=lambda v: v.item() if isinstance(v, np.generic) else str(v)))
    except (TypeError, ValueError):
        return None


def report_time(seconds: float) -> str:
    """Report timestamps as upstream writes them (local time, ``%Y-%m-%d %H:%M:%S``)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def _task_info(round_number: int, total_sample: int, start: float, result: dict[str, Any]) -> dict[str, Any]:
    info = {"currentRound": round_number, "sampleCount": total_sample, "startTime": report_time(start),
            "updateTime": report_time(time.time())}
    if result.get("dropped"):
        info["droppedClients"] = list(result["dropped"])
    return info


class FederatedLearning(JobBase):
    """Federated training worker.

    ``aggregation`` names the registered strategy (and the server path); keyword-only ``compression``
    overrides ``AGG_COMPRESSION`` (none|fp16|topk).
    """

    def __init__(self, estimator: Any, aggregation: str = "FedAvg", *, compression: Any = None) -> None:
        protocol = Context.get_parameters("AGG_PROTOCOL", "ws")
        agg_ip = Context.get_parameters("AGG_IP", "127.0.0.1")
        agg_port = int(Context.get_parameters("AGG_PORT", "7363"))
        agg_uri = f"{protocol}://{agg_ip}:{agg_port}/{aggregation}"
        super().__init__(estimator=estimator,
                         config={"protocol": protocol, "agg_ip": agg_ip, "agg_port": agg_port, "agg_uri": agg_uri})
        self.job_kind = K8sResourceKind.FEDERATED_LEARNING_JOB.value
        self.aggregation = ClassFactory.get_cls(ClassType.FL_AGG, aggregation)
        self.compression = compression
        self.node: AggregationClient | None = None
        self.register(timeout=float(self.get_parameters("CONNECT_TIMEOUT", "300")))

    def register(self, timeout: float = 300) -> None:
        """Connect to the aggregation server, prepare the model folder, instantiate the estimator."""
        logger.info("worker %s connecting to %s", self.worker_name, self.config.agg_uri)
        # CONNECT_TIMEOUT is also the keepalive timeout, as upstream: a server that is busy reading other
        # clients' large updates may not answer pings for a while
        self.node = AggregationClient(url=self.config.agg_uri, client_id=self.worker_name, ping_timeout=timeout,
                                      connect_timeout=timeout, compression=self.compression,
                                      job_name=self.job_name)
        model_url = self.config.model_url
        if model_url and not FileOps.is_remote(str(model_url)):
            directory = str(model_url) if not os.path.splitext(str(model_url))[1] else \
                os.path.dirname(str(model_url))
            if directory:
                os.makedirs(directory, exist_ok=True)
        if inspect.isclass(self.aggregation):
            self.aggregation = self.aggregation()
        if inspect.isclass(self.estimator.estimator) or inspect.isfunction(self.estimator.estimator):
            self.estimator.estimator = self.estimator.estimator()

    def train(self, train_data: Any, valid_data: Any = None, post_process: Any = None, **kwargs: Any) -> Any:
        callback = resolve_callback(post_process)
        node = self.node
        num_samples = len(train_data)
        if node.global_weights is not None:
            logger.info("joining at round %d: starting from the current global model", node.global_round)
            self.estimator.set_weights(node.round_result()["data"]["weights"])
            if node.exit_flag == "ok":
                return self._finish(callback, node.round_result(), time.time(), None)
        while True:
            start = time.time()
            logger.info("federated learning round %d: local training on %d samples", node.global_round + 1,
                        num_samples)
            res = self.estimator.train(train_data=train_data, valid_data=valid_data, **kwargs)
            try:
                result = node.exchange(self.estimator.get_weights(), num_samples, job_name=self.job_name)
            except AggregationError as exc:
                logger.error("round %d failed: %s", node.global_round + 1, exc)
                self.report_task_info({"currentRound": node.global_round, "updateTime": report_time(time.time())},
                                      K8sResourceKindStatus.FAILED.value)
                raise
            data = result["data"]
            logger.info("round %d: global model from %d samples (exit_flag=%s)", data["round_number"],
                        data["total_sample"], data["exit_flag"])
            self.estimator.set_weights(data["weights"])
            if data["exit_flag"] == "ok":
                return self._finish(callback, result, start, res)
            self.report_task_info(_task_info(data["round_number"], data["total_sample"], start, result),
                                  K8sResourceKindStatus.RUNNING.value, self._save(res))

    def _save(self, res: Any) -> list[dict[str, Any]] | None:
        try:
            model_path = self.estimator.save()
        except (OSError, TypeError, ValueError) as exc:
            logger.warning("could not save the model: %s", exc)
            return None
        return self.estimator.model_info(model_path, relpath=self.config.data_path_prefix,
                                         result=_jsonable_metrics(res))

    def _finish(self, callback, result: dict[str, Any], start: float, res: Any) -> Any:
        data = result["data"]
        self.report_task_info(_task_info(data["round_number"], data["total_sample"], start, result),
                              K8sResourceKindStatus.COMPLETED.value, self._save(res))
        logger.info("federated learning finished at round %d", data["round_number"])
        self.node.close()
        return callback(self.estimator) if callback else self.estimator


class FederatedLearningV2(JobBase):
    """Upstream's Plato-based client surface, on our own aggregation client (no Plato).

    - ``data``: an object with ``trainset`` (``(x, y)`` or anything with ``x``/``y``) and optionally
      ``testset``;
    - ``estimator``: an object with ``model`` (``get_weights``/``set_weights`` and ``fit(x, y, ...)``) and
      ``hyperparameters`` (``epochs``, ``batch_size``, ... passed to ``fit`` when it accepts them); an
      ``estimator.train(trainset, **hyperparameters)`` method, if present, is used instead of ``model.fit``;
    - ``aggregation``: ``FedAvgV2()`` (MistNet split learning needs Plato and is refused);
    - ``transmitter``: ``WSTransmitter()`` or ``S3Transmitter(...)`` (``get_transmitter_from_config()``).
    Server address: ``AGG_IP``/``AGG_PORT``; the server path is ``/FedAvgV2``.
    """

    def __init__(self, data: Any = None, estimator: Any = None, aggregation: Any = None,
                 transmitter: AbstractTransmitter | None = None) -> None:
        super().__init__(estimator=None)
        self.job_kind = K8sResourceKind.FEDERATED_LEARNING_JOB.value
        params = dict(getattr(aggregation, "parameters", None) or {"type": "fedavg"})
        if params.get("type", "fedavg") != "fedavg":
            raise ValueError(f"FederatedLearningV2 supports aggregation type 'fedavg'; {params.get('type')!r} "
                             "(MistNet split learning) needs Plato, which this implementation does not use")
        self.data = data
        self.fl_estimator = estimator
        self.aggregation = aggregation
        self.transmitter = transmitter or WSTransmitter()
        self.hyperparameters = dict(getattr(estimator, "hyperparameters", None) or {})
        agg_ip = Context.get_parameters("AGG_IP", "127.0.0.1")
        agg_port = int(Context.get_parameters("AGG_PORT", "7363"))
        self.agg_uri = f"{Context.get_parameters('AGG_PROTOCOL', 'ws')}://{agg_ip}:{agg_port}/FedAvgV2"
        self.client_id = os.getenv("WORKER_NAME") or f"client-{secrets.token_hex(4)}"
        self.node: AggregationClient | None = None
        self.test_results: list[dict[str, Any]] = []

    @classmethod
    def get_transmitter_from_config(cls) -> AbstractTransmitter:
        if str(BaseConfig.transmitter).lower() == "s3":
            return S3Transmitter(s3_endpoint_url=BaseConfig.s3_endpoint_url, access_key=BaseConfig.access_key_id,
                                 secret_key=BaseConfig.secret_access_key,
                                 transmitter_url=BaseConfig.agg_data_path)
        return WSTransmitter()

    @property
    def model(self) -> Any:
        return getattr(self.fl_estimator, "model", None) or self.fl_estimator

    def _local_train(self) -> Any:
        trainset = getattr(self.data, "trainset", None)
        if trainset is None:
            raise ValueError("FederatedLearningV2 needs data.trainset (Plato data sources are not available)")
        train = getattr(self.fl_estimator, "train", None)
        if callable(train):
            return train(trainset, **self.hyperparameters)
        x, y = trainset if isinstance(trainset, tuple) else (trainset.x, trainset.y)
        fit = self.model.fit
        hyper = {k: v for k, v in self.hyperparameters.items() if k not in ("type", "rounds", "target_accuracy")}
        sig = inspect.signature(fit).parameters
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.values()):
            hyper = {k: v for k, v in hyper.items() if k in sig}
        return fit(x, y, **hyper)

    def _num_samples(self) -> int:
        trainset = self.data.trainset
        x = trainset[0] if isinstance(trainset, tuple) else getattr(trainset, "x", trainset)
        return len(x)

    def _test(self, round_number: int) -> None:
        testset = getattr(self.data, "testset", None)
        if testset is None:
            return
        x, y = testset if isinstance(testset, tuple) else (testset.x, testset.y)
        evaluate = getattr(self.fl_estimator, "evaluate", None) or getattr(self.model, "score", None)
        if callable(evaluate):
            score = evaluate(x, y)
            self.test_results.append({"round": round_number, "score": score})
            logger.info("round %d: test score %s", round_number, score)

    def train(self) -> Any:
        timeout = float(Context.get_parameters("CONNECT_TIMEOUT", "300"))
        self.node = AggregationClient(self.agg_uri, self.client_id, ping_timeout=timeout, connect_timeout=timeout,
                                      transmitter=self.transmitter, job_name=self.job_name)
        node = self.node
        if node.global_weights is not None:
            self.model.set_weights(node.round_result()["data"]["weights"])
        while node.exit_flag != "ok":
            start = time.time()
            self._local_train()
            result = node.exchange(self.model.get_weights(), self._num_samples(), job_name=self.job_name)
            data = result["data"]
            self.model.set_weights(data["weights"])
            self._test(data["round_number"])
            status = K8sResourceKindStatus.COMPLETED if data["exit_flag"] == "ok" else K8sResourceKindStatus.RUNNING
            self.report_task_info(_task_info(data["round_number"], data["total_sample"], start, result),
                                  status.value)
        node.close()
        return self.model
