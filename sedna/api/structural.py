"""Checks that a CRD schema is *structural* (what an apiextensions.k8s.io/v1 apiserver accepts).

``violations(schema)`` returns human-readable problems, empty when the schema is acceptable: every node typed
(or int-or-string / preserve-unknown-fields), no ``$ref``, ``properties`` and ``additionalProperties`` not
together, logical junctors (``anyOf``...) free of types, descriptions and defaults, list-type/map-type rules,
only fields a CRD's JSONSchemaProps knows, only the plain ``type: object`` at the root ``metadata``.
"""

from __future__ import annotations

from typing import Any

TYPES = {"object", "array", "string", "integer", "number", "boolean"}
FORMATS = {"bsonobjectid", "uri", "email", "hostname", "ipv4", "ipv6", "cidr", "mac", "uuid", "uuid3", "uuid4",
           "uuid5", "isbn", "isbn10", "isbn13", "creditcard", "ssn", "hexcolor", "rgbcolor", "byte", "password",
           "date", "duration", "datetime", "date-time", "int32", "int64", "float", "double"}
PROPS = {"id", "$schema", "$ref", "description", "type", "format", "title", "default", "maximum",
         "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems",
         "minItems", "uniqueItems", "multipleOf", "enum", "maxProperties", "minProperties", "required", "items",
         "allOf", "oneOf", "anyOf", "not", "properties", "additionalProperties", "patternProperties",
         "dependencies", "additionalItems", "definitions", "externalDocs", "example", "nullable",
         "x-kubernetes-preserve-unknown-fields", "x-kubernetes-embedded-resource", "x-kubernetes-int-or-string",
         "x-kubernetes-list-map-keys", "x-kubernetes-list-type", "x-kubernetes-map-type",
         "x-kubernetes-validations"}
FORBIDDEN = ("$ref", "definitions", "patternProperties", "dependencies", "additionalItems", "id", "$schema")
JUNCTORS = ("anyOf", "allOf", "oneOf", "not")
JUNCTOR_FORBIDDEN = ("type", "description", "default", "additionalProperties", "nullable", "title",
                     "x-kubernetes-preserve-unknown-fields", "x-kubernetes-embedded-resource",
                     "x-kubernetes-int-or-string")


