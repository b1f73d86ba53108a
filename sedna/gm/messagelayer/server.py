"""Websocket server the LCs connect to (gm-lc-protocol §2).

One reader and one writer task per connection. The writer drains the node's ``NodeQueue``; ``send`` on the
socket awaits the transport's write buffer, so a slow LC only slows its own writer (the queue keeps at most one
message per object meanwhile) and never the other nodes. The reader applies LC ``status`` reports one at a time
(natural back-pressure on that LC), answers each report that carries a ``messageId`` with ``ack``, drops
duplicates by id, and answers malformed frames with ``error`` without closing the connection.

Identity: the handshake names one node (``Node-Name``) and must carry that node's token (``GMAuth.check_node``);
the connection is bound to that node for its life: it receives only that node's queue and every report on it is
applied as coming from that node (the GM refuses reports about objects not assigned to it).
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
from sedna.gm.auth import GMAuth
from sedna.gm.controllers.base import Downstream
from sedna.gm.messagelayer.queue import NodeQueue, RecentIds
from sedna.gm.metrics import GMMetrics

logger = logging.getLogger(__name__)
# Node names are DNS subdomains; we also accept upper case and '_' (host names seen in the wild).
_NODE_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")

ApplyStatus = Callable[[str, Message], Awaitable[None]]
OnConnect = Callable[[str], Awaitable[None]]


class MessageServer:
    def __init__(self, apply_status: ApplyStatus, *, auth: GMAuth | None = None, max_message_bytes: int = 8 * 1024 * 1024,
                 on_connect: OnConnect | None = None, metrics: GMMetrics | None = None,
                 recent_ids: int = 4096) -> None:
        self._apply_status = apply_status
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
        self._server = await serve(self._handle, host, port, process_request=self._check_request,
                                   process_response=self._add_handshake_headers,
                                   max_size=self._max_bytes, compression=None, ping_interval=20,
                                   ping_timeout=60, write_limit=256 * 1024)
        self.port = self._server.sockets[0].getsockname()[1]
        logger.info("LC websocket server on %s:%d (node tokens %s)", host, self.port,
                    "required" if self._auth is not None and not self._auth.insecure else "NOT required")
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
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

    def _add_handshake_headers(self, connection: ServerConnection, request, response):
        if self._auth is not None and response.status_code == HTTPStatus.SWITCHING_PROTOCOLS:
            node = request.headers.get("Node-Name", "").strip()
            for key, value in self._auth.handshake_headers(node).items():
                response.headers[key] = value
        return response

    async def _handle(self, ws: ServerConnection) -> None:
        node = ws.request.headers.get("Node-Name", "").strip()
        self._connections.setdefault(node, set()).add(ws)
        self._metrics.connected_lcs.inc()
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

    async def _reader(self, node: str, ws: ServerConnection) -> None:
        recent = self._recent.setdefault(node, RecentIds(self._recent_capacity))
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
                try:
                    await self._apply_status(node, msg)
                except ValueError as exc:
                    self._metrics.message_errors.inc()
                    logger.warning("report %s from node %s rejected: %s", msg.header.key, node, exc)
                    reason = {"reason": str(exc)}
                    if mid:
                        recent.add(mid, "error", reason)
                    await self._reply(ws, msg, "error", reason)
                    continue
                except Exception:
                    logger.exception("applying report %s from node %s failed", msg.header.key, node)
                    continue
                if mid:
                    recent.add(mid)
                    await self._reply(ws, msg, "ack")
        except ConnectionClosed:
            return
