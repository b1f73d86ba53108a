"""Websocket client of the GM channel (gm-lc-protocol §2): connect, hello, apply downstream, drain the outbox.

One session = one websocket connection with a reader task (downstream messages, acks, errors) and a writer
task (outbox frames in queue order, at most ``window`` unacked on the wire). When either ends the connection
is closed and the client reconnects with exponential back-off and jitter. The outbox is durable, so nothing is
lost across sessions: every unacked frame is simply written again on the next connection (the GM dedupes by
``messageId``).

Whether the GM acknowledges reports is read from its handshake response, per connection: our GM answers with
``Sedna-Capabilities: ack``; upstream's Go GM sends no such header and never acks, so on such a connection a
frame leaves the outbox once it is written to the socket (fire-and-forget, as upstream's LC does). Frames not
yet written stay in the durable outbox across reconnects and restarts either way. ``LC_GM_ACKS=true|false``
overrides the detection.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from sedna.api.messages import MAX_FRAME_BYTES, Message, MessageError, MessageHeader
from sedna.lc.metrics import LCMetrics
from sedna.lc.outbox import Outbox

logger = logging.getLogger(__name__)

Dispatch = Callable[[Message], Awaitable[None]]


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Equal-jitter exponential back-off: half the window fixed, half random, never above ``cap``."""
    window = min(cap, base * (2 ** min(attempt, 30)))
    return window / 2 + rng.uniform(0, window / 2)


class AckTimeout(Exception):
    """The GM did not ack a frame in time (e.g. it could not apply it yet): reconnect and re-send in order."""


HELLO = MessageHeader().model_dump_json(by_alias=True, exclude_none=True)
CAPABILITIES_HEADER = "Sedna-Capabilities"


def gm_acknowledges(ws: ClientConnection) -> bool:
    """True when the GM's handshake response advertises acks (our GM); upstream's GM advertises nothing."""
    response = ws.response
    if response is None:
        return False
    values = response.headers.get(CAPABILITIES_HEADER, "")
    return "ack" in {v.strip() for v in values.split(",")}