def violations(schema: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    _check(schema, "openAPIV3Schema", problems, root=True)
    meta = schema.get("properties", {}).get("metadata")
    if meta is not None and set(meta) - {"type", "description"}:
        problems.append("openAPIV3Schema.properties.metadata: only type/description allowed at the root")
    if schema.get("type") != "object":
        problems.append("openAPIV3Schema: root must be type object")
    return problems


def _check(node: Any, path: str, problems: list[str], root: bool = False) -> None:
    if not isinstance(node, dict):
        problems.append(f"{path}: schema must be an object, got {type(node).__name__}")
        return
    for key in node:
        if key not in PROPS:
            problems.append(f"{path}: unknown JSONSchemaProps field {key!r}")
    for key in FORBIDDEN:
        if key in node:
            problems.append(f"{path}: {key} is not allowed")
    typ = node.get("type")
    free = node.get("x-kubernetes-int-or-string") or node.get("x-kubernetes-preserve-unknown-fields")
    if typ is None and not free:
        problems.append(f"{path}: type is missing")
    elif typ is not None and (not isinstance(typ, str) or typ not in TYPES):
        problems.append(f"{path}: type {typ!r} is not one of {sorted(TYPES)}")
    if node.get("x-kubernetes-int-or-string"):
        expected = [{"type": "integer"}, {"type": "string"}]
        if typ is not None or node.get("anyOf") not in (None, expected):
            problems.append(f"{path}: int-or-string must be untyped with anyOf integer/string")
    if "format" in node and node["format"] not in FORMATS:
        problems.append(f"{path}: unsupported format {node['format']!r}")
    if "properties" in node and "additionalProperties" in node:
        problems.append(f"{path}: properties and additionalProperties are mutually exclusive")
    if "additionalProperties" in node and not isinstance(node["additionalProperties"], dict):
        problems.append(f"{path}: additionalProperties must be a schema")
    if ("properties" in node or "additionalProperties" in node) and typ != "object":
        problems.append(f"{path}: properties need type object")
    if "items" in node:
        if typ != "array":
            problems.append(f"{path}: items need type array")
        if not isinstance(node["items"], dict):
            problems.append(f"{path}: items must be a single schema")
    elif typ == "array":
        problems.append(f"{path}: array without items")
    for req in node.get("required", []):
        if req not in node.get("properties", {}) and "properties" in node:
            problems.append(f"{path}: required field {req!r} is not a property")
    _check_extensions(node, path, problems)
    for junctor in JUNCTORS:
        if junctor in node:
            branches = node[junctor] if isinstance(node[junctor], list) else [node[junctor]]
            for i, branch in enumerate(branches):
                _check_junctor(branch, f"{path}.{junctor}[{i}]", problems, node)
    for name, sub in node.get("properties", {}).items():
        _check(sub, f"{path}.properties[{name}]", problems)
    if isinstance(node.get("additionalProperties"), dict):
        _check(node["additionalProperties"], f"{path}.additionalProperties", problems)
    if isinstance(node.get("items"), dict):
        _check(node["items"], f"{path}.items", problems)


def _check_junctor(branch: Any, path: str, problems: list[str], parent: dict) -> None:
    if not isinstance(branch, dict):
        problems.append(f"{path}: must be a schema")
        return
    int_or_string = parent.get("x-kubernetes-int-or-string") and branch in ({"type": "integer"},
                                                                           {"type": "string"})
    for key in JUNCTOR_FORBIDDEN:
        if key in branch and not int_or_string:
            problems.append(f"{path}: {key} is not allowed inside a logical junctor")


def _check_extensions(node: dict, path: str, problems: list[str]) -> None:
    list_type = node.get("x-kubernetes-list-type")
    if list_type is not None:
        if list_type not in ("atomic", "set", "map"):
            problems.append(f"{path}: bad x-kubernetes-list-type {list_type!r}")
        if node.get("type") != "array":
            problems.append(f"{path}: x-kubernetes-list-type needs type array")
    keys = node.get("x-kubernetes-list-map-keys")
    if keys and list_type != "map":
        problems.append(f"{path}: x-kubernetes-list-map-keys needs x-kubernetes-list-type map")
    items = node.get("items") if isinstance(node.get("items"), dict) else {}
    if list_type == "map":
        if not keys:
            problems.append(f"{path}: list-type map needs x-kubernetes-list-map-keys")
        if items.get("type") != "object":
            problems.append(f"{path}: list-type map needs object items")
        for key in keys or []:
            prop = items.get("properties", {}).get(key)
            if prop is None:
                problems.append(f"{path}: map key {key!r} is not an item property")
                continue
            if prop.get("type") in ("object", "array"):
                problems.append(f"{path}: map key {key!r} must be a scalar")
            if key not in items.get("required", []) and "default" not in prop:
                problems.append(f"{path}: map key {key!r} must be required or have a default")
            if prop.get("nullable"):
                problems.append(f"{path}: map key {key!r} cannot be nullable")
    if list_type == "set" and items.get("type") in ("object", "array") and \
            items.get("x-kubernetes-map-type") != "atomic" and items.get("x-kubernetes-list-type") != "atomic":
        problems.append(f"{path}: list-type set needs scalar or atomic items")
    if "x-kubernetes-map-type" in node:
        if node["x-kubernetes-map-type"] not in ("atomic", "granular"):
            problems.append(f"{path}: bad x-kubernetes-map-type")
        if node.get("type") != "object":
            problems.append(f"{path}: x-kubernetes-map-type needs type object")


def apply_defaults(schema: dict[str, Any], value: Any) -> Any:
    """A copy of ``value`` with the schema's ``default``s filled in for absent fields (apiserver defaulting)."""
    if isinstance(value, dict):
        props = schema.get("properties")
        if props is None:
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict):
                return {k: apply_defaults(extra, v) for k, v in value.items()}
            return dict(value)
        out = {k: (apply_defaults(props[k], v) if k in props else v) for k, v in value.items()}
        for name, sub in props.items():
            if name not in out and "default" in sub:
                out[name] = apply_defaults(sub, sub["default"])
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [apply_defaults(schema["items"], v) for v in value]
    return value


def prune_unknown(schema: dict[str, Any], obj: Any) -> Any:
    """A copy of a custom object without the fields its CRD schema does not declare (apiserver pruning).
    The root ``apiVersion``, ``kind`` and ``metadata`` are kept whole: the apiserver handles them itself."""
    if not isinstance(obj, dict):
        return obj
    root = {k: obj[k] for k in ("apiVersion", "kind", "metadata") if k in obj}
    rest = _prune(schema, {k: v for k, v in obj.items() if k not in root})
    return {**root, **rest}


def _prune(schema: dict[str, Any], value: Any) -> Any:
    if isinstance(value, dict):
        if schema.get("x-kubernetes-preserve-unknown-fields"):
            return dict(value)
        props = schema.get("properties")
        if props is not None:
            return {k: _prune(props[k], v) for k, v in value.items() if k in props}
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            return {k: _prune(extra, v) for k, v in value.items()}
        return {} if schema.get("type") == "object" else value
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_prune(schema["items"], v) for v in value]
    return value
