"""Object storage: one global resourceVersion counter, per-bucket objects and bounded event history,
watcher fan-out, and optional write-through persistence to SQLite.

Everything here runs on the server's single asyncio loop, so no locks are needed: a mutation updates the
maps, appends to the bucket's history and pushes the event to every matching watcher queue before any other
request is served. Stored objects are never mutated in place; every change stores a fresh dict.
"""

from __future__ import annotations

import asyncio
import bisect
import copy
import logging
import sqlite3
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sedna.common import fastjson

log = logging.getLogger(__name__)

Key = tuple[str, str]          # (namespace or "", name)


@dataclass
class Event:
    type: str                  # ADDED, MODIFIED, DELETED
    bucket: str
    obj: dict[str, Any]
    old: dict[str, Any] | None
    rv: int
    encoded: dict[tuple, bytes] = field(default_factory=dict)   # watch lines by (kind, version, table)


@dataclass(eq=False)
class Watcher:
    bucket: str
    namespace: str | None
    matches: Callable[[dict[str, Any]], bool]
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    closed: bool = False
    limit: int = 50_000

    def offer(self, event: Event) -> None:
        if self.closed:
            return
        new_ok = self._visible(event.obj)
        old_ok = event.old is not None and self._visible(event.old)
        if event.type == "MODIFIED":
            if new_ok and old_ok:
                kind = "MODIFIED"
            elif new_ok:
                kind = "ADDED"
            elif old_ok:
                kind = "DELETED"
            else:
                return
        elif event.type == "DELETED":
            if not (new_ok or old_ok):
                return
            kind = "DELETED"
        else:
            if not new_ok:
                return
            kind = "ADDED"
        if self.queue.qsize() >= self.limit:
            # a consumer this far behind would make the server hold unbounded memory; end its stream
            log.warning("closing a watch on %s that fell %d events behind", self.bucket, self.limit)
            self.closed = True
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait((kind, event))

    def _visible(self, obj: dict[str, Any]) -> bool:
        if self.namespace is not None and obj.get("metadata", {}).get("namespace") != self.namespace:
            return False
        return self.matches(obj)


def copy_object(value: Any) -> Any:
    """A deep copy of a JSON-shaped value (dicts, lists, scalars): what every write copies from its request body
    or the stored object. Three times faster than ``copy.deepcopy``, which a burst of writes paid several times
    per request (issue 16)."""
    if type(value) is dict:
        return {k: copy_object(v) for k, v in value.items()}
    if type(value) is list:
        return [copy_object(v) for v in value]
    if isinstance(value, (dict, list)):         # subclasses, should one ever get here
        return copy.deepcopy(value)
    return value


class Gone(Exception):
    """The requested resourceVersion is older than the history kept for the bucket."""


