"""Incremental and lifelong learning job engines on the LC (gm-lc-protocol §9-§10).

One engine task per job wakes every ``LC_TRIGGER_PERIOD_SECONDS`` (default 10 s, upstream's period): it takes in
new dataset samples, looks at the job's latest condition (pushed by the GM) and, when the state asks for the LC,
writes the train/eval data files, copies models and queues the trigger report (``{"phase": "Train", "status":
"Ready", ...}``). Each state is acted on at most once: the LC remembers the index of the condition it acted on
(annotation ``sedna.io/lc-acted``), so a slow GM round trip never produces a second report for the same state.

Progress lives in the stored object's annotations: ``sedna.io/rounds``, ``sedna.io/number-of-samples`` (samples
taken in), ``sedna.io/data-file-of-eval`` as upstream, plus ours: ``sedna.io/lc-acted``,
``sedna.io/lc-last-trigger`` (why the last train trigger fired) and ``sedna.io/lc-sample-ranges`` (pending train
and eval sample ranges, so a restarted LC resumes exactly).

Samples are kept as index ranges into the dataset file, not as lines in memory; the lines are streamed from the
file when a data file is written.
"""

from __future__ import annotations

import abc
import asyncio
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sedna.api.messages import Message, WorkerMessage
from sedna.lc import learning, samples, triggers
from sedna.lc.managers.base import (
    LCContext,
    Manager,
    WorkerReportError,
    annotations,
    meta,
    status_message,
    upstream_content,
)
from sedna.lc.managers.dataset import DatasetManager, DatasetState
from sedna.lc.managers.model import ModelManager
from sedna.lc.outbox import OutboxFull
from sedna.lc.storage import Storage, StorageError, check_url, is_s3

logger = logging.getLogger(__name__)

RANGES_ANNOTATION = "sedna.io/lc-sample-ranges"
HOT_UPDATE_ROOT = "/var/lib/sedna/model-hot-update"


@dataclass
class JobRuntime:
    key: str
    namespace: str
    name: str
    obj: dict[str, Any]
    storage: Storage
    out_url: str
    rounds: int = 0
    consumed: int = 0
    train_ranges: list[tuple[int, int]] = field(default_factory=list)
    eval_versions: list[tuple[int, int]] = field(default_factory=list)
    eval_file: str = ""
    acted: str = ""
    last_trigger: str = ""
    last_error: str = ""
    task: asyncio.Task | None = field(default=None, repr=False)

    @property
    def spec(self) -> dict[str, Any]:
        return self.obj.get("spec") or {}

    def progress_annotations(self) -> dict[str, str]:
        return {
            learning.ROUNDS_ANNOTATION: str(self.rounds),
            learning.SAMPLES_ANNOTATION: str(self.consumed),
            learning.EVAL_FILE_ANNOTATION: self.eval_file,
            learning.ACTED_ANNOTATION: self.acted,
            learning.TRIGGER_ANNOTATION: self.last_trigger,
            RANGES_ANNOTATION: json.dumps({"train": self.train_ranges, "eval": self.eval_versions}),
        }

    def restore(self, ann: dict[str, str]) -> None:
        def as_int(key: str) -> int:
            try:
                return max(0, int(ann.get(key, "0") or 0))
            except ValueError:
                return 0
        self.rounds = as_int(learning.ROUNDS_ANNOTATION)
        self.consumed = as_int(learning.SAMPLES_ANNOTATION)
        self.eval_file = ann.get(learning.EVAL_FILE_ANNOTATION, "")
        self.acted = ann.get(learning.ACTED_ANNOTATION, "")
        self.last_trigger = ann.get(learning.TRIGGER_ANNOTATION, "")
        try:
            ranges = json.loads(ann.get(RANGES_ANNOTATION) or "{}")
            self.train_ranges = [(int(a), int(b)) for a, b in ranges.get("train", [])]
            self.eval_versions = [(int(a), int(b)) for a, b in ranges.get("eval", [])]
        except (ValueError, TypeError, AttributeError):
            self.train_ranges, self.eval_versions = [], []


