"""Pure pieces of the incremental/lifelong learning engines (gm-lc-protocol §8-§10).

Everything here is a function of its arguments (job object, counters, time): the engines in
``sedna.lc.managers.jobs`` feed it and carry out the result (write files, copy models, queue messages).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from sedna.api.common import condition_data

MAX_EVAL_VERSIONS = 5

ROUNDS_ANNOTATION = "sedna.io/rounds"
SAMPLES_ANNOTATION = "sedna.io/number-of-samples"
EVAL_FILE_ANNOTATION = "sedna.io/data-file-of-eval"
HOT_UPDATE_ANNOTATION = "sedna.io/model-hot-update-config"
# Ours: which job state the LC last acted on, and why the last train trigger fired.
ACTED_ANNOTATION = "sedna.io/lc-acted"
TRIGGER_ANNOTATION = "sedna.io/lc-last-trigger"
LC_ANNOTATIONS = (ROUNDS_ANNOTATION, SAMPLES_ANNOTATION, EVAL_FILE_ANNOTATION, ACTED_ANNOTATION,
                  TRIGGER_ANNOTATION)


@dataclass(frozen=True)
class JobState:
    """The latest condition of a job: its stage/type, its index and the current learning cycle.

    ``cycle`` is the index of the latest (Train, Waiting) condition: one pass Train→Eval→Deploy. Actions that
    must happen once per state are keyed by ``action_key``; actions that happen once per cycle by ``cycle``.
    """

    stage: str
    type: str
    index: int
    cycle: int

    @property
    def action_key(self) -> str:
        return f"{self.index}:{self.stage}:{self.type}"


def conditions(obj: dict[str, Any]) -> list[dict[str, Any]]:
    conds = (obj.get("status") or {}).get("conditions") or []
    return [c for c in conds if isinstance(c, dict)]


def job_state(obj: dict[str, Any]) -> JobState | None:
    conds = conditions(obj)
    if not conds:
        return None
    cycle = -1
    for i, c in enumerate(conds):
        if c.get("stage") == "Train" and c.get("type") == "Waiting":
            cycle = i
    last = conds[-1]
    return JobState(str(last.get("stage", "")), str(last.get("type", "")), len(conds) - 1, cycle)


def latest_output_models(obj: dict[str, Any], stage: str, ctype: str = "Completed") -> list[dict[str, Any]] | None:
    """``output.models`` of the most recent (stage, ctype) condition that has data; None if there is none."""
    for cond in reversed(conditions(obj)):
        if cond.get("stage") == stage and cond.get("type") == ctype:
            output = condition_data(cond).get("output") or {}
            models = output.get("models") if isinstance(output, dict) else None
            if models:
                return [m for m in models if isinstance(m, dict)]
    return None


def _devices(model: dict[str, Any]) -> list[str]:
    return list(model.get("device_soc_versions") or model.get("devices") or [])


def matching_model(candidates: list[dict[str, Any]] | None, reference: dict[str, Any]) -> dict[str, Any] | None:
    """First candidate with the reference model's format (and device, when both sides name one)."""
    for model in candidates or []:
        if model.get("format") != reference.get("format"):
            continue
        ref_devices, devices = _devices(reference), _devices(model)
        if ref_devices and len(devices) == 1 and devices[0] not in ref_devices:
            continue
        return model
    return None


def model_ref(model: dict[str, Any]) -> dict[str, Any]:
    ref = {"format": model.get("format", ""), "url": model.get("url", "")}
    if _devices(model):
        ref["device_soc_versions"] = _devices(model)
    return ref


def split_intake(current: int, consumed: int, train_prob: float) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """New samples [consumed, current) → (train range, eval range); None if nothing new.

    ``trainNum = floor(trainProb * new)`` as upstream; the rest is a new eval version.
    """
    if current <= consumed:
        return None
    new = current - consumed
    prob = min(max(float(train_prob), 0.0), 1.0)
    train_num = int(prob * new)
    return (consumed, consumed + train_num), (consumed + train_num, current)


def range_total(ranges: list[tuple[int, int]]) -> int:
    return sum(max(0, b - a) for a, b in ranges)


def deploy_stats(new_metrics: dict[str, Any], old_metrics: dict[str, Any]) -> dict[str, Any]:
    """Deploy-trigger stats (§8): each metric of the new model and ``<m>_delta`` = new[i] - old[i]."""
    stats: dict[str, Any] = {}
    for name, values in (new_metrics or {}).items():
        new = values if isinstance(values, list) else [values]
        stats[name] = new
        old = (old_metrics or {}).get(name)
        old = old if isinstance(old, list) else ([] if old is None else [old])
        deltas = []
        for a, b in zip(new, old):
            try:
                deltas.append(float(a) - float(b))
            except (TypeError, ValueError):
                deltas.append(None)
        stats[f"{name}_delta"] = deltas
    return stats


def index_lines(prefix: str, sample_lines) -> Any:
    """Index file content (§9.5): the dataset URL prefix, then every token of a sample that has an extension."""
    yield prefix
    for line in sample_lines:
        for token in line.split():
            if os.path.splitext(token)[1]:
                yield token


def join_url(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/")] + [p.strip("/") for p in parts])


def hot_update_config(model_file_name: str, update_time: str) -> dict[str, Any]:
    return {"model_config": {"model_path": f"/model-hot-update/{model_file_name}",
                             "model_update_time": update_time}}
