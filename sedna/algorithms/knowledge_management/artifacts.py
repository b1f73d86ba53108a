"""Moving knowledge-base artefacts: sample files (JSON), the fetcher that turns an artefact URL into a local
file, and the conversion between live task indexes and :class:`~.kb_index.IndexDoc` documents.

Format rules (nothing that crosses machines is a pickle):

- the index: JSON (:mod:`.kb_index`); extractors: JSON or safetensors
  (:mod:`sedna.algorithms.seen_task_learning.task_jobs.extractor`);
- samples: JSON ``{"x": ..., "y": [...], "meta_attr": ...}`` (a DataFrame's x as ``{"columns", "data"}``);
- task models: whatever the estimator's ``save`` writes. A model file fetched from another machine that looks
  like a pickle/joblib file (the backend's fallback for estimators without ``save``) is refused; such models
  only work where they were trained (no KB).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np

from sedna.algorithms.knowledge_management.kb_index import (
    IndexDoc,
    ModelDoc,
    TaskDoc,
    TaskGroupDoc,
    TaskTypeDoc,
)
from sedna.algorithms.seen_task_learning.artifact import Model, Task, TaskGroup, jsonable, num_samples
from sedna.algorithms.seen_task_learning.task_jobs.extractor import load_extractor
from sedna.common.file_ops import FileOps, FileOpsError
from sedna.datasources import BaseDataSource

__all__ = ["ArtifactFetcher", "doc_to_task_index", "dump_samples", "load_samples", "looks_like_pickle",
           "safe_name"]

logger = logging.getLogger(__name__)

KB_DOWNLOAD_MARK = "/knowledgebase/file/download?"


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]", "-", str(text))[:150].lstrip(".-") or "artefact"


def looks_like_pickle(path: str) -> bool:
    """True for pickle (protocol ≥ 2) and joblib files: PROTO opcode 0x80, a protocol number, then another
    opcode (never 0x00; a safetensors file's 8-byte header length has zero bytes there)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(3)
    except OSError:
        return False
    return len(head) == 3 and head[0] == 0x80 and 2 <= head[1] <= 5 and head[2] != 0


def _encode(values: Any) -> Any:
    if values is None:
        return None
    if hasattr(values, "columns"):
        return {"columns": [str(c) for c in values.columns], "data": jsonable(values.to_numpy().tolist())}
    if hasattr(values, "to_numpy"):
        return jsonable(values.to_numpy().tolist())
    return jsonable(list(values) if not isinstance(values, np.ndarray) else values)


def dump_samples(ds: BaseDataSource, path: str) -> str:
    doc = {"data_type": ds.data_type, "x": _encode(ds.x), "y": _encode(ds.y), "meta_attr": _encode(ds.meta_attr)}
    Path(path).write_text(json.dumps(doc), encoding="utf-8")
    return path


def load_samples(path: str) -> BaseDataSource:
    import pandas as pd

    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or "x" not in doc:
        raise ValueError(f"{path}: not a sample file")
    ds = BaseDataSource(data_type=str(doc.get("data_type") or "train"))
    x = doc["x"]
    ds.x = pd.DataFrame(x["data"], columns=x["columns"]) if isinstance(x, dict) else np.asarray(x)
    ds.y = np.asarray(doc["y"]) if doc.get("y") is not None else None
    ds.meta_attr = doc.get("meta_attr")
    return ds


class ArtifactFetcher:
    """``fetcher(url) -> local path``: local paths as they are; KB URLs through the KB client (with its token);
    ``http(s)``/``s3`` through FileOps. Downloads are cached per URL in ``cache_dir``; a downloaded model
    file that is a pickle is refused."""

    def __init__(self, cache_dir: str, kb_client: Any = None):
        self.cache_dir = cache_dir
        self.kb_client = kb_client
        self._cache: dict[str, str] = {}
        self._lock = threading.Lock()

    def _kb_client_for(self, url: str) -> Any:
        """The KB client for ``url``: the configured one, or — for a KB download URL of another address (an
        inference pod gets no ``KB_SERVER``) — a client for that KB (token from ``SEDNA_KB_TOKEN``)."""
        if self.kb_client is not None and self.kb_client.owns(url):
            return self.kb_client
        base, sep, _ = url.partition(KB_DOWNLOAD_MARK)
        if sep and url.startswith(("http://", "https://")):
            from sedna.service.client.knowledge_base import KBClient

            return KBClient(base)
        return None

    def target(self, url: str, sub_dir: str = "") -> str:
        digest = hashlib.sha1(url.encode(), usedforsecurity=False).hexdigest()[:10]
        tail = url.rsplit("name=", 1)[-1] if "name=" in url else os.path.basename(url.split("?")[0].rstrip("/"))
        return os.path.join(self.cache_dir, sub_dir, f"{digest}-{safe_name(tail)}")

    def __call__(self, url: str, dst: str | None = None, allow_pickle: bool = False) -> str:
        url = str(url)
        local = FileOps._local_path(url)
        if not FileOps.is_remote(url) and os.path.exists(local):
            return local
        with self._lock:
            cached = self._cache.get(url)
        if cached and os.path.exists(cached) and dst is None:
            return cached
        dst = dst or self.target(url)
        os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
        kb_client = self._kb_client_for(url)
        if kb_client is not None:
            kb_client.download(url, dst)
        elif FileOps.is_remote(url):
            FileOps.download(url, dst)
        else:
            raise FileOpsError(url, "no such file, and not a URL the knowledge base or FileOps can fetch")
        if not allow_pickle and looks_like_pickle(dst):
            os.remove(dst)
            raise FileOpsError(url, "refusing a pickled model from another machine; give the estimator "
                                    "save()/load() methods that write a safe format")
        with self._lock:
            self._cache[url] = dst
        return dst


def doc_to_task_index(doc: IndexDoc, task_type: str, fetch: ArtifactFetcher) -> dict[str, Any]:
    """``{"extractor", "task_groups"}`` with live objects for one task type of an index document; models stay
    URLs (loaded on first use); group samples are fetched lazily through ``group.samples_url``."""
    part: TaskTypeDoc = getattr(doc, task_type)
    extractor = load_extractor(fetch(part.extractor)) if part.extractor else None
    groups = []
    for position, gdoc in enumerate(part.task_groups):
        tasks = [Task(entry=t.entry, samples=None, meta_attr=t.meta_attr) for t in gdoc.tasks]
        group = TaskGroup(entry=gdoc.entry, tasks=tasks)
        group.samples_url = gdoc.samples
        group.deploy = gdoc.deploy
        if gdoc.model is not None:
            model = Model(index=gdoc.model.index if gdoc.model.index is not None else position,
                          entry=gdoc.model.entry, model=gdoc.model.model, result=gdoc.model.result)
            model.meta_attr = gdoc.model.meta_attr
            group.model = model
            for task in tasks:
                task.model = model
        groups.append(group)
    return {"extractor": extractor, "task_groups": groups}


def group_doc(group: TaskGroup, model_url: str | None, samples_url: str | None) -> TaskGroupDoc:
    tasks = [TaskDoc(entry=t.entry, meta_attr=jsonable(t.meta_attr), sample_num=num_samples(t.samples))
             for t in group.tasks]
    model = None
    if group.model is not None:
        model = ModelDoc(index=int(group.model.index), entry=group.model.entry, model=model_url,
                         result=jsonable(group.model.result), meta_attr=jsonable(group.model.meta_attr))
    return TaskGroupDoc(entry=group.entry, tasks=tasks, model=model, samples=samples_url,
                        sample_num=num_samples(group.samples), deploy=bool(getattr(group, "deploy", True)))
