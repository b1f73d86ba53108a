"""Garbage collection by ownerReferences, namespace termination and CRD registration.

- Background: when every owner of an object is gone, the object is deleted; references to owners that no
  longer exist are dropped from objects that keep another owner.
- Foreground: an owner marked with the ``foregroundDeletion`` finalizer has its dependents deleted
  (foreground too); the finalizer is removed once none is left, which removes the owner.
- Orphan: an owner marked with the ``orphan`` finalizer has its references removed from its dependents,
  then the finalizer is removed.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from sedna.local.apiserver import errors
from sedna.local.apiserver.api import API, CRD_BUCKET, NS_BUCKET
from sedna.local.apiserver.controllers.base import Controller
from sedna.local.apiserver.store import Event

log = logging.getLogger(__name__)

DepKey = tuple[str, str, str]     # bucket, namespace, name


class OwnerIndex:
    """owner uid → keys of the objects that reference it; kept current from store events."""

    def __init__(self, api: API):
        self._deps: dict[str, set[DepKey]] = {}
        for bucket in api.store.buckets():
            for obj in api.store.items(bucket):
                self._add(bucket, obj)
        api.store.add_listener(self.on_event)

    def _key(self, bucket: str, obj: dict[str, Any]) -> DepKey:
        return bucket, obj["metadata"].get("namespace", ""), obj["metadata"]["name"]

    def _add(self, bucket: str, obj: dict[str, Any]) -> None:
        key = self._key(bucket, obj)
        for ref in obj["metadata"].get("ownerReferences") or []:
            self._deps.setdefault(ref.get("uid", ""), set()).add(key)

    def _remove(self, bucket: str, obj: dict[str, Any]) -> None:
        key = self._key(bucket, obj)
        for ref in obj["metadata"].get("ownerReferences") or []:
            deps = self._deps.get(ref.get("uid", ""))
            if deps is not None:
                deps.discard(key)
                if not deps:
                    del self._deps[ref.get("uid", "")]

    def on_event(self, event: Event) -> None:
        if event.old is not None:
            self._remove(event.bucket, event.old)
        if event.type != "DELETED":
            self._add(event.bucket, event.obj)

    def dependents(self, uid: str) -> list[DepKey]:
        return sorted(self._deps.get(uid, ()))


class GarbageCollector(Controller):
    name = "garbage-collector"

    def __init__(self, api: API, owners: OwnerIndex):
        super().__init__(api)
        self.owners = owners

    def resync_all(self) -> None:
        for bucket in self.store.buckets():
            for obj in self.store.items(bucket):
                meta = obj["metadata"]
                if meta.get("ownerReferences"):
                    self.enqueue(("dependent", bucket, meta.get("namespace", ""), meta["name"]))
                if meta.get("deletionTimestamp"):
                    self.enqueue(("owner", bucket, meta.get("namespace", ""), meta["name"]))

    def on_event(self, event: Event) -> None:
        meta = event.obj["metadata"]
        key = (event.bucket, meta.get("namespace", ""), meta["name"])
        if event.type == "DELETED":
            for dep in self.owners.dependents(meta.get("uid", "")):
                self.enqueue(("dependent",) + dep)
            for ref in meta.get("ownerReferences") or []:
                self._enqueue_owner(ref.get("uid", ""))
            return
        if meta.get("ownerReferences") and (event.type == "ADDED" or event.old is None or
                                            event.old["metadata"].get("ownerReferences") != meta["ownerReferences"]):
            self.enqueue(("dependent",) + key)
        if meta.get("deletionTimestamp") and {"orphan", "foregroundDeletion"} & set(meta.get("finalizers") or []):
            self.enqueue(("owner",) + key)
        if meta.get("deletionTimestamp") and meta.get("ownerReferences"):
            for ref in meta["ownerReferences"]:
                self._enqueue_owner(ref.get("uid", ""))

    def _enqueue_owner(self, uid: str) -> None:
        found = self.store.by_uid(uid)
        if found and found[1]["metadata"].get("deletionTimestamp"):
            meta = found[1]["metadata"]
            self.enqueue(("owner", found[0], meta.get("namespace", ""), meta["name"]))

    def sync(self, key) -> None:
        role, bucket, ns, name = key
        obj = self.store.get(bucket, ns, name)
        if obj is None:
            return
        if role == "dependent":
            self._sync_dependent(bucket, obj)
        else:
            self._sync_owner(bucket, obj)

    def _rd(self, bucket: str):
        return self.api.registry.by_bucket(bucket)

    def _delete(self, bucket: str, obj: dict[str, Any], policy: str) -> None:
        meta = obj["metadata"]
        rd = self._rd(bucket)
        try:
            if rd is None:
                self.store.remove(bucket, meta.get("namespace", ""), meta["name"])
            else:
                self.api.delete(rd, meta.get("namespace", ""), meta["name"], {"propagationPolicy": policy})
        except errors.APIError as exc:
            if exc.code != 404:
                raise

    def _sync_dependent(self, bucket: str, obj: dict[str, Any]) -> None:
        refs = obj["metadata"].get("ownerReferences") or []
        alive, deleting_foreground = [], False
        for ref in refs:
            owner = self.store.by_uid(ref.get("uid", ""))
            if owner is None:
                continue
            alive.append(ref)
            owner_meta = owner[1]["metadata"]
            if owner_meta.get("deletionTimestamp") and "foregroundDeletion" in (owner_meta.get("finalizers") or []):
                deleting_foreground = True
        if not alive:
            if not obj["metadata"].get("deletionTimestamp"):
                log.debug("deleting %s %s: all owners are gone", bucket, obj["metadata"]["name"])
                self._delete(bucket, obj, "Background")
            return
        if deleting_foreground and len(alive) == 1 and not obj["metadata"].get("deletionTimestamp"):
            self._delete(bucket, obj, "Foreground")
            return
        if len(alive) != len(refs):
            self._set_refs(bucket, obj, alive)

    def _set_refs(self, bucket: str, obj: dict[str, Any], refs: list[dict[str, Any]]) -> None:
        changed = copy.deepcopy(obj)
        if refs:
            changed["metadata"]["ownerReferences"] = refs
        else:
            changed["metadata"].pop("ownerReferences", None)
        self.store.put(bucket, changed)

    def _sync_owner(self, bucket: str, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        if not meta.get("deletionTimestamp"):
            return
        finalizers = list(meta.get("finalizers") or [])
        uid = meta.get("uid", "")
        deps = [(d, self.store.get(*d)) for d in self.owners.dependents(uid)]
        deps = [(d, o) for d, o in deps if o is not None]
        if "orphan" in finalizers:
            for (dep_bucket, _, _), dep in deps:
                refs = [r for r in dep["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
                self._set_refs(dep_bucket, dep, refs)
            finalizers.remove("orphan")
            self._set_finalizers(bucket, obj, finalizers)
        elif "foregroundDeletion" in finalizers:
            if deps:
                for (dep_bucket, _, _), dep in deps:
                    if not dep["metadata"].get("deletionTimestamp"):
                        self._delete(dep_bucket, dep, "Foreground")
                return
            finalizers.remove("foregroundDeletion")
            self._set_finalizers(bucket, obj, finalizers)

    def _set_finalizers(self, bucket: str, obj: dict[str, Any], finalizers: list[str]) -> None:
        meta = obj["metadata"]
        rd = self._rd(bucket)
        changed = copy.deepcopy(obj)
        changed["metadata"]["finalizers"] = finalizers
        if not finalizers:
            changed["metadata"].pop("finalizers")
        if rd is not None:
            self.api.update(rd, meta.get("namespace", ""), meta["name"], changed)
        else:
            if finalizers:
                self.store.put(bucket, changed)
            else:
                self.store.remove(bucket, meta.get("namespace", ""), meta["name"], last=changed)


class NamespaceController(Controller):
    """Empties a terminating namespace, then removes it."""
    name = "namespace-controller"

    def resync_all(self) -> None:
        for ns in self.store.items(NS_BUCKET):
            if ns["metadata"].get("deletionTimestamp"):
                self.enqueue(ns["metadata"]["name"])

    def on_event(self, event: Event) -> None:
        if event.bucket == NS_BUCKET and event.type != "DELETED" and event.obj["metadata"].get("deletionTimestamp"):
            self.enqueue(event.obj["metadata"]["name"])

    def sync(self, name: str) -> None:
        ns = self.store.get(NS_BUCKET, "", name)
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return
        remaining = 0
        for rd in self.api.registry.all():
            if not rd.namespaced or rd.version != rd.storage_version:
                continue
            for obj in list(self.store.items(rd.bucket, name)):
                remaining += 1
                if not obj["metadata"].get("deletionTimestamp"):
                    try:
                        self.api.delete(rd, name, obj["metadata"]["name"], {"propagationPolicy": "Background"})
                    except errors.APIError as exc:
                        if exc.code != 404:
                            raise
        if remaining:
            self.enqueue_later(name, 0.2)
            return
        self.api.finish_namespace(name)


class CRDController:
    """Serves custom resources as CRDs come and go (synchronously, so a CR can follow its CRD at once)."""

    def __init__(self, api: API):
        self.api = api
        for crd in api.store.items(CRD_BUCKET):
            api.registry.register_crd(crd)
        api.store.add_listener(self.on_event)

    def on_event(self, event: Event) -> None:
        if event.bucket != CRD_BUCKET:
            return
        crd = event.obj
        if event.type == "DELETED":
            spec = crd.get("spec") or {}
            bucket = f"{spec.get('group', '')}/{(spec.get('names') or {}).get('plural', '')}"
            self.api.registry.unregister_crd(crd["metadata"]["name"])
            self.api.store.drop_bucket(bucket)
        else:
            self.api.registry.register_crd(crd)
