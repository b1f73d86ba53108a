"""The three patch formats of the Kubernetes API, as pure functions over JSON values.

- JSON merge patch (RFC 7386) — ``application/merge-patch+json``.
- JSON patch (RFC 6902) — ``application/json-patch+json``; a failed ``test`` raises PatchTestFailed
  (the server answers 422 for it, as kopf expects).
- Strategic merge patch — ``application/strategic-merge-patch+json``: a merge patch whose lists of known
  Kubernetes types merge by key (containers by name, ports by containerPort, ...) and which understands the
  ``$patch``, ``$deleteFromPrimitiveList/`` and ``$setElementOrder/`` directives kubectl sends.
"""

from __future__ import annotations

import copy
from typing import Any


class PatchError(ValueError):
    """A patch that cannot be applied (bad document, bad path)."""


class PatchTestFailed(PatchError):
    """A JSON patch ``test`` operation did not hold."""


# ---- merge patch -----------------------------------------------------------------------------------------

def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# ---- JSON patch ------------------------------------------------------------------------------------------

def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}: must start with '/'")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(container: list, token: str, *, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise PatchError(f"invalid array index {token!r}")
    i = int(token)
    limit = len(container) + (1 if allow_end else 0)
    if i >= limit:
        raise PatchError(f"array index {i} out of range")
    return i


def _parent(doc: Any, parts: list[str], path: str) -> Any:
    cur = doc
    for token in parts[:-1]:
        if isinstance(cur, dict):
            if token not in cur:
                raise PatchError(f"path {path!r} does not exist")
            cur = cur[token]
        elif isinstance(cur, list):
            cur = cur[_index(cur, token, allow_end=False)]
        else:
            raise PatchError(f"path {path!r} does not exist")
    return cur


def _get(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        return doc
    parent = _parent(doc, parts, path)
    last = parts[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"path {path!r} does not exist")
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, allow_end=False)]
    raise PatchError(f"path {path!r} does not exist")


def _add(doc: Any, path: str, value: Any) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    parent = _parent(doc, parts, path)
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, allow_end=True), value)
    else:
        raise PatchError(f"cannot add at {path!r}")
    return doc


def _remove(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        raise PatchError("cannot remove the whole document")
    parent = _parent(doc, parts, path)
    last = parts[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"path {path!r} does not exist")
        del parent[last]
    elif isinstance(parent, list):
        del parent[_index(parent, last, allow_end=False)]
    else:
        raise PatchError(f"path {path!r} does not exist")
    return doc


def json_patch(target: Any, operations: Any) -> Any:
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations")
    doc = copy.deepcopy(target)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"invalid JSON patch operation {op!r}: needs 'op' and 'path'")
        kind, path = op["op"], op["path"]
        if not isinstance(path, str):
            raise PatchError(f"invalid path {path!r}")
        if kind in ("add", "replace", "test") and "value" not in op:
            raise PatchError(f"operation {kind!r} at {path!r} needs a 'value'")
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op["value"]))
        elif kind == "remove":
            doc = _remove(doc, path)
        elif kind == "replace":
            _get(doc, path)
            doc = _add(_remove(doc, path), path, copy.deepcopy(op["value"])) if _pointer(path) \
                else copy.deepcopy(op["value"])
        elif kind in ("move", "copy"):
            source = op.get("from")
            if not isinstance(source, str):
                raise PatchError(f"operation {kind!r} needs 'from'")
            value = copy.deepcopy(_get(doc, source))
            if kind == "move":
                doc = _remove(doc, source)
            doc = _add(doc, path, value)
        elif kind == "test":
            try:
                actual = _get(doc, path)
            except PatchError:
                raise PatchTestFailed(f"testing value {path} failed: path does not exist")
            if actual != op["value"]:
                raise PatchTestFailed(f"testing value {path} failed: expected {op['value']!r}, got {actual!r}")
        else:
            raise PatchError(f"unknown JSON patch operation {kind!r}")
    return doc


# ---- strategic merge patch -------------------------------------------------------------------------------

# Lists of objects merged by a key field, as the Go types declare with patchMergeKey.
_MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name", "env": "name",
    "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath",
    "imagePullSecrets": "name", "conditions": "type", "ownerReferences": "uid", "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey", "resourceClaims": "name", "addresses": "type",
}
# Lists of scalars merged as sets.
_PRIMITIVE_MERGE = {"finalizers"}


