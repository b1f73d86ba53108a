"""The dashboard's view of the cluster: one list+watch thread per resource, a cache, and change fan-out.

Each watched resource (every Sedna kind, pods, events) has a thread that lists it across namespaces, then
watches from the list's resourceVersion, applying each event to the cache; a stream that ends is resumed from
the last version seen, a 410 Gone (version too old) or any error leads to a fresh list after a short back-off,
and a kind whose CRD is not installed is listed again every ``retry_seconds``. Every change is recorded in the
metrics history and offered to each subscriber (an SSE stream) through its own bounded queue; a subscriber too
slow to keep up is dropped (the browser's EventSource reconnects and starts from a fresh snapshot).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sedna.api.common import API_VERSION
from sedna.dashboard import views
from sedna.dashboard.history import MetricsHistory
from sedna.dashboard.kube import KubeError, KubeReader, collection_path

logger = logging.getLogger(__name__)

MAX_EVENTS = 2000
_PLURAL_OF_LABEL_PREFIX = {kind.lower(): plural for plural, kind in views.SEDNA_PLURALS.items()}


@dataclass(frozen=True)
class Resource:
    plural: str
    group_version: str
    kind: str

    @property
    def path(self) -> str:
        return collection_path(self.group_version, self.plural)


SEDNA_RESOURCES = tuple(Resource(p, API_VERSION, k) for p, k in views.SEDNA_PLURALS.items())
CORE_RESOURCES = (Resource("pods", "v1", "Pod"), Resource("events", "v1", "Event"))


class Subscriber:
    """One SSE client: an asyncio queue fed from the watcher threads through its loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, size: int = 500):
        self.loop = loop
        self.queue: asyncio.Queue = asyncio.Queue(size)
        self.dropped = False

    def offer(self, message: dict) -> None:
        def put() -> None:
            if self.dropped:
                return
            try:
                self.queue.put_nowait(message)
            except asyncio.QueueFull:
                self.dropped = True        # the stream sees it and ends; the browser reconnects
        try:
            self.loop.call_soon_threadsafe(put)
        except RuntimeError:               # its loop is closed: the client is gone
            self.dropped = True


