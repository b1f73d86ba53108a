"""A controller loop: a de-duplicating work queue of keys fed by store events, drained by one asyncio task.

``sync(key)`` is level-triggered (recomputes everything from the stored objects) and synchronous; failed
keys are retried after a delay.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import Hashable
from typing import Any

from sedna.local.apiserver.api import API
from sedna.local.apiserver.store import Event

log = logging.getLogger(__name__)


def controller_ref(obj: dict[str, Any]) -> dict[str, Any] | None:
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


class Controller(abc.ABC):
    name = "controller"
    retry_delay = 0.5

    def __init__(self, api: API):
        self.api = api
        self.store = api.store
        self._pending: dict[Hashable, None] = {}
        self._later: dict[Hashable, asyncio.TimerHandle] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        api.store.add_listener(self.on_event)

    def enqueue(self, key: Hashable) -> None:
        self._pending[key] = None
        self._wake.set()

    def enqueue_later(self, key: Hashable, delay: float) -> None:
        """Look at ``key`` again after ``delay`` seconds; one pending recheck per key (the earliest) is kept."""
        loop = asyncio.get_running_loop()
        pending = self._later.get(key)
        if pending is not None:
            if pending.when() <= loop.time() + delay:
                return
            pending.cancel()

        def fire():
            self._later.pop(key, None)
            self.enqueue(key)
        self._later[key] = loop.call_later(delay, fire)

    @abc.abstractmethod
    def on_event(self, event: Event) -> None:
        """Turn a store event into the keys to look at (called synchronously; must only enqueue)."""

    @abc.abstractmethod
    def sync(self, key: Hashable) -> None:
        """Reconcile one key from the current stored state."""

    def resync_all(self) -> None:
        """Called once at start: enqueue whatever needs looking at after a restart."""

    def start(self) -> None:
        self.resync_all()
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        for handle in self._later.values():
            handle.cancel()
        self._later.clear()
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                log.debug("%s stopped", self.name)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = list(self._pending), {}
            for i, key in enumerate(batch):
                try:
                    self.sync(key)
                except Exception:
                    log.exception("%s: sync of %r failed; retrying", self.name, key)
                    self.enqueue_later(key, self.retry_delay)
                if i % 20 == 19:
                    await asyncio.sleep(0)
            await asyncio.sleep(0)
