"""The one wire and disk format of the multi-edge inference pipeline: msgpack with numpy arrays as ``.npy``.

Upstream pickled every REST body, Kafka value and file it exchanged, so anyone able to reach a port could
run code in the worker. Here values are data only:

- dicts, lists, strings, numbers, booleans, None and bytes as msgpack's own types;
- numpy arrays (and anything with ``__array__``, e.g. torch tensors) as ``.npy`` bytes
  (:mod:`sedna.common.tensors`, loaded with ``allow_pickle=False``);
- tuples, and instances of the registered data classes (``DetTrackResult``, ``Target``, ``TargetImages``,
  the ``OP_MODE`` enum, plus whatever :func:`register_type` adds) as tagged records. Decoding only ever
  creates registered classes and sets plain attributes on them; no code runs.

A JSON form of the same values exists for clients that cannot speak msgpack (arrays become
``{"__ndarray__": {"dtype", "shape", "data"}}``); it is several times larger for images.

Decoding refuses: pickle streams (named as such), bytes that are not one complete document, unknown type
tags, payloads over ``max_bytes``, nesting deeper than :data:`MAX_DEPTH` and msgpack arrays or maps of more
than :data:`MAX_ITEMS` entries (a 100 MB list of small integers would otherwise become ~1 GB of objects).
"""

from __future__ import annotations

import base64
import json
from enum import Enum
from typing import Any

import msgpack
import numpy as np

from sedna.common.tensors import TensorFormatError, dumps_npy, loads_npy
from sedna.core.multi_edge_inference.data_classes import OP_MODE, DetTrackResult, Target, TargetImages

__all__ = [
    "DEFAULT_MAX_BYTES",
    "JSON_CONTENT_TYPE",
    "MAX_DEPTH",
    "MAX_ITEMS",
    "MSGPACK_CONTENT_TYPE",
    "CodecError",
    "content_type",
    "decode",
    "encode",
    "format_for",
    "register_type",
]

MSGPACK_CONTENT_TYPE = "application/x-msgpack"
JSON_CONTENT_TYPE = "application/json"
DEFAULT_MAX_BYTES = 100 * 1024 * 1024
MAX_DEPTH = 64
MAX_ITEMS = 1_000_000  # per msgpack array or map: numbers in bulk travel as .npy, not as lists

_EXT_NDARRAY = 42  # same code as sedna.datasources.kafka.codec
_EXT_TUPLE = 43
_EXT_OBJECT = 44
_EXT_ENUM = 45

_TYPES: dict[str, type] = {}


class CodecError(ValueError):
    """Bytes that are not a valid payload, or a value that cannot be encoded."""


def register_type(cls: type, name: str | None = None) -> type:
    """Allow instances of ``cls`` (a plain data class or an Enum) on the wire under ``name``.

    Objects travel as their ``__dict__``; decoding creates the instance without calling ``__init__``.
    Usable as a decorator.
    """
    _TYPES[name or cls.__name__] = cls
    return cls


for _cls in (DetTrackResult, Target, TargetImages, OP_MODE):
    register_type(_cls)


def _type_name(cls: type) -> str | None:
    for name, known in _TYPES.items():
        if known is cls:
            return name
    return None


def _as_array(value: Any) -> np.ndarray | None:
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch tensors, without importing torch
        try:
            return np.asarray(value.detach().cpu())
        except Exception:  # noqa: BLE001 - fall through to the generic check
            return None
    if hasattr(value, "__array__"):
        return np.asarray(value)
    return None


def _object_fields(value: Any) -> dict[str, Any]:
    fields = getattr(value, "__dict__", None)
    if fields is None:
        raise CodecError(f"cannot encode {type(value).__name__}: it has no attributes")
    return {k: v for k, v in fields.items() if isinstance(k, str) and not k.startswith("__")}


def _build_object(name: Any, fields: Any) -> Any:
    cls = _TYPES.get(name) if isinstance(name, str) else None
    if cls is None or (isinstance(cls, type) and issubclass(cls, Enum)):
        raise CodecError(f"unknown object type {name!r} (known: {', '.join(sorted(_TYPES))})")
    if not isinstance(fields, dict):
        raise CodecError(f"fields of {name} must be a map")
    obj = cls.__new__(cls)
    for key, value in fields.items():
        if not isinstance(key, str) or not key.isidentifier() or key.startswith("__"):
            raise CodecError(f"invalid attribute name {key!r} for {name}")
        setattr(obj, key, value)
    return obj