class LearningJobManager(Manager, abc.ABC):
    """Shared skeleton of the IL and LL engines; subclasses implement ``step`` for their state machine."""

    data_formats: tuple[str, ...] = ("txt",)

    def __init__(self, ctx: LCContext, clock: Callable[[], datetime] = datetime.now) -> None:
        super().__init__(ctx)
        self.clock = clock
        self.jobs: dict[str, JobRuntime] = {}

    # -- lifecycle -------------------------------------------------------------------------------------

    @property
    def datasets(self) -> DatasetManager:
        return self.ctx.managers["dataset"]  # type: ignore[return-value]

    def prepare(self, key: str, obj: dict[str, Any]) -> dict[str, Any]:
        # The GM's copy never carries the LC's progress: keep it on the stored row.
        rt = self.jobs.get(key)
        if rt is not None:
            progress = rt.progress_annotations()
        else:
            previous = self.ctx.store.get_resource(key)
            prev_ann = annotations(previous) if previous else {}
            progress = {k: v for k, v in prev_ann.items()
                        if k in learning.LC_ANNOTATIONS or k == RANGES_ANNOTATION}
        md = obj.setdefault("metadata", {})
        md["annotations"] = {**(md.get("annotations") or {}), **progress}
        return obj

    async def started(self, key: str, obj: dict[str, Any], first: bool) -> None:
        rt = self.jobs.get(key)
        out_url = (obj.get("spec") or {}).get("outputDir", "")
        check_url(out_url, "spec.outputDir")
        if rt is None:
            md = meta(obj)
            rt = JobRuntime(key, md.get("namespace") or "default", md["name"], obj, self.ctx.storage_for(obj),
                            out_url)
            rt.restore(annotations(obj))
            self.jobs[key] = rt
            await asyncio.to_thread(self._make_dirs, rt)
            rt.task = asyncio.create_task(self._run(rt), name=f"{self.kind}-{key}")
            logger.info("%s %s started (rounds %d, samples taken %d)", self.object_kind, key, rt.rounds,
                        rt.consumed)
        else:
            rt.obj = obj
            rt.out_url = out_url
            rt.storage = self.ctx.storage_for(obj)

    async def stopped(self, key: str, obj: dict[str, Any]) -> None:
        rt = self.jobs.pop(key, None)
        if rt is not None and rt.task is not None:
            rt.task.cancel()
            await asyncio.gather(rt.task, return_exceptions=True)

    def _make_dirs(self, rt: JobRuntime) -> None:
        if is_s3(rt.out_url):
            return
        for sub in ("data/train", "data/eval", "train", "eval"):
            Path(rt.storage.host_path(learning.join_url(rt.out_url, sub))).mkdir(parents=True, exist_ok=True)

    def save(self, rt: JobRuntime) -> None:
        md = rt.obj.setdefault("metadata", {})
        md["annotations"] = {**(md.get("annotations") or {}), **rt.progress_annotations()}
        self.ctx.store.upsert_resource(rt.key, rt.obj)

    # -- the loop ----------------------------------------------------------------------------------------

    async def _run(self, rt: JobRuntime) -> None:
        period = self.ctx.config.trigger_period_seconds
        while True:
            try:
                await self.tick(rt)
                rt.last_error = ""
            except asyncio.CancelledError:
                raise
            except OutboxFull:
                pass  # logged by the outbox; the step is retried next period
            except Exception as exc:
                text = f"{type(exc).__name__}: {exc}"
                if text != rt.last_error:
                    logger.warning("%s %s: %s", self.object_kind, rt.key, text, exc_info=True)
                    rt.last_error = text
            await asyncio.sleep(period)

    def bound_dataset(self, rt: JobRuntime) -> DatasetState | None:
        name = (rt.spec.get("dataset") or {}).get("name", "")
        ds = self.datasets.get(rt.namespace, name) if name else None
        return ds if ds is not None and ds.count is not None else None

    def intake(self, rt: JobRuntime, ds: DatasetState) -> bool:
        prob = (rt.spec.get("dataset") or {}).get("trainProb", 0.8)
        split = learning.split_intake(ds.count or 0, rt.consumed, prob if isinstance(prob, (int, float)) else 0.8)
        if split is None:
            return False
        train, evaluation = split
        if train[1] > train[0]:
            rt.train_ranges.append(train)
        if evaluation[1] > evaluation[0]:
            rt.eval_versions.append(evaluation)
            rt.eval_versions = rt.eval_versions[-learning.MAX_EVAL_VERSIONS:]
        rt.consumed = ds.count or 0
        return True

    async def tick(self, rt: JobRuntime) -> None:
        ds = self.bound_dataset(rt)
        if ds is not None and self.intake(rt, ds):
            self.save(rt)
        state = learning.job_state(rt.obj)
        if state is not None:
            await self.step(rt, state, ds)

    @abc.abstractmethod
    async def step(self, rt: JobRuntime, state: learning.JobState, ds: DatasetState | None) -> None:
        """Act on the job's latest condition (the kind's state machine)."""

    # -- helpers used by the steps ---------------------------------------------------------------------

    def send(self, rt: JobRuntime, content: dict[str, Any]) -> str:
        return self.ctx.send_status(self.object_kind, rt.namespace, rt.name, content)

    def done(self, rt: JobRuntime, key: str) -> None:
        rt.acted = key
        self.save(rt)

    def write_samples(self, rt: JobRuntime, ds: DatasetState, stage: str, rounds: int,
                      ranges: list[tuple[int, int]]) -> tuple[str, str]:
        """Write ``data.txt``/``data.csv`` (+ ``dataIndex.txt`` for remote txt datasets); returns the URLs
        as reported upstream (host paths without the rootfs prefix)."""
        fmt = samples.normalize_format(ds.format)
        if fmt not in self.data_formats:
            raise StorageError(f"{self.object_kind} cannot write {fmt} datasets (supported: "
                               f"{', '.join(self.data_formats)})")
        base = learning.join_url(rt.out_url, "data", stage, str(rounds))
        data_url = learning.join_url(base, f"data.{fmt}")
        index_url = learning.join_url(base, "dataIndex.txt") if ds.remote and fmt == "txt" else ""
        remote_out = is_s3(rt.out_url)
        tmpdir = tempfile.mkdtemp(prefix="sedna-lc-job-") if remote_out else ""
        try:
            def local(url: str) -> str:
                if remote_out:
                    return os.path.join(tmpdir, url.rsplit("/", 1)[1])
                path = rt.storage.host_path(url)
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                return path

            data_path = local(data_url)
            with open(data_path, "w", encoding="utf-8") as f:
                if fmt == "csv":
                    f.write(ds.header + "\n")
                f.writelines(line + "\n" for line in ds.iter_samples(ranges))
            index_path = ""
            if index_url:
                index_path = local(index_url)
                with open(index_path, "w", encoding="utf-8") as f:
                    f.writelines(line + "\n" for line in learning.index_lines(ds.prefix, ds.iter_samples(ranges)))
            if remote_out:
                rt.storage.upload(data_path, data_url)
                if index_url:
                    rt.storage.upload(index_path, index_url)
        finally:
            if tmpdir:
                shutil.rmtree(tmpdir, ignore_errors=True)
        return data_url, index_url

    async def start_train_round(self, rt: JobRuntime, state: learning.JobState, ds: DatasetState, rounds: int,
                                result: triggers.TriggerResult, **inputs: Any) -> None:
        """Write round ``rounds``' samples, tell the GM Train Ready (``inputs`` first in its input, then the
        data URLs and the output dir) and remember the round as triggered."""
        data_url, index_url = await asyncio.to_thread(self.write_samples, rt, ds, "train", rounds,
                                                      rt.train_ranges)
        self.send(rt, {"phase": "Train", "status": "Ready",
                       "input": self.input_doc(**inputs, dataURL=data_url, dataIndexURL=index_url,
                                               outputDir=learning.join_url(rt.out_url, "train", str(rounds))),
                       "output": None})
        logger.info("%s %s: train round %d triggered (%s)", self.object_kind, rt.key, rounds, result.reason)
        rt.rounds = rounds
        rt.train_ranges = []
        rt.last_trigger = result.reason
        self.done(rt, state.action_key)

    def evaluate_train_trigger(self, rt: JobRuntime) -> triggers.TriggerResult:
        trigger = (rt.spec.get("trainSpec") or {}).get("trigger")
        return triggers.evaluate(trigger, {"num_of_samples": learning.range_total(rt.train_ranges)},
                                 self.clock())

    @staticmethod
    def input_doc(**fields: Any) -> dict[str, Any]:
        return {k: v for k, v in fields.items() if v}

    # -- worker reports ----------------------------------------------------------------------------------

    def worker_report(self, msg: WorkerMessage) -> tuple[Message, str | None]:
        key = self.key(msg.namespace or "default", msg.owner_name)
        if key not in self.objects:
            raise WorkerReportError(404, f"{self.object_kind} {msg.namespace}/{msg.owner_name} is not known "
                                         "on this node")
        return status_message(self.object_kind, msg.namespace or "default", msg.owner_name,
                              upstream_content(msg, with_results=True)), None


