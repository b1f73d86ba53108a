"""The verbs of the Kubernetes API over the store: create, get, list, update, patch, delete.

Controllers inside the server call these methods directly; the HTTP layer (server.py) only parses
requests and renders results. All methods are synchronous and run on the server loop.
"""

from __future__ import annotations

import base64
import copy
import ipaddress
import json
import logging
import random
import re
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from sedna.local.apiserver import builtins, errors
from sedna.local.apiserver.patch import APPLY, PatchError, PatchTestFailed, apply_patch, merge_patch
from sedna.local.apiserver.resources import Registry, ResourceDef
from sedna.local.apiserver.schema import SchemaCache
from sedna.local.apiserver.selectors import (
    FieldSelector,
    LabelSelector,
    SelectorError,
    check_label_key,
    check_label_value,
)
from sedna.local.apiserver.store import Store, copy_object

log = logging.getLogger(__name__)

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUFFIX_CHARS = "bcdfghjklmnpqrstvwxz2456789"
CRD_BUCKET = "apiextensions.k8s.io/customresourcedefinitions"
NS_BUCKET = "/namespaces"
SERVICES_BUCKET = "/services"


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_stamp(text: str | None) -> float | None:
    """Epoch seconds of an RFC 3339 time (``2024-01-01T00:00:00Z``, fractions and offsets allowed)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        when = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


def random_suffix(n: int = 5) -> str:
    return "".join(random.choice(_SUFFIX_CHARS) for _ in range(n))


class API:
    def __init__(self, store: Store, registry: Registry, service_cidr: str | None = None):
        self.store = store
        self.registry = registry
        self.schemas = SchemaCache()
        self.service_ips = builtins.ServiceIPRange(service_cidr or builtins.DEFAULT_SERVICE_CIDR)
        # ClusterIP (as int) → UID of the stored Service holding it, kept from the store's events
        self._cluster_ips: dict[int, str] = {}
        for svc in store.items(SERVICES_BUCKET):
            self._hold_ip(svc)
        store.add_listener(self._on_service_event)

    @staticmethod
    def _ip_of(svc: dict[str, Any] | None) -> int | None:
        ip = ((svc or {}).get("spec") or {}).get("clusterIP")
        if not ip or ip == "None":
            return None
        try:
            return int(ipaddress.IPv4Address(ip))
        except ValueError:
            return None

    def _hold_ip(self, svc: dict[str, Any]) -> None:
        n = self._ip_of(svc)
        if n is not None:
            self._cluster_ips[n] = svc["metadata"].get("uid", "")

    def _on_service_event(self, event) -> None:
        if event.bucket != SERVICES_BUCKET:
            return
        if event.old is not None:
            n = self._ip_of(event.old)
            if n is not None and self._cluster_ips.get(n) == event.old["metadata"].get("uid", ""):
                del self._cluster_ips[n]
        if event.type != "DELETED":
            self._hold_ip(event.obj)

    def allocate_cluster_ip(self) -> str:
        """A ClusterIP of the service range that no stored Service holds; 500 when the range is full."""
        ip = self.service_ips.allocate_free(self._cluster_ips.__contains__)
        if ip is None:
            raise errors.APIError(500, "InternalError", "Internal error occurred: failed to allocate a serviceIP: "
                                  f"range is full ({self.service_ips.spec})")
        return ip

    # ---- helpers ----------------------------------------------------------------------------------------

    def _present(self, rd: ResourceDef, obj: dict[str, Any]) -> dict[str, Any]:
        """The stored object as served at ``rd``'s version (CRD conversion strategy None)."""
        if obj.get("apiVersion") == rd.api_version:
            return obj
        out = dict(obj)
        out["apiVersion"] = rd.api_version
        return out

    def _ns(self, rd: ResourceDef, namespace: str | None) -> str:
        return (namespace or "") if rd.namespaced else ""

    def _check_name(self, rd: ResourceDef, name: Any) -> None:
        pattern = _DNS_LABEL if rd.plural in ("namespaces", "services") else _DNS_SUBDOMAIN
        limit = 63 if rd.plural in ("namespaces", "services") else 253
        if not isinstance(name, str) or not name:
            raise errors.invalid(rd, "", [{"reason": "FieldValueRequired", "message": "name or generateName "
                                           "is required", "field": "metadata.name"}])
        if rd.plural == "nodes":
            return
        if len(name) > limit or not pattern.match(name):
            raise errors.invalid(rd, name, [{
                "reason": "FieldValueInvalid", "field": "metadata.name",
                "message": f'Invalid value: "{name}": a lowercase RFC 1123 '
                           f'{"label" if limit == 63 else "subdomain"} must consist of lower case alphanumeric '
                           "characters, '-' or '.', and must start and end with an alphanumeric character"}])

    def _check_metadata(self, rd: ResourceDef, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata")
        name = meta.get("name", "") if isinstance(meta, dict) else ""
        for fld in ("labels", "annotations"):
            value = meta.get(fld)
            if value is None:
                continue
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise errors.invalid(rd, name, [{"reason": "FieldValueTypeInvalid", "field": f"metadata.{fld}",
                                                 "message": "Invalid value: must be a map of strings"}])
            causes = []
            for key, text in value.items():
                try:
                    check_label_key(key)
                    if fld == "labels":
                        check_label_value(text)
                except SelectorError as exc:
                    causes.append({"reason": "FieldValueInvalid", "field": f"metadata.{fld}", "message":
                                   f"Invalid value: {key!r}: {exc}"})
            if causes:
                raise errors.invalid(rd, name, causes)
        for fld in ("finalizers", "ownerReferences"):
            if meta.get(fld) is not None and not isinstance(meta.get(fld), list):
                raise errors.invalid(rd, name, [{"reason": "FieldValueTypeInvalid", "field": f"metadata.{fld}",
                                                 "message": "Invalid value: must be a list"}])
        for i, ref in enumerate(meta.get("ownerReferences") or []):
            if not isinstance(ref, dict) or not all(ref.get(k) for k in ("apiVersion", "kind", "name", "uid")):
                raise errors.invalid(rd, name, [{"reason": "FieldValueRequired",
                                                 "field": f"metadata.ownerReferences[{i}]",
                                                 "message": "Required value: apiVersion, kind, name and uid"}])

    def _check_body(self, rd: ResourceDef, obj: Any, namespace: str | None) -> dict[str, Any]:
        if not isinstance(obj, dict):
            raise errors.bad_request("the request body must be a JSON object")
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        if kind and kind != rd.kind:
            raise errors.bad_request(f"the kind of the provided object ({kind}) does not match the resource "
                                     f"({rd.kind})")
        if api_version and api_version != rd.api_version:
            raise errors.bad_request(f"the API version in the data ({api_version}) does not match the expected "
                                     f"API version ({rd.api_version})")
        meta = obj.get("metadata")
        if meta is None:
            meta = obj["metadata"] = {}
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        if rd.namespaced:
            body_ns = meta.get("namespace")
            if body_ns and namespace and body_ns != namespace:
                raise errors.bad_request("the namespace of the provided object does not match the namespace "
                                         "sent on the request")
        else:
            meta.pop("namespace", None)
        return obj

    def _validate_content(self, rd: ResourceDef, obj: dict[str, Any], field_validation: str | None,
                          old: dict[str, Any] | None = None) -> list[str]:
        """Prune/default/validate custom resources (on an update, ``old``, only their changed top-level fields),
        check built-ins; returns warnings."""
        name = obj["metadata"].get("name", "")
        warnings: list[str] = []
        if rd.is_custom:
            schema = self.schemas.get(rd.crd, rd.crd_version)
            if old is not None and old.get("apiVersion") != obj.get("apiVersion"):
                old = None
            pruned = schema.prune_and_default(obj, old)
            if pruned and field_validation == "Strict":
                raise errors.bad_request("strict decoding error: " + ", ".join(
                    f'unknown field "{p}"' for p in pruned))
            if pruned and field_validation != "Ignore":
                warnings += [f'unknown field "{p}"' for p in pruned]
            causes = schema.validate(obj, old)
            if causes:
                raise errors.invalid(rd, name, [c.as_dict() for c in causes])
        else:
            unknown = builtins.unknown_fields(rd.plural, obj) if field_validation != "Ignore" else []
            if unknown and field_validation == "Strict":
                raise errors.bad_request("strict decoding error: " + ", ".join(
                    f'unknown field "{p}"' for p in unknown))
            warnings += [f'unknown field "{p}"' for p in unknown]
            builtins.apply_defaults(rd.plural, obj, self.allocate_cluster_ip)
            causes = builtins.validate(rd.plural, obj)
            if causes:
                raise errors.invalid(rd, name, causes)
            if rd.plural == "customresourcedefinitions":
                self._validate_crd(rd, obj)
        return warnings

    def _check_cluster_ip(self, rd: ResourceDef, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        """A ClusterIP set or changed by the client must not be held by another Service (422, as Kubernetes)."""
        if rd.plural != "services" or rd.group:
            return
        ip = (obj.get("spec") or {}).get("clusterIP")
        if not ip or ip == "None" or (old is not None and (old.get("spec") or {}).get("clusterIP") == ip):
            return
        uid = obj["metadata"].get("uid")
        holder = self._cluster_ips.get(self._ip_of(obj))
        if holder is not None and holder != uid:
            raise errors.invalid(rd, obj["metadata"].get("name", ""), [{
                "reason": "FieldValueInvalid", "field": "spec.clusterIPs",
                "message": f'Invalid value: ["{ip}"]: failed to allocate IP {ip}: provided IP is already '
                           "allocated"}])

    def _validate_crd(self, rd: ResourceDef, obj: dict[str, Any]) -> None:
        spec = obj.get("spec") or {}
        names = spec.get("names") or {}
        causes = []
        for fld in ("group",):
            if not spec.get(fld):
                causes.append({"reason": "FieldValueRequired", "message": "Required value", "field": f"spec.{fld}"})
        for fld in ("plural", "kind"):
            if not names.get(fld):
                causes.append({"reason": "FieldValueRequired", "message": "Required value",
                               "field": f"spec.names.{fld}"})
        versions = spec.get("versions") or []
        if not versions:
            causes.append({"reason": "FieldValueRequired", "message": "Required value", "field": "spec.versions"})
        elif sum(1 for v in versions if v.get("storage")) != 1:
            causes.append({"reason": "FieldValueInvalid", "field": "spec.versions",
                           "message": "Invalid value: must have exactly one version marked as storage version"})
        expected = f"{names.get('plural')}.{spec.get('group')}"
        if not causes and obj["metadata"].get("name") != expected:
            causes.append({"reason": "FieldValueInvalid", "field": "metadata.name",
                           "message": f'Invalid value: "{obj["metadata"].get("name")}": must be spec.names.plural'
                                      f'+"."+spec.group'})
        if causes:
            raise errors.invalid(rd, obj["metadata"].get("name", ""), causes)
        obj.setdefault("spec", {}).setdefault("scope", "Namespaced")
        names.setdefault("singular", names["kind"].lower())
        names.setdefault("listKind", names["kind"] + "List")

    def _spec_changed(self, rd: ResourceDef, old: dict[str, Any], new: dict[str, Any]) -> bool:
        if rd.is_custom:
            strip = ("metadata", "status")
            return {k: v for k, v in old.items() if k not in strip} != \
                {k: v for k, v in new.items() if k not in strip}
        if rd.plural in ("configmaps", "secrets", "events", "leases", "namespaces", "nodes", "endpoints",
                         "serviceaccounts"):
            return False
        return old.get("spec") != new.get("spec")

    # ---- reads ------------------------------------------------------------------------------------------

    def get(self, rd: ResourceDef, namespace: str | None, name: str) -> dict[str, Any]:
        obj = self.store.get(rd.bucket, self._ns(rd, namespace), name)
        if obj is None:
            raise errors.not_found(rd, name)
        return self._present(rd, obj)

    def list(self, rd: ResourceDef, namespace: str | None, labels: LabelSelector | None = None,
             fields: FieldSelector | None = None, limit: int | None = None,
             continue_token: str | None = None) -> dict[str, Any]:
        ns = self._ns(rd, namespace) if rd.namespaced and namespace else None
        start = None
        if continue_token:
            try:
                start = json.loads(base64.urlsafe_b64decode(continue_token.encode()).decode())["start"]
            except (ValueError, KeyError, TypeError):
                raise errors.bad_request("invalid continue token")
        items = []
        token = None
        remaining = 0
        for obj in self.store.items(rd.bucket, ns):
            meta = obj["metadata"]
            key = [meta.get("namespace", ""), meta["name"]]
            if start is not None and key <= start:
                continue
            if labels is not None and not labels.matches(meta.get("labels")):
                continue
            if fields is not None and not fields.matches(obj):
                continue
            if limit and len(items) >= limit:
                if token is None:
                    last = items[-1]["metadata"]
                    token = base64.urlsafe_b64encode(json.dumps(
                        {"start": [last.get("namespace", ""), last["name"]], "rv": self.store.rv}).encode()
                    ).decode()
                remaining += 1
                continue
            items.append(self._present(rd, obj))
        meta = {"resourceVersion": str(self.store.rv)}
        if token:
            meta["continue"] = token
            meta["remainingItemCount"] = remaining
        return {"kind": rd.list_kind, "apiVersion": rd.api_version, "metadata": meta, "items": items}

    # ---- create -----------------------------------------------------------------------------------------

    def create(self, rd: ResourceDef, namespace: str | None, body: Any, *, dry_run: bool = False,
               field_validation: str | None = None, owned: bool = False) -> tuple[dict[str, Any], list[str]]:
        """Create ``body``; with ``owned`` the caller hands it over (a freshly decoded request body) and it is
        stored as it is instead of copied."""
        checked = self._check_body(rd, body, namespace)
        obj = checked if owned else copy_object(checked)
        meta = obj["metadata"]
        self._check_metadata(rd, obj)
        ns = self._ns(rd, namespace or meta.get("namespace"))
        if rd.namespaced:
            if not ns:
                raise errors.bad_request("the server could not find the requested resource: a namespace is "
                                         "required")
            namespace_obj = self.store.get(NS_BUCKET, "", ns)
            if namespace_obj is None:
                raise errors.APIError(404, "NotFound", f'namespaces "{ns}" not found',
                                      {"name": ns, "kind": "namespaces"})
            if namespace_obj["metadata"].get("deletionTimestamp"):
                raise errors.APIError(403, "Forbidden", f'{rd.plural} "{meta.get("name", "")}" is forbidden: '
                                      f"unable to create new content in namespace {ns} because it is being "
                                      "terminated")
            meta["namespace"] = ns
        if not meta.get("name") and meta.get("generateName"):
            for _ in range(10):
                candidate = f"{meta['generateName']}{random_suffix()}"
                if self.store.get(rd.bucket, ns, candidate) is None:
                    meta["name"] = candidate
                    break
        self._check_name(rd, meta.get("name"))
        if self.store.get(rd.bucket, ns, meta["name"]) is not None:
            raise errors.already_exists(rd, meta["name"])
        obj["apiVersion"] = rd.storage_api_version
        obj["kind"] = rd.kind
        for fld in ("deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion"):
            meta.pop(fld, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now()
        meta["generation"] = 1
        if rd.has_status:
            status = builtins.initial_status(rd.plural, obj) if not rd.is_custom else None
            if rd.is_custom:
                obj.pop("status", None)
            elif status is not None:
                obj["status"] = status
        warnings = self._validate_content(rd, obj, field_validation)
        self._check_cluster_ip(rd, obj, None)
        if rd.plural == "customresourcedefinitions":
            self._crd_status(obj)
        if dry_run:
            return self._present(rd, obj), warnings
        self.store.put(rd.bucket, obj)
        return self._present(rd, obj), warnings

    def _crd_status(self, crd: dict[str, Any]) -> None:
        stamp = now()
        names = dict(crd["spec"]["names"])
        crd["status"] = {
            "acceptedNames": names,
            "storedVersions": [v["name"] for v in crd["spec"]["versions"] if v.get("storage")],
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                 "message": "no conflicts found", "lastTransitionTime": stamp},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                 "message": "the initial names have been accepted", "lastTransitionTime": stamp},
            ],
        }

    # ---- update -----------------------------------------------------------------------------------------

    def update(self, rd: ResourceDef, namespace: str | None, name: str, body: Any, *,
               subresource: str | None = None, dry_run: bool = False, field_validation: str | None = None,
               current: dict[str, Any] | None = None, owned: bool = False) -> tuple[dict[str, Any], list[str]]:
        """``owned``: ``body`` is the caller's to give away (just parsed from a request), so it is not copied."""
        ns = self._ns(rd, namespace)
        checked = self._check_body(rd, body, namespace)
        new = checked if owned else copy_object(checked)
        old = current if current is not None else self.store.get(rd.bucket, ns, name)
        if old is None:
            raise errors.not_found(rd, name)
        meta = new["metadata"]
        if meta.get("name") and meta["name"] != name:
            raise errors.bad_request(f"the name of the object ({meta['name']}) does not match the name on the URL "
                                     f"({name})")
        meta["name"] = name
        rv = meta.get("resourceVersion")
        if rv not in (None, "") and str(rv) != old["metadata"]["resourceVersion"]:
            raise errors.conflict(rd, name)
        if rv in (None, "") and rd.is_custom and subresource is None:
            raise errors.invalid(rd, name, [{"reason": "FieldValueInvalid", "field": "metadata.resourceVersion",
                                             "message": "Invalid value: 0x0: must be specified for an update"}])
        if subresource == "status":
            # the old status is replaced: copy the rest (a status can be hundreds of conditions)
            result = {k: copy_object(v) for k, v in old.items() if k != "status"}
            if "status" in new:
                result["status"] = new["status"]
            else:
                result.pop("status", None)
        else:
            self._check_metadata(rd, new)
            result = new
            for fld in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                        "generation"):
                if fld in old["metadata"]:
                    meta[fld] = old["metadata"][fld]
                else:
                    meta.pop(fld, None)
            if rd.namespaced:
                meta["namespace"] = ns
            if rd.has_status:
                if "status" in old:
                    result["status"] = copy_object(old["status"])
                else:
                    result.pop("status", None)
            if old["metadata"].get("deletionTimestamp"):
                # finalizers can be removed from an object being deleted, not added
                added = set(meta.get("finalizers") or []) - set(old["metadata"].get("finalizers") or [])
                if added:
                    raise errors.APIError(422, "Invalid", f'{rd.kind} "{name}" is invalid: metadata.finalizers: '
                                          "Forbidden: no new finalizers can be added if the object is being "
                                          "deleted", {"name": name, "kind": rd.kind})
        result["apiVersion"] = rd.storage_api_version
        result["kind"] = rd.kind
        if not rd.is_custom:
            builtins.keep_allocated(rd.plural, old, result)
        warnings = self._validate_content(rd, result, field_validation, old)
        self._check_cluster_ip(rd, result, old)
        if rd.plural == "customresourcedefinitions" and subresource is None:
            self._crd_status(result)
            result["status"]["conditions"] = (old.get("status") or {}).get("conditions", result["status"]
                                                                           ["conditions"])
        if subresource is None and self._spec_changed(rd, old, result):
            result["metadata"]["generation"] = int(old["metadata"].get("generation") or 1) + 1
        result["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        if result == old:
            return self._present(rd, old), warnings
        if dry_run:
            return self._present(rd, result), warnings
        if rd.plural != "namespaces" and self._due(result["metadata"], old["metadata"]):
            event = self.store.remove(rd.bucket, ns, name, last=result)
            return self._present(rd, event.obj), warnings
        self.store.put(rd.bucket, result)
        return self._present(rd, result), warnings

    @staticmethod
    def _due(meta: dict[str, Any], old_meta: dict[str, Any]) -> bool:
        """Whether an update leaves an object being deleted gone: no finalizers left and its grace period is 0,
        or this update removed the last finalizer after the grace period ended. (Other updates of a pod in its
        grace period, such as its kubelet's status reports, keep it: the kubelet removes it with grace 0.)"""
        if not meta.get("deletionTimestamp") or meta.get("finalizers"):
            return False
        if not meta.get("deletionGracePeriodSeconds"):
            return True
        if not old_meta.get("finalizers"):
            return False
        deadline = parse_stamp(meta["deletionTimestamp"])
        return deadline is not None and deadline <= time.time()

    # ---- patch ------------------------------------------------------------------------------------------

    def patch(self, rd: ResourceDef, namespace: str | None, name: str, content_type: str, patch: Any, *,
              subresource: str | None = None, dry_run: bool = False, field_validation: str | None = None,
              force_create: bool = False) -> tuple[dict[str, Any], list[str], bool]:
        """Apply a patch; returns (object, warnings, created)."""
        ns = self._ns(rd, namespace)
        old = self.store.get(rd.bucket, ns, name)
        if content_type == APPLY:
            if not isinstance(patch, dict):
                raise errors.bad_request("an apply patch must be an object")
            if old is None:
                body = copy.deepcopy(patch)
                body.setdefault("metadata", {})["name"] = name
                obj, warnings = self.create(rd, namespace, body, dry_run=dry_run, field_validation=field_validation)
                return obj, warnings, True
            merged = merge_patch(self._present(rd, old), patch)
        else:
            if old is None:
                raise errors.not_found(rd, name)
            try:
                merged = apply_patch(content_type, copy_object(self._present(rd, old)), patch,
                                     strategic_lists=not rd.is_custom)
            except PatchTestFailed as exc:
                raise errors.APIError(422, "Invalid", str(exc), {"name": name, "kind": rd.kind})
            except PatchError as exc:
                raise errors.APIError(422 if content_type != "application/json-patch+json" else 400,
                                      "Invalid" if content_type != "application/json-patch+json" else "BadRequest",
                                      str(exc), {"name": name, "kind": rd.kind})
        meta = merged.get("metadata")
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        rv = meta.get("resourceVersion")
        if rv not in (None, "") and str(rv) != old["metadata"]["resourceVersion"]:
            raise errors.conflict(rd, name)
        meta["resourceVersion"] = old["metadata"]["resourceVersion"]
        obj, warnings = self.update(rd, namespace, name, merged, subresource=subresource, dry_run=dry_run,
                                    field_validation=field_validation, current=old, owned=True)
        return obj, warnings, False

    # ---- delete -----------------------------------------------------------------------------------------

    def delete(self, rd: ResourceDef, namespace: str | None, name: str, options: dict[str, Any] | None = None,
               *, dry_run: bool = False) -> tuple[dict[str, Any], bool]:
        """Delete or mark for deletion; returns (object, removed_now)."""
        options = options or {}
        ns = self._ns(rd, namespace)
        old = self.store.get(rd.bucket, ns, name)
        if old is None:
            raise errors.not_found(rd, name)
        pre = options.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != old["metadata"].get("uid"):
            raise errors.conflict(rd, name, f"Precondition failed: UID in precondition: {pre['uid']}, UID in "
                                            f"object meta: {old['metadata'].get('uid')}")
        if pre.get("resourceVersion") and pre["resourceVersion"] != old["metadata"]["resourceVersion"]:
            raise errors.conflict(rd, name, "Precondition failed: ResourceVersion in precondition: "
                                            f"{pre['resourceVersion']}, ResourceVersion in object meta: "
                                            f"{old['metadata']['resourceVersion']}")
        policy = options.get("propagationPolicy")
        if policy is None and options.get("orphanDependents") is not None:
            policy = "Orphan" if options["orphanDependents"] else "Background"
        if policy not in (None, "Background", "Foreground", "Orphan"):
            raise errors.invalid(rd, name, [{"reason": "FieldValueNotSupported", "field": "propagationPolicy",
                                             "message": f'Unsupported value: "{policy}": supported values: '
                                                        '"Foreground", "Background", "Orphan"'}])
        grace = self._pod_grace(rd, old, options)
        if grace:
            if dry_run:
                return self._present(rd, old), False
            marked = self._shorten_grace(old, grace)
            if marked is None:
                return self._present(rd, old), False
            self.store.put(rd.bucket, marked)
            return self._present(rd, marked), False
        finalizers = list(old["metadata"].get("finalizers") or [])
        if policy == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        elif policy == "Orphan" and "orphan" not in finalizers:
            finalizers.append("orphan")
        if rd.plural == "namespaces" and name in ("default", "kube-system", "kube-public"):
            raise errors.APIError(403, "Forbidden", f'namespaces "{name}" is forbidden: this namespace may not '
                                  "be deleted", {"name": name, "kind": "namespaces"})
        if rd.plural == "namespaces":
            # the namespace controller empties the namespace before the object goes
            if dry_run:
                return self._present(rd, old), False
            if not old["metadata"].get("deletionTimestamp"):
                marked = copy.deepcopy(old)
                marked["metadata"]["deletionTimestamp"] = now()
                marked["metadata"]["deletionGracePeriodSeconds"] = 0
                marked.setdefault("status", {})["phase"] = "Terminating"
                self.store.put(rd.bucket, marked)
                return self._present(rd, marked), False
            return self._present(rd, old), False
        if finalizers:
            if dry_run:
                return self._present(rd, old), False
            # a delete without grace (every non-pod delete; a pod delete with gracePeriodSeconds 0 or that no
            # kubelet runs) lowers a pending grace period to 0, so removing the last finalizer removes the object
            marked = self._shorten_grace(old, 0) or copy.deepcopy(old)
            if old["metadata"].get("deletionTimestamp") and finalizers == old["metadata"].get("finalizers") \
                    and marked == old:
                return self._present(rd, old), False
            marked["metadata"]["finalizers"] = finalizers
            self.store.put(rd.bucket, marked)
            return self._present(rd, marked), False
        if dry_run:
            return self._present(rd, old), True
        event = self.store.remove(rd.bucket, ns, name)
        return self._present(rd, event.obj), True

    @staticmethod
    def _shorten_grace(old: dict[str, Any], grace: int) -> dict[str, Any] | None:
        """``old`` marked for deletion in ``grace`` seconds, or None when it is already due as soon or sooner.

        As in Kubernetes a second delete may only shorten the grace period; the deadline is counted from the
        first delete request (deletionTimestamp - deletionGracePeriodSeconds)."""
        meta = old["metadata"]
        current = meta.get("deletionGracePeriodSeconds")
        if meta.get("deletionTimestamp") and current is not None and current <= grace:
            return None
        marked = copy.deepcopy(old)
        start = time.time()
        deadline = parse_stamp(meta.get("deletionTimestamp"))
        if deadline is not None and current is not None:
            start = min(start, deadline - current)
        marked["metadata"]["deletionTimestamp"] = stamp(start + grace)
        marked["metadata"]["deletionGracePeriodSeconds"] = grace
        return marked

    def _pod_grace(self, rd: ResourceDef, pod: dict[str, Any], options: dict[str, Any]) -> int:
        """Seconds of graceful termination for a pod delete; 0 deletes at once.

        As in Kubernetes a pod bound to a node is only marked (deletionTimestamp = now + grace) and the node's
        kubelet removes it (a delete with gracePeriodSeconds 0) once its processes have stopped. Pods that no
        live kubelet runs (unbound, finished, or on a node that is not Ready) go at once.
        """
        if rd.plural != "pods" or rd.group:
            return 0
        spec, status = pod.get("spec") or {}, pod.get("status") or {}
        grace = options.get("gracePeriodSeconds")
        if grace is None:
            grace = spec.get("terminationGracePeriodSeconds", 30)
        try:
            grace = max(0, int(grace))
        except (TypeError, ValueError):
            raise errors.bad_request(f"invalid gracePeriodSeconds {grace!r}")
        if not grace or not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
            return 0
        node = self.store.get("/nodes", "", spec["nodeName"])
        ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                    for c in ((node or {}).get("status") or {}).get("conditions") or [])
        return grace if ready else 0

    def finish_namespace(self, name: str) -> None:
        self.store.remove(NS_BUCKET, "", name)
