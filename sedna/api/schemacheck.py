"""Schema validation results as ``ValidationIssue(path, reason)`` with Kubernetes-style field paths."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import jsonschema

from sedna.api import k8s


@dataclass(frozen=True)
class ValidationIssue:
    """One problem in an object: ``path`` like ``spec.trainingWorkers[0].dataset.name``, a reason, a severity
    (``error`` makes the object invalid; ``warning`` is advice)."""

    path: str
    reason: str
    severity: str = "error"

    def __str__(self) -> str:
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{prefix}{self.path or '(root)'}: {self.reason}"


def append_path(path: str, key: Any) -> str:
    """``path`` one step deeper: ``spec`` + ``workers`` → ``spec.workers``, ``spec.workers`` + 0 → ``[0]``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def join_path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        out = append_path(out, part)
    return out


def json_type(value: Any) -> str:
    """The JSON-schema type name of a decoded JSON/YAML value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


_YAML11_BOOLS = {"yes", "no", "y", "n", "on", "off"}


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def describe_all(error: jsonschema.ValidationError) -> list[tuple[str, str]]:
    """(path, reason) pairs for one jsonschema error; an unknown-fields error yields one pair per field."""
    parts = list(error.absolute_path)
    kind, schema, value = error.validator, error.schema, error.instance
    if kind == "required":
        missing = [k for k in error.validator_value if not (isinstance(value, dict) and k in value)]
        return [(join_path(parts + [k]), "required field is missing") for k in missing[:1] or ["?"]]
    if kind == "additionalProperties" and error.validator_value is False:
        extra = sorted(k for k in value if k not in schema.get("properties", {}))
        return [(join_path(parts + [k]), "unknown field") for k in extra]
    if kind == "type":
        reason = f"expected {error.validator_value}, got {json_type(value)} {_shown(value)}"
        if error.validator_value == "boolean" and isinstance(value, str) and value.lower() in _YAML11_BOOLS:
            reason += " (YAML 1.2, as Kubernetes reads it: only true/false are booleans)"
        return [(join_path(parts), reason)]
    if kind == "anyOf" and schema.get("x-kubernetes-int-or-string"):
        return [(join_path(parts), f"expected integer or string, got {json_type(value)} {_shown(value)}")]
    if kind == "pattern":
        what = "a quantity (e.g. 500m, 2Gi)" if error.validator_value == k8s.QUANTITY_PATTERN else \
            f"pattern {error.validator_value}"
        return [(join_path(parts), f"{_shown(value)} is not {what}")]
    if kind in ("minimum", "maximum"):
        op = ">=" if kind == "minimum" else "<="
        return [(join_path(parts), f"must be {op} {error.validator_value}, got {_shown(value)}")]
    return [(join_path(parts), error.message)]


def describe(error: jsonschema.ValidationError) -> tuple[str, str]:
    return describe_all(error)[0]


def schema_issues(validator: jsonschema.protocols.Validator, doc: Any, prefix: Iterable[Any] = ()) -> list[
        ValidationIssue]:
    """All schema violations of ``doc`` (nulls pruned first, as the apiserver does), sorted by path."""
    found: set[tuple[str, str]] = set()
    base = list(prefix)
    for error in validator.iter_errors(k8s.prune_nulls(doc)):
        for path, reason in describe_all(error):
            if base:
                path = join_path(base + ([path] if path else []))
            found.add((path, reason))
    return [ValidationIssue(path, reason) for path, reason in sorted(found)]
