"""Structural-schema handling for custom resources: pruning, defaulting and validation.

The order follows the API server: null values of non-nullable fields and unknown fields are pruned, then
``default:`` values are filled in, then the object is validated against the version's ``openAPIV3Schema``.
Validators are compiled once per CRD version (the upstream Sedna schemas are megabytes of YAML).
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import jsonschema
from jsonschema._legacy_keywords import items_draft3_draft4

from sedna.api.schemacheck import append_path, join_path, json_type

_ROOT_META = ("apiVersion", "kind", "metadata")


@dataclass
class Cause:
    reason: str
    message: str
    field: str

    def as_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message, "field": self.field}


def _k8s_to_jsonschema(node: Any) -> Any:
    """Translate the Kubernetes dialect (nullable, int-or-string) into plain draft-4 JSON schema."""
    if isinstance(node, list):
        return [_k8s_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in ("properties", "patternProperties", "definitions"):
            out[key] = {k: _k8s_to_jsonschema(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "not", "allOf", "anyOf", "oneOf"):
            out[key] = _k8s_to_jsonschema(value)
        elif key in ("description", "default", "example", "externalDocs", "format") or key.startswith("x-"):
            continue
        else:
            out[key] = value
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = list(out["enum"]) + [None]
    out.pop("nullable", None)
    return out


class CRSchema:
    """One CRD version's schema, ready to prune, default and validate objects."""

    def __init__(self, openapi_schema: dict[str, Any] | None):
        self.schema = openapi_schema or {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        root = _k8s_to_jsonschema(self.schema)
        props = dict(root.get("properties") or {})
        for name in _ROOT_META:
            props.pop(name, None)
        root["properties"] = props
        required = [r for r in root.get("required") or [] if r not in _ROOT_META]
        if required:
            root["required"] = required
        else:
            root.pop("required", None)
        self._valid_items = ValidItems()
        validator_class = self._valid_items.validator_class()
        self._validator = validator_class(root)
        # for updates: the top-level fields that changed, checked without the root's "required" (checked apart)
        self._required = list(root.get("required") or [])
        self._changed_validator = validator_class({k: v for k, v in root.items() if k != "required"})

    def prune_and_default(self, obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
        """Prune and default ``obj`` in place; returns the paths of unknown fields that were dropped. With ``old``
        (an update) only the top-level fields that differ from the stored object are walked: the others were
        pruned and defaulted when they were stored."""
        pruned: list[str] = []
        if old is None:
            _walk(obj, self.schema, "", pruned, root=True)
            return pruned
        view = {k: v for k, v in obj.items() if k in _ROOT_META or k not in old or old[k] != v}
        kept = {k: v for k, v in obj.items() if k not in view}
        _walk(view, self.schema, "", pruned, root=True)
        obj.clear()
        obj.update(view)
        obj.update(kept)         # an unchanged field wins over a root-level default
        return pruned

    def validate(self, obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[Cause]:
        """Schema violations of ``obj``. With ``old`` (an update), top-level fields equal to the stored object's
        are not validated again: Kubernetes' CRD validation ratcheting (GA in 1.33) lets unchanged fields
        through, and it spares every status or metadata write the cost of validating the whole spec."""
        body = {k: v for k, v in obj.items() if k not in _ROOT_META}
        validator, checked, causes = self._validator, body, []
        if old is not None:
            changed = {k: v for k, v in body.items() if k not in old or old[k] != v}
            if len(changed) < len(body):
                validator, checked = self._changed_validator, changed
                causes = [Cause("FieldValueRequired", "Required value", name) for name in self._required
                          if name not in body]
        for error in sorted(validator.iter_errors(checked), key=lambda e: list(map(str, e.absolute_path))):
            causes.append(_cause(error))
        if not causes:
            _list_types(checked, self.schema, "", causes, root=True)
        return causes


class ValidItems:
    """Memo of array items already found valid against their ``items`` schema.

    Every update is validated whole, as the API server does, and a status write that appends one condition to a
    list of hundreds re-validated all of them: jsonschema's per-item walk was half of the emulator's time under a
    stream of LC reports (issue 16). Validity is a pure function of (schema, value), so an item seen valid
    before is skipped: its key is the ``items`` schema's identity (alive as long as the compiled schema) and a
    128-bit digest of the item's canonical JSON. Only object and array items are memoised (scalars are cheaper
    to check than to hash); the memo is bounded, oldest entries first out.
    """

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._seen: dict[tuple[int, bytes], None] = {}

    def __len__(self) -> int:
        return len(self._seen)

    @staticmethod
    def _digest(item: Any) -> bytes | None:
        try:
            text = json.dumps(item, sort_keys=True, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError):
            return None
        return hashlib.blake2b(text.encode(), digest_size=16).digest()

    def validator_class(self):
        seen, capacity, digest = self._seen, self.capacity, self._digest

        def items(validator, items_schema, instance, schema):
            if not validator.is_type(instance, "array") or not validator.is_type(items_schema, "object"):
                yield from items_draft3_draft4(validator, items_schema, instance, schema)
                return
            for index, item in enumerate(instance):
                key = None
                if isinstance(item, (dict, list)):
                    d = digest(item)
                    key = None if d is None else (id(items_schema), d)
                    if key is not None and key in seen:
                        continue
                errors = list(validator.descend(item, items_schema, path=index))
                if errors:
                    yield from errors
                elif key is not None:
                    seen[key] = None
                    if len(seen) > capacity:
                        del seen[next(iter(seen))]

        return jsonschema.validators.extend(jsonschema.Draft4Validator, {"items": items})


def unknown_paths(obj: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """Paths of the fields of ``obj`` that ``schema`` would prune (``obj`` is left as it is: the same decisions
    as :func:`_walk` without its copy, which was most of the cost of every pod create)."""
    found: list[str] = []
    _unknown(obj, schema, "", found, root=True)
    return found


def _unknown(value: Any, schema: dict[str, Any] | None, path: str, found: list[str], root: bool = False) -> None:
    if not isinstance(schema, dict):
        return
    if isinstance(value, dict):
        props = schema.get("properties")
        additional = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields")
        if props is not None:
            for name, item in value.items():
                if root and name in _ROOT_META:
                    continue
                sub = props.get(name)
                if sub is not None:
                    if item is not None:          # a null is dropped (or kept when nullable), never unknown
                        _unknown(item, sub, append_path(path, name), found)
                elif isinstance(additional, dict):
                    _unknown(item, additional, append_path(path, name), found)
                elif not (additional is True or preserve):
                    found.append(append_path(path, name))
        elif isinstance(additional, dict):
            for name, item in value.items():
                _unknown(item, additional, append_path(path, name), found)
        elif schema.get("type") == "object" and not preserve and additional is not True and not root:
            found.extend(append_path(path, name) for name in value)
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                _unknown(item, items, append_path(path, i), found)


def _walk(value: Any, schema: dict[str, Any] | None, path: str, pruned: list[str], root: bool = False) -> None:
    if not isinstance(schema, dict):
        return
    if isinstance(value, dict):
        props = schema.get("properties")
        additional = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields")
        if props is not None:
            for name in list(value):
                if root and name in _ROOT_META:
                    continue
                sub = props.get(name)
                if sub is not None and value[name] is None and not sub.get("nullable"):
                    del value[name]
            for name, sub in props.items():
                if root and name in _ROOT_META:
                    continue
                if name not in value and isinstance(sub, dict) and "default" in sub:
                    value[name] = copy.deepcopy(sub["default"])
            for name in list(value):
                if root and name in _ROOT_META:
                    continue
                if name in props:
                    _walk(value[name], props[name], append_path(path, name), pruned)
                elif isinstance(additional, dict):
                    _walk(value[name], additional, append_path(path, name), pruned)
                elif additional is True or preserve:
                    continue
                else:
                    pruned.append(append_path(path, name))
                    del value[name]
        elif isinstance(additional, dict):
            for name in list(value):
                _walk(value[name], additional, append_path(path, name), pruned)
        elif schema.get("type") == "object" and not preserve and additional is not True and not root:
            for name in list(value):
                pruned.append(append_path(path, name))
                del value[name]
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                _walk(item, items, append_path(path, i), pruned)


def _list_types(value: Any, schema: dict[str, Any] | None, path: str, causes: list[Cause],
                root: bool = False) -> None:
    """``x-kubernetes-list-type`` set/map: no two items (or two items' map keys) may be equal."""
    if not isinstance(schema, dict):
        return
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        for name, item in value.items():
            if root and name in _ROOT_META:
                continue
            sub = props.get(name) if name in props else (additional if isinstance(additional, dict) else None)
            _list_types(item, sub, append_path(path, name), causes)
    elif isinstance(value, list):
        kind = schema.get("x-kubernetes-list-type")
        keys = schema.get("x-kubernetes-list-map-keys") or []
        seen: dict[str, int] = {}
        for i, item in enumerate(value):
            if kind == "set":
                ident = _show(item)
            elif kind == "map" and keys and isinstance(item, dict):
                ident = _show({k: item.get(k) for k in keys})
            else:
                ident = None
            if ident is not None:
                if ident in seen:
                    causes.append(Cause("FieldValueDuplicate", f"Duplicate value: {ident}", append_path(path, i)))
                seen[ident] = i
            _list_types(item, schema.get("items"), append_path(path, i), causes)


def _cause(error: jsonschema.ValidationError) -> Cause:
    path = join_path(error.absolute_path)
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        return Cause("FieldValueRequired", "Required value", append_path(path, missing) if missing else path)
    shown = _show(error.instance)
    if error.validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return Cause("FieldValueTypeInvalid", f'Invalid value: "{json_type(error.instance)}": '
                     f"{path} in body must be of type {expected}: {shown}", path)
    if error.validator == "enum":
        allowed = ", ".join(_show(v) for v in error.validator_value)
        return Cause("FieldValueNotSupported", f"Unsupported value: {shown}: supported values: {allowed}", path)
    return Cause("FieldValueInvalid", f"Invalid value: {shown}: {path} in body {error.message}", path)


def _show(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


class SchemaCache:
    """Compiled schemas keyed by CRD uid, CRD resourceVersion and version name."""

    def __init__(self):
        self._cache: dict[tuple[str, str, str], CRSchema] = {}

    def get(self, crd: dict[str, Any], version: dict[str, Any]) -> CRSchema:
        meta = crd.get("metadata", {})
        key = (meta.get("uid", ""), meta.get("resourceVersion", ""), version.get("name", ""))
        found = self._cache.get(key)
        if found is None:
            for stale in [k for k in self._cache if k[0] == key[0] and k[1] != key[1]]:
                del self._cache[stale]
            schema = (version.get("schema") or {}).get("openAPIV3Schema")
            found = self._cache[key] = CRSchema(schema)
        return found
