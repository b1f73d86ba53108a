"""The LC's local SQLite store: pushed resources (gm-lc-protocol §6) and the durable upstream outbox.

Table ``resources`` keeps upstream's columns (``name`` = ``<ns>/<kind>/<name>``, ``type_meta``,
``object_meta``, ``spec`` as JSON text) plus ``status`` (ours: the IL/LL engines need the conditions to resume
after a restart without waiting for the GM). Table ``outbox`` holds encoded upstream frames until the GM acks
their ``messageId``; rows are delivered in ``id`` order.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

from sqlalchemy import DateTime, Integer, String, Text, create_engine, delete, event, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.pool import StaticPool

logger = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(timezone.utc)


class _Base(DeclarativeBase):
    pass


class ResourceRow(_Base):
    __tablename__ = "resources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    name: Mapped[str] = mapped_column(String(512), unique=True, index=True)
    type_meta: Mapped[str] = mapped_column(Text, default="{}")
    object_meta: Mapped[str] = mapped_column(Text, default="{}")
    spec: Mapped[str] = mapped_column(Text, default="{}")
    status: Mapped[str] = mapped_column(Text, default="{}")


class OutboxRow(_Base):
    __tablename__ = "outbox"
    # AUTOINCREMENT: ids must never be reused after deletes, the writer resumes "after the last id sent".
    __table_args__: ClassVar[dict] = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    resource_key: Mapped[str] = mapped_column(String(512))
    coalesce_key: Mapped[str | None] = mapped_column(String(600), nullable=True, index=True)
    frame: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


@dataclass(frozen=True)
class StoredResource:
    key: str
    obj: dict[str, Any]


class OutboxAdd(NamedTuple):
    """One frame to append (:meth:`Store.outbox_add_many`)."""

    message_id: str
    resource_key: str
    frame: str
    coalesce_key: str | None = None


@dataclass(frozen=True)
class OutboxEntry:
    id: int
    message_id: str
    resource_key: str
    frame: str


def resource_key(namespace: str, kind: str, name: str) -> str:
    return f"{namespace}/{kind.lower()}/{name}"


class Store:
    """Synchronous SQLite access; every call is one short transaction (callers run on the event loop)."""

    def __init__(self, path: str) -> None:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        pool = {"poolclass": StaticPool} if path == ":memory:" else {}
        self._engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False}, **pool)
        event.listen(self._engine, "connect", self._on_connect)
        _Base.metadata.create_all(self._engine)
        self._outbox_lock = threading.Lock()
        self._depth: int | None = None
        self._outbox_conn = self._open_outbox_connection()
        if path != ":memory:":
            # Pushed objects carry the sedna.io/credential annotation (S3 keys) in plain text, as upstream.
            for suffix in ("", "-wal", "-shm"):
                try:
                    os.chmod(path + suffix, 0o600)
                except FileNotFoundError:
                    pass

    @staticmethod
    def _on_connect(dbapi_conn, _record) -> None:
        cur = dbapi_conn.cursor()
        # WAL + NORMAL: a committed row survives a killed process (only a power cut can lose the tail).
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=5000")
        cur.close()

    def close(self) -> None:
        with self._outbox_lock:
            if self.path != ":memory:":
                self._outbox_conn.close()
        self._engine.dispose()

    # -- resources ---------------------------------------------------------------------------------------

    def upsert_resource(self, key: str, obj: dict[str, Any]) -> None:
        type_meta = {k: obj[k] for k in ("apiVersion", "kind") if k in obj}
        with Session(self._engine) as s, s.begin():
            row = s.scalar(select(ResourceRow).where(ResourceRow.name == key))
            if row is None:
                row = ResourceRow(name=key)
                s.add(row)
            row.type_meta = json.dumps(type_meta)
            row.object_meta = json.dumps(obj.get("metadata") or {})
            row.spec = json.dumps(obj.get("spec") or {})
            row.status = json.dumps(obj.get("status") or {})

    def delete_resource(self, key: str) -> bool:
        with Session(self._engine) as s, s.begin():
            return s.execute(delete(ResourceRow).where(ResourceRow.name == key)).rowcount > 0

    @staticmethod
    def _to_obj(row: ResourceRow) -> dict[str, Any]:
        obj = dict(json.loads(row.type_meta or "{}"))
        obj["metadata"] = json.loads(row.object_meta or "{}")
        obj["spec"] = json.loads(row.spec or "{}")
        obj["status"] = json.loads(row.status or "{}")
        return obj

    def get_resource(self, key: str) -> dict[str, Any] | None:
        with Session(self._engine) as s:
            row = s.scalar(select(ResourceRow).where(ResourceRow.name == key))
            return None if row is None else self._to_obj(row)

    def list_resources(self) -> list[StoredResource]:
        with Session(self._engine) as s:
            rows = s.scalars(select(ResourceRow).order_by(ResourceRow.id)).all()
            return [StoredResource(r.name, self._to_obj(r)) for r in rows]

    # -- outbox ------------------------------------------------------------------------------------------

    # The outbox is on the path of every report: its own driver connection (sqlite3, autocommit mode, every
    # write in an explicit transaction) with no ORM or pool work per statement, and one transaction for
    # a whole batch of reports (group commit, :meth:`outbox_add_many`). A lock makes it safe to use from the
    # loops of several threads (tests serve the API in a thread).

    def _open_outbox_connection(self) -> sqlite3.Connection:
        if self.path == ":memory:":
            # One in-memory database per connection: share the engine's (StaticPool) connection.
            return self._engine.raw_connection().driver_connection
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._on_connect(conn, None)
        return conn

    def outbox_add_many(self, rows: Sequence[OutboxAdd], max_rows: int,
                        remove: Sequence[str] = ()) -> list[tuple[bool, int]]:
        """Remove the rows of the messageIds ``remove``, then append frames in order, all in ONE transaction:
        durable together when this returns.

        Per row, as :meth:`outbox_add`: with a ``coalesce_key`` older rows of that key (incl. earlier rows of
        this batch) are replaced first; a row is refused when the outbox already holds ``max_rows`` rows.
        Returns ``(accepted, depth after the row)`` per row. Nothing is written when it raises."""
        if not rows and not remove:
            return []
        now = _now().replace(tzinfo=None).isoformat(" ")
        out: list[tuple[bool, int]] = []
        with self._outbox_lock:
            conn = self._outbox_conn
            depth = self._outbox_count()
            conn.execute("BEGIN IMMEDIATE")
            try:
                if remove:
                    depth -= conn.executemany("DELETE FROM outbox WHERE message_id = ?",
                                              [(mid,) for mid in remove]).rowcount
                for message_id, resource_key_, frame, coalesce_key in rows:
                    if coalesce_key is not None:
                        depth -= conn.execute("DELETE FROM outbox WHERE coalesce_key = ?", (coalesce_key,)).rowcount
                    if depth >= max_rows:
                        out.append((False, depth))
                        continue
                    conn.execute("INSERT INTO outbox (message_id, resource_key, coalesce_key, frame, created_at) "
                                 "VALUES (?, ?, ?, ?, ?)", (message_id, resource_key_, coalesce_key, frame, now))
                    depth += 1
                    out.append((True, depth))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            self._depth = depth
        return out

    def outbox_add(self, message_id: str, resource_key_: str, frame: str, coalesce_key: str | None,
                   max_rows: int) -> tuple[bool, int]:
        """Append a frame; with ``coalesce_key`` older rows of that key are replaced first.

        Returns ``(accepted, depth)``; not accepted when the outbox already holds ``max_rows`` rows.
        """
        return self.outbox_add_many([OutboxAdd(message_id, resource_key_, frame, coalesce_key)], max_rows)[0]

    def outbox_after(self, after_id: int, limit: int) -> list[OutboxEntry]:
        with self._outbox_lock:
            rows = self._outbox_conn.execute(
                "SELECT id, message_id, resource_key, frame FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
                (after_id, limit)).fetchall()
        return [OutboxEntry(*r) for r in rows]

    def outbox_has(self, message_id: str) -> bool:
        with self._outbox_lock:
            return self._outbox_conn.execute("SELECT 1 FROM outbox WHERE message_id = ?",
                                             (message_id,)).fetchone() is not None

    def outbox_remove(self, message_id: str) -> bool:
        with self._outbox_lock:
            conn = self._outbox_conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                removed = conn.execute("DELETE FROM outbox WHERE message_id = ?", (message_id,)).rowcount > 0
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            if removed and self._depth is not None:
                self._depth -= 1
        return removed

    def _outbox_count(self) -> int:
        # Counted once, then kept up to date by this Store's own writes (count(*) scans the whole table: at
        # a GM outage's tens of thousands of rows, per report that would cost more than the report).
        if self._depth is None:
            self._depth = self._outbox_conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
        return self._depth

    def outbox_depth(self) -> int:
        """Rows in the outbox (one LC, so one Store, writes a database file)."""
        with self._outbox_lock:
            return self._outbox_count()
