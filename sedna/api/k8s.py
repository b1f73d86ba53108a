"""Kubernetes object schemas embedded in the Sedna CRDs (pod templates, JobSpec, DeploymentSpec, HPA parts).

The schemas come from one pinned document, ``k8s_openapi_v1.30.json`` next to this module: the closure of the
definitions Sedna embeds, cut out of the Kubernetes OpenAPI (as JSON schema) shipped by ``kubernetes-validate``
for Kubernetes 1.30 -- the API level upstream Sedna's CRDs were generated against. :func:`refresh_pin` rewrites
it; a test checks the committed file against the installed package.

:func:`structural` turns a definition into a CRD *structural* schema (every node typed, no ``$ref``,
int-or-string and quantity as ``x-kubernetes-int-or-string``), the form both the generated CRDs and the pydantic
validators of the embedded fields use.
"""

from __future__ import annotations

import copy
import json
import re
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import jsonschema

K8S_VERSION = "1.30.0"
PIN_PATH = Path(__file__).with_name("k8s_openapi_v1.30.json")

POD_TEMPLATE_SPEC = "io.k8s.api.core.v1.PodTemplateSpec"
JOB_SPEC = "io.k8s.api.batch.v1.JobSpec"
DEPLOYMENT_SPEC = "io.k8s.api.apps.v1.DeploymentSpec"
LABEL_SELECTOR = "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"
HPA_METRIC_SPEC = "io.k8s.api.autoscaling.v2.MetricSpec"
HPA_BEHAVIOR = "io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerBehavior"
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

#: definitions the Sedna kinds embed; the pin holds these and everything they reference
ROOTS = (POD_TEMPLATE_SPEC, JOB_SPEC, DEPLOYMENT_SPEC, LABEL_SELECTOR, HPA_METRIC_SPEC, HPA_BEHAVIOR)

_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_TIMES = ("io.k8s.apimachinery.pkg.apis.meta.v1.Time", "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime")
# The apiserver's own pattern for resource.Quantity, as CRD generators emit it.
QUANTITY_PATTERN = (r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?"
                    r"(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$")
# An embedded (template) ObjectMeta keeps the fields a controller copies from a template; the rest of
# ObjectMeta is server-populated. This is the set CRD generators use for embedded object metadata.
EMBEDDED_META_FIELDS = ("annotations", "finalizers", "labels", "name", "namespace")
# A list-map key must be required or defaulted in a CRD. The OpenAPI document leaves out what the Go types
# in k8s.io/api say about three such keys: ContainerPort.protocol has "+default=TCP",
# LocalObjectReference.name "+default=\"\"", and HostAlias.ip is not omitempty (so it is always present).
LIST_MAP_KEY_DEFAULTS = {("io.k8s.api.core.v1.ContainerPort", "protocol"): "TCP",
                         ("io.k8s.api.core.v1.LocalObjectReference", "name"): ""}
LIST_MAP_KEY_REQUIRED = {("io.k8s.api.core.v1.HostAlias", "ip")}
# Keys a CRD JSONSchemaProps accepts that we carry over; everything else (patch strategies, GVK and union
# annotations, enums that upstream's CRDs do not carry) is dropped.
_KEEP = ("description", "format", "required", "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
         "x-kubernetes-map-type")
_REF = re.compile(r"^(?:.*)#/\$defs/(.+)$")


def _ref_name(ref: str) -> str:
    m = _REF.match(ref)
    if not m:
        raise ValueError(f"unsupported $ref {ref!r}")
    return m.group(1)


def _refs(node: Any):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield _ref_name(value)
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def refresh_pin(source_dir: Path | None = None, path: Path = PIN_PATH) -> Path:
    """Rewrite the pinned definitions from kubernetes-validate's bundled schemas (development tool)."""
    if source_dir is None:
        import kubernetes_validate

        source_dir = (Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
                      / f"v{K8S_VERSION}-local")
    path.write_text(pin_text(source_dir), encoding="utf-8")
    return path


def pin_text(source_dir: Path) -> str:
    """The pinned document's text, cut from a kubernetes-validate schema directory."""
    all_defs = json.loads((source_dir / "_definitions.json").read_text(encoding="utf-8"))["$defs"]
    wanted: dict[str, Any] = {}
    todo = list(ROOTS)
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        wanted[name] = all_defs[name]
        todo.extend(_refs(all_defs[name]))
    doc = {"kubernetesVersion": K8S_VERSION,
           "source": f"kubernetes-validate kubernetes-json-schema/v{K8S_VERSION}-local/_definitions.json",
           "$defs": wanted}
    return json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


@lru_cache(maxsize=1)
def definitions() -> dict[str, Any]:
    return json.loads(PIN_PATH.read_text(encoding="utf-8"))["$defs"]