def _build_enum(name: Any, value: Any) -> Any:
    cls = _TYPES.get(name) if isinstance(name, str) else None
    if cls is None or not (isinstance(cls, type) and issubclass(cls, Enum)):
        raise CodecError(f"unknown enum type {name!r}")
    try:
        return cls(value)
    except ValueError:
        raise CodecError(f"{value!r} is not a valid {name}") from None


# -- msgpack ---------------------------------------------------------------------------------------------------


def _msgpack_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    array = _as_array(value)
    if array is not None:
        if array.dtype.hasobject:
            return array.tolist()
        return msgpack.ExtType(_EXT_NDARRAY, dumps_npy(array))
    if isinstance(value, tuple):
        return msgpack.ExtType(_EXT_TUPLE, _pack(list(value)))
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    name = _type_name(type(value))
    if name is None:  # subclasses of plain types (OrderedDict, defaultdict, IntEnum members, ...)
        for plain in (dict, list, str, bytes, bool, int, float):
            if isinstance(value, plain):
                return plain(value)
    if name is None:
        raise CodecError(f"cannot encode {type(value).__name__}: not a registered data class "
                         "(use sedna.core.multi_edge_inference.codec.register_type)")
    if isinstance(value, Enum):
        return msgpack.ExtType(_EXT_ENUM, _pack([name, value.value]))
    return msgpack.ExtType(_EXT_OBJECT, _pack([name, _object_fields(value)]))


def _pack(value: Any) -> bytes:
    # strict_types: tuples and subclasses reach _msgpack_default instead of silently becoming lists
    return msgpack.packb(value, default=_msgpack_default, use_bin_type=True, strict_types=True)


class _MsgpackReader:
    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.depth = 0

    def unpack(self, data: bytes) -> Any:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise CodecError(f"payload nested deeper than {MAX_DEPTH} levels")
        try:
            return msgpack.unpackb(data, ext_hook=self.ext_hook, raw=False, strict_map_key=False,
                                   use_list=True, max_array_len=MAX_ITEMS, max_map_len=MAX_ITEMS)
        finally:
            self.depth -= 1

    def ext_hook(self, code: int, data: bytes) -> Any:
        if code == _EXT_NDARRAY:
            try:
                return loads_npy(data, max_bytes=self.max_bytes)
            except TensorFormatError as exc:
                raise CodecError(str(exc)) from None
        if code == _EXT_TUPLE:
            items = self.unpack(data)
            if not isinstance(items, list):
                raise CodecError("tuple record is not an array")
            return tuple(items)
        if code in (_EXT_OBJECT, _EXT_ENUM):
            record = self.unpack(data)
            if not isinstance(record, list) or len(record) != 2:
                raise CodecError("object record is not a [type, fields] pair")
            return _build_object(*record) if code == _EXT_OBJECT else _build_enum(*record)
        raise CodecError(f"unknown msgpack extension type {code}")


# -- JSON ------------------------------------------------------------------------------------------------------

_TAGS = ("__ndarray__", "__tuple__", "__object__", "__enum__", "__bytes__")
_JSON_DTYPE_KINDS = "biuf"


