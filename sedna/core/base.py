"""``JobBase``: what every worker feature shares — configuration, the backend-wrapped estimator, the model
path, callbacks, reporting to the LC — and ``ModelHotUpdater``, the model hot-update poller.

Differences from upstream (public API unchanged):

- ``job_name`` is ``JOB_NAME`` when set, else ``SERVICE_NAME``, else ``sedna``. Upstream's ``JOB_NAME``
  default made every JointInferenceService report and serve under ``sedna`` (sdk.md §3 note).
- hot update loads the new model into a *fresh* backend off the request path and swaps it in with one
  assignment; requests already running finish on the old model, and a model that fails to load is rejected
  (the old one stays, the failure is logged and reported as ``kind=deploy, status=failed``).
"""

from __future__ import annotations

import copy
import inspect
import json
import logging
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable
from typing import Any

from sedna.backend import set_backend
from sedna.common.class_factory import ClassFactory, ClassType
from sedna.common.config import BaseConfig, Context
from sedna.common.constant import K8sResourceKind, K8sResourceKindStatus
from sedna.common.file_ops import FileOps
from sedna.common.log import enable_worker_logging
from sedna.service.client.lc import LCClient

__all__ = ["JobBase", "ModelHotUpdater", "build_hard_example_mining", "resolve_callback"]

logger = logging.getLogger(__name__)

DEFAULT_POLL_PERIOD = 60.0


def resolve_callback(post_process: Any) -> Callable | None:
    """A callable as is; a string is looked up as a registered ``ClassType.CALLBACK`` (ValueError if unknown)."""
    if post_process is None or post_process == "":
        return None
    if callable(post_process):
        return post_process
    return ClassFactory.get_cls(ClassType.CALLBACK, post_process)


def _env_job_name(config: Any) -> str:
    explicit = os.environ.get("JOB_NAME", "").strip()
    if explicit:
        return explicit
    configured = getattr(config, "job_name", None)
    if configured and configured != "sedna":  # set through a config dict, not the env default
        return str(configured)
    return getattr(config, "service_name", None) or configured or "sedna"


class JobBase:
    """Common worker behaviour (sdk.md §3). Subclasses set ``job_kind`` and implement ``train``."""

    def __init__(self, estimator: Any, config: dict | None = None):
        enable_worker_logging()
        self.config = BaseConfig()
        if config:
            self.config.from_json(config)
        self.log = logger
        self._estimator_source = estimator
        self.estimator = set_backend(estimator=estimator, config=self.config)
        self.job_kind = K8sResourceKind.DEFAULT.value
        self.job_name = _env_job_name(self.config)
        self.worker_name = self.config.worker_name or self.job_name
        self.namespace = self.config.namespace or self.job_name
        self.lc_server = self.config.lc_server
        self.model_load_mode = self.get_parameters("MODEL_LOAD_MODE", "file")
        self._estimator_lock = threading.Lock()
        self._model_loaded = False
        self.hot_updater: ModelHotUpdater | None = None
        if str(self.get_parameters("MODEL_HOT_UPDATE", "false")).strip().lower() == "true":
            self.hot_updater = ModelHotUpdater(self)
            self.hot_updater.start()

    # -- model location --------------------------------------------------------------------------------------

    @property
    def model_path(self) -> str:
        model_url = self.config.model_url
        if self.model_load_mode != "file" or (model_url and os.path.isfile(str(model_url))):
            return model_url
        explicit = self.get_parameters("model_path")
        if explicit:
            return explicit
        model_name = getattr(self.estimator, "model_name", None) or ""
        return FileOps.join_path(model_url or "", model_name) if model_url else model_name

    def _load_model(self, required: bool = True) -> None:
        """Load ``model_path`` into the estimator; in ``file`` mode a missing file raises FileExistsError
        (upstream's exception type)."""
        path = self.model_path
        if self.model_load_mode == "file" and (not path or not os.path.exists(str(path))):
            if required:
                raise FileExistsError(f"{path} miss")
            return
        self.estimator.load(path)

    # -- estimator swap (hot update) -------------------------------------------------------------------------

    def _new_backend(self) -> Any:
        """A fresh backend around a fresh estimator, for loading a new model beside the serving one."""
        source = self._estimator_source
        if not (inspect.isclass(source) or inspect.isfunction(source)):
            current = getattr(self.estimator, "estimator", source)
            source = copy.deepcopy(current)
        return set_backend(estimator=source, config=self.config)

    def swap_estimator(self, new_backend: Any) -> Any:
        """Replace the serving backend in one assignment; returns the old one."""
        with self._estimator_lock:
            old, self.estimator = self.estimator, new_backend
            # under the lock: a lazy first load (IncrementalLearning.inference) must not run after the swap
            # and load the start-up model into the new backend
            self._model_loaded = True
        return old

    # -- upstream API ----------------------------------------------------------------------------------------

    def train(self, **kwargs: Any) -> Any:
        raise TypeError(f"{type(self).__name__} does not support train")

    def inference(self, x: Any = None, post_process: Any = None, **kwargs: Any) -> Any:
        callback = resolve_callback(post_process)
        res = self.estimator.predict(x, **kwargs)
        return callback(res) if callback else res

    def evaluate(self, data: Any, post_process: Any = None, **kwargs: Any) -> Any:
        callback = resolve_callback(post_process)
        res = self.estimator.evaluate(data=data, **kwargs)
        return callback(res) if callback else res

    def get_parameters(self, param: str, default: Any = None) -> Any:
        return Context.get_parameters(param=param, default=default)

    def report_task_info(self, task_info: Any, status: str, results: Any = None, kind: str = "train") -> Any:
        """POST a worker message to the LC; failures are logged, never raised."""
        message: dict[str, Any] = {
            "name": self.worker_name,
            "namespace": self.namespace,
            "ownerName": self.job_name,
            "ownerKind": self.job_kind,
            "kind": kind,
            "status": status,
        }
        if results:
            message["results"] = results
        if task_info:
            message["ownerInfo"] = task_info
        try:
            answer = LCClient.send(self.lc_server, self.worker_name, message)
        except Exception as err:  # noqa: BLE001 - reporting must never break the job
            logger.error("report to LC %s failed: %s", self.lc_server, err)
            return None
        if answer is None:
            logger.error("LC %s did not accept the %s/%s report", self.lc_server, kind, status)
        return answer


