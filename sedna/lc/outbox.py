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


ACK_FLUSH_SECONDS = 0.005   # longest an acked row waits for a transaction to delete it


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
        # acked messageIds whose rows are deleted by the next transaction (insertion-ordered set)
        self._acked: dict[str, None] = {}
        self._ack_flush: asyncio.TimerHandle | None = None
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

    def _write(self, rows: list[OutboxAdd]) -> list[tuple[bool, int]]:
        """One transaction: delete the acked rows, append ``rows``."""
        acked = list(self._acked)
        results = self._store.outbox_add_many(rows, self._max_rows, remove=acked)
        for mid in acked:
            self._acked.pop(mid, None)
        if acked and not self._acked and self._ack_flush is not None:
            self._ack_flush.cancel()
            self._ack_flush = None
        return results

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
        self._queued(row, *self._write([row])[0])
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
            results = self._write([row for row, _ in batch])
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
        """Queued messages after row ``after_id``, in order (acked ones excluded)."""
        if not self._acked:
            return self._store.outbox_after(after_id, limit)
        entries = self._store.outbox_after(after_id, limit + len(self._acked))
        return [e for e in entries if e.message_id not in self._acked][:limit]

    def ack(self, message_id: str) -> bool:
        """The GM acknowledged the message: it leaves the outbox. True when it was queued (not acked yet).

        Group commit again: the row is deleted by the next write transaction — the next reports' (within a
        report's round trip that is the next report itself, so one transaction per report instead of two) or,
        at the latest, ``ACK_FLUSH_SECONDS`` later. Until then it is neither sent nor counted; should the LC die
        in between, it is sent once more after the restart and the GM drops it as a duplicate (by messageId),
        as any frame the LC sent but saw no ack for."""
        if message_id in self._acked or not self._store.outbox_has(message_id):
            self._wakeup.set()
            return False
        self._acked[message_id] = None
        self._metrics.reports_acked.inc()
        self._metrics.outbox_depth.dec()   # set exactly again by the next put
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
        else:
            if self._ack_flush is None:
                self._ack_flush = loop.call_later(ACK_FLUSH_SECONDS, self._flush_acks)
        self._wakeup.set()
        return True

    def _flush_acks(self) -> None:
        self._ack_flush = None
        try:
            self.flush()
        except Exception:   # the acked rows stay pending: the next transaction deletes them
            logger.exception("deleting %d acked messages from the outbox failed", len(self._acked))

    def flush(self) -> None:
        """Delete the acked rows now (at shutdown; otherwise the next transaction does it)."""
        if self._ack_flush is not None:
            self._ack_flush.cancel()
            self._ack_flush = None
        if self._acked:
            self._write([])

    def reject(self, message_id: str, reason: str) -> bool:
        """The GM refused the message for good (``error`` frame with its id): drop it, loudly."""
        if message_id in self._acked:
            return False
        removed = self._store.outbox_remove(message_id)
        if removed:
            logger.error("GM rejected message %s: %s; dropped from the outbox", message_id, reason)
            self._metrics.reports_rejected_by_gm.inc()
            self._metrics.outbox_depth.dec()
        self._wakeup.set()
        return removed

    def depth(self) -> int:
        return self._store.outbox_depth() - len(self._acked)
