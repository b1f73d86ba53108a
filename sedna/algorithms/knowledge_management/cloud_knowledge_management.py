"""``CloudKnowledgeManagement``: publishes what a training worker learned to the knowledge base (sdk.md §8.3).

For seen and unseen tasks separately: each group's model file goes to ``<OUTPUT_URL>/<seen_task|unseen_task>/``
and then to the KB; the group's samples are written there as ``<data_type>_<group>.sample`` (JSON) and
uploaded; the task extractor as ``<type>_task_attr_extractor.json|.safetensors``. The index document
(:mod:`.kb_index`) is sent to the KB's ``/update`` and written to ``<OUTPUT_URL>/index.pkl``, whose URL is
returned (upstream downloads the KB's ``index.pkl`` back, which is the same document unless another job
published to the KB in between).

Without ``KB_SERVER`` the index points at the files under ``OUTPUT_URL`` (local paths or ``s3://``), which
is enough when training, evaluation and inference share storage. Files uploaded to the KB get a name prefixed
with the publication time, so rounds never overwrite each other's models.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from typing import Any

from sedna.algorithms.knowledge_management.artifacts import (
    dump_samples,
    group_doc,
    looks_like_pickle,
    safe_name,
)
from sedna.algorithms.knowledge_management.kb_index import IndexDoc, TaskTypeDoc, dumps_index, loads_index
from sedna.algorithms.seen_task_learning.artifact import num_samples
from sedna.algorithms.seen_task_learning.task_jobs.extractor import dump_extractor, extractor_suffix
from sedna.common.class_factory import ClassFactory, ClassType
from sedna.common.config import Context
from sedna.common.constant import KBResourceConstant
from sedna.common.file_ops import FileOps, FileOpsError

__all__ = ["CloudKnowledgeManagement"]

logger = logging.getLogger(__name__)

SEEN = KBResourceConstant.SEEN_TASK.value
UNSEEN = KBResourceConstant.UNSEEN_TASK.value
INDEX_NAME = KBResourceConstant.KB_INDEX_NAME.value


@ClassFactory.register(ClassType.KM)
class CloudKnowledgeManagement:
    """``CloudKnowledgeManagement(config=None, seen_estimator=None, unseen_estimator=None, **kwargs)``;
    keyword overrides ``output_url`` (default env ``OUTPUT_URL`` or ``/tmp``), ``kb_server`` (env
    ``KB_SERVER``) and ``kb_client``."""

    def __init__(self, config: Any = None, seen_estimator: Any = None, unseen_estimator: Any = None,
                 **kwargs: Any):
        from sedna.service.client.knowledge_base import KBClient

        self.config = config
        self.seen_estimator = seen_estimator
        self.unseen_estimator = unseen_estimator
        self.output_url = str(kwargs.get("output_url") or Context.get_parameters("OUTPUT_URL", "/tmp"))
        self.kb_server = kwargs.get("kb_server", Context.get_parameters("KB_SERVER"))
        self.kb_client = kwargs.get("kb_client") or (KBClient(self.kb_server) if self.kb_server else None)
        self.task_index = FileOps.join_path(self.output_url, INDEX_NAME)
        self.remote_output = FileOps.is_remote(self.output_url)

    # ------------------------------------------------------------------ publishing

    def _stage_dir(self) -> str:
        if self.remote_output:
            return tempfile.mkdtemp(prefix="sedna-kb-publish-")
        os.makedirs(self.output_url, exist_ok=True)
        return self.output_url

    def _publish_file(self, local: str, task_type: str, prefix: str, is_model: bool) -> str:
        """Put a staged file where the index will point: the KB, else ``OUTPUT_URL``."""
        if is_model and (self.kb_client is not None or self.remote_output) and looks_like_pickle(local):
            raise FileOpsError(local, "refusing to publish a pickled model; give the estimator save()/load() "
                                      "methods that write a safe format (weights, JSON, safetensors...)")
        if self.kb_client is not None:
            return self.kb_client.upload_file(local, name=f"{prefix}-{task_type}-{safe_name(os.path.basename(local))}")
        if self.remote_output:
            target = FileOps.join_path(self.output_url, task_type, os.path.basename(local))
            return FileOps.upload(local, target, clean=False)
        return local

    def _publish_type(self, task_type: str, part: dict | None, stage: str, prefix: str) -> TaskTypeDoc:
        if not part:
            return TaskTypeDoc()
        type_dir = os.path.join(stage, task_type)
        os.makedirs(type_dir, exist_ok=True)
        published: dict[str, str] = {}
        groups = []
        for group in part.get("task_groups") or []:
            model_url = None
            model = group.model
            if model is not None and isinstance(model.model, str) and model.model:
                source = model.model
                if source not in published:
                    local = FileOps._local_path(source)
                    if FileOps.is_remote(source) or not os.path.isfile(local):
                        published[source] = source  # already published (a model kept from an earlier round)
                    else:
                        staged = os.path.join(type_dir, os.path.basename(local))
                        if os.path.abspath(staged) != os.path.abspath(local):
                            FileOps.copy_file(local, staged)
                        published[source] = self._publish_file(staged, task_type, prefix, is_model=True)
                model_url = published[source]
            samples_url = getattr(group, "samples_url", None)
            if num_samples(group.samples):
                path = os.path.join(type_dir, f"{group.samples.data_type}_{safe_name(group.entry)}.sample")
                dump_samples(group.samples, path)
                samples_url = self._publish_file(path, task_type, prefix, is_model=False)
            groups.append(group_doc(group, model_url, samples_url))
        extractor_url = None
        extractor = part.get(KBResourceConstant.EXTRACTOR.value)
        if extractor is not None:
            path = os.path.join(type_dir, f"{task_type}_task_attr_extractor{extractor_suffix(extractor)}")
            dump_extractor(extractor, path)
            extractor_url = self._publish_file(path, task_type, prefix, is_model=False)
        return TaskTypeDoc(extractor=extractor_url, task_groups=groups)

    def update_kb(self, task_index: dict) -> str:
        """Publish ``{"seen_task": {...}, "unseen_task": {...}}``; returns the URL of ``<OUTPUT_URL>/index.pkl``."""
        now = time.time()
        prefix = f"{int(now * 1000)}"
        stage = self._stage_dir()
        doc = IndexDoc(create_time=str(now),
                       seen_task=self._publish_type(SEEN, task_index.get(SEEN), stage, prefix),
                       unseen_task=self._publish_type(UNSEEN, task_index.get(UNSEEN), stage, prefix))
        local_index = os.path.join(stage, INDEX_NAME)
        text = dumps_index(doc)
        if self.kb_client is not None:
            fd, sent = tempfile.mkstemp(prefix="sedna-kb-index-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            if not self.kb_client.update_db(sent):
                logger.error("knowledge base %s did not take the index; keeping the local copy", self.kb_server)
            if os.path.exists(sent):
                os.remove(sent)
        # the document just sent, not the KB's index.pkl: another job may publish to the same KB meanwhile
        write_text(local_index, text)
        if self.remote_output:
            FileOps.upload(local_index, self.task_index, clean=False)
        return self.task_index if self.remote_output else local_index


def write_text(path: str, text: str) -> str:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return path


def read_index(path: str) -> IndexDoc:
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        return loads_index(data)
    except ValueError as exc:
        raise ValueError(f"{path} is not a knowledge-base index document: {exc}") from None


def index_json(doc: IndexDoc) -> dict:
    return json.loads(dumps_index(doc))
