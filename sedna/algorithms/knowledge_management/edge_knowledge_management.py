"""``EdgeKnowledgeManagement``: the knowledge base as an inference worker keeps it (sdk.md §8.3).

``update_kb(index_url)`` copies an index and every artefact it names (models, samples, extractors) into the
edge KB directory (env ``edge_output_url``, default ``/var/lib/sedna/kb``; a temp dir if that cannot be
created), rewrites the index to those local paths and saves it as ``<edge>/index.pkl``; artefacts of earlier
versions are deleted.
``start_services()`` starts two daemon threads: a poller that reads the index at ``MODEL_URLS`` every
``MODEL_POLL_PERIOD_SECONDS`` (default 30) and records its ``create_time`` as the latest version (the worker
redeploys when it differs), and an uploader that copies new files of ``<edge>/unseen_samples`` to env
``unseen_save_url`` (default ``<DATA_PATH_PREFIX>/unseen_samples``).
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from typing import Any

from sedna.algorithms.knowledge_management.artifacts import ArtifactFetcher, safe_name
from sedna.algorithms.knowledge_management.cloud_knowledge_management import read_index, write_text
from sedna.algorithms.knowledge_management.kb_index import IndexDoc, dumps_index
from sedna.common.class_factory import ClassFactory, ClassType
from sedna.common.config import BaseConfig, Context
from sedna.common.constant import KBResourceConstant
from sedna.common.file_ops import FileOps

__all__ = ["EdgeKnowledgeManagement", "edge_kb_dir"]

logger = logging.getLogger(__name__)

INDEX_NAME = KBResourceConstant.KB_INDEX_NAME.value


def edge_kb_dir(explicit: str | None = None) -> str:
    """The edge KB directory: ``explicit``, env ``edge_output_url``/``EDGE_OUTPUT_URL``, else
    ``KBResourceConstant.EDGE_KB_DIR``; falls back to a temp dir when it cannot be created."""
    path = explicit or Context.get_parameters("edge_output_url") or KBResourceConstant.EDGE_KB_DIR.value
    try:
        os.makedirs(path, exist_ok=True)
        if not os.access(path, os.W_OK):
            raise PermissionError(path)
    except OSError as exc:
        fallback = os.path.join(tempfile.gettempdir(), "sedna-kb")
        logger.warning("edge KB dir %s is not usable (%s); using %s", path, exc, fallback)
        os.makedirs(fallback, exist_ok=True)
        return fallback
    return path


@ClassFactory.register(ClassType.KM)
class EdgeKnowledgeManagement:
    """``EdgeKnowledgeManagement(config=None, seen_estimator=None, unseen_estimator=None, **kwargs)``;
    keyword overrides ``edge_output_url``, ``kb_client``, ``poll_period``."""

    def __init__(self, config: Any = None, seen_estimator: Any = None, unseen_estimator: Any = None,
                 **kwargs: Any):
        from sedna.service.client.knowledge_base import KBClient

        self.config = config
        self.seen_estimator = seen_estimator
        self.unseen_estimator = unseen_estimator
        self.edge_output_url = edge_kb_dir(kwargs.get("edge_output_url"))
        self.task_index = os.path.join(self.edge_output_url, INDEX_NAME)
        self.local_unseen_save_url = os.path.join(self.edge_output_url, "unseen_samples")
        os.makedirs(self.local_unseen_save_url, exist_ok=True)
        prefix = getattr(BaseConfig, "data_path_prefix", None) or "/home/data"
        self.unseen_save_url = str(kwargs.get("unseen_save_url") or Context.get_parameters(
            "unseen_save_url", FileOps.join_path(prefix, "unseen_samples")))
        kb_server = kwargs.get("kb_server", Context.get_parameters("KB_SERVER"))
        self.kb_client = kwargs.get("kb_client") or (KBClient(kb_server) if kb_server else None)
        self.fetch = ArtifactFetcher(os.path.join(self.edge_output_url, ".cache"), self.kb_client)
        raw_period = kwargs.get("poll_period") or Context.get_parameters("MODEL_POLL_PERIOD_SECONDS", "30")
        try:
            self.poll_period = max(float(raw_period), 0.05)
        except ValueError:
            self.poll_period = 30.0
        self.current_index_version: str | None = None
        self.lastest_index_version: str | None = None  # upstream's spelling
        self.uploaded: set[str] = set()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ deploying the KB

    def update_kb(self, task_index_url: str) -> str:
        """Copy the index at ``task_index_url`` and its artefacts into the edge KB; returns the local index."""
        doc = read_index(self.fetch(str(task_index_url), dst=os.path.join(self.edge_output_url, ".incoming.json"),
                                    allow_pickle=True))
        local = self._localise(doc)
        write_text(self.task_index, dumps_index(local))
        self._remove_unreferenced(local)
        self.current_index_version = local.create_time
        if self.lastest_index_version is None:
            self.lastest_index_version = local.create_time
        logger.info("edge knowledge base now at version %s (%s)", local.create_time, self.task_index)
        return self.task_index

    def _localise(self, doc: IndexDoc) -> IndexDoc:
        out = doc.model_copy(deep=True)
        copied: dict[str, str] = {}

        def local_copy(url: str | None, task_type: str) -> str | None:
            if not url:
                return url
            if url not in copied:
                name = self.fetch.target(url)
                dst = os.path.join(self.edge_output_url, task_type, os.path.basename(name))
                copied[url] = self.fetch(url, dst=dst) if (FileOps.is_remote(url) or not os.path.exists(
                    FileOps._local_path(url))) else self._copy_local(url, dst)
            return copied[url]

        for task_type in (KBResourceConstant.SEEN_TASK.value, KBResourceConstant.UNSEEN_TASK.value):
            part = getattr(out, task_type)
            part.extractor = local_copy(part.extractor, task_type)
            for group in part.task_groups:
                group.samples = local_copy(group.samples, task_type)
                if group.model is not None:
                    group.model.model = local_copy(group.model.model, task_type)
        return out

    def _remove_unreferenced(self, doc: IndexDoc) -> None:
        """Delete artefacts of earlier versions: the edge keeps only what the current index names."""
        keep = set()
        for task_type in (KBResourceConstant.SEEN_TASK.value, KBResourceConstant.UNSEEN_TASK.value):
            part = getattr(doc, task_type)
            keep.add(part.extractor)
            for group in part.task_groups:
                keep.add(group.samples)
                if group.model is not None:
                    keep.add(group.model.model)
        keep = {os.path.abspath(p) for p in keep if p}
        for task_type in (KBResourceConstant.SEEN_TASK.value, KBResourceConstant.UNSEEN_TASK.value):
            folder = os.path.join(self.edge_output_url, task_type)
            if not os.path.isdir(folder):
                continue
            for name in os.listdir(folder):
                path = os.path.abspath(os.path.join(folder, name))
                if path not in keep and os.path.isfile(path):
                    os.remove(path)

    @staticmethod
    def _copy_local(url: str, dst: str) -> str:
        return FileOps.copy_file(FileOps._local_path(url), dst)

    def load_index(self) -> IndexDoc:
        return read_index(self.task_index)

    def needs_update(self) -> bool:
        return (not os.path.isfile(self.task_index) or self.current_index_version is None
                or (self.lastest_index_version is not None
                    and self.lastest_index_version != self.current_index_version))

    # ------------------------------------------------------------------ services

    def start_services(self, index_url: str | None = None) -> None:
        if self._threads:
            return
        index_url = index_url or Context.get_parameters("MODEL_URLS")
        if index_url:
            self._threads.append(threading.Thread(target=self._poll_index, args=(index_url,),
                                                  name="kb-index-poll", daemon=True))
        self._threads.append(threading.Thread(target=self._upload_unseen, name="kb-unseen-upload", daemon=True))
        for thread in self._threads:
            thread.start()

    def stop_services(self, timeout: float = 5.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)

    def check_index_once(self, index_url: str) -> str | None:
        try:
            doc = read_index(self.fetch(index_url, dst=os.path.join(self.edge_output_url, ".poll.json"),
                                        allow_pickle=True))
        except Exception as exc:  # noqa: BLE001 - a missing or half-written index is retried next period
            logger.debug("index %s not readable yet: %s", index_url, exc)
            return None
        self.lastest_index_version = doc.create_time
        return doc.create_time

    def _poll_index(self, index_url: str) -> None:
        while not self._stop.wait(self.poll_period):
            self.check_index_once(index_url)

    def upload_unseen_once(self) -> list[str]:
        done = []
        for name in sorted(os.listdir(self.local_unseen_save_url)):
            path = os.path.join(self.local_unseen_save_url, name)
            if name.startswith(".") or name in self.uploaded or not os.path.isfile(path):
                continue
            if time.time() - os.path.getmtime(path) < 1.0:  # still being written
                continue
            try:
                FileOps.upload(path, FileOps.join_path(self.unseen_save_url, name), clean=False)
            except Exception as exc:  # noqa: BLE001 - retried next period
                logger.warning("uploading unseen sample %s failed: %s", path, exc)
                continue
            self.uploaded.add(name)
            done.append(name)
        return done

    def _upload_unseen(self) -> None:
        while not self._stop.wait(min(self.poll_period, 1.0)):
            self.upload_unseen_once()

    def save_unseen_samples(self, samples: Any) -> str | None:
        """Write unseen samples into ``<edge>/unseen_samples``: a DataFrame as CSV, existing files (image
        paths) copied, anything else as JSON lines. Returns the file (or dir) written."""
        import json

        x = getattr(samples, "x", samples)
        if x is None or not len(x):
            return None
        stamp = f"{time.time():.6f}".replace(".", "")
        if hasattr(x, "to_csv"):
            path = os.path.join(self.local_unseen_save_url, f"unseen-{stamp}.csv")
            x.to_csv(path + ".part", index=False)
            os.replace(path + ".part", path)
            return path
        items = list(x)
        if all(isinstance(i, str) and os.path.isfile(i) for i in items):
            for item in items:
                FileOps.copy_file(item, os.path.join(self.local_unseen_save_url,
                                                     f"{stamp}-{safe_name(os.path.basename(item))}"))
            return self.local_unseen_save_url
        path = os.path.join(self.local_unseen_save_url, f"unseen-{stamp}.jsonl")
        from sedna.algorithms.seen_task_learning.artifact import jsonable

        with open(path + ".part", "w", encoding="utf-8") as fh:
            for item in items:
                fh.write(json.dumps(jsonable(item)) + "\n")
        os.replace(path + ".part", path)
        return path