class GMClient:
    def __init__(self, address: str, node_name: str, outbox: Outbox, dispatch: Dispatch, metrics: LCMetrics,
                 token: str = "", window: int = 400, backoff_base: float = 0.5, backoff_cap: float = 30.0,
                 rng: random.Random | None = None, acks: bool | None = None, ack_timeout: float = 30.0,
                 on_worker_key: Callable[[str], None] | None = None) -> None:
        self.url = f"ws://{address}/"
        self.node_name = node_name
        self._outbox = outbox
        self._dispatch = dispatch
        self._metrics = metrics
        self._token = token
        self._window = window
        self._base = backoff_base
        self._cap = backoff_cap
        self._rng = rng or random.Random()
        self._acks = acks  # None: detect per connection; True/False: forced by LC_GM_ACKS
        self._mode_logged: bool | None = None
        self._ack_timeout = ack_timeout
        self._on_worker_key = on_worker_key
        self.connected = False

    async def run(self) -> None:
        """Connect forever; returns only when cancelled."""
        attempt = 0
        while True:
            headers = {"Node-Name": self.node_name}
            if self._token:
                headers["Authorization"] = f"Bearer {self._token}"
            try:
                async with connect(self.url, additional_headers=headers, open_timeout=10,
                                   max_size=MAX_FRAME_BYTES, ping_interval=20, ping_timeout=20,
                                   close_timeout=2) as ws:
                    attempt = 0
                    key = ws.response.headers.get("Sedna-Worker-Key") if ws.response is not None else None
                    if key and self._on_worker_key is not None:
                        self._on_worker_key(key)
                    self.connected = True
                    self._metrics.connected.set(1)
                    self._metrics.reconnects.inc()
                    logger.info("connected to GM %s as node %s", self.url, self.node_name)
                    try:
                        await self._session(ws)
                        logger.warning("GM closed the channel")
                    except asyncio.CancelledError:
                        await asyncio.shield(ws.close(1001, "LC shutting down"))
                        raise
            except asyncio.CancelledError:
                raise
            except InvalidStatus as exc:
                self._metrics.connect_failures.inc()
                code = exc.response.status_code
                if code in (401, 403):
                    logger.error("GM refused the channel with HTTP %d: check SEDNA_CHANNEL_TOKEN", code)
                else:
                    logger.warning("GM handshake failed with HTTP %d", code)
            except (OSError, websockets.exceptions.WebSocketException, asyncio.TimeoutError, AckTimeout) as exc:
                if self.connected:
                    logger.warning("GM channel lost: %s", exc)
                else:
                    self._metrics.connect_failures.inc()
                    logger.info("cannot reach GM at %s: %s", self.url, exc)
            finally:
                if self.connected:
                    self.connected = False
                    self._metrics.connected.set(0)
            delay = backoff_delay(attempt, self._base, self._cap, self._rng)
            attempt += 1
            await asyncio.sleep(delay)

    def _acks_for(self, ws: ClientConnection) -> bool:
        acks = gm_acknowledges(ws) if self._acks is None else self._acks
        if acks != self._mode_logged:
            self._mode_logged = acks
            if acks:
                logger.info("GM acknowledges reports: each leaves the outbox when the GM acks it")
            else:
                how = "LC_GM_ACKS=false" if self._acks is False else "it advertises no acks (upstream's GM)"
                logger.warning("GM does not acknowledge reports (%s): fire-and-forget mode, a report leaves "
                               "the outbox once written to the socket", how)
        self._metrics.gm_acks.set(1 if acks else 0)
        return acks

    async def _session(self, ws: ClientConnection) -> None:
        acks = self._acks_for(ws)
        await ws.send(HELLO)
        in_flight: dict[str, float] = {}  # messageId -> monotonic send time, in send order
        reader = asyncio.create_task(self._reader(ws, in_flight), name="gm-reader")
        writer = asyncio.create_task(self._writer(ws, in_flight, acks), name="gm-writer")
        try:
            done, _ = await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # re-raise the connection error that ended the session
        finally:
            for task in (reader, writer):
                task.cancel()
            await asyncio.gather(reader, writer, return_exceptions=True)

    async def _reader(self, ws: ClientConnection, in_flight: dict[str, float]) -> None:
        async for frame in ws:
            try:
                msg = Message.decode(frame)
            except MessageError as exc:
                logger.warning("bad frame from GM: %s", exc)
                await ws.send(Message.build("", "", "", "error", {"reason": str(exc)}).encode())
                continue
            op = msg.header.operation
            mid = msg.header.message_id
            if op == "ack":
                if mid:
                    in_flight.pop(mid, None)
                    self._outbox.ack(mid)
                continue
            if op == "error":
                reason = (msg.content or {}).get("reason") if isinstance(msg.content, dict) else msg.content
                if mid:
                    in_flight.pop(mid, None)
                    self._outbox.reject(mid, str(reason))
                else:
                    logger.warning("GM reported an error: %s", reason)
                continue
            if op == "":
                continue  # a hello from a peer: nothing to do
            try:
                await self._dispatch(msg)
            except ValueError as exc:  # invalid object (bad URL, path outside the root, ...): named, no trace
                logger.error("cannot apply %s %s: %s", op, msg.header.key, exc)
            except Exception:  # one bad object must not take the channel down
                logger.exception("applying %s %s failed", op, msg.header.key)

    async def _writer(self, ws: ClientConnection, in_flight: dict[str, float], acks: bool) -> None:
        loop = asyncio.get_running_loop()
        last_id = 0
        wakeup = self._outbox.wakeup
        while True:
            wakeup.clear()
            timeout = None
            if in_flight:
                oldest = next(iter(in_flight.values()))
                timeout = oldest + self._ack_timeout - loop.time()
                if timeout <= 0:
                    # The GM keeps unapplied reports unacked (transient failure): start over on a new
                    # connection, which re-sends every unacked frame in its original order.
                    raise AckTimeout(f"{len(in_flight)} frames unacked for {self._ack_timeout:g}s")
            room = self._window - len(in_flight)
            entries = self._outbox.pending_after(last_id, room) if room > 0 else []
            if not entries:
                try:
                    await asyncio.wait_for(wakeup.wait(), timeout)
                except asyncio.TimeoutError:
                    pass
                continue
            for entry in entries:
                await ws.send(entry.frame)
                last_id = entry.id
                self._metrics.reports_sent.inc()
                if acks:
                    in_flight[entry.message_id] = loop.time()
                else:
                    self._outbox.ack(entry.message_id)
