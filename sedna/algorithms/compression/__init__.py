"""Update compression for federated learning: what a client sends instead of its full float32 weights.

Three codecs, chosen per job (``AGG_COMPRESSION`` env or the ``compression`` argument):

- ``none`` — every layer as is;
- ``fp16`` — floating layers cast to float16 (layers whose values do not fit float16 go as is);
- ``topk`` — only the ``ratio`` largest-magnitude entries of the *change* since the last global model
  (indices + float32 values), with error feedback: what was not sent is added to the next round's change.
  Without a global model to diff against (a job's first round) the update goes uncompressed.

Encoding produces arrays plus a per-tensor description (``TensorSpec`` dicts) that travels in the frame
header; decoding checks the arrays against that description, so a frame that lies about its content is
rejected with a message naming the tensor.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = [
    "Codec",
    "CompressionError",
    "FP16Codec",
    "NoCompression",
    "TopKCodec",
    "decode_tensors",
    "get_codec",
]

RAW, FP16, TOPK = "raw", "fp16", "topk"
FLOAT16_MAX = float(np.finfo(np.float16).max)
_ALLOWED_DTYPES = {"float16", "float32", "float64", "bfloat16", "int8", "int16", "int32", "int64",
                   "uint8", "uint16", "uint32", "uint64", "bool"}


class CompressionError(ValueError):
    """Arrays that do not match the tensor description they arrived with."""


def _spec(name: str, arr: np.ndarray, encoding: str) -> dict[str, Any]:
    return {"name": name, "shape": list(arr.shape), "dtype": arr.dtype.name, "encoding": encoding}


class Codec:
    """Encode named arrays for the wire; ``encode(arrays, base)`` → ``(wire_arrays, specs)``."""

    name = "none"

    def encode(self, arrays: Mapping[str, np.ndarray], base: Mapping[str, np.ndarray] | None = None
               ) -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
        out, specs = {}, []
        for name, arr in arrays.items():
            arr = np.asarray(arr)
            wire, spec = self._encode_one(name, arr, None if base is None else base.get(name))
            out.update(wire)
            specs.append(spec)
        return out, specs

    def _encode_one(self, name: str, arr: np.ndarray, base: np.ndarray | None):
        return {name: arr}, _spec(name, arr, RAW)


class NoCompression(Codec):
    name = "none"


class FP16Codec(Codec):
    name = "fp16"

    def _encode_one(self, name, arr, base):
        if arr.dtype in (np.float32, np.float64) and arr.size:
            with np.errstate(over="ignore"):
                half = arr.astype(np.float16)
            if np.isfinite(half).all() or not np.isfinite(arr).all():
                return {name: half}, _spec(name, arr, FP16)
        return {name: arr}, _spec(name, arr, RAW)


class TopKCodec(Codec):
    """Top-k sparsification of the update's change, with error feedback (residual kept per layer)."""

    name = "topk"

    def __init__(self, ratio: float = 0.01, error_feedback: bool = True) -> None:
        ratio = float(ratio)
        if not 0.0 < ratio <= 1.0:
            raise ValueError(f"topk ratio must be in (0, 1], got {ratio}")
        self.ratio = ratio
        self.error_feedback = bool(error_feedback)
        self.residual: dict[str, np.ndarray] = {}

    def _encode_one(self, name, arr, base):
        if base is None or not np.issubdtype(arr.dtype, np.floating) or base.shape != arr.shape or not arr.size:
            return {name: arr}, _spec(name, arr, RAW)
        delta = arr.astype(np.float32, copy=False).ravel() - np.asarray(base, dtype=np.float32).ravel()
        if self.error_feedback and name in self.residual:
            delta += self.residual[name]
        k = max(1, math.ceil(self.ratio * delta.size))
        if k >= delta.size:
            idx = np.arange(delta.size)
        else:
            idx = np.argpartition(np.abs(delta), delta.size - k)[delta.size - k:]
        idx = np.sort(idx).astype(np.int32 if delta.size < 2 ** 31 else np.int64)
        values = delta[idx].astype(np.float32)
        if self.error_feedback:
            delta[idx] = 0.0
            self.residual[name] = delta
        spec = _spec(name, arr, TOPK)
        spec["k"] = int(idx.size)
        return {f"{name}/idx": idx, f"{name}/val": values}, spec


