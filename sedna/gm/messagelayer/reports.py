"""Applying LC status reports: concurrent across objects, in arrival order per object, coalesced.

Every report names one object (kind, namespace, name). Applying one costs a GET and a status PUT on the API
server, so applying the reports of all nodes one at a time capped the GM at a few dozen reports per second
(issue 16). Here each object has at most one writer at a time, so its reports are applied in the order they
arrived (a later round's condition never lands before an earlier one), while different objects are written
concurrently. Reports for an object that arrive while its previous write is in flight queue up and are then
applied together, in order, as one batch: one status write for the whole batch (built on the GM's newest copy
of the object, see ``GlobalManager.apply_reports``). Each report's own future resolves when its batch has been
written (the channel acks it then, not before: the GM keeps reports in memory only, the LC's outbox is the
durable queue), or with the error that rejected it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from sedna.api.messages import Message

logger = logging.getLogger(__name__)

ApplyBatch = Callable[[str, list[Message]], Awaitable[list[Exception | None]]]
"""``apply(node, reports_of_one_object)`` → per report None (applied) or the exception rejecting it; raising
fails every report of the batch."""

Key = tuple[str, str, str]


def report_key(msg: Message) -> Key:
    h = msg.header
    return h.resource_kind.lower(), h.namespace or "default", h.resource_name


class ReportPipeline:
    """``submit(node, msg)`` → a future resolved once the report is applied; one drain task per busy object."""

    def __init__(self, apply_batch: ApplyBatch, max_batch: int = 256) -> None:
        self._apply = apply_batch
        self._max_batch = max_batch
        self._pending: dict[Key, list[tuple[str, Message, asyncio.Future]]] = {}
        self._drains: dict[Key, asyncio.Task] = {}

    def submit(self, node: str, msg: Message) -> asyncio.Future:
        key = report_key(msg)
        future = asyncio.get_running_loop().create_future()
        self._pending.setdefault(key, []).append((node, msg, future))
        if key not in self._drains:
            self._drains[key] = asyncio.create_task(self._drain(key), name=f"reports-{'/'.join(key)}")
        return future

    def busy_objects(self) -> int:
        return len(self._drains)

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until no report is queued or being applied (True), or ``timeout`` seconds (False)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._drains:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            await asyncio.wait(set(self._drains.values()), timeout=remaining)
        return True

    async def _drain(self, key: Key) -> None:
        try:
            while self._pending.get(key):
                queue = self._pending[key]
                batch, queue[:] = queue[:self._max_batch], queue[self._max_batch:]
                await self._apply_batch(batch)
        finally:
            # no await between the emptiness check above and here: nothing can be queued unseen
            self._drains.pop(key, None)
            if not self._pending.get(key):
                self._pending.pop(key, None)

    async def _apply_batch(self, batch: list[tuple[str, Message, asyncio.Future]]) -> None:
        node = batch[0][0]
        try:
            results = await self._apply(node, [msg for _, msg, _ in batch])
        except Exception as exc:  # noqa: BLE001 - handed to every report's future
            results = [exc] * len(batch)
        if len(results) != len(batch):
            results = [RuntimeError("report batch answered for a different number of reports")] * len(batch)
        for (_, _, future), result in zip(batch, results):
            if future.done():
                continue
            if result is None:
                future.set_result(None)
            else:
                future.set_exception(result)
