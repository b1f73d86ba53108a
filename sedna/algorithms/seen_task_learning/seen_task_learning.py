"""``SeenTaskLearning``: multi-task learning over the tasks the knowledge base already knows (sdk.md §8.2).

Train: task definition → task relationship discovery → one model per task group (groups with fewer than
``MIN_TRAIN_SAMPLE`` samples share one global model trained on everything). Inference: task allocation →
task remodeling → per-group predict → inference integration. Every step is a ClassFactory algorithm chosen
by a ``{"method": name, "param": {...} or "<json>"}`` dict.

Differences from upstream (API unchanged): model files are saved by the estimator's own ``save`` (or the
backend's weights/joblib fallback for local files), the task index is a JSON document (see
:mod:`sedna.algorithms.knowledge_management.kb_index`), loaded task models are cached per file, and
``evaluate`` works on a copy of the caller's data.
"""

from __future__ import annotations

import copy
import inspect
import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from sedna.algorithms.seen_task_learning.artifact import Model, Task, TaskGroup, copy_samples, num_samples
from sedna.backend import set_backend
from sedna.common.class_factory import ClassFactory, ClassType
from sedna.common.config import Context
from sedna.common.constant import KBResourceConstant
from sedna.common.utils import accepted_kwargs
from sedna.datasources import BaseDataSource

__all__ = ["SeenTaskLearning", "algorithm_config", "allocation_for", "build_algorithm", "resolve_metrics"]

logger = logging.getLogger(__name__)


def algorithm_config(config: Any, default_method: str) -> tuple[str, dict]:
    """``(method, param)`` of an algorithm selection dict; param may be a dict or a JSON object string."""
    if not config:
        return default_method, {}
    if isinstance(config, str):
        return config, {}
    method = config.get("method") or default_method
    param = config.get("param") or {}
    if isinstance(param, str):
        text = param.strip()
        try:
            param = json.loads(text) if text else {}
        except ValueError as exc:
            raise ValueError(f"param of {method!r} is not a JSON object: {exc}") from None
    if isinstance(param, list) and all(isinstance(p, dict) and "key" in p for p in param):
        param = {p["key"]: p.get("value", "") for p in param}  # the CRDs' [{"key", "value"}] form
    if not isinstance(param, dict):
        raise TypeError(f"param of {method!r} must be an object, got {type(param).__name__}")
    return method, dict(param)


def build_algorithm(type_names: tuple[str, ...], method: str, *args: Any, **param: Any) -> Any:
    """Instantiate ``method`` from the first ClassFactory type that has it (ValueError naming all)."""
    for type_name in type_names:
        if ClassFactory.is_exists(type_name, method):
            return ClassFactory.get_cls(type_name, method)(*args, **param)
    return ClassFactory.get_cls(type_names[0], method)(*args, **param)  # raises with the known names


_ALLOCATION_OF_DEFINITION = {
    "TaskDefinitionByDataAttr": "TaskAllocationByDataAttr",
    "TaskDefinitionBySVC": "TaskAllocationBySVC",
    "TaskDefinitionByOrigin": "TaskAllocationByOrigin",
}


def allocation_for(task_definition: Any) -> dict:
    """The allocation matching a task definition (same parameters), as Sedna 0.4.1 picked its task mining;
    ``TaskAllocationDefault`` for definitions without a counterpart."""
    method, param = algorithm_config(task_definition, "TaskDefinitionByDataAttr")
    counterpart = _ALLOCATION_OF_DEFINITION.get(method)
    if counterpart is None:
        return {"method": "TaskAllocationDefault"}
    if counterpart == "TaskAllocationByOrigin":
        param = {k: v for k, v in param.items() if k == "default"}
    return {"method": counterpart, "param": param}


