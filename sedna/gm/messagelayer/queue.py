"""Per-node outgoing queue with upstream's latest-message-per-key semantics (gm-lc-protocol §2.3), and the
bounded memory of recently applied LC message ids used to drop duplicates."""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from sedna.gm.controllers.base import Downstream


class NodeQueue:
    """Messages waiting for one node. Putting a message for a key that is still pending replaces it in place,
    so only the newest message per object is delivered (insert-then-delete before delivery -> delete)."""

    def __init__(self) -> None:
        self._pending: OrderedDict[str, Downstream] = OrderedDict()
        self._ready = asyncio.Event()

    def __len__(self) -> int:
        return len(self._pending)

    def put(self, msg: Downstream) -> None:
        self._pending[msg.key] = msg
        self._ready.set()

    def requeue(self, msg: Downstream) -> None:
        """Give back a message whose write failed, unless a newer one for the key arrived meanwhile."""
        if msg.key not in self._pending:
            self._pending[msg.key] = msg
            self._pending.move_to_end(msg.key, last=False)
        self._ready.set()

    async def get(self) -> Downstream:
        while not self._pending:
            self._ready.clear()
            await self._ready.wait()
        _, msg = self._pending.popitem(last=False)
        return msg

    def pending_keys(self) -> list[str]:
        return list(self._pending)


class RecentIds:
    """LRU set of message ids already applied for one node.

    Persistence is not needed: the LC re-sends from its outbox only until acked, so duplicates arrive within
    seconds of the original. A GM stopping cleanly acks what it applied before closing; after a crash a
    re-sent report may reach a GM that no longer knows its id, which is harmless for replaced values (dataset
    counts, metrics) and caught for appended conditions by ``GlobalManager._fold_reports`` (a re-sent run whose
    conditions are already the newest is not appended again).
    """

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._ids: OrderedDict[str, tuple[str, object]] = OrderedDict()

    def __contains__(self, message_id: str) -> bool:
        return message_id in self._ids

    def answer(self, message_id: str) -> tuple[str, object]:
        """The reply given the first time: ``("ack", None)`` or ``("error", {"reason": ...})``."""
        return self._ids[message_id]

    def add(self, message_id: str, operation: str = "ack", content: object = None) -> None:
        self._ids[message_id] = (operation, content)
        self._ids.move_to_end(message_id)
        while len(self._ids) > self.capacity:
            self._ids.popitem(last=False)

    def __len__(self) -> int:
        return len(self._ids)
