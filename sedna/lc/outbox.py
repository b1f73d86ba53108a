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
import uuid

from sedna.api.messages import Message
from sedna.lc.metrics import LCMetrics
from sedna.lc.store import OutboxAdd, OutboxEntry, Store

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
        # group commit: rows waiting for this loop iteration's transaction, per event loop
        self._batches: dict[asyncio.AbstractEventLoop, list[tuple[OutboxAdd, asyncio.Future]]] = {}
        metrics.outbox_depth.set(store.outbox_depth())

    @property
    def wakeup(self) -> asyncio.Event:
        return self._wakeup

    @staticmethod
    def _row(message: Message, coalesce_key: str | None) -> OutboxAdd:
        mid = uuid.uuid4().hex
        header = message.header.model_copy(update={"message_id": mid})
        frame = Message.model_construct(header=header, content=message.content).encode()
        return OutboxAdd(mid, header.key, frame, coalesce_key)

    def _queued(self, row: OutboxAdd, accepted: bool, depth: int) -> None:
        """Account for one row the store took (or refused: raises ``OutboxFull``)."""
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
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("queued %s (%s), depth %d", row.resource_key, row.message_id, depth)

    def put(self, message: Message, coalesce_key: str | None = None) -> str:
        """Queue ``message`` durably (its own transaction) and return its messageId; raises ``OutboxFull``
        when at capacity."""
        row = self._row(message, coalesce_key)
        self._queued(row, *self._store.outbox_add_many([row], self._max_rows)[0])
        self._wakeup.set()
        return row.message_id

    async def put_committed(self, message: Message, coalesce_key: str | None = None) -> str:
        """:meth:`put` with group commit: every message put in the same event-loop iteration goes into one
        transaction, which runs at the end of that iteration. Returns the messageId once its row is durable
        (raises ``OutboxFull`` or the store's error otherwise), so a report is answered only after its row
        is committed. Rows keep the order of the calls, as with :meth:`put`."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        row = self._row(message, coalesce_key)
        batch = self._batches.get(loop)
        if batch is None:
            batch = self._batches[loop] = []
            loop.call_soon(self._commit, loop)
        batch.append((row, future))
        return await future

    def _commit(self, loop: asyncio.AbstractEventLoop) -> None:
        batch = self._batches.pop(loop, [])
        try:
            results = self._store.outbox_add_many([row for row, _ in batch], self._max_rows)
        except Exception as exc:
            logger.exception("outbox commit of %d messages failed", len(batch))
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (row, future), (accepted, depth) in zip(batch, results):
            try:
                self._queued(row, accepted, depth)
            except OutboxFull as exc:
                if not future.done():
                    future.set_exception(exc)
                continue
            if not future.done():   # a cancelled waiter: the row is queued all the same
                future.set_result(row.message_id)
        # After the answers: the waiting requests resume (and answer their workers) before the GM writer.
        self._wakeup.set()

    def pending_after(self, after_id: int, limit: int) -> list[OutboxEntry]:
        return self._store.outbox_after(after_id, limit)

    def ack(self, message_id: str) -> bool:
        removed = self._store.outbox_remove(message_id)
        if removed:
            self._metrics.reports_acked.inc()
            self._metrics.outbox_depth.dec()   # set exactly again by the next put
        self._wakeup.set()
        return removed

    def reject(self, message_id: str, reason: str) -> bool:
        """The GM refused the message for good (``error`` frame with its id): drop it, loudly."""
        removed = self._store.outbox_remove(message_id)
        if removed:
            logger.error("GM rejected message %s: %s; dropped from the outbox", message_id, reason)
            self._metrics.reports_rejected_by_gm.inc()
            self._metrics.outbox_depth.dec()
        self._wakeup.set()
        return removed

    def depth(self) -> int:
        return self._store.outbox_depth()