class IncrementalLearningManager(LearningJobManager):
    kind = "incrementallearningjob"
    object_kind = "IncrementalLearningJob"
    data_formats = ("txt",)

    @property
    def models(self) -> ModelManager:
        return self.ctx.managers["model"]  # type: ignore[return-value]

    def _model(self, rt: JobRuntime, ref: Any) -> dict[str, Any] | None:
        name = ref.get("name") if isinstance(ref, dict) else None
        return self.models.model_ref(rt.namespace, name) if name else None

    def _hot(self, rt: JobRuntime) -> bool:
        return bool(((rt.spec.get("deploySpec") or {}).get("model") or {}).get("hotUpdateEnabled"))

    async def step(self, rt: JobRuntime, state: learning.JobState, ds: DatasetState | None) -> None:
        if rt.acted == state.action_key:
            return
        if (state.stage, state.type) == ("Train", "Waiting"):
            await self.train(rt, state, ds)
        elif (state.stage, state.type) == ("Eval", "Waiting"):
            await self.eval(rt, state, ds)
        elif (state.stage, state.type) == ("Deploy", "Waiting"):
            await self.deploy(rt, state)
        elif (state.stage, state.type) == ("Deploy", "Running") and self._hot(rt):
            await self.hot_update(rt, state)

    async def train(self, rt: JobRuntime, state: learning.JobState, ds: DatasetState | None) -> None:
        initial = self._model(rt, rt.spec.get("initialModel"))
        if ds is None or initial is None:
            return  # dataset not read yet / initial model not pushed yet
        result = self.evaluate_train_trigger(rt)
        if not result:
            return
        rounds = rt.rounds + 1
        base = initial
        if rounds > 1:
            trained = learning.matching_model(learning.latest_output_models(rt.obj, "Train"), initial)
            base = learning.model_ref(trained) if trained else initial
        await self.start_train_round(rt, state, ds, rounds, result, models=[base])

    async def eval(self, rt: JobRuntime, state: learning.JobState, ds: DatasetState | None) -> None:
        deploy_spec = rt.spec.get("deploySpec") or {}
        deploy = self._model(rt, deploy_spec.get("model"))
        initial_eval = (rt.spec.get("evalSpec") or {}).get("initialEvalModel")
        eval_model = self._model(rt, initial_eval) if initial_eval else deploy
        if ds is None or deploy is None or eval_model is None:
            return
        new = learning.matching_model(learning.latest_output_models(rt.obj, "Train"), eval_model)
        if new is None:
            # Upstream errors out here and the job stalls; we report Eval Failed so the GM restarts the cycle.
            logger.error("%s %s: no trained model of format %r to evaluate", self.object_kind, rt.key,
                         eval_model.get("format"))
            self.send(rt, {"phase": "Eval", "status": "Failed", "output": None})
            self.done(rt, state.action_key)
            return
        data_url, index_url = await asyncio.to_thread(self.write_samples, rt, ds, "eval", rt.rounds,
                                                      list(rt.eval_versions))
        self.send(rt, {"phase": "Eval", "status": "Ready",
                       "input": self.input_doc(models=[learning.model_ref(new), eval_model], dataURL=data_url,
                                               dataIndexURL=index_url),
                       "output": None})
        rt.eval_file = data_url
        self.done(rt, state.action_key)

    async def deploy(self, rt: JobRuntime, state: learning.JobState) -> None:
        deploy_spec = rt.spec.get("deploySpec") or {}
        deploy = self._model(rt, deploy_spec.get("model"))
        if deploy is None:
            return
        hot = self._hot(rt)
        initial_eval = (rt.spec.get("evalSpec") or {}).get("initialEvalModel")
        eval_model = self._model(rt, initial_eval) if initial_eval and not hot else None
        results = learning.latest_output_models(rt.obj, "Eval")
        trained = learning.matching_model(learning.latest_output_models(rt.obj, "Train"), deploy)
        if not results or len(results) != 2 or trained is None:
            reason = "no trained model matching the deploy model" if trained is None else \
                f"expected 2 eval results, got {len(results or [])}"
            logger.info("%s %s: deployment skipped: %s", self.object_kind, rt.key, reason)
            self.send(rt, {"phase": "Deploy", "status": "Completed", "output": None})
            self.done(rt, state.action_key)
            return
        stats = learning.deploy_stats(results[0].get("metrics") or {}, results[1].get("metrics") or {})
        result = triggers.evaluate(deploy_spec.get("trigger"), stats, self.clock())
        if not result:
            logger.info("%s %s: deploy trigger false (%s)", self.object_kind, rt.key, result.reason)
            self.send(rt, {"phase": "Deploy", "status": "Completed", "output": None})
            self.done(rt, state.action_key)
            return
        status = "Ready"
        if not hot:
            try:
                await asyncio.to_thread(rt.storage.copy, trained["url"], deploy["url"])
                if eval_model is not None:
                    evaluated = learning.matching_model(results, eval_model)
                    if evaluated is not None:
                        await asyncio.to_thread(rt.storage.copy, evaluated["url"], eval_model["url"])
            except Exception as exc:  # noqa: BLE001 - OSError, StorageError, S3 client errors
                logger.error("%s %s: copying the new model failed: %s", self.object_kind, rt.key, exc)
                status = "Failed"
        logger.info("%s %s: deploy %s (%s)", self.object_kind, rt.key, status, result.reason)
        self.send(rt, {"phase": "Deploy", "status": status,
                       "input": {"models": [learning.model_ref(trained), deploy]}, "output": None})
        rt.last_trigger = result.reason
        self.done(rt, state.action_key)

    async def hot_update(self, rt: JobRuntime, state: learning.JobState) -> None:
        config_path = annotations(rt.obj).get(learning.HOT_UPDATE_ANNOTATION)
        deploy = self._model(rt, (rt.spec.get("deploySpec") or {}).get("model"))
        if not config_path or deploy is None:
            return
        trained = learning.matching_model(learning.latest_output_models(rt.obj, "Train"), deploy)
        if trained is None:
            logger.error("%s %s: hot update without a trained model", self.object_kind, rt.key)
            self.done(rt, state.action_key)
            return
        initial_eval = (rt.spec.get("evalSpec") or {}).get("initialEvalModel")
        eval_model = self._model(rt, initial_eval) if initial_eval else None
        await asyncio.to_thread(publish_hot_update, rt.storage, config_path, trained["url"],
                                [deploy["url"]] + ([eval_model["url"]] if eval_model else []),
                                self.clock())
        logger.info("%s %s: published model %s for hot update", self.object_kind, rt.key, trained["url"])
        self.done(rt, state.action_key)

    async def stopped(self, key: str, obj: dict[str, Any]) -> None:
        await super().stopped(key, obj)
        config_path = annotations(obj).get(learning.HOT_UPDATE_ANNOTATION)
        if config_path:
            remove_hot_update_dir(self.ctx.storage_for(obj), config_path)


