"""YAML reading as kubectl does it: PyYAML's safe loader without YAML 1.1's base-60 numbers and timestamps, so
``12:00`` stays the string ``"12:00"`` (as with sigs.k8s.io/yaml) instead of becoming the integer 720, and
``2024-01-01T00:00:00Z`` stays a string instead of a datetime that JSON cannot carry."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"   # timestamps stay strings, as in JSON


_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)   # libyaml's parser when available: CRDs are megabytes


class KubeYAMLLoader(_BASE):
    """SafeLoader whose int and float resolvers know no sexagesimal forms."""


KubeYAMLLoader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag not in (_INT, _FLOAT, _TIMESTAMP)]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
KubeYAMLLoader.add_implicit_resolver(
    _INT, re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"))
KubeYAMLLoader.add_implicit_resolver(
    _FLOAT, re.compile(r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?(?:[0-9][0-9_]*)"
                       r"(?:[eE][-+]?[0-9]+)|\.[0-9_]+(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)"
                       r"|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."))


def load(text: str | bytes) -> Any:
    return yaml.load(text, Loader=KubeYAMLLoader)


def load_all(text: str | bytes) -> list[Any]:
    return [doc for doc in yaml.load_all(text, Loader=KubeYAMLLoader) if doc is not None]


def load_file(path: str | Path) -> list[Any]:
    return load_all(Path(path).read_text())
