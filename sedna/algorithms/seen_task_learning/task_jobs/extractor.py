"""Task extractors: what a task definition leaves behind so that inference can allocate new samples.

Extractors cross machines (cloud → KB → edge), so each one is stored without pickle:

- ``dict`` (``TaskDefinitionByDataAttr`` / ``ByOrigin``: task key → task index) — a JSON object;
- :class:`SVCTaskExtractor` (``TaskDefinitionBySVC``) — the training features and cluster labels as
  safetensors; the SVC is refitted (deterministically) when loaded, so no fitted scikit-learn object is ever
  serialised.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from sedna.common import tensors

__all__ = ["SVCTaskExtractor", "dump_extractor", "extractor_suffix", "load_extractor"]


class SVCTaskExtractor:
    """An SVC trained to reproduce a clustering of the training rows; ``predict(x) -> task indices``."""

    def __init__(self, x: np.ndarray, labels: np.ndarray, gamma: float = 0.01, columns: list[str] | None = None):
        from sklearn.svm import SVC

        self.x = np.asarray(x, dtype=np.float64)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.gamma = float(gamma)
        self.columns = list(columns) if columns is not None else None
        classes = np.unique(self.labels)
        self._single = int(classes[0]) if len(classes) == 1 else None
        self._svc = None
        if self._single is None:
            self._svc = SVC(gamma=self.gamma)
            self._svc.fit(self.x, self.labels)

    def predict(self, x: Any) -> np.ndarray:
        arr = np.asarray(x, dtype=np.float64)
        if arr.ndim == 1:
            arr = arr.reshape(1, -1)
        if self._single is not None:
            return np.full(len(arr), self._single, dtype=np.int64)
        return self._svc.predict(arr).astype(np.int64)

    def to_bytes(self) -> bytes:
        return tensors.dumps_arrays({"x": self.x, "labels": self.labels},
                                    meta={"type": "svc", "gamma": self.gamma, "columns": self.columns})

    @classmethod
    def from_bytes(cls, data: bytes) -> SVCTaskExtractor:
        arrays, meta = tensors.loads_arrays(data)
        if meta.get("type") != "svc" or "x" not in arrays or "labels" not in arrays:
            raise ValueError("not an SVC task extractor file")
        return cls(arrays["x"], arrays["labels"], gamma=float(meta.get("gamma", 0.01)), columns=meta.get("columns"))


def extractor_suffix(extractor: Any) -> str:
    return ".safetensors" if isinstance(extractor, SVCTaskExtractor) else ".json"


def dump_extractor(extractor: Any, path: str) -> str:
    """Write ``extractor`` to ``path`` (its suffix should come from :func:`extractor_suffix`)."""
    if isinstance(extractor, SVCTaskExtractor):
        Path(path).write_bytes(extractor.to_bytes())
        return path
    if extractor is not None and not isinstance(extractor, dict):
        raise TypeError(f"task extractor of type {type(extractor).__name__} cannot be stored; use a dict "
                        "(task key -> index) or SVCTaskExtractor")
    doc = {str(k): int(v) for k, v in (extractor or {}).items()}
    Path(path).write_text(json.dumps({"type": "dict", "map": doc}), encoding="utf-8")
    return path


def load_extractor(path: str) -> Any:
    """Read what :func:`dump_extractor` wrote (JSON dict or safetensors SVC)."""
    data = Path(path).read_bytes()
    try:
        doc = json.loads(data)
    except ValueError:  # not JSON: a safetensors file
        return SVCTaskExtractor.from_bytes(data)
    if isinstance(doc, dict) and doc.get("type") == "dict" and isinstance(doc.get("map"), dict):
        return {str(k): int(v) for k, v in doc["map"].items()}
    raise ValueError(f"{path}: not a task extractor document")
