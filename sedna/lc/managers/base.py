"""What every LC manager shares: the context it runs in, persistence of pushed objects, upstream sending."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sedna.api.messages import Message, WorkerMessage
from sedna.lc.config import LCConfig
from sedna.lc.metrics import LCMetrics
from sedna.lc.outbox import Outbox
from sedna.lc.storage import Credentials, Storage
from sedna.lc.store import Store, resource_key
from sedna.lc.workerauth import WorkerAuth

logger = logging.getLogger(__name__)


class WorkerReportError(Exception):
    """A worker report the LC does not forward; ``status`` is the HTTP code answered to the worker."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class LCContext:
    config: LCConfig
    store: Store
    outbox: Outbox
    metrics: LCMetrics
    managers: dict[str, Manager] = field(default_factory=dict)
    worker_auth: WorkerAuth | None = None

    def storage_for(self, obj: dict[str, Any]) -> Storage:
        return Storage(self.config.rootfs, Credentials.from_annotations(obj))

    def send_status(self, kind: str, namespace: str, name: str, content: Any,
                    coalesce_key: str | None = None) -> str:
        """Queue a ``status`` message for the GM (raises ``OutboxFull``)."""
        return self.outbox.put(status_message(kind, namespace, name, content), coalesce_key)


def status_message(kind: str, namespace: str, name: str, content: Any) -> Message:
    return Message.build(kind, namespace, name, "status", content)


def meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def annotations(obj: dict[str, Any]) -> dict[str, str]:
    return meta(obj).get("annotations") or {}


class Manager:
    """Keeps the pushed objects of one kind (memory + store) and turns worker reports into upstream messages.

    Subclasses hook ``started``/``stopped`` for per-object work (monitors, job engines).
    """

    kind = ""            # lower-case kind as the GM sends it
    object_kind = ""     # CR Kind, used as the upstream header kind for the LC's own messages

    def __init__(self, ctx: LCContext) -> None:
        self.ctx = ctx
        self.objects: dict[str, dict[str, Any]] = {}

    def key(self, namespace: str, name: str) -> str:
        return resource_key(namespace, self.kind, name)

    async def insert(self, obj: dict[str, Any], *, from_store: bool = False) -> None:
        md = meta(obj)
        namespace, name = md.get("namespace") or "default", md.get("name")
        if not name:
            raise ValueError(f"{self.kind} object without metadata.name")
        obj.setdefault("kind", self.object_kind)
        key = self.key(namespace, name)
        first = key not in self.objects
        obj = self.prepare(key, obj)
        self.objects[key] = obj
        if not from_store:
            self.ctx.store.upsert_resource(key, obj)
        await self.started(key, obj, first)

    async def delete(self, namespace: str, name: str) -> None:
        key = self.key(namespace or "default", name)
        obj = self.objects.pop(key, None)
        self.ctx.store.delete_resource(key)
        if obj is not None:
            await self.stopped(key, obj)

    def prepare(self, key: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Adjust an incoming object before it is stored (e.g. keep LC-side progress annotations)."""
        return obj

    async def started(self, key: str, obj: dict[str, Any], first: bool) -> None:
        """Called after every insert (``first`` on the first one for the key)."""

    async def stopped(self, key: str, obj: dict[str, Any]) -> None:
        """Called after a delete of a known object."""

    async def close(self) -> None:
        for key, obj in list(self.objects.items()):
            await self.stopped(key, obj)

    def worker_report(self, msg: WorkerMessage) -> tuple[Message, str | None]:
        """The upstream message (and its coalesce key) a worker report becomes; raises ``WorkerReportError``
        when the LC does not forward it. Pure: the caller queues it (the worker API with group commit)."""
        raise WorkerReportError(400, f"ownerKind {self.kind!r} does not accept worker reports")

    def worker_message(self, msg: WorkerMessage) -> str:
        """Forward a worker report now (its own transaction); returns the messageId or raises
        ``WorkerReportError`` / ``OutboxFull``."""
        return self.ctx.outbox.put(*self.worker_report(msg))


def upstream_content(msg: WorkerMessage, with_results: bool) -> dict[str, Any]:
    """The §5 forwarding body: phase/status from the worker, output models/ownerInfo."""
    return {
        "phase": msg.kind,
        "status": msg.status,
        "output": {"models": msg.results if with_results else None, "ownerInfo": msg.owner_info},
    }