def check_hot_update_path(config_path: str) -> None:
    """The GM always puts the hot-update config under ``/var/lib/sedna/model-hot-update``; anything else in the
    annotation would let a CR author make the LC write files elsewhere on the host, so it is refused."""
    normalized = os.path.normpath("/" + config_path.lstrip("/"))
    if not normalized.startswith(HOT_UPDATE_ROOT + "/"):
        raise StorageError(f"annotation {learning.HOT_UPDATE_ANNOTATION}={config_path!r} is not under "
                           f"{HOT_UPDATE_ROOT}")


def publish_hot_update(storage: Storage, config_path: str, model_url: str, also_copy_to: list[str],
                       now: datetime) -> str:
    """Model hot update (gm.md §3.5): put the model next to the config file the inference worker polls, then
    rewrite the config (atomically) with its container path and a new update time. Returns the config path."""
    check_hot_update_path(config_path)
    config_dir = config_path.rsplit("/", 1)[0]
    file_name = model_url.rstrip("/").rsplit("/", 1)[-1]
    storage.copy(model_url, learning.join_url(config_dir, file_name))
    for url in also_copy_to:
        storage.copy(model_url, url)
    target = storage.host_path(config_path)
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    tmp = target + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(learning.hot_update_config(file_name, now.strftime("%Y-%m-%d %H:%M:%S.%f")), f)
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)
    return target