def _to_json(value: Any, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise CodecError(f"value nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _to_json(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_json(v, depth + 1) for v in value]
    if isinstance(value, tuple):
        return {"__tuple__": [_to_json(v, depth + 1) for v in value]}
    if isinstance(value, (set, frozenset)):
        return [_to_json(v, depth + 1) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"__bytes__": base64.b64encode(bytes(value)).decode("ascii")}
    array = _as_array(value)
    if array is not None:
        if array.dtype.hasobject or array.dtype.kind not in _JSON_DTYPE_KINDS + "?":
            return _to_json(array.tolist(), depth + 1)
        return {"__ndarray__": {"dtype": array.dtype.str, "shape": list(array.shape),
                                "data": array.ravel().tolist()}}
    name = _type_name(type(value))
    if name is None:
        raise CodecError(f"cannot encode {type(value).__name__}: not a registered data class")
    if isinstance(value, Enum):
        return {"__enum__": name, "value": _to_json(value.value, depth + 1)}
    return {"__object__": name, "fields": _to_json(_object_fields(value), depth + 1)}


def _json_array(spec: Any) -> np.ndarray:
    if not isinstance(spec, dict) or not {"dtype", "shape", "data"} <= set(spec):
        raise CodecError("__ndarray__ needs dtype, shape and data")
    try:
        dtype = np.dtype(spec["dtype"])
    except (TypeError, ValueError, SyntaxError):         # numpy parses ",f4" as Python and raises SyntaxError
        raise CodecError(f"unsupported dtype {spec['dtype']!r}") from None
    if dtype.hasobject or dtype.kind not in _JSON_DTYPE_KINDS + "b":
        raise CodecError(f"unsupported dtype {spec['dtype']!r}")
    shape = spec["shape"]
    if not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise CodecError("__ndarray__ shape must be a list of non-negative integers")
    try:
        return np.asarray(spec["data"], dtype=dtype).reshape(shape)
    except (ValueError, TypeError) as exc:
        raise CodecError(f"__ndarray__ data does not match dtype/shape: {exc}") from None


def _json_hook(doc: dict) -> Any:
    tags = [t for t in _TAGS if t in doc]
    if not tags:
        return doc
    tag = tags[0]
    if tag == "__ndarray__":
        return _json_array(doc[tag])
    if tag == "__tuple__":
        if not isinstance(doc[tag], list):
            raise CodecError("__tuple__ must be a list")
        return tuple(doc[tag])
    if tag == "__bytes__":
        try:
            return base64.b64decode(doc[tag], validate=True)
        except (ValueError, TypeError):
            raise CodecError("__bytes__ is not base64") from None
    if tag == "__enum__":
        return _build_enum(doc[tag], doc.get("value"))
    return _build_object(doc[tag], doc.get("fields"))


# -- public API ------------------------------------------------------------------------------------------------


def format_for(content_type_header: str | None) -> str:
    """``"msgpack"`` or ``"json"`` for a Content-Type header; CodecError for anything else."""
    value = (content_type_header or JSON_CONTENT_TYPE).split(";")[0].strip().lower()
    if value in (MSGPACK_CONTENT_TYPE, "application/msgpack", "application/vnd.msgpack"):
        return "msgpack"
    if value in (JSON_CONTENT_TYPE, ""):
        return "json"
    raise CodecError(f"content type {value!r} not supported; use {MSGPACK_CONTENT_TYPE} or {JSON_CONTENT_TYPE}")


def content_type(fmt: str) -> str:
    return MSGPACK_CONTENT_TYPE if fmt == "msgpack" else JSON_CONTENT_TYPE


def encode(value: Any, fmt: str = "msgpack") -> bytes:
    """Encode ``value`` as msgpack (default) or JSON bytes; CodecError if something cannot travel."""
    try:
        if fmt == "msgpack":
            return _pack(value)
        if fmt == "json":
            return json.dumps(_to_json(value), separators=(",", ":"), allow_nan=True).encode()
    except CodecError:
        raise
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:
        raise CodecError(f"cannot encode value: {exc}") from None
    raise CodecError(f"unknown format {fmt!r}")


def _looks_like_pickle(data: bytes) -> bool:
    return len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= 5


def decode(data: bytes, fmt: str = "msgpack", max_bytes: int | None = DEFAULT_MAX_BYTES) -> Any:
    """Decode bytes from :func:`encode`; CodecError for anything else (never unpickles)."""
    data = bytes(data)
    if max_bytes is not None and len(data) > max_bytes:
        raise CodecError(f"payload of {len(data)} bytes exceeds the limit of {max_bytes} bytes")
    if _looks_like_pickle(data):
        raise CodecError("pickle payloads are refused; send msgpack or JSON")
    if fmt == "msgpack":
        if not data:
            raise CodecError("empty payload")
        try:
            return _MsgpackReader(max_bytes or len(data) + 1).unpack(data)
        except CodecError:
            raise
        except RecursionError:
            raise CodecError("payload nested too deeply") from None
        except Exception as exc:  # noqa: BLE001 - msgpack raises ExtraData, FormatError, StackError, ...
            raise CodecError(f"not a msgpack payload: {type(exc).__name__}: {exc}") from None
    if fmt == "json":
        try:
            return json.loads(data, object_hook=_json_hook)
        except CodecError:
            raise
        except RecursionError:
            raise CodecError("payload nested too deeply") from None
        except (ValueError, TypeError, SyntaxError) as exc:
            raise CodecError(f"not a JSON payload: {exc}") from None
    raise CodecError(f"unknown format {fmt!r}")
