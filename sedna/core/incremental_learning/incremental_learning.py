"""Incremental learning worker: ``train`` (new model from a base model and new samples), ``evaluate`` (old
and new model on the eval samples) and ``inference`` (serving the deployed model, flagging hard examples).

Train and eval results (model URLs and metrics) are reported to the LC, which drives the job's next stage.
With ``MODEL_HOT_UPDATE=true`` (set by the GM when ``deploySpec.model.hotUpdateEnabled``) the inference worker
swaps in each model the LC announces (see :class:`sedna.core.base.ModelHotUpdater`).

Differences from upstream (API unchanged): ``train`` also accepts a callable ``post_process``; a training
error is reported as ``status=failed`` before it is raised; ``evaluate`` logs an error when the metrics are not
a JSON object (the GM drops such reports; they are still sent unchanged).
"""

from __future__ import annotations

import copy
import logging
import os
from typing import Any

from sedna.common.config import Context
from sedna.common.constant import K8sResourceKind, K8sResourceKindStatus
from sedna.common.file_ops import FileOps
from sedna.core.base import JobBase, build_hard_example_mining, resolve_callback

__all__ = ["IncrementalLearning"]

logger = logging.getLogger(__name__)


class IncrementalLearning(JobBase):
    """``IncrementalLearning(estimator, hard_example_mining=None)``."""

    def __init__(self, estimator: Any, hard_example_mining: dict | None = None):
        super().__init__(estimator=estimator)
        self.model_urls = self.get_parameters("MODEL_URLS")
        self.job_kind = K8sResourceKind.INCREMENTAL_JOB.value
        model_url = self.config.model_url
        # the train worker's MODEL_URL is an output folder that may not exist yet; a model file path (an
        # inference worker's) is left alone, where upstream would create a directory of that name
        if (model_url and not FileOps.is_remote(str(model_url)) and not os.path.exists(str(model_url))
                and not os.path.splitext(str(model_url).rstrip("/"))[1]):
            FileOps.clean_folder([str(model_url)], clean=False)
        if not hard_example_mining:
            hard_example_mining = self.get_hem_algorithm_from_config()
        self.hard_example_mining_algorithm = build_hard_example_mining(hard_example_mining)

    @classmethod
    def get_hem_algorithm_from_config(cls, **param: Any) -> dict:
        return Context.get_algorithm_from_api(algorithm="HEM", **param)

    def train(self, train_data: Any, valid_data: Any = None, post_process: Any = None, **kwargs: Any) -> Any:
        """Train, save to ``model_path``, report ``{format, url, metrics}`` as ``kind=train``; returns the
        estimator (or ``post_process(estimator)``)."""
        callback = resolve_callback(post_process)
        try:
            res = self.estimator.train(train_data=train_data, valid_data=valid_data, **kwargs)
            model_paths = self.estimator.save(self.model_path)
        except Exception:
            logger.exception("training failed")
            self.report_task_info(None, K8sResourceKindStatus.FAILED.value, kind="train")
            raise
        task_info_res = self._model_info(model_paths, res)
        self.report_task_info(None, K8sResourceKindStatus.COMPLETED.value, task_info_res, kind="train")
        return callback(self.estimator) if callback else self.estimator

    def evaluate(self, data: Any, post_process: Any = None, **kwargs: Any) -> list[dict]:
        """Evaluate every model of ``MODEL_URLS`` (``;``-separated; else ``MODEL_URL``); report ``kind=eval``."""
        callback = resolve_callback(post_process)
        model_urls = self.model_urls.split(";") if self.model_urls else [self.config.model_url]
        models_info = []
        for model_url in model_urls:
            if not model_url or not str(model_url).strip():
                continue
            model_url = str(model_url).strip()
            self.estimator.model_save_path = model_url
            res = self.estimator.evaluate(data=data, model_path=model_url, **kwargs)
            if callback:
                res = callback(res)
            if res is not None and not isinstance(res, dict):
                logger.error("evaluate of %s returned %s, not a metric->values object; the GM will drop "
                             "this report", model_url, type(res).__name__)
            info = self._model_info(model_url, res)[0]
            models_info.append(info)
        self.report_task_info(None, K8sResourceKindStatus.COMPLETED.value, models_info, kind="eval")
        return models_info

    def _model_info(self, model: str, result: Any) -> list[dict]:
        """The backend's ``model_info`` with URLs as host paths: ``<DATA_PATH_PREFIX>/out/m.pb`` → ``/out/m.pb``
        (sdk.md §6.2; the GM and LC speak in host paths, so the leading ``/`` must stay)."""
        infos = self.estimator.model_info(model, result=result, relpath=self.config.data_path_prefix)
        prefix = str(self.config.data_path_prefix or "").rstrip("/")
        if prefix and str(model).startswith(prefix + "/") and len(infos) == 1:
            infos[0]["url"] = str(model)[len(prefix):]
        return infos

    def inference(self, data: Any = None, post_process: Any = None, **kwargs: Any) -> tuple[Any, Any, bool]:
        """``(infer_res, res, is_hard_example)``; the model at ``model_path`` is loaded on first use."""
        callback = resolve_callback(post_process)
        if not self._model_loaded:
            with self._estimator_lock:
                if not self._model_loaded:
                    self._load_model()
                    self._model_loaded = True
        estimator = self.estimator
        infer_res = estimator.predict(data, **kwargs)
        res = callback(copy.deepcopy(infer_res)) if callback else infer_res
        hem = self.hard_example_mining_algorithm
        is_hard_example = bool(hem(res)) if hem is not None else False
        return infer_res, res, is_hard_example
