"""Validation of sedna.io manifests: group/version/kind, the generated CRD schema (with unknown fields
rejected, as ``kubectl apply``'s strict field validation does), the pydantic models, and the semantic rules.

- :func:`validate_object` — everything for one manifest dict, as ``ValidationIssue`` list.
- :func:`check_object` — the semantic rules only (pure; re-exported from :mod:`sedna.api.semantics`).
- :func:`validate_files` — ``sedna validate -f FILE...``: one line per problem, exit code 0/1.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable
from functools import cache
from typing import Any, TextIO

import jsonschema
import pydantic

from sedna.api import k8s, structural, yamlio
from sedna.api.common import API_VERSION, GROUP
from sedna.api.registry import get_kind, is_sedna, lookup
from sedna.api.schemacheck import ValidationIssue, join_path, schema_issues
from sedna.api.semantics import check_object

__all__ = ["ValidationIssue", "admit", "check_object", "schema_validator", "validate_files", "validate_object"]

log = logging.getLogger(__name__)


@cache
def schema_validator(kind: str, strict: bool = True) -> jsonschema.protocols.Validator:
    """Cached validator of a kind's generated ``openAPIV3Schema``; ``strict`` rejects unknown fields."""
    from sedna.api.crdgen import openapi_schema

    schema = openapi_schema(kind)
    return jsonschema.Draft7Validator(k8s.strict(schema) if strict else schema)


_ADMIT_VALIDATORS: dict[int, tuple[dict, jsonschema.protocols.Validator]] = {}


def admit(schema: dict[str, Any], obj: dict[str, Any]) -> tuple[dict[str, Any], list[ValidationIssue]]:
    """What an apiserver does with a custom object on create/update, for any structural CRD schema:
    drop ``null`` fields, prune unknown fields, apply defaults, then validate. Returns the stored form and
    the schema violations (empty when the object is admitted). No semantic checks."""
    entry = _ADMIT_VALIDATORS.get(id(schema))
    if entry is None or entry[0] is not schema:
        entry = (schema, jsonschema.Draft7Validator(schema))
        _ADMIT_VALIDATORS[id(schema)] = entry  # keeps the schema alive, so the id stays unique
    stored = structural.apply_defaults(schema, structural.prune_unknown(schema, k8s.prune_nulls(obj)))
    return stored, schema_issues(entry[1], stored)


def _identity_issues(doc: Any) -> list[ValidationIssue]:
    if not isinstance(doc, dict):
        return [ValidationIssue("", f"expected a mapping, got {type(doc).__name__}")]
    issues = []
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if not api_version:
        issues.append(ValidationIssue("apiVersion", "required field is missing"))
    elif api_version != API_VERSION:
        issues.append(ValidationIssue("apiVersion", f"unsupported version {api_version!r} "
                                                    f"({GROUP} serves {API_VERSION} only)"))
    if not kind:
        issues.append(ValidationIssue("kind", "required field is missing"))
    elif not isinstance(kind, str) or lookup(kind) is None or lookup(kind).kind != kind:
        issues.append(ValidationIssue("kind", f"unknown kind {kind!r} in {GROUP}"))
    return issues


def _model_issues(kind: str, doc: dict) -> list[ValidationIssue]:
    try:
        get_kind(kind).model.model_validate(doc)
    except pydantic.ValidationError as exc:
        return [ValidationIssue(join_path(err["loc"]), err["msg"]) for err in exc.errors()]
    return []


def validate_object(doc: Any, strict: bool = True) -> list[ValidationIssue]:
    """All problems of one manifest: identity, schema, model and semantic checks (errors and warnings)."""
    issues = _identity_issues(doc)
    if issues:
        return issues
    kind = doc["kind"]
    issues = schema_issues(schema_validator(kind, strict), doc)
    if not issues:
        issues = _model_issues(kind, k8s.prune_nulls(doc))
    return issues + check_object(doc)


def describe_doc(doc: Any) -> str:
    """``Kind/name`` label of a manifest for messages."""
    if not isinstance(doc, dict):
        return "(not a mapping)"
    kind = doc.get("kind") or "?"
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    name = meta.get("name") or meta.get("generateName") or "?"
    return f"{kind}/{name}"


def _read(filename: str, stdin: TextIO) -> tuple[str, str]:
    if filename == "-":
        return "<stdin>", stdin.read()
    with open(filename, encoding="utf-8") as fh:
        return filename, fh.read()


def _yaml_problem(exc: yamlio.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"invalid YAML: {problem}{where}"


class _Report:
    def __init__(self, out: TextIO, err: TextIO):
        self.out, self.err = out, err
        self.valid = self.invalid = self.skipped = 0

    def issue(self, where: str, issue: ValidationIssue) -> None:
        text = " ".join(str(issue).split("\n"))
        self.err.write(f"{where}: {text}\n")


def _list_items(doc: Any) -> list[tuple[str, Any]] | None:
    """The items of a ``v1 List`` or ``<Kind>List`` document (as ``kubectl get -o yaml`` writes), else None."""
    if isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List") and isinstance(doc.get("items"), list):
        return [(f".items[{i}]", item) for i, item in enumerate(doc["items"])]
    return None


def _validate_doc(where: str, doc: Any, report: _Report) -> None:
    where = f"{where} {describe_doc(doc)}"
    if isinstance(doc, dict) and not is_sedna(doc) and doc.get("apiVersion"):
        report.skipped += 1
        report.err.write(f"{where}: skipped (not a {GROUP} object)\n")
        return
    try:
        issues = validate_object(doc)
    except Exception as exc:  # report, never a traceback
        log.debug("validation crashed", exc_info=True)
        issues = [ValidationIssue("", f"could not be validated: {exc}")]
    for issue in issues:
        report.issue(where, issue)
    if any(i.severity == "error" for i in issues):
        report.invalid += 1
    else:
        report.valid += 1
        report.out.write(f"{where}: valid\n")


def _validate_text(label: str, text: str, report: _Report) -> None:
    try:
        count = 0
        for index, doc in enumerate(yamlio.iter_documents(text)):
            count += 1
            items = _list_items(doc)
            for suffix, item in items if items is not None else [("", doc)]:
                _validate_doc(f"{label}:{index}{suffix}", item, report)
        if not count:
            report.err.write(f"{label}: no objects\n")
    except yamlio.YAMLError as exc:
        report.invalid += 1
        report.err.write(f"{label}: {_yaml_problem(exc)}\n")


def _expand(filenames: Iterable[str]) -> list[str]:
    out = []
    for name in filenames:
        if name != "-" and os.path.isdir(name):
            out += sorted(os.path.join(name, f) for f in os.listdir(name)
                          if f.endswith((".yaml", ".yml", ".json")))
        else:
            out.append(name)
    return out


def validate_files(filenames: Iterable[str], stdin: TextIO | None = None, out: TextIO | None = None,
                   err: TextIO | None = None) -> int:
    """Validate every document of every file ('-' = stdin, a directory = its YAML/JSON files); 0 when all
    sedna.io objects are valid, else 1."""
    report = _Report(out or sys.stdout, err or sys.stderr)
    for filename in _expand(filenames):
        try:
            label, text = _read(filename, stdin or sys.stdin)
        except (OSError, UnicodeDecodeError) as exc:
            report.invalid += 1
            report.err.write(f"{filename}: cannot read: {getattr(exc, 'strerror', None) or exc}\n")
            continue
        _validate_text(label, text, report)
    report.out.write(f"{report.valid} valid, {report.invalid} invalid, {report.skipped} skipped\n")
    return 1 if report.invalid else 0
