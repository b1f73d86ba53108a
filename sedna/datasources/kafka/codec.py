"""Message values for Kafka topics: msgpack with numpy arrays as ``.npy`` extension records — never pickle.

Upstream pickled every value, so anyone able to write to a topic could run code in every consumer. This
codec carries what the multi-edge pipelines send (dicts, lists, strings, numbers, bytes, numpy arrays).
"""

from __future__ import annotations

from typing import Any

import msgpack
import numpy as np

from sedna.common.tensors import dumps_npy, loads_npy

__all__ = ["MAX_MESSAGE_BYTES", "decode", "encode"]

MAX_MESSAGE_BYTES = 10 * 1024 * 1024
_NDARRAY_EXT = 42


def _default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return msgpack.ExtType(_NDARRAY_EXT, dumps_npy(obj))
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cannot encode {type(obj).__name__} for a Kafka message (arrays, dicts, lists, "
                    "strings, numbers and bytes only)")


def _ext_hook(code: int, data: bytes) -> Any:
    if code == _NDARRAY_EXT:
        return loads_npy(data, max_bytes=MAX_MESSAGE_BYTES)
    return msgpack.ExtType(code, data)


def encode(obj: Any) -> bytes:
    return msgpack.packb(obj, default=_default, use_bin_type=True)


def decode(data: bytes) -> Any:
    if len(data) > MAX_MESSAGE_BYTES:
        raise ValueError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE_BYTES}")
    return msgpack.unpackb(data, ext_hook=_ext_hook, raw=False, strict_map_key=False)
