"""The GM's cache of the objects its CRs own (Pods, Deployments, Services), kept by LIST + WATCH.

A sync used to LIST each child kind by label selector — three LISTs per sync, each a scan of the kind on the
API server, which dominated a burst of 200 new jobs (issue 16). Here one LIST + WATCH per kind keeps the
objects that have a ``sedna.io`` owner or worker uid label, indexed by that CR's UID, so ``observe`` is a
dictionary lookup (the pods of our Deployments are found through the label: their owner is a ReplicaSet).

Freshness: the GM writes through — what it creates is in the index at once, what it deletes leaves at once —
so a sync never re-creates a child whose watch event has not arrived yet. Watch events never move an object
back to an older ``resourceVersion``; the echo of the GM's own write (same resourceVersion) triggers nothing.
Every other change seen — also of pods that only carry a sedna worker label (pods of
our Deployments) — is handed to ``on_change`` (the GM enqueues the owner): these watches are the GM's only
watches of its children.
Until a kind's first LIST is in (or while its watch is broken and being re-listed), :meth:`owned` answers
None and the caller LISTs as before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sedna.gm.kube import KIND_PATHS, KubeClient, KubeError, _path

logger = logging.getLogger(__name__)

KINDS = ("Pod", "Deployment", "Service")
OWNER_API_PREFIX = "sedna.io/"
UID_LABEL_SUFFIX = ".sedna.io/uid"
Key = tuple[str, str]          # (namespace, name)


def _rv(obj: dict) -> int:
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:          # opaque resourceVersions: no ordering, the newest event wins
        return 0


def _owner_uids(obj: dict) -> list[str]:
    """The sedna CRs an object belongs to: its sedna owner references, and the ``<kind>.sedna.io/uid`` worker
    label, which is how the pods of our Deployments (owned by a ReplicaSet) name their CR."""
    meta = obj.get("metadata") or {}
    uids = [ref.get("uid", "") for ref in meta.get("ownerReferences") or []
            if str(ref.get("apiVersion", "")).startswith(OWNER_API_PREFIX) and ref.get("uid")]
    uids += [value for label, value in (meta.get("labels") or {}).items()
             if label.endswith(UID_LABEL_SUFFIX) and value and value not in uids]
    return uids


def _sedna_labelled(obj: dict) -> bool:
    return any(".sedna.io/" in label for label in (obj.get("metadata") or {}).get("labels") or {})


def _key(obj: dict) -> Key:
    meta = obj.get("metadata") or {}
    return meta.get("namespace") or "default", meta.get("name", "")


class OwnedObjects:
    def __init__(self, kube: KubeClient, namespace: str | None = None,
                 on_change: Callable[[dict], None] | None = None, retry_seconds: float = 1.0) -> None:
        self.kube = kube
        self.namespace = namespace or None
        self.on_change = on_change
        self.retry_seconds = retry_seconds
        self._objects: dict[str, dict[Key, dict]] = {k: {} for k in KINDS}
        self._by_owner: dict[tuple[str, str], dict[Key, dict]] = {}
        self._deleted: dict[str, set[str]] = {k: set() for k in KINDS}   # UIDs we deleted, not yet confirmed
        self._synced: dict[str, bool] = dict.fromkeys(KINDS, False)

    # ---- reads --------------------------------------------------------------------------------------

    def owned(self, kind: str, namespace: str, owner_uid: str) -> list[dict] | None:
        """Objects of ``kind`` in ``namespace`` owned by ``owner_uid``; None when the cache cannot answer."""
        if not self._synced.get(kind):
            return None
        return [obj for key, obj in (self._by_owner.get((kind, owner_uid)) or {}).items() if key[0] == namespace]

    # ---- write-through ------------------------------------------------------------------------------

    def created(self, obj: dict) -> None:
        kind = obj.get("kind", "")
        if kind in self._objects and obj.get("metadata"):
            self._apply(kind, "ADDED", obj)

    def deleted(self, kind: str, namespace: str, name: str) -> None:
        if kind not in self._objects:
            return
        old = self._objects[kind].get((namespace, name))
        if old is not None:
            uid = old["metadata"].get("uid")
            if uid:
                self._deleted[kind].add(uid)
            self._remove(kind, (namespace, name), old)

    # ---- the index ----------------------------------------------------------------------------------

    def _apply(self, kind: str, event_type: str, obj: dict) -> bool:
        key = _key(obj)
        uid = obj["metadata"].get("uid", "")
        old = self._objects[kind].get(key)
        if event_type == "DELETED":
            self._deleted[kind].discard(uid)
            if old is not None and old["metadata"].get("uid") == uid:
                self._remove(kind, key, old)
                return True
            return False
        if uid in self._deleted[kind]:
            return False                         # a late event of an object we have deleted
        if old is not None and old["metadata"].get("uid") == uid and _rv(old) >= _rv(obj) > 0:
            return False                         # not newer than what we hold (e.g. our own create)
        if old is not None:
            self._remove(kind, key, old)
        owners = _owner_uids(obj)
        if not owners:
            return False
        self._objects[kind][key] = obj
        for owner in owners:
            self._by_owner.setdefault((kind, owner), {})[key] = obj
        return True

    def _is_echo(self, kind: str, event_type: str | None, obj: dict) -> bool:
        """The watch event of an object exactly as the GM wrote it (same UID, resourceVersion not newer than the
        one held): the sync that wrote it already planned with it (see ``GlobalManager.sync``), so the event
        needs no further sync. A burst of new jobs otherwise costs each job a second, no-op sync (issue 16)."""
        if event_type != "ADDED" and event_type != "MODIFIED":
            return False
        old = self._objects[kind].get(_key(obj))
        return old is not None and old["metadata"].get("uid") == obj["metadata"].get("uid") \
            and _rv(old) >= _rv(obj) > 0

    def _remove(self, kind: str, key: Key, obj: dict) -> None:
        self._objects[kind].pop(key, None)
        for owner in _owner_uids(obj):
            bucket = self._by_owner.get((kind, owner))
            if bucket is not None:
                bucket.pop(key, None)
                if not bucket:
                    del self._by_owner[(kind, owner)]

    def _replace(self, kind: str, items: list[dict], list_rv: int) -> None:
        """A fresh LIST: keep what it says, plus our own writes newer than it."""
        keep = {key: obj for key, obj in self._objects[kind].items() if _rv(obj) > list_rv > 0}
        for key, obj in list(self._objects[kind].items()):
            self._remove(kind, key, obj)
        for obj in items:
            obj.setdefault("kind", kind)
            self._apply(kind, "ADDED", obj)
        for obj in keep.values():
            self._apply(kind, "ADDED", obj)

    # ---- LIST + WATCH -------------------------------------------------------------------------------

    async def run(self) -> None:
        await asyncio.gather(*(self._run_kind(kind) for kind in KINDS))

    async def _run_kind(self, kind: str) -> None:
        prefix, plural = KIND_PATHS[kind]
        path = _path(prefix, plural, self.namespace)
        while True:
            try:
                doc = await self.kube._request("GET", path)
                rv = str(((doc or {}).get("metadata") or {}).get("resourceVersion") or "")
                self._replace(kind, list((doc or {}).get("items") or []), int(rv) if rv.isdigit() else 0)
                self._synced[kind] = True
                await self._watch(kind, path, rv)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: answer None and re-list after a pause
                self._synced[kind] = False
                logger.warning("watch of %s failed (%s); re-listing in %.0fs", plural, exc, self.retry_seconds)
                await asyncio.sleep(self.retry_seconds)

    async def _watch(self, kind: str, path: str, rv: str) -> None:
        """Follow the watch from ``rv`` until it expires (410: the caller re-lists)."""
        while True:
            async for event in self.kube.watch(path, {"resourceVersion": rv, "timeoutSeconds": "300"}):
                event_type, obj = event.get("type"), event.get("object") or {}
                if event_type == "ERROR":
                    raise KubeError(int(obj.get("code") or 500), str(obj.get("message") or "watch error"))
                rv = str((obj.get("metadata") or {}).get("resourceVersion") or rv)
                if event_type == "BOOKMARK":
                    continue
                obj.setdefault("kind", kind)
                echo = self._is_echo(kind, event_type, obj)
                if (self._apply(kind, event_type, obj) or (_sedna_labelled(obj) and not echo)) \
                        and self.on_change is not None:
                    try:
                        self.on_change(obj)
                    except Exception:
                        logger.exception("handling a %s change failed", kind)
