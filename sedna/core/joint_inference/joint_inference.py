"""Joint inference: a little model on the edge answers every request and sends the hard ones to a big model
in the cloud.

``BigModelService`` (cloud) serves its estimator with :class:`~sedna.service.server.InferenceServer`;
``JointInference`` (edge) predicts locally, asks its hard-example-mining filter whether to offload, and calls
the cloud through :class:`~sedna.service.client.ModelClient`. Counts go to the LC every ``LC_PERIOD`` seconds.

Differences from upstream (API unchanged):

- a cloud call that fails or times out never fails the request: the edge result is returned, the failure is
  counted (``ownerInfo.failedOffloadNumber``), and a repeatedly failing cloud is skipped for a few seconds;
- arrays travel as ``application/x-npy`` when the big model server advertises it (JSON lists otherwise);
- a hard example counts as one inference (upstream counted it twice), so ``uploadCloudRatio`` is the share
  of requests sent to the cloud;
- in ``mining-then-inference`` mode a failed cloud call falls back to the edge model.
"""

from __future__ import annotations

import copy
import logging
import time
from typing import Any

from sedna.common.constant import K8sResourceKind
from sedna.common.utils import get_host_ip
from sedna.core.base import JobBase, build_hard_example_mining, resolve_callback
from sedna.service.client.lc import LCReporter
from sedna.service.client.model import ModelClient, ModelClientError
from sedna.service.server.inference import InferenceServer

__all__ = ["BigModelService", "JointInference"]

logger = logging.getLogger(__name__)

INFERENCE_THEN_MINING = "inference-then-mining"
MINING_THEN_INFERENCE = "mining-then-inference"
FAILURE_LOG_INTERVAL = 10.0


class BigModelService(JobBase):
    """The cloud side: ``start()`` loads the model and serves it (blocking)."""

    def __init__(self, estimator: Any = None):
        super().__init__(estimator=estimator)
        self.local_ip = self.get_parameters("BIG_MODEL_BIND_IP", get_host_ip())
        self.port = int(self.get_parameters("BIG_MODEL_BIND_PORT", "5000"))
        self.server: InferenceServer | None = None

    def _build_server(self) -> InferenceServer:
        self._load_model()
        self._model_loaded = True
        self.server = InferenceServer(model=self, servername=self.job_name, host=self.local_ip,
                                      http_port=self.port)
        return self.server

    def start(self) -> None:
        """Load the model (FileExistsError if missing in ``file`` mode) and serve until stopped."""
        self._build_server().start()

    def start_background(self) -> InferenceServer:
        """Our addition: serve in a thread; returns the running server (``.port``, ``.stop()``)."""
        return self._build_server().start_background()

    def inference(self, data: Any = None, post_process: Any = None, **kwargs: Any) -> Any:
        callback = resolve_callback(post_process)
        estimator = self.estimator
        res = estimator.predict(data, **kwargs)
        return callback(res) if callback else res


class JointInference(JobBase):
    """The edge side. ``inference(data)`` → ``[is_hard_example, result, edge_result, cloud_result]``."""

    def __init__(self, estimator: Any = None, hard_example_mining: dict | None = None):
        super().__init__(estimator=estimator)
        self.job_kind = K8sResourceKind.JOINT_INFERENCE_SERVICE.value
        self.local_ip = get_host_ip()
        self.remote_ip = self.get_parameters("BIG_MODEL_IP", self.local_ip)
        self.port = int(self.get_parameters("BIG_MODEL_PORT", "5000"))
        report_msg = {
            "name": self.worker_name,
            "namespace": self.namespace,
            "ownerName": self.job_name,
            "ownerKind": self.job_kind,
            "kind": "inference",
            "results": [],
        }
        period_interval = float(self.get_parameters("LC_PERIOD", "30"))
        self.lc_reporter = LCReporter(lc_server=self.config.lc_server, message=report_msg,
                                      period_interval=period_interval)
        self.lc_reporter.start()
        self._load_model()
        self._model_loaded = True
        self.cloud = ModelClient(service_name=self.job_name, host=self.remote_ip, port=self.port)
        if not hard_example_mining:
            hard_example_mining = self.get_hem_algorithm_from_config()
        self.hard_example_mining_algorithm = build_hard_example_mining(hard_example_mining)
        self._last_failure_log = float("-inf")

    @classmethod
    def get_hem_algorithm_from_config(cls, **param: Any) -> dict:
        """``{"method": HEM_NAME, "param": {HEM_PARAMETERS..., **param}}`` or ``{}``."""
        from sedna.common.config import Context

        return Context.get_algorithm_from_api(algorithm="HEM", **param)

    @property
    def failed_offload_number(self) -> int:
        return self.lc_reporter.failed_offload_number

    def _edge(self, data: Any, callback: Any, **kwargs: Any) -> tuple[Any, Any]:
        edge_result = self.estimator.predict(data, **kwargs)
        res = callback(copy.deepcopy(edge_result)) if callback else edge_result
        return res, edge_result

    def _cloud(self, data: Any, post_process: Any, **kwargs: Any) -> dict | None:
        """The big model's whole answer (``{"result": ...}``), or None after counting the failure."""
        body_kwargs = dict(kwargs)
        if post_process is not None and not callable(post_process):
            body_kwargs["post_process"] = post_process
        try:
            return self.cloud.predict_or_raise(data, **body_kwargs)
        except ModelClientError as exc:
            self.lc_reporter.update_for_failed_offload()
            now = time.monotonic()
            if now - self._last_failure_log >= FAILURE_LOG_INTERVAL:  # one line per interval, not per frame
                self._last_failure_log = now
                logger.warning("cloud inference failed, using the edge result (%d failures so far): %s",
                               self.lc_reporter.failed_offload_number, exc)
            return None

    def inference(self, data: Any = None, post_process: Any = None, **kwargs: Any) -> list:
        callback = resolve_callback(post_process)
        mode = self.get_parameters("MINING_MODE", INFERENCE_THEN_MINING)
        hem = self.hard_example_mining_algorithm
        is_hard_example = False
        edge_result = cloud_result = None
        if mode == INFERENCE_THEN_MINING:
            res, edge_result = self._edge(data, callback, **kwargs)
            if hem is not None:
                is_hard_example = bool(hem(res))
            if is_hard_example:
                self.lc_reporter.update_for_collaboration_inference()
                answer = self._cloud(data, post_process, **kwargs)
                if answer is not None:
                    cloud_result = answer["result"]
                    res = cloud_result
            else:
                self.lc_reporter.update_for_edge_inference()
        elif mode == MINING_THEN_INFERENCE:
            if hem is None:
                raise ValueError("MINING_MODE=mining-then-inference needs a hard example mining algorithm")
            is_hard_example = bool(hem(data))
            answer = None
            if is_hard_example:
                self.lc_reporter.update_for_collaboration_inference()
                answer = self._cloud(data, post_process, **kwargs)
            else:
                self.lc_reporter.update_for_edge_inference()
            if answer is not None:
                res = cloud_result = answer
            else:
                res, edge_result = self._edge(data, callback, **kwargs)
        else:
            raise ValueError(f"MINING_MODE {mode!r} is not one of {INFERENCE_THEN_MINING!r}, "
                             f"{MINING_THEN_INFERENCE!r}")
        return [is_hard_example, res, edge_result, cloud_result]

    def close(self) -> None:
        """Our addition: send the last counts and release connections."""
        self.lc_reporter.stop(flush=True)
        self.cloud.close()
