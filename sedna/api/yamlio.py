"""YAML read as Kubernetes reads manifests: YAML 1.2 core schema, multi-document, C parser when available.

PyYAML's default resolvers implement YAML 1.1, where ``end: 20:00`` is the sexagesimal integer 1200, ``on``
is ``True`` and ``2024-01-01`` a date. Here only ``true``/``false`` (any case variant YAML 1.2 allows) are
booleans, integers are decimal/``0o``/``0x``, and everything else that is not a number or null stays a string,
so a quoted and an unquoted ``20:00`` mean the same thing.

Every part that reads manifests (``sedna validate``, the API emulator, ``sedna local apply``) uses
:func:`load_all`; :func:`dump` writes deterministic YAML that YAML 1.1 and 1.2 readers both read the same way.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import IO, Any, ClassVar

import yaml

__all__ = ["YAMLError", "dump", "iter_documents", "load", "load_all"]

YAMLError = yaml.YAMLError

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BaseDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class Yaml12Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe loader with the YAML 1.2 core schema's implicit resolvers (and merge keys)."""

    yaml_implicit_resolvers: ClassVar[dict] = {}


def _resolver(tag: str, pattern: str, first: str) -> None:
    Yaml12Loader.add_implicit_resolver(tag, re.compile(pattern, re.VERBOSE), list(first))


_resolver("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF")
_resolver("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789")
_resolver("tag:yaml.org,2002:float",
          r"""^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?
              |[-+]?\.(?:inf|Inf|INF)
              |\.(?:nan|NaN|NAN))$""", "-+0123456789.")
_resolver("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""])
_resolver("tag:yaml.org,2002:merge", r"^(?:<<)$", "<")


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = loader.construct_scalar(node)
    if text.startswith(("0o", "0x")):
        return int(text, 0)
    return int(text, 10)


def _construct_bool(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> bool:
    return loader.construct_scalar(node).lower() == "true"


Yaml12Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
Yaml12Loader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)
# Explicit !!timestamp tags are not part of the 1.2 core schema; keep the text.
Yaml12Loader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)


def _source(text_or_stream: str | bytes | IO) -> str | bytes | IO:
    if isinstance(text_or_stream, (str, bytes)):
        return text_or_stream
    data = text_or_stream.read()
    return data


def iter_documents(text_or_stream: str | bytes | IO) -> Iterator[Any]:
    """Yield every non-empty document in order; raises :class:`YAMLError` where the text stops parsing."""
    for doc in yaml.load_all(_source(text_or_stream), Loader=Yaml12Loader):
        if doc is not None:
            yield doc


def load_all(text_or_stream: str | bytes | IO) -> list[Any]:
    """All non-empty documents of a YAML stream (a ``str``, ``bytes`` or file object), YAML 1.2 semantics."""
    return list(iter_documents(text_or_stream))


def load(text_or_stream: str | bytes | IO) -> Any:
    """Exactly one document (``None`` for an empty stream); raises ``ValueError`` for several."""
    docs = load_all(text_or_stream)
    if len(docs) > 1:
        raise ValueError(f"expected one YAML document, found {len(docs)}")
    return docs[0] if docs else None


class _BlockDumper(_BaseDumper):  # type: ignore[misc, valid-type]
    """Dumper writing multi-line strings as literal blocks (how CRD descriptions are usually rendered)."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_BlockDumper.add_representer(str, _represent_str)


def dump(data: Any, stream: IO | None = None, *, explicit_start: bool = False) -> str | None:
    """Deterministic block-style YAML (sorted keys, no line folding); returns text when no stream is given."""
    out = stream if stream is not None else io.StringIO()
    yaml.dump(data, out, Dumper=_BlockDumper, default_flow_style=False, sort_keys=True, allow_unicode=True,
              width=2 ** 31 - 1, explicit_start=explicit_start)
    return None if stream is not None else out.getvalue()