def _merge_key(field: str, parents: tuple[str, ...]) -> str | None:
    if field == "ports":
        # container ports merge by containerPort, service (and endpoint) ports by port
        return "containerPort" if parents and parents[-1] in ("containers", "initContainers",
                                                                "ephemeralContainers") else "port"
    return _MERGE_KEYS.get(field)


def strategic_merge_patch(target: Any, patch: Any, parents: tuple[str, ...] = ()) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    result = dict(target) if isinstance(target, dict) else {}
    orders = {}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys"):
            continue
        if key.startswith("$setElementOrder/"):
            orders[key.split("/", 1)[1]] = value
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            drop = set(map(_hashable, value or []))
            result[field] = [v for v in result.get(field) or [] if _hashable(v) not in drop]
            continue
        if value is None:
            result.pop(key, None)
            continue
        current = result.get(key)
        if isinstance(value, list):
            merge_key = _merge_key(key, parents)
            if merge_key and all(isinstance(v, dict) for v in value):
                result[key] = _merge_list_by_key(current if isinstance(current, list) else [], value,
                                                 merge_key, parents + (key,))
            elif key in _PRIMITIVE_MERGE and isinstance(current, list):
                merged = list(current)
                for v in value:
                    if v not in merged:
                        merged.append(copy.deepcopy(v))
                result[key] = merged
            else:
                result[key] = [strategic_merge_patch(None, v, parents + (key,)) if isinstance(v, dict)
                               else copy.deepcopy(v) for v in value
                               if not (isinstance(v, dict) and v.get("$patch") == "delete")]
        elif isinstance(value, dict):
            merged = strategic_merge_patch(current, value, parents + (key,))
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        else:
            result[key] = copy.deepcopy(value)
    for field, order in orders.items():
        if isinstance(result.get(field), list):
            result[field] = _apply_order(result[field], order, _merge_key(field, parents))
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        # union types (e.g. a deployment strategy): fields not listed are cleared
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _hashable(v: Any) -> Any:
    return repr(v) if isinstance(v, (dict, list)) else v


def _merge_list_by_key(current: list, patch: list, key: str, parents: tuple[str, ...]) -> list:
    result = [copy.deepcopy(item) for item in current]
    if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
        return [strategic_merge_patch(None, p, parents) for p in patch if p.get("$patch") != "replace"]
    for item in patch:
        if key not in item:
            raise PatchError(f"map in list {parents[-1]!r} is missing its merge key {key!r}")
        index = next((i for i, c in enumerate(result) if isinstance(c, dict) and c.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                del result[index]
            continue
        if index is None:
            result.append(strategic_merge_patch(None, item, parents))
        else:
            result[index] = strategic_merge_patch(result[index], item, parents)
    return result


def _apply_order(items: list, order: list, key: str | None) -> list:
    def ident(v):
        return v.get(key) if key and isinstance(v, dict) else _hashable(v)
    wanted = [ident(o) for o in order]
    rank = {w: i for i, w in enumerate(wanted)}
    ordered = sorted((v for v in items if ident(v) in rank), key=lambda v: rank[ident(v)])
    return ordered + [v for v in items if ident(v) not in rank]


MERGE = "application/merge-patch+json"
JSON = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"


def apply_patch(content_type: str, target: dict, patch: Any, *, strategic_lists: bool = True) -> dict:
    """Apply a patch body of the given content type; ``strategic_lists=False`` makes SMP a merge patch."""
    if content_type == JSON:
        result = json_patch(target, patch)
    elif content_type == MERGE or (content_type == STRATEGIC and not strategic_lists):
        if not isinstance(patch, dict):
            raise PatchError("a merge patch must be a JSON object")
        result = merge_patch(target, patch)
    elif content_type == STRATEGIC:
        if not isinstance(patch, dict):
            raise PatchError("a strategic merge patch must be a JSON object")
        result = strategic_merge_patch(target, patch)
    else:
        raise PatchError(f"unsupported patch type {content_type!r}")
    if not isinstance(result, dict):
        raise PatchError("the patched document is not an object")
    return result
