"""Websocket server the LCs connect to (gm-lc-protocol §2).

One reader and one writer task per connection. The writer drains the node's ``NodeQueue``; ``send`` on the
socket awaits the transport's write buffer, so a slow LC only slows its own writer (the queue keeps at most one
message per object meanwhile) and never the other nodes. The reader hands LC ``status`` reports to a
:class:`~sedna.gm.messagelayer.reports.ReportPipeline` (concurrent across objects, ordered and coalesced per
object) and goes on reading; each report that carries a ``messageId`` is answered with ``ack`` once applied
(or ``error`` once rejected), at most ``MAX_REPORTS_IN_FLIGHT`` per connection (back-pressure on that LC).
Duplicates are dropped by id — also while the first copy is still being applied — and malformed frames are
answered with ``error`` without closing the connection.

Identity: the handshake names one node (``Node-Name``) and must carry that node's token (``GMAuth.check_node``);
the connection is bound to that node for its life: it receives only that node's queue and every report on it is
applied as coming from that node (the GM refuses reports about objects not assigned to it).

The handshake response carries ``Sedna-Capabilities: ack``: our LC reads it to know that this GM acknowledges
reports (upstream's Go GM sends no such header and no acks, and our LC then falls back to fire-and-forget).
Nodes in ``auth.insecureNodes`` may connect without a token, as upstream's LC sends none (the per-node
compatibility mode of docs/migration.md); such connections are logged and counted
(``sedna_gm_upstream_lc_connections``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable
from http import HTTPStatus

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from sedna.api.messages import Message, MessageError
from sedna.common.sockets import listening_socket
from sedna.gm.auth import GMAuth
from sedna.gm.controllers.base import Downstream
from sedna.gm.messagelayer.queue import NodeQueue, RecentIds
from sedna.gm.messagelayer.reports import ApplyBatch, ReportPipeline
from sedna.gm.metrics import GMMetrics

logger = logging.getLogger(__name__)
CAPABILITIES_HEADER = "Sedna-Capabilities"
CAPABILITIES = "ack"
# Node names are DNS subdomains; we also accept upper case and '_' (host names seen in the wild).
_NODE_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")

ApplyStatus = Callable[[str, Message], Awaitable[None]]
OnConnect = Callable[[str], Awaitable[None]]
MAX_REPORTS_IN_FLIGHT = 512


class MessageServer:
    def __init__(self, apply_status: ApplyStatus, *, auth: GMAuth | None = None,
                 max_message_bytes: int = 8 * 1024 * 1024, on_connect: OnConnect | None = None,
                 metrics: GMMetrics | None = None, recent_ids: int = 4096,
                 apply_batch: ApplyBatch | None = None) -> None:
        """``apply_status(node, report)`` applies one report; ``apply_batch`` (if given) applies several of one
        object at once and is used instead (see :mod:`~sedna.gm.messagelayer.reports`)."""
        self._apply_status = apply_status
        self._reports = ReportPipeline(apply_batch or self._apply_one_by_one)
        self._in_flight: dict[str, dict[str, asyncio.Future]] = {}
        self._answer_tasks: set[asyncio.Task] = set()
        self._auth = auth
        self._max_bytes = max_message_bytes
        self._on_connect = on_connect
        self._metrics = metrics or GMMetrics()
        self._recent_capacity = recent_ids
        self._queues: dict[str, NodeQueue] = {}
        self._recent: dict[str, RecentIds] = {}
        self._connections: dict[str, set[ServerConnection]] = {}
        self._server: Server | None = None
        self.port = 0

    # ---- downstream ---------------------------------------------------------------------------------

    def queue(self, node: str) -> NodeQueue:
        if node not in self._queues:
            self._queues[node] = NodeQueue()
        return self._queues[node]

    def send(self, msg: Downstream) -> None:
        """Queue a message for the node's LC; delivered when (or as soon as) it is connected."""
        if not msg.node:
            return
        self.queue(msg.node).put(msg)

    def connected_nodes(self) -> list[str]:
        return sorted(n for n, conns in self._connections.items() if conns)

    # ---- lifecycle ----------------------------------------------------------------------------------

    async def start(self, host: str, port: int) -> int:
        self._server = await serve(self._handle, sock=listening_socket(host, port),
                                   process_request=self._check_request,
                                   process_response=self._add_handshake_headers,
                                   max_size=self._max_bytes, compression=None, ping_interval=20,
                                   ping_timeout=60, write_limit=256 * 1024)
        self.port = self._server.sockets[0].getsockname()[1]
        logger.info("LC websocket server on %s:%d (node tokens %s)", host, self.port,
                    "required" if self._auth is not None and not self._auth.insecure else "NOT required")
        return self.port

    async def stop(self, drain_timeout: float = 5.0) -> None:
        """Stop accepting LCs, let the reports already received finish (written and acked, so a restart
        re-applies none of them), then close the connections."""
        if self._server is not None:
            self._server.server.close()           # no new LCs; the connected ones keep their channel meanwhile
            drained = await self._reports.wait_idle(drain_timeout)
            if self._answer_tasks:
                await asyncio.wait(set(self._answer_tasks), timeout=1.0)
            if not drained:
                logger.warning("%d objects still had reports in flight at shutdown; their LCs will re-send "
                               "them", self._reports.busy_objects())
            self._server.close()
            try:
                await asyncio.wait_for(self._server.wait_closed(), 5)
            except asyncio.TimeoutError:
                logger.warning("websocket server did not close in time")

    # ---- connection handling ------------------------------------------------------------------------

    def _check_request(self, connection: ServerConnection, request):
        node = request.headers.get("Node-Name", "").strip()
        if not node:
            return connection.respond(HTTPStatus.BAD_REQUEST, "missing Node-Name header\n")
        if len(node) > 253 or not _NODE_NAME.fullmatch(node):
            return connection.respond(HTTPStatus.BAD_REQUEST, "Node-Name must be a Kubernetes node name\n")
        if self._auth is not None:
            refused = self._auth.check_node(node, request.headers.get("Authorization"))
            if refused:
                logger.warning("rejected LC connection from %s (node %r): %s", connection.remote_address, node,
                               refused)
                return connection.respond(HTTPStatus.UNAUTHORIZED, refused + "\n")
        return None

    def _is_upstream_lc(self, node: str, request) -> bool:
        """A compatibility-mode node whose LC presents no token (upstream's LC)."""
        return (self._auth is not None and not self._auth.insecure and node in self._auth.insecure_nodes
                and not request.headers.get("Authorization"))

    def _add_handshake_headers(self, connection: ServerConnection, request, response):
        if response.status_code == HTTPStatus.SWITCHING_PROTOCOLS:
            response.headers[CAPABILITIES_HEADER] = CAPABILITIES
            if self._auth is not None:
                node = request.headers.get("Node-Name", "").strip()
                for key, value in self._auth.handshake_headers(node).items():
                    response.headers[key] = value
        return response

    async def _handle(self, ws: ServerConnection) -> None:
        node = ws.request.headers.get("Node-Name", "").strip()
        upstream = self._is_upstream_lc(node, ws.request)
        self._connections.setdefault(node, set()).add(ws)
        self._metrics.connected_lcs.inc()
        if upstream:
            self._metrics.upstream_lcs.inc()
            logger.warning("LC of node %s connected from %s in upstream-LC compatibility mode (no token)",
                           node, ws.remote_address)
        else:
            logger.info("LC of node %s connected from %s", node, ws.remote_address)
        writer = asyncio.create_task(self._writer(node, ws), name=f"lc-writer-{node}")
        try:
            if self._on_connect is not None:
                try:
                    await self._on_connect(node)
                except Exception:
                    logger.exception("resync of node %s failed", node)
            await self._reader(node, ws)
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await writer
            self._connections[node].discard(ws)
            self._metrics.connected_lcs.dec()
            if upstream:
                self._metrics.upstream_lcs.dec()
            logger.info("LC of node %s disconnected", node)

    async def _writer(self, node: str, ws: ServerConnection) -> None:
        queue = self.queue(node)
        while True:
            msg = await queue.get()
            frame = Message.build(msg.kind, msg.namespace, msg.name, msg.operation, msg.content).encode()
            if len(frame) > self._max_bytes:
                # The LC would drop the connection on it and the resync would send it again forever.
                self._metrics.message_errors.inc()
                logger.error("not sending %s %s to node %s: frame of %d bytes exceeds %d", msg.operation, msg.key,
                             node, len(frame), self._max_bytes)
                continue
            try:
                await ws.send(frame)
            except ConnectionClosed:
                queue.requeue(msg)
                return
            except asyncio.CancelledError:
                queue.requeue(msg)
                raise
            self._metrics.messages.labels("down", msg.operation).inc()

    async def _reply(self, ws: ServerConnection, msg: Message, operation: str, content=None) -> None:
        h = msg.header
        reply = Message.build(h.resource_kind, h.namespace, h.resource_name, operation, content,
                              message_id=h.message_id)
        await ws.send(reply.encode())

    async def _apply_one_by_one(self, node: str, msgs: list[Message]) -> list[Exception | None]:
        results: list[Exception | None] = []
        for msg in msgs:
            try:
                await self._apply_status(node, msg)
                results.append(None)
            except ValueError as exc:
                results.append(exc)
        return results

    async def _reader(self, node: str, ws: ServerConnection) -> None:
        recent = self._recent.setdefault(node, RecentIds(self._recent_capacity))
        in_flight = self._in_flight.setdefault(node, {})
        slots = asyncio.Semaphore(MAX_REPORTS_IN_FLIGHT)
        try:
            async for frame in ws:
                try:
                    msg = Message.decode(frame)
                except MessageError as exc:
                    self._metrics.message_errors.inc()
                    logger.warning("malformed frame from node %s: %s", node, exc)
                    h = exc.header
                    await ws.send(Message.build(h.resource_kind if h else "", h.namespace if h else "",
                                                h.resource_name if h else "", "error", {"reason": str(exc)},
                                                message_id=h.message_id if h else None).encode())
                    continue
                op = msg.header.operation
                if op == "":
                    continue                       # upstream LC's bare hello
                if op != "status":
                    self._metrics.message_errors.inc()
                    await self._reply(ws, msg, "error", {"reason": f"unsupported operation {op!r} from LC"})
                    continue
                self._metrics.messages.labels("up", "status").inc()
                mid = msg.header.message_id
                if mid and mid in recent:
                    await self._reply(ws, msg, *recent.answer(mid))     # same answer as the first time
                    continue
                await slots.acquire()
                future = in_flight.get(mid) if mid else None
                if future is None:
                    future = self._reports.submit(node, msg)
                    if mid:
                        in_flight[mid] = future
                task = asyncio.create_task(self._answer(ws, node, msg, future, recent, in_flight, slots))
                self._answer_tasks.add(task)
                task.add_done_callback(self._answer_tasks.discard)
        except ConnectionClosed:
            return

    async def _answer(self, ws: ServerConnection, node: str, msg: Message, future: asyncio.Future,
                      recent: RecentIds, in_flight: dict[str, asyncio.Future], slots: asyncio.Semaphore) -> None:
        """Ack (or reject) one report once it has been applied; unacked on other failures, so the LC resends."""
        mid = msg.header.message_id
        try:
            try:
                await asyncio.shield(future)
            except ValueError as exc:
                self._metrics.message_errors.inc()
                logger.warning("report %s from node %s rejected: %s", msg.header.key, node, exc)
                reason = {"reason": str(exc)}
                if mid:
                    recent.add(mid, "error", reason)
                    in_flight.pop(mid, None)
                await self._reply(ws, msg, "error", reason)
                return
            except Exception:
                logger.exception("applying report %s from node %s failed", msg.header.key, node)
                if mid:
                    in_flight.pop(mid, None)
                return
            if mid:
                recent.add(mid)
                in_flight.pop(mid, None)
                await self._reply(ws, msg, "ack")
        except ConnectionClosed:
            return
        finally:
            slots.release()