class ClusterHub:
    def __init__(self, reader: KubeReader, history: MetricsHistory | None = None, retry_seconds: float = 10.0,
                 clock: Callable[[], float] = time.time):
        self.reader = reader
        self.history = history or MetricsHistory()
        self.retry_seconds = retry_seconds
        self.clock = clock
        self._lock = threading.RLock()
        self._objects: dict[str, dict[tuple[str, str], dict]] = {r.plural: {} for r in
                                                                 SEDNA_RESOURCES + CORE_RESOURCES}
        self._synced: set[str] = set()
        self._subscribers: set[Subscriber] = set()
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self.errors: dict[str, str] = {}

    # ---- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> ClusterHub:
        for res in SEDNA_RESOURCES + CORE_RESOURCES:
            thread = threading.Thread(target=self._run, args=(res,), name=f"watch-{res.plural}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.reader.close()

    def wait_synced(self, timeout: float = 10.0) -> bool:
        """Wait until every resource was listed once or failed to list (a kind whose CRD is missing)."""
        deadline = time.monotonic() + timeout
        want = {r.plural for r in SEDNA_RESOURCES + CORE_RESOURCES}
        while time.monotonic() < deadline:
            with self._lock:
                if want <= self._synced | set(self.errors):
                    return True
            time.sleep(0.05)
        return False

    def _run(self, res: Resource) -> None:
        while not self._stopping.is_set():
            try:
                listing = self.reader.list(res.path)
                self._replace(res, listing.get("items") or [])
                self.errors.pop(res.plural, None)
                version = (listing.get("metadata") or {}).get("resourceVersion") or "0"
                while not self._stopping.is_set():
                    for event in self.reader.watch(res.path, version, self._stopping.is_set):
                        obj = event.get("object") or {}
                        kind = event.get("type")
                        if kind == "ERROR":
                            raise KubeError(int(obj.get("code") or 500), str(obj.get("message") or ""))
                        version = (obj.get("metadata") or {}).get("resourceVersion") or version
                        if kind in ("ADDED", "MODIFIED", "DELETED"):
                            self._apply(res, kind, obj)
            except KubeError as exc:
                self.errors[res.plural] = str(exc)
                delay = self.retry_seconds if exc.status in (403, 404) else 1.0
                if exc.status not in (404, 410):
                    logger.warning("watching %s: %s", res.plural, exc)
                self._stopping.wait(delay)
            except Exception as exc:  # noqa: BLE001 - a watcher must outlive any one failure
                if self._stopping.is_set():
                    return
                self.errors[res.plural] = str(exc) or type(exc).__name__
                logger.warning("watching %s failed: %s; listing again", res.plural, exc)
                self._stopping.wait(1.0)

    # ---- cache -------------------------------------------------------------------------------------------

    @staticmethod
    def _key(obj: dict) -> tuple[str, str]:
        meta = obj.get("metadata") or {}
        return meta.get("namespace") or "", meta.get("name") or ""

    def _replace(self, res: Resource, items: list[dict]) -> None:
        for item in items:
            item.setdefault("kind", res.kind)
        with self._lock:
            old = self._objects[res.plural]
            new = {self._key(i): i for i in items}
            if res.plural == "events":
                new = dict(list(new.items())[-MAX_EVENTS:])
            self._objects[res.plural] = new
            self._synced.add(res.plural)
        for key in set(old) - set(new):
            self._changed(res, "DELETED", old[key])
        for item in items:
            if old.get(self._key(item)) != item:
                self._changed(res, "ADDED", item)

    def _apply(self, res: Resource, kind: str, obj: dict) -> None:
        obj.setdefault("kind", res.kind)
        with self._lock:
            store = self._objects[res.plural]
            if kind == "DELETED":
                store.pop(self._key(obj), None)
            else:
                store[self._key(obj)] = obj
                if res.plural == "events" and len(store) > MAX_EVENTS:
                    store.pop(next(iter(store)))
        self._changed(res, kind, obj)

    def _changed(self, res: Resource, kind: str, obj: dict) -> None:
        ns, name = self._key(obj)
        touched: list[tuple[str, str, str]] = []   # Sedna objects whose row or page changed
        if res.plural in views.SEDNA_PLURALS:
            touched.append((res.plural, ns, name))
            if kind == "DELETED":
                self.history.forget((res.kind, ns, name))
            else:
                self.record(res.plural, obj)
            if res.kind == "Model":        # an FL job's per-round metrics live on its aggregation Model
                for job in self.objects("federatedlearningjobs"):
                    if self._key(job)[0] == ns and views.fl_model_name(job) == name:
                        self.record("federatedlearningjobs", job)
                        touched.append(("federatedlearningjobs", ns, self._key(job)[1]))
        elif res.plural == "pods":
            touched.extend(self._owners_of_pod(obj))
        elif res.plural == "events":
            involved = obj.get("involvedObject") or {}
            plural = next((p for p, k in views.SEDNA_PLURALS.items() if k == involved.get("kind")), "")
            if plural:
                touched.append((plural, involved.get("namespace") or ns, involved.get("name") or ""))
            elif involved.get("kind") == "Pod":
                pod = self.get("pods", involved.get("namespace") or ns, involved.get("name") or "")
                touched.extend(self._owners_of_pod(pod or {}))
        for plural, tns, tname in touched:
            message: dict[str, Any] = {"type": "change", "resource": res.plural, "event": kind,
                                       "resourceVersion": (obj.get("metadata") or {}).get("resourceVersion"),
                                       "target": {"plural": plural, "namespace": tns, "name": tname}}
            target = self.get(plural, tns, tname)
            message["row"] = self.row(plural, target) if target else None
            self._publish(message)

    def _owners_of_pod(self, pod: dict) -> list[tuple[str, str, str]]:
        labels = (pod.get("metadata") or {}).get("labels") or {}
        ns = self._key(pod)[0]
        out = []
        for key, value in labels.items():
            prefix, _, suffix = key.partition(".sedna.io/")
            plural = _PLURAL_OF_LABEL_PREFIX.get(prefix) if suffix == "name" else None
            if plural:
                out.append((plural, ns, value))
        return out

    def record(self, plural: str, obj: dict) -> None:
        model = None
        if plural == "federatedlearningjobs":
            model = self.get("models", self._key(obj)[0], views.fl_model_name(obj))
        sample = views.metrics_sample(obj, model)
        self.history.record((views.SEDNA_PLURALS[plural], *self._key(obj)), self.clock(), sample)

    # ---- reads -------------------------------------------------------------------------------------------

    def objects(self, plural: str) -> list[dict]:
        with self._lock:
            return list(self._objects.get(plural, {}).values())

    def get(self, plural: str, namespace: str, name: str) -> dict | None:
        with self._lock:
            return self._objects.get(plural, {}).get((namespace, name))

    def pods_of(self, kind: str, namespace: str, name: str) -> list[dict]:
        return [p for p in self.objects("pods")
                if self._key(p)[0] == namespace and views.owned_by(p, kind, name)]

    def events_of(self, kind: str, namespace: str, name: str, pod_names: set[str]) -> list[dict]:
        out = []
        for event in self.objects("events"):
            involved = event.get("involvedObject") or {}
            if (involved.get("namespace") or self._key(event)[0]) != namespace:
                continue
            if (involved.get("kind") == kind and involved.get("name") == name) or \
                    (involved.get("kind") == "Pod" and involved.get("name") in pod_names):
                out.append(event)
        return out

    def row(self, plural: str, obj: dict) -> dict:
        ns, name = self._key(obj)
        kind = views.SEDNA_PLURALS[plural]
        obj.setdefault("kind", kind)
        return {**views.summary(obj, self.pods_of(kind, ns, name)), "plural": plural}

    def overview(self) -> list[dict]:
        """Every row, failing first; pods are grouped by owner once (not scanned once per object)."""
        owned: dict[tuple[str, str, str], list[dict]] = {}
        for pod in self.objects("pods"):
            for plural, ns, name in self._owners_of_pod(pod):
                owned.setdefault((plural, ns, name), []).append(pod)
        rows = []
        for plural, kind in views.SEDNA_PLURALS.items():
            for obj in self.objects(plural):
                obj.setdefault("kind", kind)
                ns, name = self._key(obj)
                rows.append({**views.summary(obj, owned.get((plural, ns, name), [])), "plural": plural})
        return views.overview_order(rows)

    # ---- subscribers -------------------------------------------------------------------------------------

    def subscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            self._subscribers.add(subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            self._subscribers.discard(subscriber)

    def _publish(self, message: dict) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for sub in subscribers:
            sub.offer(message)
