"""Discovery (``/api``, ``/apis``, resource lists) and the minimal OpenAPI v3 documents kubectl consults.

Aggregated discovery is not implemented: clients asking for ``apidiscovery.k8s.io`` get the plain JSON
documents, which client-go accepts and falls back to. The OpenAPI v3 documents carry, for every kind, a
PATCH operation with the ``fieldValidation`` parameter and the kind's ``x-kubernetes-group-version-kind``,
which is how kubectl decides to let the server validate (``--validate=strict`` default); custom resources
get their CRD schema, built-ins an open object schema.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sedna.local.apiserver.resources import VERBS, Registry, ResourceDef

SERVER_VERSION = {"major": "1", "minor": "30", "gitVersion": "v1.30.0-sedna-local", "gitCommit": "",
                  "gitTreeState": "clean", "buildDate": "2024-01-01T00:00:00Z", "goVersion": "go1.22",
                  "compiler": "gc", "platform": "linux/amd64", "emulationMajor": "1", "emulationMinor": "30"}


def api_versions() -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}]}


def _group(registry: Registry, group: str) -> dict[str, Any]:
    versions = [{"groupVersion": f"{group}/{v}", "version": v} for v in registry.versions(group)]
    return {"name": group, "versions": versions, "preferredVersion": versions[0]}


def api_group_list(registry: Registry) -> dict[str, Any]:
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group(registry, g) for g in registry.groups() if g]}


def api_group(registry: Registry, group: str) -> dict[str, Any] | None:
    if group not in registry.groups() or not group:
        return None
    return dict(_group(registry, group), kind="APIGroup", apiVersion="v1")


def _resource_entry(rd: ResourceDef) -> dict[str, Any]:
    entry = {"name": rd.plural, "singularName": rd.singular, "namespaced": rd.namespaced, "kind": rd.kind,
             "verbs": list(VERBS)}
    if rd.short_names:
        entry["shortNames"] = list(rd.short_names)
    if rd.categories:
        entry["categories"] = list(rd.categories)
    entry["storageVersionHash"] = hashlib.sha256(rd.bucket.encode()).hexdigest()[:12]
    return entry


def resource_list(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    if not registry.has_group_version(group, version):
        return None
    resources = []
    for rd in sorted(registry.resources(group, version), key=lambda r: r.plural):
        resources.append(_resource_entry(rd))
        for sub in rd.subresources:
            sub_entry = {"name": f"{rd.plural}/{sub}", "singularName": "", "namespaced": rd.namespaced,
                         "kind": rd.kind, "verbs": ["get", "patch", "update"]}
            if sub == "scale":
                sub_entry.update(kind="Scale", group="autoscaling", version="v1")
            elif sub == "log":
                sub_entry.update(kind="Pod", verbs=["get"])
            elif sub == "binding":
                sub_entry.update(kind="Binding", verbs=["create"])
            resources.append(sub_entry)
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}


# ---- OpenAPI v3 ------------------------------------------------------------------------------------------

def _gv_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def openapi_digest(registry: Registry, group: str, version: str) -> str:
    """Changes whenever the group-version's document would (kinds or CRD revisions)."""
    shape = [(rd.plural, rd.kind, (rd.crd or {}).get("metadata", {}).get("resourceVersion", ""))
             for rd in registry.resources(group, version)]
    return hashlib.sha256(json.dumps(sorted(shape)).encode()).hexdigest()[:32].upper()


def openapi_root(registry: Registry) -> dict[str, Any]:
    paths = {}
    for group, version in registry.group_versions():
        digest = openapi_digest(registry, group, version)
        paths[_gv_path(group, version)] = {"serverRelativeURL": f"/openapi/v3/{_gv_path(group, version)}"
                                                                f"?hash={digest}"}
    return {"paths": paths}


def _schema_name(rd: ResourceDef) -> str:
    group = ".".join(reversed(rd.group.split("."))) if rd.group else "io.k8s.api.core"
    return f"{group}.{rd.version}.{rd.kind}"


def openapi_gv(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    if not registry.has_group_version(group, version):
        return None
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    params = [{"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
              for name in ("dryRun", "fieldManager", "fieldValidation", "force")]
    for rd in registry.resources(group, version):
        gvk = {"group": rd.group, "version": rd.version, "kind": rd.kind}
        ref = {"$ref": f"#/components/schemas/{_schema_name(rd)}"}
        ok = {"200": {"description": "OK", "content": {"application/json": {"schema": ref}}}}
        base = "/" + _gv_path(group, version) + ("/namespaces/{namespace}" if rd.namespaced else "")
        paths[f"{base}/{rd.plural}/{{name}}"] = {
            "get": {"operationId": f"read{rd.kind}", "responses": ok, "x-kubernetes-action": "get",
                    "x-kubernetes-group-version-kind": gvk},
            "put": {"operationId": f"replace{rd.kind}", "parameters": params, "responses": ok,
                    "x-kubernetes-action": "put", "x-kubernetes-group-version-kind": gvk},
            "patch": {"operationId": f"patch{rd.kind}", "parameters": params, "responses": ok,
                      "x-kubernetes-action": "patch", "x-kubernetes-group-version-kind": gvk},
        }
        paths[f"{base}/{rd.plural}"] = {
            "post": {"operationId": f"create{rd.kind}", "parameters": params, "responses": ok,
                     "x-kubernetes-action": "post", "x-kubernetes-group-version-kind": gvk},
        }
        schema: dict[str, Any] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        if rd.is_custom:
            found = ((rd.crd_version or {}).get("schema") or {}).get("openAPIV3Schema")
            if found:
                schema = dict(found)
        schema["x-kubernetes-group-version-kind"] = [gvk]
        schemas[_schema_name(rd)] = schema
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.30.0-sedna-local"},
            "paths": paths, "components": {"schemas": schemas}}