class Store:
    def __init__(self, data_dir: str | Path | None = None, history: int = 10_000):
        self.rv = 0
        self._objects: dict[str, dict[Key, dict[str, Any]]] = {}
        # keys of each bucket in list order, overall and per namespace, kept sorted on insert/delete so a LIST
        # does not sort the whole bucket every time (issue 16)
        self._order: dict[str, list[Key]] = {}
        self._ns_order: dict[str, dict[str, list[Key]]] = {}
        self._history: dict[str, deque[Event]] = {}
        self._compacted: dict[str, int] = {}        # bucket → newest rv no longer in its history
        self._watchers: dict[str, set[Watcher]] = {}
        self._listeners: list[Callable[[Event], None]] = []
        self._uids: dict[str, tuple[str, Key]] = {}
        self._history_size = history
        self._start_rv = 0
        self._db: sqlite3.Connection | None = None
        self._commit_pending = False
        self._dirty: dict[tuple[str, Key], dict[str, Any] | None] = {}
        if data_dir is not None:
            path = Path(data_dir)
            path.mkdir(parents=True, exist_ok=True)
            self._open(path / "apiserver.sqlite")

    # ---- persistence --------------------------------------------------------------------------------

    def _open(self, path: Path) -> None:
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS objects (bucket TEXT, ns TEXT, name TEXT, body TEXT, "
                         "PRIMARY KEY (bucket, ns, name))")
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        row = self._db.execute("SELECT value FROM meta WHERE key='rv'").fetchone()
        self.rv = int(row[0]) if row else 0
        count = 0
        for bucket, ns, name, body in self._db.execute("SELECT bucket, ns, name, body FROM objects"):
            obj = fastjson.loads(body)
            self._objects.setdefault(bucket, {})[(ns, name)] = obj
            self._index(bucket, (ns, name))
            uid = obj.get("metadata", {}).get("uid")
            if uid:
                self._uids[uid] = (bucket, (ns, name))
            count += 1
        self._start_rv = self.rv
        log.info("loaded %d objects from %s at resourceVersion %d", count, path, self.rv)

    def _persist(self, bucket: str, key: Key, obj: dict[str, Any] | None) -> None:
        if self._db is None:
            return
        # Rows are encoded when the burst's transaction commits, so an object written many times in one burst
        # (status writes under a stream of reports) is encoded and stored once, in its last state.
        self._dirty[(bucket, key)] = obj
        # writes of one loop iteration (or burst) share a commit; outside a loop commit at once
        if not self._commit_pending:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.commit()
                return
            self._commit_pending = True
            loop.call_later(0.01, self.commit)

    def commit(self) -> None:
        self._commit_pending = False
        if self._db is None or not self._dirty:
            return
        dirty, self._dirty = self._dirty, {}
        self._db.execute("BEGIN")
        try:
            for (bucket, (ns, name)), obj in dirty.items():
                if obj is None:
                    self._db.execute("DELETE FROM objects WHERE bucket=? AND ns=? AND name=?", (bucket, ns, name))
                else:
                    self._db.execute("INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?)",
                                     (bucket, ns, name, fastjson.dumps(obj).decode()))
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('rv', ?)", (str(self.rv),))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        if self._db is not None:
            self.commit()
            self._db.close()
            self._db = None

    # ---- reads ----------------------------------------------------------------------------------------

    def get(self, bucket: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self._objects.get(bucket, {}).get((namespace or "", name))

    def items(self, bucket: str, namespace: str | None = None) -> Iterator[dict[str, Any]]:
        """Objects in (namespace, name) order; a snapshot of the keys, so callers may write meanwhile."""
        objects = self._objects.get(bucket, {})
        if namespace is None:
            keys = tuple(self._order.get(bucket, ()))
        else:
            keys = tuple(self._ns_order.get(bucket, {}).get(namespace, ()))
        for key in keys:
            obj = objects.get(key)
            if obj is not None:
                yield obj

    def _index(self, bucket: str, key: Key) -> None:
        bisect.insort(self._order.setdefault(bucket, []), key)
        bisect.insort(self._ns_order.setdefault(bucket, {}).setdefault(key[0], []), key)

    def _unindex(self, bucket: str, key: Key) -> None:
        for keys in (self._order.get(bucket), self._ns_order.get(bucket, {}).get(key[0])):
            if keys:
                i = bisect.bisect_left(keys, key)
                if i < len(keys) and keys[i] == key:
                    del keys[i]

    def count(self, bucket: str) -> int:
        return len(self._objects.get(bucket, {}))

    def buckets(self) -> list[str]:
        return list(self._objects)

    def by_uid(self, uid: str) -> tuple[str, dict[str, Any]] | None:
        found = self._uids.get(uid)
        if not found:
            return None
        bucket, key = found
        obj = self._objects.get(bucket, {}).get(key)
        return (bucket, obj) if obj is not None else None

    # ---- writes ---------------------------------------------------------------------------------------

    def next_rv(self) -> int:
        self.rv += 1
        return self.rv

    def put(self, bucket: str, obj: dict[str, Any]) -> Event:
        """Store a new or changed object; stamps metadata.resourceVersion and emits ADDED or MODIFIED."""
        meta = obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        objects = self._objects.setdefault(bucket, {})
        old = objects.get(key)
        rv = self.next_rv()
        meta["resourceVersion"] = str(rv)
        objects[key] = obj
        if old is None:
            self._index(bucket, key)
        if meta.get("uid"):
            self._uids[meta["uid"]] = (bucket, key)
        self._persist(bucket, key, obj)
        return self._emit(Event("MODIFIED" if old is not None else "ADDED", bucket, obj, old, rv))

    def remove(self, bucket: str, namespace: str, name: str, last: dict[str, Any] | None = None) -> Event | None:
        """Delete an object; the DELETED event carries ``last`` (its final state) or the stored object."""
        objects = self._objects.get(bucket, {})
        key = (namespace or "", name)
        old = objects.pop(key, None)
        if old is None:
            return None
        self._unindex(bucket, key)
        rv = self.next_rv()
        final = dict(last if last is not None else old)
        final["metadata"] = dict(final["metadata"], resourceVersion=str(rv))
        uid = old["metadata"].get("uid")
        if uid and self._uids.get(uid, (None,))[0] == bucket:
            self._uids.pop(uid, None)
        self._persist(bucket, key, None)
        return self._emit(Event("DELETED", bucket, final, old, rv))

    def drop_bucket(self, bucket: str) -> list[Event]:
        events = []
        for obj in list(self.items(bucket)):
            ev = self.remove(bucket, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
            if ev:
                events.append(ev)
        return events

    def _emit(self, event: Event) -> Event:
        history = self._history.get(event.bucket)
        if history is None:
            history = self._history[event.bucket] = deque()
        if len(history) >= self._history_size:
            self._compacted[event.bucket] = history.popleft().rv
        history.append(event)
        if len(history) > 256:
            # live watchers have long sent it: a replay can encode it again; keep memory to the objects
            history[-257].encoded.clear()
        for watcher in tuple(self._watchers.get(event.bucket, ())):
            try:
                watcher.offer(event)
            except Exception:
                log.exception("dropping a watcher of %s that failed on an event", event.bucket)
                watcher.closed = True
                watcher.queue.put_nowait(None)
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                log.exception("store listener failed on %s %s", event.type, event.bucket)
        return event

    # ---- watching -------------------------------------------------------------------------------------

    def add_listener(self, listener: Callable[[Event], None]) -> None:
        self._listeners.append(listener)

    def events_since(self, bucket: str, rv: int) -> list[Event]:
        """Events of a bucket newer than ``rv``; raises Gone if some were already compacted away."""
        oldest_known = max(self._compacted.get(bucket, 0), self._start_rv)
        if rv < oldest_known:
            raise Gone(f"too old resource version: {rv} ({oldest_known})")
        history = self._history.get(bucket, ())
        return [ev for ev in history if ev.rv > rv]

    def subscribe(self, bucket: str, namespace: str | None, matches) -> Watcher:
        watcher = Watcher(bucket, namespace, matches)
        self._watchers.setdefault(bucket, set()).add(watcher)
        return watcher

    def unsubscribe(self, watcher: Watcher) -> None:
        watcher.closed = True
        self._watchers.get(watcher.bucket, set()).discard(watcher)

    def close_watchers(self) -> None:
        for watchers in self._watchers.values():
            for watcher in watchers:
                watcher.closed = True
                watcher.queue.put_nowait(None)