def resolve_metrics(metrics: Any = None, metrics_param: dict | None = None) -> dict[str, Callable]:
    """Name → ``metric(y_true, y_pred)``. ``metrics``: a callable, a list/set of callables or sklearn names,
    one sklearn name (unknown → ``log_loss``), or a name → metric dict; default ``precision_score`` with
    ``average="micro"``."""
    from sklearn import metrics as sk_metrics

    def by_name(name: str) -> Callable:
        func = getattr(sk_metrics, name, None)
        if not callable(func):
            logger.warning("metric %r is not an sklearn metric; using log_loss", name)
            return sk_metrics.log_loss
        return func

    params = dict(metrics_param or {})
    if metrics is None:
        table: dict[str, Callable] = {"precision_score": sk_metrics.precision_score}
        params.setdefault("average", "micro")
    elif callable(metrics):
        table = {getattr(metrics, "__name__", "metric"): metrics}
    elif isinstance(metrics, str):
        table = {metrics: by_name(metrics)}
    elif isinstance(metrics, dict):
        table = {str(k): (v if callable(v) else by_name(str(v))) for k, v in metrics.items()}
    elif isinstance(metrics, (list, tuple, set)):
        table = {}
        for item in metrics:
            func = item if callable(item) else by_name(str(item))
            table[getattr(func, "__name__", str(item)) if callable(item) else str(item)] = func
    else:
        raise TypeError(f"metrics must be a callable, a name, a list or a dict, got {type(metrics).__name__}")
    return {name: _bind_params(func, params) for name, func in table.items()}


def _bind_params(func: Callable, params: dict) -> Callable:
    accepted = accepted_kwargs(func, params)

    def metric(y_true: Any, y_pred: Any) -> float:
        return func(y_true, y_pred, **accepted)

    metric.__name__ = getattr(func, "__name__", "metric")
    return metric


def _safe_name(entry: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]", "-", str(entry))[:150] or "task"


def min_train_sample() -> int:
    raw = Context.get_parameters("MIN_TRAIN_SAMPLE", KBResourceConstant.MIN_TRAIN_SAMPLE.value)
    try:
        return int(raw)
    except (TypeError, ValueError):
        logger.warning("MIN_TRAIN_SAMPLE=%r is not an integer; using %s", raw, KBResourceConstant.MIN_TRAIN_SAMPLE.value)
        return int(KBResourceConstant.MIN_TRAIN_SAMPLE.value)


