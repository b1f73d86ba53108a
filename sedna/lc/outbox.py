"""Durable upstream outbox: reports survive LC restarts and GM outages and leave only when the GM acks them.

Every message gets a fresh ``messageId`` when it is queued; the GM acknowledges each ``status`` frame with an
``ack`` frame carrying the same id and drops duplicates by id, so re-sending unacked frames after a reconnect
is safe. Frames go out in queue order, which keeps reports about one resource in order.

Coalescing is opt-in per message (``coalesce_key``): a newer report replaces any older queued one with the same
key. Callers use it only where the newer message supersedes the older (dataset sample counts, joint-inference
metrics), never for learning-job condition reports, each of which is a state transition.
"""

from __future__ import annotations

import asyncio
import logging

from sedna.api.messages import Message
from sedna.lc.metrics import LCMetrics
from sedna.lc.store import OutboxEntry, Store

logger = logging.getLogger(__name__)


class OutboxFull(RuntimeError):
    """The outbox holds its maximum number of messages; the report was not queued."""


class Outbox:
    def __init__(self, store: Store, metrics: LCMetrics, max_rows: int) -> None:
        self._store = store
        self._metrics = metrics
        self._max_rows = max_rows
        self._wakeup = asyncio.Event()
        self._full_logged = False
        metrics.outbox_depth.set(store.outbox_depth())

    @property
    def wakeup(self) -> asyncio.Event:
        return self._wakeup

    def put(self, message: Message, coalesce_key: str | None = None) -> str:
        """Queue ``message`` durably and return its messageId; raises ``OutboxFull`` when at capacity."""
        message = message.with_new_id()
        mid = message.header.message_id
        h = message.header
        accepted, depth = self._store.outbox_add(mid, h.key, message.encode(), coalesce_key, self._max_rows)
        self._metrics.outbox_depth.set(depth)
        if not accepted:
            self._metrics.outbox_rejected.inc()
            if not self._full_logged:
                logger.error("outbox full (%d messages, LC_OUTBOX_MAX); rejecting new reports until the GM "
                             "acknowledges some (is the GM reachable?)", depth)
                self._full_logged = True
            raise OutboxFull(f"LC outbox full ({depth} messages waiting for the GM)")
        self._full_logged = False
        self._metrics.reports_queued.inc()
        self._wakeup.set()
        logger.debug("queued %s %s (%s), depth %d", h.operation, h.key, mid, depth)
        return mid

    def pending_after(self, after_id: int, limit: int) -> list[OutboxEntry]:
        return self._store.outbox_after(after_id, limit)

    def ack(self, message_id: str) -> bool:
        removed = self._store.outbox_remove(message_id)
        if removed:
            self._metrics.reports_acked.inc()
            self._metrics.outbox_depth.set(self._store.outbox_depth())
        self._wakeup.set()
        return removed

    def reject(self, message_id: str, reason: str) -> bool:
        """The GM refused the message for good (``error`` frame with its id): drop it, loudly."""
        removed = self._store.outbox_remove(message_id)
        if removed:
            logger.error("GM rejected message %s: %s; dropped from the outbox", message_id, reason)
            self._metrics.reports_rejected_by_gm.inc()
            self._metrics.outbox_depth.set(self._store.outbox_depth())
        self._wakeup.set()
        return removed

    def depth(self) -> int:
        return self._store.outbox_depth()
