"""The knowledge-base index document: what the cloud publishes, the KB stores and the edge deploys.

Upstream's index is a joblib pickle of live objects (``index.pkl``). Ours is a JSON document with the same
shape — seen and unseen task groups, each with its tasks, model and sample file, plus the task extractor — in
which every artefact is a URL (a KB download URL, a local path or ``s3://``). The file keeps the name
``index.pkl`` because the GM and LC pass that name around (``<outputDir>/deploy/index.pkl``).

``apply_task_status`` is the pure rule behind ``POST /knowledgebase/update/status`` (and the KB-less
fallback of evaluation).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["INDEX_FORMAT", "IndexDoc", "ModelDoc", "TaskDoc", "TaskGroupDoc", "TaskTypeDoc", "apply_task_status",
           "dumps_index", "loads_index"]

INDEX_FORMAT = "sedna-kb-index/v1"


class ModelDoc(BaseModel):
    model_config = ConfigDict(extra="allow")

    index: int = 0
    entry: str
    model: str | None = None
    result: Any = None
    meta_attr: Any = None


class TaskDoc(BaseModel):
    model_config = ConfigDict(extra="allow")

    entry: str
    meta_attr: Any = None
    sample_num: int = 0
    samples: str | None = None


class TaskGroupDoc(BaseModel):
    model_config = ConfigDict(extra="allow")

    entry: str = Field(min_length=1, max_length=512)
    tasks: list[TaskDoc] = Field(default_factory=list)
    model: ModelDoc | None = None
    samples: str | None = None
    sample_num: int = 0
    deploy: bool = True


class TaskTypeDoc(BaseModel):
    model_config = ConfigDict(extra="allow")

    extractor: str | None = None
    task_groups: list[TaskGroupDoc] = Field(default_factory=list)


class IndexDoc(BaseModel):
    model_config = ConfigDict(extra="allow")

    format: str = INDEX_FORMAT
    create_time: str = ""
    seen_task: TaskTypeDoc = Field(default_factory=TaskTypeDoc)
    unseen_task: TaskTypeDoc = Field(default_factory=TaskTypeDoc)


def loads_index(data: bytes | str) -> IndexDoc:
    """Parse and validate an index document (``ValueError`` with the field path if it is not one)."""
    if isinstance(data, bytes):
        data = data.decode("utf-8")
    return IndexDoc.model_validate_json(data)


def dumps_index(doc: IndexDoc | dict) -> str:
    if isinstance(doc, IndexDoc):
        return doc.model_dump_json(indent=1)
    return json.dumps(doc, indent=1)


def apply_task_status(doc: IndexDoc, names: list[str], status: int) -> IndexDoc:
    """Mark the named seen groups ``deploy = bool(status)`` and rewrite which model serves each group.

    A group that is not deployable (named with status 0, or unnamed with status 1) is served by the model of
    the first deployable seen group, so allocation still finds a model at its position; with no deployable
    group left, the first group's model serves all (upstream's rule: the first group).
    """
    out = copy.deepcopy(doc)
    deploy = bool(status)
    named = {n.strip() for n in names if n and n.strip()}
    groups = out.seen_task.task_groups
    for group in groups:
        group.deploy = (group.entry in named) == deploy
    keep = next((g for g in groups if g.deploy), groups[0] if groups else None)
    for group in groups:
        if not group.deploy and keep is not None and keep.model is not None and group is not keep:
            replacement = keep.model.model_copy(deep=True)
            replacement.index = group.model.index if group.model is not None else replacement.index
            replacement.entry = group.entry
            group.model = replacement
    return out