class ModelHotUpdater(threading.Thread):
    """Polls ``MODEL_HOT_UPDATE_CONFIG`` every ``MODEL_POLL_PERIOD_SECONDS`` (default 60; < 1 → 60).

    The file (written by the LC) is ``{"model_config": {"model_path": ..., "model_update_time": ...}}``. A new
    ``model_update_time`` makes the updater copy the model to a private temp dir, load it into a fresh
    backend and swap it in; the result is reported to the LC as ``kind=deploy``.
    """

    def __init__(self, job: JobBase, config_path: str | None = None, period: float | None = None):
        super().__init__(name="model-hot-update", daemon=True)
        self.job = job
        self.config_path = config_path if config_path is not None else job.get_parameters(
            "MODEL_HOT_UPDATE_CONFIG")
        if period is None:
            raw = job.get_parameters("MODEL_POLL_PERIOD_SECONDS", str(DEFAULT_POLL_PERIOD))
            try:
                period = float(raw)
            except ValueError:
                logger.warning("MODEL_POLL_PERIOD_SECONDS=%r is not a number; using %s", raw,
                               DEFAULT_POLL_PERIOD)
                period = DEFAULT_POLL_PERIOD
        self.period = period if period >= 1 else DEFAULT_POLL_PERIOD
        self.current_version: str | None = None
        self.rejected_version: str | None = None
        self.updates = 0
        self.failures = 0
        self._workdir = tempfile.mkdtemp(prefix="sedna-hot-update-")
        self._stop_event = threading.Event()

    def read_config(self) -> tuple[str, str] | None:
        """``(model_path, model_update_time)`` from the config file, or None if absent or malformed."""
        if not self.config_path or not os.path.isfile(self.config_path):
            return None
        try:
            with open(self.config_path, encoding="utf-8") as fh:
                doc = json.load(fh)
            model_config = doc["model_config"]
            path, version = model_config["model_path"], str(model_config["model_update_time"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning("hot-update config %s unreadable: %s", self.config_path, exc)
            return None
        if not path:
            return None
        return str(path), version

    def check_once(self) -> bool | None:
        """One poll: True if a new model was swapped in, False if one was rejected, None if nothing new."""
        config = self.read_config()
        if config is None:
            return None
        model_path, version = config
        if version in (self.current_version, self.rejected_version):
            return None
        safe_version = re.sub(r"[^A-Za-z0-9_.-]", "_", version)[:100] or "v"
        target_dir = os.path.join(self._workdir, safe_version)
        try:
            os.makedirs(target_dir, exist_ok=True)
            local = FileOps.download(model_path, os.path.join(target_dir, os.path.basename(model_path.rstrip("/"))))
            backend = self.job._new_backend()
            backend.load(local)
        except Exception as exc:  # noqa: BLE001 - a broken model must never replace a working one
            self.failures += 1
            self.rejected_version = version
            logger.error("hot update to %s (version %s) rejected, keeping the current model: %s",
                         model_path, version, exc)
            shutil.rmtree(target_dir, ignore_errors=True)
            self.job.report_task_info(None, K8sResourceKindStatus.FAILED.value, kind="deploy")
            return False
        self.job.swap_estimator(backend)
        previous, self.current_version = self.current_version, version
        self.updates += 1
        logger.info("hot update: model %s (version %s) is now serving", model_path, version)
        if previous is not None:
            shutil.rmtree(os.path.join(self._workdir, re.sub(r"[^A-Za-z0-9_.-]", "_", previous)[:100] or "v"),
                          ignore_errors=True)
        self.job.report_task_info(None, K8sResourceKindStatus.COMPLETED.value, kind="deploy")
        return True

    def run(self) -> None:
        if not self.config_path:
            logger.warning("MODEL_HOT_UPDATE is on but MODEL_HOT_UPDATE_CONFIG is not set; not polling")
            return
        # the model present at start-up is the current one; only later changes are hot updates
        initial = self.read_config()
        if initial is not None:
            self.current_version = initial[1]
        while not self._stop_event.wait(self.period):
            try:
                self.check_once()
            except Exception:
                logger.exception("hot-update poll failed")

    def stop(self, timeout: float = 5.0) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout)


def build_hard_example_mining(config: dict | None, default_method: str = "IBT") -> Any:
    """Instantiate the HEM filter of ``{"method": name, "param": dict or JSON string}``; None if no config.

    Importing the HEM package here registers the built-in filters even if ``sedna.algorithms`` was not
    imported.
    """
    import sedna.algorithms.hard_example_mining  # noqa: F401  (registers the built-in filters)

    if not config:
        return None
    method = config.get("method") or default_method
    param = config.get("param") or {}
    if isinstance(param, str):
        try:
            param = json.loads(param) if param.strip() else {}
        except ValueError as exc:
            raise ValueError(f"hard example mining param of {method!r} is not JSON: {exc}") from None
    if not isinstance(param, dict):
        raise TypeError(f"hard example mining param of {method!r} must be an object, got {type(param).__name__}")
    return ClassFactory.get_cls(ClassType.HEM, method)(**param)