def remove_hot_update_dir(storage: Storage, config_path: str) -> None:
    """Delete the job's hot-update directory, only if it is inside the GM's hot-update root (never elsewhere,
    whatever the annotation says)."""
    try:
        check_hot_update_path(config_path)
        directory = storage.host_path(config_path.rsplit("/", 1)[0])
        root = storage.host_path(HOT_UPDATE_ROOT)
    except StorageError as exc:
        logger.warning("not removing hot-update directory: %s", exc)
        return
    if not directory.startswith(root.rstrip("/") + "/"):
        logger.warning("not removing %s: outside %s", directory, HOT_UPDATE_ROOT)
        return
    shutil.rmtree(directory, ignore_errors=True)


class LifelongLearningManager(LearningJobManager):
    kind = "lifelonglearningjob"
    object_kind = "LifelongLearningJob"
    data_formats = ("txt", "csv")

    async def step(self, rt: JobRuntime, state: learning.JobState, ds: DatasetState | None) -> None:
        if state.stage == "Deploy":
            key = f"cycle{state.cycle}:Deploy"  # any type in the Deploy stage, once per cycle
            if rt.acted != key:
                await self.deploy(rt, key)
            return
        if rt.acted == state.action_key:
            return
        if (state.stage, state.type) == ("Train", "Waiting"):
            await self.train(rt, state, ds)
        elif (state.stage, state.type) == ("Eval", "Waiting"):
            await self.eval(rt, state, ds)

    async def train(self, rt: JobRuntime, state: learning.JobState, ds: DatasetState | None) -> None:
        if ds is None:
            return
        result = self.evaluate_train_trigger(rt)
        if not result:
            return
        rounds = rt.rounds + 1
        await self.start_train_round(rt, state, ds, rounds, result)

    async def eval(self, rt: JobRuntime, state: learning.JobState, ds: DatasetState | None) -> None:
        if ds is None:
            return
        models = learning.latest_output_models(rt.obj, "Train")
        if not models:
            # Upstream sends a null message here (rejected by the GM) and the job stalls; we report Eval Failed.
            logger.error("%s %s: no trained models to evaluate", self.object_kind, rt.key)
            self.send(rt, {"phase": "Eval", "status": "Failed", "output": None})
            self.done(rt, state.action_key)
            return
        data_url, index_url = await asyncio.to_thread(self.write_samples, rt, ds, "eval", rt.rounds,
                                                      list(rt.eval_versions))
        self.send(rt, {"phase": "Eval", "status": "Ready",
                       "input": self.input_doc(models=models, dataURL=data_url, dataIndexURL=index_url,
                                               outputDir=learning.join_url(rt.out_url, "eval", str(rt.rounds))),
                       "output": None})
        rt.eval_file = data_url
        self.done(rt, state.action_key)

    async def deploy(self, rt: JobRuntime, key: str) -> None:
        models = learning.latest_output_models(rt.obj, "Eval")
        if not models:
            self.send(rt, {"phase": "Deploy", "status": "Completed", "output": None})
            self.done(rt, key)
            return
        first = models[0]
        index_url = learning.join_url(rt.out_url, "deploy", "index.pkl")
        # A copy error raises: no message, retried next period (as upstream).
        await asyncio.to_thread(rt.storage.copy, first["url"], index_url)
        self.send(rt, {"phase": "Deploy", "status": "Ready",
                       "input": {"models": [{"format": first.get("format", ""), "url": first["url"]}]},
                       "output": None})
        self.done(rt, key)
