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

NPY_CONTENT_TYPE = "application/x-npy"
SAFETENSORS_CONTENT_TYPE = "application/x-safetensors"
META_KEY = "sedna"


class TensorFormatError(ValueError):
    """Bytes that do not decode to the arrays they claim to be."""


def dumps_arrays(arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any] | None = None) -> bytes:
    """Encode named arrays and JSON-able metadata as safetensors bytes."""
    return b"".join(dumps_arrays_parts(arrays, meta))


def dumps_arrays_parts(arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any] | None = None
                       ) -> list[bytes | memoryview]:
    """The bytes of :func:`dumps_arrays` as a list of buffers: the safetensors header, then each array's own
    memory (a view, no copy, for C-contiguous little-endian arrays).

    Senders write the parts one after the other (websocket fragments, file writes), so a 200 MB model is never
    copied into one big ``bytes`` (issue 16). The layout is safetensors' own (tensors ordered by dtype,
    then name; header padded to 8 bytes), so the joined parts equal ``safetensors.numpy.save``'s output. The
    views are only valid while the arrays are unchanged."""
    items = []
    for name, arr in arrays.items():
        arr = np.asarray(arr)
        code = _ST_DTYPES.get(arr.dtype.newbyteorder("=")) if arr.dtype.byteorder in "<=|>" else None
        if code is None:
            raise TensorFormatError(f"tensor {name}: dtype {arr.dtype} cannot be stored (no pickle)")
        if arr.dtype.byteorder == ">":
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        items.append((str(name), code, np.ascontiguousarray(arr)))
    items.sort(key=lambda item: (_ST_ORDER.index(item[1]), item[0]))
    header: dict[str, Any] = {"__metadata__": {META_KEY: json.dumps(dict(meta or {}), separators=(",", ":"))}}
    offset = 0
    for name, code, arr in items:
        header[name] = {"dtype": code, "shape": list(arr.shape), "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)
    parts: list[bytes | memoryview] = [len(text).to_bytes(8, "little") + text]
    parts.extend(memoryview(arr.reshape(-1)).cast("B") for _, _, arr in items if arr.nbytes)
    return parts


_VIEW_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
                "I16": np.int16, "I8": np.int8, "U8": np.uint8, "U16": np.uint16, "U32": np.uint32,
                "U64": np.uint64, "BOOL": np.bool_}
_ST_DTYPES = {np.dtype(dtype): code for code, dtype in _VIEW_DTYPES.items()}
# the order in which safetensors lays out tensors (then by name): joined parts equal its own output
_ST_ORDER = ("U64", "I64", "F64", "F32", "U32", "I32", "F16", "U16", "I16", "I8", "U8", "BOOL")


def loads_arrays(data: bytes | bytearray | memoryview, max_bytes: int | None = None, *, copy: bool = True
                 ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Decode bytes from :func:`dumps_arrays`; returns ``(arrays, meta)``.

    ``copy=False`` returns arrays that are views into ``data`` (no copy at all: the aggregation server adds
    received updates straight from its receive buffers); they are only valid while ``data`` is unchanged."""
    if max_bytes is not None and len(data) > max_bytes:
        raise TensorFormatError(f"payload of {len(data)} bytes exceeds limit {max_bytes}")
    if not copy:
        return _view_arrays(memoryview(data).cast("B"))
    try:
        arrays = _st_load(bytes(data))
        meta = json.loads(_read_safetensors_metadata(data).get(META_KEY, "{}"))
    except Exception as exc:  # safetensors raises its own error types
        raise TensorFormatError(f"not a safetensors payload: {exc}") from None
    return arrays, meta


def _view_arrays(buf: memoryview) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Parse a safetensors payload into numpy views of ``buf``, checking every offset against its size."""
    try:
        if len(buf) < 8:
            raise ValueError("shorter than its 8-byte header length")
        header_len = int.from_bytes(buf[:8], "little")
        if header_len <= 0 or 8 + header_len > len(buf) or header_len > 100 * 1024 * 1024:
            raise ValueError(f"header length {header_len} does not fit the {len(buf)}-byte payload")
        header = json.loads(bytes(buf[8:8 + header_len]))
        if not isinstance(header, dict):
            raise ValueError("header is not a JSON object")
        data = buf[8 + header_len:]
        arrays: dict[str, np.ndarray] = {}
        for name, spec in header.items():
            if name == "__metadata__":
                continue
            dtype = _VIEW_DTYPES.get(spec.get("dtype"))
            if dtype is None:
                raise ValueError(f"tensor {name}: dtype {spec.get('dtype')!r} cannot be viewed")
            shape = tuple(int(d) for d in spec["shape"])
            begin, end = (int(x) for x in spec["data_offsets"])
            count = 1
            for d in shape:
                if d < 0:
                    raise ValueError(f"tensor {name}: negative dimension")
                count *= d
            if not 0 <= begin <= end <= len(data) or end - begin != count * np.dtype(dtype).itemsize:
                raise ValueError(f"tensor {name}: offsets {begin}..{end} do not fit its shape or the payload")
            arrays[name] = np.frombuffer(data[begin:end], dtype=dtype).reshape(shape)
        meta = json.loads((header.get("__metadata__") or {}).get(META_KEY, "{}"))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
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