class SeenTaskLearning:
    """``SeenTaskLearning(estimator, task_definition=None, task_relationship_discovery=None,
    task_allocation=None, task_remodeling=None, inference_integrate=None)``.

    Our keyword additions: ``work_dir`` (where task models are saved; default a temp dir) and
    ``fetch`` (``url -> local path`` for models listed in a loaded index; default: local paths as they are).
    """

    algorithm_types: tuple[str, ...] = (ClassType.STP, ClassType.MTL)
    rare_strict = False  # upstream SeenTaskLearning: a group with exactly MIN_TRAIN_SAMPLE samples is not rare

    def __init__(self, estimator: Any = None, task_definition: Any = None, task_relationship_discovery: Any = None,
                 task_allocation: Any = None, task_remodeling: Any = None, inference_integrate: Any = None,
                 *, work_dir: str | None = None, fetch: Callable[[str], str] | None = None, **kwargs: Any):
        import sedna.algorithms.seen_task_learning.task_jobs  # noqa: F401  (registers the STP algorithms)

        self.base_model = estimator
        self.task_definition = task_definition or {"method": "TaskDefinitionByDataAttr"}
        self.task_relationship_discovery = task_relationship_discovery or {"method": "DefaultTaskRelationDiscover"}
        self.task_allocation = task_allocation or allocation_for(self.task_definition)
        self.task_remodeling = task_remodeling or {"method": "DefaultTaskRemodeling"}
        self.inference_integrate = inference_integrate or {"method": "DefaultInferenceIntegrate"}
        self.work_dir = work_dir or tempfile.mkdtemp(prefix="sedna-seen-task-")
        self.fetch = fetch or (lambda url: url)
        self._state: tuple[Any, list[Model | None]] = (None, [])  # (extractor, models), swapped as one
        self.task_groups: list[TaskGroup] = []
        self._evaluators: dict[str, Any] = {}
        self._evaluator_lock = threading.Lock()

    @property
    def extractor(self) -> Any:
        return self._state[0]

    @extractor.setter
    def extractor(self, value: Any) -> None:
        self._state = (value, self._state[1])

    @property
    def models(self) -> list[Model | None]:
        return self._state[1]

    @models.setter
    def models(self, value: list[Model | None]) -> None:
        self._state = (self._state[0], value)

    # ------------------------------------------------------------------ algorithm steps

    def _step(self, config: Any, default: str, *args: Any) -> Any:
        method, param = algorithm_config(config, default)
        return build_algorithm(self.algorithm_types, method, *args, **param)

    def _task_definition(self, samples: BaseDataSource) -> tuple[list[Task], Any, BaseDataSource]:
        return self._step(self.task_definition, "TaskDefinitionByDataAttr")(samples)

    def _task_relationship_discovery(self, tasks: list[Task]) -> list[TaskGroup]:
        return self._step(self.task_relationship_discovery, "DefaultTaskRelationDiscover")(tasks)

    def _task_allocation(self, samples: BaseDataSource, extractor: Any = None) -> tuple[BaseDataSource, list[int]]:
        method, param = algorithm_config(self.task_allocation, "TaskAllocationDefault")
        extractor = self.extractor if extractor is None else extractor
        return build_algorithm(self.algorithm_types, method, task_extractor=extractor, **param)(samples)

    def _task_remodeling(self, samples: BaseDataSource, mappings: Any, models: list | None = None) -> tuple[list, list]:
        method, param = algorithm_config(self.task_remodeling, "DefaultTaskRemodeling")
        models = self.models if models is None else models
        return build_algorithm(self.algorithm_types, method, models=models, **param)(samples, mappings)

    def _inference_integrate(self, tasks: list[Task], models: list | None = None) -> Any:
        method, param = algorithm_config(self.inference_integrate, "DefaultInferenceIntegrate")
        models = self.models if models is None else models
        return build_algorithm(self.algorithm_types, method, models=models, **param)(tasks)

    # ------------------------------------------------------------------ training

    def _new_backend(self) -> Any:
        source = self.base_model
        if not (inspect.isclass(source) or inspect.isfunction(source)):
            source = copy.deepcopy(getattr(source, "estimator", source))
        return set_backend(estimator=source, config={"model_url": self.work_dir})

    def _train_model(self, samples: BaseDataSource, name: str, valid_data: Any, **kwargs: Any) -> tuple[str, Any]:
        backend = self._new_backend()
        res = backend.train(train_data=samples, valid_data=valid_data, **kwargs)
        os.makedirs(self.work_dir, exist_ok=True)
        path = backend.save(model_name=name)
        with self._evaluator_lock:
            self._evaluators[str(path)] = backend
        return str(path), res

    def _is_rare(self, group: TaskGroup, threshold: int) -> bool:
        n = num_samples(group.samples)
        return n <= threshold if self.rare_strict else n < threshold

    def train(self, train_data: BaseDataSource, valid_data: BaseDataSource | None = None,
              post_process: Any = None, **kwargs: Any) -> tuple[Any, dict]:
        """Returns ``(feedback, task_index)``; ``task_index = {"extractor": ..., "task_groups": [...]}`` and
        feedback is ``evaluate(valid_data)``'s overall scores when ``valid_data`` is given, else each task
        group's training result by group entry (as upstream: round 1's feedback is never empty)."""
        if train_data is None or not num_samples(train_data):
            raise ValueError("train_data has no samples")
        train_data = copy_samples(train_data)
        tasks, extractor, train_data = self._task_definition(train_data)
        self.extractor = extractor
        task_groups = self._task_relationship_discovery(tasks)
        threshold = min_train_sample()
        self.models = [None] * len(task_groups)
        rare = []
        for index, group in enumerate(task_groups):
            if not isinstance(group, TaskGroup) or self._is_rare(group, threshold):
                rare.append(index)
                continue
            logger.info("training the model of task group %s on %d samples", group.entry, num_samples(group.samples))
            path, res = self._train_model(group.samples, f"{_safe_name(group.entry)}.model", None, **kwargs)
            self.models[index] = self._model_record(index, group, path, res)
        if rare:
            logger.info("%d task group(s) have fewer than %d samples; they share a global model", len(rare), threshold)
            path, res = self._train_model(train_data, "global.model", None, **kwargs)
            for index in rare:
                self.models[index] = self._model_record(index, task_groups[index], path, res)
        self.task_groups = task_groups
        feedback: Any = {group.entry: group.model.result for group in task_groups
                         if isinstance(group, TaskGroup) and group.model is not None}
        if valid_data is not None and num_samples(valid_data):
            feedback, _ = self.evaluate(valid_data, **kwargs)
        return feedback, {"extractor": self.extractor, "task_groups": task_groups}

    @staticmethod
    def _model_record(index: int, group: TaskGroup, path: str, res: Any) -> Model:
        model = Model(index=index, entry=group.entry, model=path, result=res)
        metas = [t.meta_attr for t in group.tasks]
        model.meta_attr = metas[0] if len(metas) == 1 else metas
        group.model = model
        return model

    def update(self, tasks: list[Task], task_update_strategies: list[dict], **kwargs: Any) -> tuple[Any, dict]:
        """Retrain the models of ``tasks`` whose strategy says ``target_model_update`` on the strategy's
        ``raw_data_update`` samples; the rest of the index stays. Returns ``(feedback, task_index)``."""
        feedback: dict[str, Any] = {}
        by_entry = {g.entry: i for i, g in enumerate(self.task_groups)}
        for task, strategy in zip(tasks, task_update_strategies):
            samples = strategy.get("raw_data_update")
            if not strategy.get("target_model_update") or samples is None or not num_samples(samples):
                continue
            path, res = self._train_model(samples, f"{_safe_name(task.entry)}.model", None, **kwargs)
            feedback[task.entry] = res
            if task.entry in by_entry:
                index = by_entry[task.entry]
                group = self.task_groups[index]
                group.samples = samples
            else:
                index = len(self.task_groups)
                group = TaskGroup(entry=task.entry, tasks=[task])
                group.samples = samples
                self.task_groups.append(group)
                self.models.append(None)
                if isinstance(self.extractor, dict):
                    self.extractor[task.entry] = index
            self.models[index] = self._model_record(index, group, path, res)
        return feedback, {"extractor": self.extractor, "task_groups": self.task_groups}

    # ------------------------------------------------------------------ loading and inference

    def load(self, task_index: Any) -> None:
        """Use a task index: ``{"extractor", "task_groups"}`` as :meth:`train` returns it (objects)."""
        if not isinstance(task_index, dict) or "task_groups" not in task_index:
            raise TypeError("task_index must be a dict with 'extractor' and 'task_groups'")
        groups = list(task_index.get("task_groups") or [])
        with self._evaluator_lock:
            self._evaluators.clear()
            # one assignment: a prediction running meanwhile sees either the old or the new index, never a mix
            self._state = (task_index.get("extractor"), [g.model for g in groups])
            self.task_groups = groups

    def _evaluator(self, model: Model) -> Any:
        if not isinstance(model.model, str):
            return model.model
        key = model.model
        with self._evaluator_lock:
            cached = self._evaluators.get(key)
        if cached is not None:
            return cached
        local = self.fetch(key)
        backend = self._new_backend()
        backend.load(local)
        with self._evaluator_lock:
            self._evaluators[key] = backend
        return backend

    def predict(self, data: BaseDataSource, post_process: Any = None, **kwargs: Any) -> tuple[Any, list[Task]]:
        """``(result, tasks)``: result in the order of ``data``; each task holds its samples, model and
        result. ``post_process`` (callable or registered CALLBACK name) is called as ``cb(pred, samples)``."""
        from sedna.core.base import resolve_callback

        extractor, all_models = self._state
        if not all_models:
            raise RuntimeError("no task models: train or load a task index first")
        if data is None or not num_samples(data):
            raise ValueError("no samples to predict (data.x is empty)")
        callback = resolve_callback(post_process)
        data = copy_samples(data)
        data, mappings = self._task_allocation(data, extractor)
        parts, models = self._task_remodeling(data, mappings, all_models)
        tasks = []
        for part, model in zip(parts, models):
            if not isinstance(model, Model):
                logger.warning("no model for %d sample(s); skipped", num_samples(part))
                continue
            evaluator = self._evaluator(model)
            pred = evaluator.predict(part.x, **kwargs)
            if callback is not None:
                pred = callback(pred, part)
            task = Task(entry=model.entry, samples=part, meta_attr=model.meta_attr)
            task.result = pred
            task.model = model
            task.estimator = evaluator
            tasks.append(task)
        return self._inference_integrate(tasks, all_models), tasks

    def evaluate(self, data: BaseDataSource, metrics: Any = None, metrics_param: dict | None = None,
                 **kwargs: Any) -> tuple[dict[str, float], list[Task]]:
        """``(overall_scores, tasks_detail)``; each task gets ``scores = {name: value}``."""
        if data is None or data.y is None:
            raise ValueError("evaluation data needs labels (y)")
        table = resolve_metrics(metrics, metrics_param)
        y_all = np.asarray(list(data.y))
        result, tasks = self.predict(data, **kwargs)
        for task in tasks:
            y_true = np.asarray(list(task.samples.y)) if task.samples.y is not None else y_all[task.samples.inx]
            task.scores = {name: float(metric(y_true, np.asarray(list(task.result)))) for name, metric in table.items()}
        overall = {name: float(metric(y_all, np.asarray(list(result)))) for name, metric in table.items()}
        return overall, tasks
