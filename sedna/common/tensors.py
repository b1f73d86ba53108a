"""The one serializer for arrays that cross a process or machine boundary. Never pickle.

Two encodings:
- a named set of arrays plus string metadata → safetensors bytes (weights, aggregation updates);
- a single array → ``.npy`` bytes (inference payloads), loaded with ``allow_pickle=False``.
"""

from __future__ import annotations

import io
import json
from typing import Any, Mapping

import numpy as np
from safetensors.numpy import load as _st_load
from safetensors.numpy import save as _st_save

NPY_CONTENT_TYPE = "application/x-npy"
SAFETENSORS_CONTENT_TYPE = "application/x-safetensors"
META_KEY = "sedna"


class TensorFormatError(ValueError):
    """Bytes that do not decode to the arrays they claim to be."""


def dumps_arrays(arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any] | None = None) -> bytes:
    """Encode named arrays and JSON-able metadata as safetensors bytes."""
    contiguous = {name: np.ascontiguousarray(arr) for name, arr in arrays.items()}
    header = {META_KEY: json.dumps(dict(meta or {}), separators=(",", ":"))}
    return _st_save(contiguous, metadata=header)


def loads_arrays(data: bytes, max_bytes: int | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Decode bytes from :func:`dumps_arrays`; returns ``(arrays, meta)``."""
    if max_bytes is not None and len(data) > max_bytes:
        raise TensorFormatError(f"payload of {len(data)} bytes exceeds limit {max_bytes}")
    try:
        arrays = _st_load(bytes(data))
        meta = json.loads(_read_safetensors_metadata(data).get(META_KEY, "{}"))
    except Exception as exc:  # safetensors raises its own error types
        raise TensorFormatError(f"not a safetensors payload: {exc}") from None
    return arrays, meta


def list_to_arrays(weights: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Ordered list of layers → names that keep the order (``0000``, ``0001``, ...)."""
    return {f"{i:04d}": np.asarray(w) for i, w in enumerate(weights)}


def arrays_to_list(arrays: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    return [arrays[name] for name in sorted(arrays)]


def dumps_npy(array: Any) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    return buf.getvalue()


def loads_npy(data: bytes, max_bytes: int | None = None) -> np.ndarray:
    if max_bytes is not None and len(data) > max_bytes:
        raise TensorFormatError(f"payload of {len(data)} bytes exceeds limit {max_bytes}")
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as exc:
        raise TensorFormatError(f"not an npy payload: {exc}") from None


def _read_safetensors_metadata(data: bytes) -> dict[str, str]:
    size = int.from_bytes(data[:8], "little")
    header = json.loads(bytes(data[8:8 + size]))
    return header.get("__metadata__") or {}