def get_codec(name: str | None = None, **params: Any) -> Codec:
    """Codec by name (``none``/``fp16``/``topk``); defaults from ``AGG_COMPRESSION``/``AGG_TOPK_RATIO``."""
    name = (name or os.getenv("AGG_COMPRESSION") or "none").strip().lower()
    if name in ("", "none", "fp32", "raw"):
        return NoCompression()
    if name in ("fp16", "float16", "half"):
        return FP16Codec()
    if name in ("topk", "top-k", "top_k"):
        ratio = params.get("ratio", os.getenv("AGG_TOPK_RATIO") or 0.01)
        feedback = params.get("error_feedback", os.getenv("AGG_TOPK_ERROR_FEEDBACK", "true"))
        if isinstance(feedback, str):
            feedback = feedback.strip().lower() not in ("0", "false", "no", "off")
        return TopKCodec(ratio=ratio, error_feedback=feedback)
    raise ValueError(f"unknown compression {name!r} (AGG_COMPRESSION): use none, fp16 or topk")


def _check_shape(spec: Mapping[str, Any]) -> tuple[str, tuple[int, ...], np.dtype, str]:
    try:
        name = spec["name"]
        shape = tuple(int(d) for d in spec["shape"])
        dtype_name = spec["dtype"]
        encoding = spec.get("encoding", RAW)
    except (KeyError, TypeError, ValueError) as exc:
        raise CompressionError(f"bad tensor description {spec!r}: {exc}") from None
    if not isinstance(name, str) or not name:
        raise CompressionError(f"bad tensor name {name!r}")
    if any(d < 0 for d in shape):
        raise CompressionError(f"tensor {name}: negative dimension in shape {list(shape)}")
    if dtype_name not in _ALLOWED_DTYPES:
        raise CompressionError(f"tensor {name}: unsupported dtype {dtype_name!r}")
    if encoding not in (RAW, FP16, TOPK):
        raise CompressionError(f"tensor {name}: unknown encoding {encoding!r}")
    return name, shape, np.dtype(dtype_name), encoding


def decode_tensors(wire: Mapping[str, np.ndarray], specs: list[Mapping[str, Any]],
                   base: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Rebuild the named arrays a peer encoded; every wire array must be described and match its spec."""
    if not isinstance(specs, list):
        raise CompressionError("header 'tensors' must be a list")
    out: dict[str, np.ndarray] = {}
    used: set[str] = set()
    for raw_spec in specs:
        name, shape, dtype, encoding = _check_shape(raw_spec)
        if name in out:
            raise CompressionError(f"tensor {name} described twice")
        if encoding == RAW:
            arr = _take(wire, name, used)
            if arr.shape != shape or arr.dtype != dtype:
                raise CompressionError(f"tensor {name}: got {arr.dtype.name}{list(arr.shape)}, "
                                       f"header says {dtype.name}{list(shape)}")
            out[name] = arr
        elif encoding == FP16:
            arr = _take(wire, name, used)
            if arr.shape != shape or arr.dtype != np.float16:
                raise CompressionError(f"tensor {name}: fp16 encoding but got {arr.dtype.name}{list(arr.shape)}"
                                       f", header says {list(shape)}")
            out[name] = arr.astype(dtype)
        else:
            idx, val = _take(wire, f"{name}/idx", used), _take(wire, f"{name}/val", used)
            size = math.prod(shape)
            if idx.ndim != 1 or val.ndim != 1 or idx.shape != val.shape:
                raise CompressionError(f"tensor {name}: top-k indices {list(idx.shape)} and values "
                                       f"{list(val.shape)} must be 1-D of equal length")
            if idx.dtype not in (np.int32, np.int64) or not np.issubdtype(val.dtype, np.floating):
                raise CompressionError(f"tensor {name}: top-k indices must be int32/int64 and values float")
            if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= size):
                raise CompressionError(f"tensor {name}: top-k index out of range for shape {list(shape)}")
            ref = None if base is None else base.get(name)
            if ref is None or tuple(ref.shape) != shape:
                raise CompressionError(f"tensor {name}: top-k update needs the current global model as base")
            if idx.size > 1 and not bool(np.all(idx[1:] > idx[:-1])):
                raise CompressionError(f"tensor {name}: top-k indices must be strictly increasing")
            flat = np.array(ref, dtype=np.float32).ravel()
            flat[idx] += val.astype(np.float32, copy=False)
            out[name] = flat.reshape(shape).astype(dtype, copy=False)
    extra = set(wire) - used
    if extra:
        raise CompressionError(f"arrays not described in the header: {sorted(extra)[:5]}")
    return out


def _take(wire: Mapping[str, np.ndarray], key: str, used: set[str]) -> np.ndarray:
    if key not in wire:
        raise CompressionError(f"tensor {key} described in the header but missing from the payload")
    used.add(key)
    return wire[key]
