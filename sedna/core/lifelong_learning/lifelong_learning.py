"""``LifelongLearning``: the train, eval and inference workers of a LifelongLearningJob (sdk.md §8.1).

- ``train``: task definition → per-task models (:class:`SeenTaskLearning`) → publish to the knowledge base
  (:class:`CloudKnowledgeManagement`) → report the index ``<OUTPUT_URL>/index.pkl`` to the LC. With
  ``HAS_COMPLETED_INITIAL_TRAINING=true`` it runs ``update`` instead: the KB at ``CLOUD_KB_INDEX`` is
  loaded and the tasks that received samples are retrained (task update decision).
- ``evaluate``: scores every task model on the eval data, drops the tasks that fail the threshold
  (``evaluate_tasks``) through the KB's status update and reports the resulting index.
- ``inference``: deploys the KB to the edge directory (again whenever a newer index appears), then either
  (older API) predicts with the seen tasks and asks the task filter ``unseen_task_detect`` whether the input
  is an unseen task, or (newer API) splits the samples with the unseen-sample recogniser, serves each part
  and stores the unseen samples. Returns ``(result, is_unseen_task, tasks)``.

Both constructor generations are accepted (see :class:`LifelongLearning`). Compatibility notes are in
docs/sdk-lifelong.md.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from typing import Any

import numpy as np

from sedna.algorithms.knowledge_management.artifacts import ArtifactFetcher, doc_to_task_index
from sedna.algorithms.knowledge_management.cloud_knowledge_management import (
    CloudKnowledgeManagement,
    read_index,
    write_text,
)
from sedna.algorithms.knowledge_management.edge_knowledge_management import EdgeKnowledgeManagement
from sedna.algorithms.knowledge_management.kb_index import IndexDoc, apply_task_status, dumps_index
from sedna.algorithms.seen_task_learning.artifact import jsonable, num_samples
from sedna.algorithms.seen_task_learning.seen_task_learning import (
    SeenTaskLearning,
    algorithm_config,
    build_algorithm,
)
from sedna.algorithms.unseen_task_processing import UnseenTaskProcessing
from sedna.common.class_factory import ClassType
from sedna.common.constant import K8sResourceKind, K8sResourceKindStatus, KBResourceConstant
from sedna.common.file_ops import FileOps
from sedna.core.base import JobBase, resolve_callback

__all__ = ["LifelongLearning", "evaluate_tasks"]

logger = logging.getLogger(__name__)

SEEN = KBResourceConstant.SEEN_TASK.value
UNSEEN = KBResourceConstant.UNSEEN_TASK.value
INDEX_NAME = KBResourceConstant.KB_INDEX_NAME.value

_OPERATORS = {
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    "=": lambda a, b: a == b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
}


def evaluate_tasks(tasks_detail: list, operator: str | None = None, threshold: float | None = None) -> str:
    """Comma-separated entries of the tasks to drop: those with **any** score ``<op> threshold``.

    ``operator`` defaults to env ``operator`` or ``<`` (upstream: ``>``, which drops the good tasks; any other
    value → ``<`` as upstream); ``threshold`` to env ``model_threshold`` or 0.1.
    """
    op_name = operator if operator is not None else (os.environ.get("operator") or "<")
    if op_name not in _OPERATORS:
        logger.warning("operator %r is not one of %s; using '<'", op_name, sorted(_OPERATORS))
        op_name = "<"
    if threshold is None:
        raw = os.environ.get("model_threshold") or "0.1"
        try:
            threshold = float(raw)
        except ValueError:
            logger.warning("model_threshold=%r is not a number; using 0.1", raw)
            threshold = 0.1
    compare = _OPERATORS[op_name]
    drop = []
    for task in tasks_detail or []:
        scores = getattr(task, "scores", None) or {}
        if any(compare(float(v), float(threshold)) for v in scores.values() if v is not None):
            drop.append(task.entry)
    if drop:
        logger.info("tasks dropped by the evaluation (score %s %s): %s", op_name, threshold, ", ".join(drop))
    return ",".join(drop)


def _numeric_dict(value: Any) -> dict[str, float]:
    if not isinstance(value, dict):
        return {}
    out = {}
    for key, item in value.items():
        numeric = isinstance(item, (int, float, np.integer, np.floating)) and not isinstance(item, bool)
        if numeric and np.isfinite(float(item)):
            out[str(key)] = float(item)
    return out


class LifelongLearning(JobBase):
    """``LifelongLearning(seen_estimator, unseen_estimator=None, task_definition=None,
    task_relationship_discovery=None, task_allocation=None, task_remodeling=None, inference_integrate=None,
    task_update_decision=None, unseen_task_allocation=None, unseen_sample_recognition=None,
    unseen_sample_re_recognition=None)``

    or, as Sedna 0.4.1 and upstream's thermal-comfort example call it, ``LifelongLearning(estimator=...,
    task_definition=None, task_relationship_discovery=None, task_mining=None, task_remodeling=None,
    inference_integrate=None, unseen_task_detect=None)`` — ``task_mining`` is the task allocation, and
    ``unseen_task_detect`` a task filter applied after seen-task inference (older inference semantics).
    Every algorithm argument is ``{"method": "<registered name>", "param": {...} or "<json>"}``.
    """

    def __init__(self, seen_estimator: Any = None, unseen_estimator: Any = None, task_definition: Any = None,
                 task_relationship_discovery: Any = None, task_allocation: Any = None, task_remodeling: Any = None,
                 inference_integrate: Any = None, task_update_decision: Any = None,
                 unseen_task_allocation: Any = None, unseen_sample_recognition: Any = None,
                 unseen_sample_re_recognition: Any = None, *, estimator: Any = None, task_mining: Any = None,
                 unseen_task_detect: Any = None):
        # registration side effects: the KM, MTL and UTD names must resolve whatever the script imported
        import sedna.algorithms.knowledge_management
        import sedna.algorithms.multi_task_learning
        import sedna.algorithms.unseen_task_detection  # noqa: F401

        if seen_estimator is None:
            seen_estimator = estimator
        if seen_estimator is None:
            raise TypeError("LifelongLearning needs an estimator (seen_estimator= or estimator=)")
        self.legacy_api = estimator is not None or task_mining is not None or unseen_task_detect is not None
        task_allocation = task_allocation or task_mining
        output_url = os.environ.get("OUTPUT_URL") or "/tmp"
        config = {
            "ll_kb_server": os.environ.get("KB_SERVER") or "",
            "output_url": output_url,
            "cloud_output_url": output_url,
            "task_index": FileOps.join_path(output_url, INDEX_NAME),
        }
        super().__init__(estimator=None, config=config)
        self.job_kind = K8sResourceKind.LIFELONG_JOB.value
        self.kb_server = config["ll_kb_server"]
        self.output_url = output_url
        self.cloud_task_index = config["task_index"]

        from sedna.service.client.knowledge_base import KBClient

        self.kb_client = KBClient(self.kb_server) if self.kb_server else None
        self.task_definition = task_definition or {"method": "TaskDefinitionByDataAttr"}
        self.task_update_decision = task_update_decision or {"method": "UpdateStrategyDefault"}
        self.unseen_sample_recognition = unseen_sample_recognition or {"method": "SampleRegonitionDefault"}
        self._re_recognition_configured = bool(unseen_sample_re_recognition)
        self.unseen_sample_re_recognition = unseen_sample_re_recognition or {"method": "SampleReRegonitionDefault"}
        self.unseen_task_detect = unseen_task_detect
        self.fetch = ArtifactFetcher(tempfile.mkdtemp(prefix="sedna-ll-cache-"), self.kb_client)
        work_dir = None if FileOps.is_remote(output_url) else os.path.join(output_url, SEEN)
        self.seen_task_learning = SeenTaskLearning(
            estimator=seen_estimator, task_definition=self.task_definition,
            task_relationship_discovery=task_relationship_discovery, task_allocation=task_allocation,
            task_remodeling=task_remodeling, inference_integrate=inference_integrate,
            work_dir=work_dir, fetch=self.fetch)
        self.unseen_task_processing = UnseenTaskProcessing(unseen_estimator,
                                                           unseen_task_allocation=unseen_task_allocation)
        self.unseen_estimator = unseen_estimator
        self.estimator = self.seen_task_learning
        self.cloud_knowledge_management = CloudKnowledgeManagement(
            self.config, seen_estimator=seen_estimator, unseen_estimator=unseen_estimator,
            output_url=output_url, kb_server=self.kb_server, kb_client=self.kb_client)
        self._edge_km: EdgeKnowledgeManagement | None = None
        self._edge_lock = threading.Lock()
        self._edge_index: dict | None = None

    # ------------------------------------------------------------------ helpers

    @property
    def edge_knowledge_management(self) -> EdgeKnowledgeManagement:
        if self._edge_km is None:
            self._edge_km = EdgeKnowledgeManagement(self.config, kb_client=self.kb_client)
        return self._edge_km

    def _host_path(self, url: str) -> str:
        prefix = str(self.config.data_path_prefix or "").rstrip("/")
        url = str(url)
        if prefix and url.startswith(prefix + "/"):
            return url[len(prefix):]
        return url

    def _report_trained(self, index_url: str, metrics: Any, seen_index: dict, unseen_samples: int = 0) -> list:
        """Report train Completed with the new index and each task group's metrics; returns the groups."""
        groups = seen_index["task_groups"]
        current = {g.entry: _numeric_dict(g.model.result) for g in groups if g.model is not None}
        self.report_task_info(None, K8sResourceKindStatus.COMPLETED.value,
                              self._results(index_url, metrics, groups, current, unseen_samples), kind="train")
        return groups

    def _results(self, index_url: str, metrics: Any, groups: list, current_metric: dict,
                 unseen_samples: int = 0) -> list[dict]:
        models = {str(g.model.model) for g in groups if getattr(g, "model", None) is not None}
        # each group's number of training samples, when this step knows them (train/update, not eval)
        task_samples = {g.entry: num_samples(g.samples) for g in groups if num_samples(getattr(g, "samples", None))}
        return [{
            "format": "pkl",
            "url": self._host_path(index_url),
            "metrics": jsonable(metrics if isinstance(metrics, dict) else {"result": metrics}),
            "current_metric": current_metric,
            "classes": [g.entry for g in groups],
            "number_of_model": len(models),
            "number_of_labeled_unseen_sample": int(unseen_samples),
            "number_of_unseen_sample": int(unseen_samples),
            **({"task_samples": task_samples} if task_samples else {}),
        }]

    def _index_url_from_env(self, env: str) -> str:
        raw = (self.get_parameters(env) or "").split(";")
        raw = next((u.strip() for u in raw if u.strip()), "")
        if not raw:
            return self.cloud_task_index
        prefix = str(self.config.data_path_prefix or "")
        if not FileOps.is_remote(raw) and not os.path.exists(raw) and prefix:
            joined = FileOps.join_path(prefix, raw)
            if os.path.exists(joined):
                return joined
        return raw

    def _read_index(self, url: str) -> IndexDoc:
        local = self.fetch(url, dst=os.path.join(self.fetch.cache_dir, f"index-{os.getpid()}.json"),
                           allow_pickle=True) if (FileOps.is_remote(url) or not os.path.exists(url)) else url
        return read_index(local)

    def _fail(self, kind: str) -> None:
        logger.exception("%s failed", kind)
        self.report_task_info(None, K8sResourceKindStatus.FAILED.value, kind=kind)

    # ------------------------------------------------------------------ train / update

    def train(self, train_data: Any, valid_data: Any = None, post_process: Any = None, **kwargs: Any) -> Any:
        """Initial training (or ``update`` when ``HAS_COMPLETED_INITIAL_TRAINING=true``); returns the training
        feedback (``callback(estimator, feedback)`` with ``post_process``)."""
        if str(self.get_parameters("HAS_COMPLETED_INITIAL_TRAINING", "false")).strip().lower() == "true":
            return self.update(train_data, valid_data=valid_data, post_process=post_process, **kwargs)
        callback = resolve_callback(post_process)
        try:
            res, seen_index = self.seen_task_learning.train(train_data, valid_data=valid_data, **kwargs)
            _, unseen_index = self.unseen_task_processing.train()
            task_index = {SEEN: seen_index, UNSEEN: unseen_index}
            index_url = self.cloud_knowledge_management.update_kb(task_index)
        except Exception:
            self._fail("train")
            raise
        groups = self._report_trained(index_url, res, seen_index)
        logger.info("trained %d task group(s); knowledge base index at %s", len(groups), index_url)
        return callback(self.estimator, res) if callback else res

    def update(self, train_data: Any, valid_data: Any = None, post_process: Any = None, **kwargs: Any) -> str:
        """Retrain the KB at ``CLOUD_KB_INDEX`` with new samples; returns the new index URL."""
        callback = resolve_callback(post_process)
        try:
            doc = self._read_index(self._index_url_from_env("CLOUD_KB_INDEX"))
            seen_index = doc_to_task_index(doc, SEEN, self.fetch)
            self.seen_task_learning.load(seen_index)
            known = {g.entry for g in seen_index["task_groups"]}
            method, param = algorithm_config(self.task_update_decision, "UpdateStrategyDefault")
            param.setdefault("task_definition", self.task_definition)
            param.setdefault("fetch", self.fetch)
            decision = build_algorithm((ClassType.KM,), method, task_index={SEEN: seen_index}, **param)
            tasks, strategies = decision(train_data, task_type=SEEN)
            # labelled samples of tasks the KB did not know; a configured re-recognition decides instead
            unseen_count = sum(num_samples(s.get("raw_data_update")) for t, s in zip(tasks, strategies)
                               if t.entry not in known)
            if self._re_recognition_configured:
                method, param = algorithm_config(self.unseen_sample_re_recognition, "SampleReRegonitionDefault")
                recogniser = build_algorithm((ClassType.UTD,), method, task_index={SEEN: seen_index}, **param)
                unseen_count = num_samples(recogniser(train_data)[1])
            res, seen_index = self.seen_task_learning.update(tasks, strategies, **kwargs)
            _, unseen_index = self.unseen_task_processing.update()
            index_url = self.cloud_knowledge_management.update_kb({SEEN: seen_index, UNSEEN: unseen_index})
        except Exception:
            self._fail("train")
            raise
        self._report_trained(index_url, res, seen_index, unseen_count)
        return callback(self.estimator, index_url) if callback else index_url

    # ------------------------------------------------------------------ evaluate

    def evaluate(self, data: Any, post_process: Any = None, **kwargs: Any) -> Any:
        """Score the KB at ``MODEL_URLS`` (default the cloud index) on ``data``; keyword arguments go to
        :meth:`SeenTaskLearning.evaluate` (``metrics``, ``metrics_param``). Returns the overall scores."""
        callback = resolve_callback(post_process)
        try:
            doc = self._read_index(self._index_url_from_env("MODEL_URLS"))
            self.seen_task_learning.load(doc_to_task_index(doc, SEEN, self.fetch))
            res, tasks_detail = self.seen_task_learning.evaluate(data, **kwargs)
            drop = evaluate_tasks(tasks_detail)
            if self.kb_client is not None and not self.kb_client.update_task_status(drop, 0):
                logger.error("knowledge base %s did not record the task status", self.kb_server)
            # the job's own index with the same rule the KB applies: the KB's index.pkl may be another job's
            names = [n for n in drop.split(",") if n]
            new_doc = apply_task_status(doc, names, 0) if names else doc
            stage = tempfile.mkdtemp(prefix="sedna-ll-eval-") if FileOps.is_remote(self.output_url) \
                else self.output_url
            os.makedirs(stage, exist_ok=True)
            index_path = write_text(os.path.join(stage, INDEX_NAME), dumps_index(new_doc))
            if FileOps.is_remote(self.output_url):
                index_path = FileOps.upload(index_path, self.cloud_task_index, clean=False)
        except Exception:
            self._fail("eval")
            raise
        groups = doc_to_task_index(new_doc, SEEN, self.fetch)["task_groups"]
        current = {t.entry: _numeric_dict(t.scores) for t in tasks_detail}
        self.report_task_info(None, K8sResourceKindStatus.COMPLETED.value,
                              self._results(index_path, res, groups, current), kind="eval")
        return callback(res) if callback else res

    # ------------------------------------------------------------------ inference

    def _deploy_edge(self) -> None:
        edge = self.edge_knowledge_management
        index_url = self._index_url_from_env("MODEL_URLS")
        with self._edge_lock:
            edge.start_services(index_url)
            if self._edge_index is not None and not edge.needs_update():
                return
            try:
                edge.update_kb(index_url)
            except Exception as exc:
                if not os.path.isfile(edge.task_index):
                    raise
                logger.warning("cannot deploy %s (%s); serving the edge copy %s", index_url, exc, edge.task_index)
                if edge.current_index_version is None:
                    edge.current_index_version = edge.load_index().create_time
                    edge.lastest_index_version = edge.current_index_version
            doc = edge.load_index()
            self._edge_index = {SEEN: doc_to_task_index(doc, SEEN, edge.fetch),
                                UNSEEN: doc_to_task_index(doc, UNSEEN, edge.fetch)}
            self.seen_task_learning.load(self._edge_index[SEEN])

    def _task_filter(self) -> tuple[Any, dict]:
        method, param = algorithm_config(self.unseen_task_detect, "TaskAttrFilter")
        return build_algorithm((ClassType.UTD,), method, **param), param

    @staticmethod
    def _sample_names(data: Any) -> list[str]:
        x = data.x
        if hasattr(x, "index") and hasattr(x, "columns"):
            return [str(i) for i in x.index]
        items = list(x)
        if all(isinstance(i, str) for i in items) and len(set(items)) == len(items):
            return items
        return [str(i) for i in range(len(items))]

    def inference(self, data: Any = None, post_process: Any = None, unseen_sample_postprocess: Any = None,
                  **kwargs: Any) -> tuple[Any, Any, list]:
        """``(result, is_unseen_task, tasks)``; ``is_unseen_task`` is a bool (older API, or one sample) or
        ``{sample_name: bool}``."""
        if data is None or not num_samples(data):
            raise ValueError("inference needs samples: data.x is empty")
        self._deploy_edge()
        if self.legacy_api:
            res, tasks = self.seen_task_learning.predict(data, post_process=post_process, **kwargs)
            is_unseen = False
            if self.unseen_task_detect:
                detector, param = self._task_filter()
                is_unseen = bool(detector(tasks=tasks, result=res, **param))
            return res, is_unseen, tasks
        n = num_samples(data)
        method, param = algorithm_config(self.unseen_sample_recognition, "SampleRegonitionDefault")
        recogniser = build_algorithm((ClassType.UTD,), method, task_index=self._edge_index,
                                     seen_task_learning=self.seen_task_learning, **param)
        seen_part, unseen_part = recogniser(data)
        slots: list[Any] = [None] * n
        tasks: list = []
        flags = [False] * n
        if num_samples(unseen_part):
            if self.unseen_estimator is not None:
                u_res, u_tasks = self.unseen_task_processing.predict(unseen_part, post_process=unseen_sample_postprocess)
            else:
                u_res, u_tasks = self.seen_task_learning.predict(unseen_part, post_process=post_process, **kwargs)
            for pos, value in zip(unseen_part.inx, list(u_res)):
                slots[pos] = value
                flags[pos] = True
            tasks.extend(u_tasks)
            self.edge_knowledge_management.save_unseen_samples(unseen_part)
        if num_samples(seen_part):
            s_res, s_tasks = self.seen_task_learning.predict(seen_part, post_process=post_process, **kwargs)
            for pos, value in zip(seen_part.inx, list(s_res)):
                slots[pos] = value
            tasks.extend(s_tasks)
        result = np.asarray(slots) if all(s is not None for s in slots) else np.asarray(slots, dtype=object)
        if n == 1:
            return result, flags[0], tasks
        return result, dict(zip(self._sample_names(data), flags)), tasks