def _single_type(node: dict) -> str | None:
    t = node.get("type")
    if isinstance(t, list):
        rest = [x for x in t if x != "null"]
        if len(rest) != 1:
            raise ValueError(f"cannot express type {t} structurally")
        return rest[0]
    return t


def _convert(node: dict, defs: dict, stack: tuple[str, ...], owner: str | None) -> dict:
    if "$ref" in node:
        name = _ref_name(node["$ref"])
        out = _convert_def(name, defs, stack)
        if node.get("description"):
            out = {**out, "description": node["description"]}
        return out
    out: dict[str, Any] = {}
    typ = _single_type(node)
    if typ is None:
        raise ValueError(f"untyped node under {owner}: {sorted(node)}")
    out["type"] = typ
    for key in _KEEP:
        if key in node:
            out[key] = copy.deepcopy(node[key])
    if "properties" in node:
        out["properties"] = {k: _convert(v, defs, stack, owner) for k, v in sorted(node["properties"].items())}
    if isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = _convert(node["additionalProperties"], defs, stack, owner)
    if "items" in node:
        item_owner = _ref_name(node["items"]["$ref"]) if "$ref" in node["items"] else owner
        out["items"] = _convert(node["items"], defs, stack, item_owner)
        if out.get("x-kubernetes-list-type") == "map":
            _default_map_keys(out, item_owner)
    return out


def _default_map_keys(out: dict, item_owner: str | None) -> None:
    items = out["items"]
    for key in out.get("x-kubernetes-list-map-keys", []):
        if key in items.get("required", []) or "default" in items["properties"].get(key, {}):
            continue
        if (item_owner, key) in LIST_MAP_KEY_REQUIRED:
            items["required"] = sorted(set(items.get("required", [])) | {key})
            continue
        if (item_owner, key) not in LIST_MAP_KEY_DEFAULTS:
            raise ValueError(f"list-map key {key!r} of {item_owner} is neither required nor defaulted")
        items["properties"][key] = {**items["properties"][key],
                                    "default": LIST_MAP_KEY_DEFAULTS[(item_owner, key)]}


def _convert_def(name: str, defs: dict, stack: tuple[str, ...]) -> dict:
    if name == _QUANTITY:
        return {"anyOf": [{"type": "integer"}, {"type": "string"}], "pattern": QUANTITY_PATTERN,
                "x-kubernetes-int-or-string": True}
    if name == _INT_OR_STRING:
        return {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": True}
    if name in _TIMES:
        return {"type": "string", "format": "date-time"}
    if name in stack:
        raise ValueError(f"recursive definition {' -> '.join(stack + (name,))}")
    out = _convert(defs[name], defs, stack + (name,), name)
    if name == OBJECT_META:
        out["properties"] = {k: v for k, v in out["properties"].items() if k in EMBEDDED_META_FIELDS}
    return out


@cache
def _structural_cached(name: str) -> dict:
    return _convert_def(name, definitions(), ())


def structural(name: str) -> dict:
    """A fresh copy of the structural CRD schema of one Kubernetes definition."""
    return copy.deepcopy(_structural_cached(name))


def strict(schema: dict) -> dict:
    """Copy of a structural schema that rejects unknown fields (like the apiserver's strict field validation)."""
    if not isinstance(schema, dict):
        return schema
    out = {k: (strict(v) if k in ("items", "additionalProperties") else v) for k, v in schema.items()}
    if "properties" in schema:
        out["properties"] = {k: strict(v) for k, v in schema["properties"].items()}
        if not schema.get("x-kubernetes-preserve-unknown-fields") and "additionalProperties" not in schema:
            out["additionalProperties"] = False
    return out


@cache
def validator(name: str, without: tuple[str, ...] = ()) -> jsonschema.protocols.Validator:
    """Cached (non-strict) validator of one definition, as the apiserver applies it; ``without`` leaves out
    top-level fields (a spec type whose field the caller validates itself)."""
    schema = _structural_cached(name)
    if without:
        schema = {**schema, "properties": {k: v for k, v in schema["properties"].items() if k not in without},
                  "required": [k for k in schema.get("required", []) if k not in without]}
    return jsonschema.Draft7Validator(schema)


def prune_nulls(value: Any) -> Any:
    """Drop ``null`` object fields, as the apiserver does for fields that are not nullable (none here)."""
    if isinstance(value, dict):
        return {k: prune_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [prune_nulls(v) for v in value]
    return value


def check(name: str, value: Any, without: tuple[str, ...] = ()) -> None:
    """Raise ``ValueError`` naming the first offending path if ``value`` does not fit definition ``name``."""
    errors = sorted(validator(name, without).iter_errors(prune_nulls(value)),
                    key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        from sedna.api.schemacheck import describe

        path, reason = describe(errors[0])
        short = name.rsplit(".", 1)[-1]
        raise ValueError(f"invalid {short}: {path or '(root)'}: {reason}")
