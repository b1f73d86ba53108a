"""The objects a lifelong-learning knowledge base is made of — ``Task``, ``TaskGroup``, ``Model`` — plus the
sample helpers every task algorithm shares (row subsets that remember where they came from).

A sample set is a :class:`~sedna.datasources.BaseDataSource` whose ``x`` is a pandas DataFrame, a numpy array
or a list, ``y`` the matching labels (or None) and ``meta_attr`` per-row task attributes. Subsets made by
:func:`subset` carry ``inx``: the row positions in the set they were cut from, which is how per-task
predictions are put back into the caller's order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sedna.datasources import BaseDataSource

__all__ = ["Model", "Task", "TaskGroup", "concat_samples", "copy_samples", "jsonable", "num_samples",
           "rows", "subset"]


class Model:
    """A trained task model: ``index`` (position in the KB's model list), ``entry`` (its task group),
    ``model`` (where the model file is, or a loaded estimator), ``result`` (training metrics), ``meta_attr``
    (the attributes of the tasks it serves)."""

    def __init__(self, index: int, entry: str, model: Any, result: Any):
        self.index = index
        self.entry = entry
        self.model = model
        self.result = result
        self.meta_attr: Any = None

    def __repr__(self) -> str:
        return f"Model(index={self.index}, entry={self.entry!r}, model={self.model!r})"


class Task:
    """One task: its ``entry`` (name), its ``samples`` and the attributes that define it (``meta_attr``).
    Inference fills ``model``, ``result`` and (evaluation) ``scores``."""

    def __init__(self, entry: str, samples: BaseDataSource | None, meta_attr: Any = None):
        self.entry = entry
        self.samples = samples
        self.meta_attr = meta_attr
        self.test_samples: BaseDataSource | None = None
        self.model: Model | None = None
        self.result: Any = None
        self.scores: dict[str, float] = {}
        self.estimator: Any = None  # the loaded model that produced ``result`` (probe-based detectors use it)

    def __repr__(self) -> str:
        return f"Task(entry={self.entry!r}, samples={num_samples(self.samples)})"


class TaskGroup:
    """Tasks that share one model (``entry`` names the group); ``samples`` are all of their samples."""

    def __init__(self, entry: str, tasks: list[Task]):
        self.entry = entry
        self.tasks = list(tasks)
        self.samples: BaseDataSource | None = None
        self.model: Model | None = None

    def __repr__(self) -> str:
        return f"TaskGroup(entry={self.entry!r}, tasks={[t.entry for t in self.tasks]})"


def num_samples(ds: Any) -> int:
    if ds is None:
        return 0
    try:
        return len(ds.x) if ds.x is not None else 0
    except TypeError:
        return 0


def rows(values: Any, positions: Any) -> Any:
    """Rows ``positions`` (integer positions) of a DataFrame/Series/array/list; None stays None."""
    if values is None:
        return None
    positions = np.asarray(positions, dtype=np.int64)
    if hasattr(values, "iloc"):
        return values.iloc[positions]
    if isinstance(values, np.ndarray):
        return values[positions]
    return [values[int(i)] for i in positions]


def _length(values: Any) -> int:
    return 0 if values is None else len(values)


def subset(ds: BaseDataSource, positions: Any) -> BaseDataSource:
    """A new data source holding rows ``positions`` of ``ds`` (x, y and meta_attr alike); ``inx`` records
    the positions."""
    out = BaseDataSource(data_type=ds.data_type)
    out.x = rows(ds.x, positions)
    out.y = rows(ds.y, positions) if _length(ds.y) == _length(ds.x) else None
    out.meta_attr = rows(ds.meta_attr, positions) if _length(ds.meta_attr) == _length(ds.x) else None
    out.inx = [int(i) for i in np.asarray(positions, dtype=np.int64)]
    return out


def copy_samples(ds: BaseDataSource) -> BaseDataSource:
    """A shallow copy whose ``x``/``y`` can be replaced without touching the caller's object."""
    out = BaseDataSource(data_type=ds.data_type)
    out.x = ds.x.copy() if hasattr(ds.x, "copy") else ds.x
    out.y = ds.y
    out.meta_attr = ds.meta_attr
    if hasattr(ds, "inx"):
        out.inx = list(ds.inx)
    return out


def concat_samples(parts: list[BaseDataSource], data_type: str = "train") -> BaseDataSource:
    """Rows of ``parts`` one after another (DataFrames concatenated with a fresh index)."""
    import pandas as pd

    out = BaseDataSource(data_type=data_type)
    parts = [p for p in parts if p is not None and num_samples(p)]
    if not parts:
        return out
    xs = [p.x for p in parts]
    if all(hasattr(x, "iloc") for x in xs):
        out.x = pd.concat(xs, ignore_index=True)
    elif all(isinstance(x, np.ndarray) for x in xs):
        out.x = np.concatenate(xs)
    else:
        out.x = [item for x in xs for item in list(x)]
    ys = [p.y for p in parts]
    if all(y is not None and _length(y) == num_samples(p) for y, p in zip(ys, parts)):
        if all(hasattr(y, "iloc") for y in ys):
            out.y = pd.concat(ys, ignore_index=True)
        else:
            out.y = np.concatenate([np.asarray(y) for y in ys])
    return out


def jsonable(value: Any) -> Any:
    """``value`` with numpy scalars/arrays turned into plain Python (for JSON documents)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
