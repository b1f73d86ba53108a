"""A lean HTTP/1.1 client for the GM's request/response calls to the Kubernetes API (watches stay on aiohttp).

In a burst of new jobs the GM makes six API calls per job, and aiohttp's general-purpose client spent about
90 µs of CPU on each (URL objects, header multidicts, tracing hooks, timers, cookie jar) where the exchange
itself needs about 25 (issue 16). This client keeps a pool of keep-alive connections to one server and speaks
only what the API server answers: a status line, headers, and a body framed by ``Content-Length`` or
``Transfer-Encoding: chunked``. TLS (with client certificates) comes from the ``ssl.SSLContext`` it is given.
A connection the server closed while it sat idle in the pool can fail the next request before any answer
arrives; such a request is sent once more on a new connection when it is idempotent (as Go's and
urllib3's clients do). A POST is never re-sent: a create could happen twice.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from urllib.parse import urlsplit

__all__ = ["HTTPError", "Pool"]

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 256 * 1024 * 1024


IDEMPOTENT = frozenset({"GET", "PUT", "PATCH", "DELETE"})


class HTTPError(OSError):
    """The connection failed, timed out, or the server answered something that is not HTTP/1.1."""


class _Unanswered(HTTPError):
    """The connection was lost before a byte of the answer arrived."""


def _expire(waiter: asyncio.Future, message: str) -> None:
    if not waiter.done():
        waiter.set_exception(HTTPError(message))


class _Connection(asyncio.Protocol):
    """One keep-alive connection; at most one request in flight."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._buf = bytearray()
        self._waiter: asyncio.Future | None = None
        self._reset()

    def _reset(self) -> None:
        self._status = 0
        self._length: int | None = None
        self._chunked = False
        self._close_after = False
        self._head_done = False
        self._body = bytearray()
        self._chunk_left = -1          # chunked: bytes left of the current chunk (-1: expect a size line)
        self._trailers = False
        self._answered = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport      # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            error = HTTPError if self._answered else _Unanswered
            self._waiter.set_exception(error(f"connection lost: {exc or 'closed by the server'}"))

    def send(self, data: bytes, waiter: asyncio.Future) -> None:
        self._waiter = waiter
        self._reset()
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            self.closed = True             # bytes nobody asked for: this connection cannot be trusted again
            self.transport.close()
            return
        self._buf += data
        self._answered = True
        try:
            if not self._head_done and not self._parse_head():
                return
            if self._body_complete():
                waiter, self._waiter = self._waiter, None
                if self._close_after:
                    self.closed = True
                    self.transport.close()
                waiter.set_result((self._status, bytes(self._body)))
        except HTTPError as exc:
            self.closed = True
            self.transport.close()
            self._waiter.set_exception(exc)

    def _parse_head(self) -> bool:
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buf) > MAX_HEADER_BYTES:
                raise HTTPError("response headers too large")
            return False
        lines = bytes(self._buf[:end]).split(b"\r\n")
        del self._buf[:end + 4]
        version, _, rest = lines[0].partition(b" ")
        if not version.startswith(b"HTTP/1.") or len(rest) < 3 or not rest[:3].isdigit():
            raise HTTPError(f"not an HTTP/1.1 response: {lines[0][:80]!r}")
        self._status = int(rest[:3])
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                try:
                    self._length = int(value.strip())
                except ValueError:
                    raise HTTPError("bad Content-Length") from None
                if self._length > MAX_BODY_BYTES:
                    raise HTTPError("response body too large")
            elif name == b"transfer-encoding":
                self._chunked = b"chunked" in value.lower()
            elif name == b"connection":
                self._close_after = b"close" in value.lower()
        if version == b"HTTP/1.0":
            self._close_after = True
        if self._status in (204, 304) or 100 <= self._status < 200:
            self._length = 0
        elif not self._chunked and self._length is None:
            raise HTTPError("response without Content-Length or chunked body")
        self._head_done = True
        return True

    def _body_complete(self) -> bool:
        if not self._chunked:
            if len(self._buf) < self._length:
                return False
            self._body = self._buf[:self._length]
            del self._buf[:self._length]
            return True
        while True:
            if self._trailers:
                end = self._buf.find(b"\r\n")
                if end < 0:
                    return False
                line = bytes(self._buf[:end])
                del self._buf[:end + 2]
                if not line:
                    return True
                continue
            if self._chunk_left < 0:
                end = self._buf.find(b"\r\n")
                if end < 0:
                    if len(self._buf) > 1024:
                        raise HTTPError("bad chunk size line")
                    return False
                try:
                    size = int(bytes(self._buf[:end]).split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise HTTPError("bad chunk size") from None
                del self._buf[:end + 2]
                if size == 0:
                    self._trailers = True
                    continue
                if len(self._body) + size > MAX_BODY_BYTES:
                    raise HTTPError("response body too large")
                self._chunk_left = size
            if len(self._buf) < self._chunk_left + 2:
                return False
            self._body += self._buf[:self._chunk_left]
            if self._buf[self._chunk_left:self._chunk_left + 2] != b"\r\n":
                raise HTTPError("bad chunk framing")
            del self._buf[:self._chunk_left + 2]
            self._chunk_left = -1


class Pool:
    """Keep-alive connections to the server of ``base_url`` (http or https), at most ``limit`` at once."""

    def __init__(self, base_url: str, ssl_context: ssl.SSLContext | None = None, limit: int = 32,
                 timeout: float = 30.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")
        self.ssl = (ssl_context or ssl.create_default_context()) if parts.scheme == "https" else None
        self.timeout = timeout
        authority = parts.netloc.rpartition("@")[2]
        self._host_header = b"Host: " + authority.encode("idna") + b"\r\n"
        self._idle: deque[_Connection] = deque()
        self._slots = asyncio.Semaphore(limit)

    async def request(self, method: str, target: str, headers: bytes = b"", body: bytes | None = None
                      ) -> tuple[int, bytes]:
        """Send one request; ``target`` is the path and query (already quoted), ``headers`` whole header lines
        (``b"Name: value\\r\\n"``). Returns (status, body). Raises :class:`HTTPError`."""
        head = b"%s %s HTTP/1.1\r\n" % (method.encode(), (self.prefix + target).encode()) + self._host_header
        if body is not None:
            head += b"Content-Length: %d\r\n" % len(body)
        data = head + headers + b"\r\n" + (body or b"")
        async with self._slots:
            conn, reused = await self._connection()
            try:
                result = await self._exchange(conn, data)
            except _Unanswered:
                if not reused or method not in IDEMPOTENT:
                    raise
                conn, _ = await self._connection(fresh=True)
                result = await self._exchange(conn, data)
            if not conn.closed:
                self._idle.append(conn)
            return result

    async def _exchange(self, conn: _Connection, data: bytes) -> tuple[int, bytes]:
        # A timer on the waiter, not asyncio.wait_for: before Python 3.12 that returns the result and drops a
        # cancellation arriving together with the answer, and a cancelled GM worker then never stops.
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        timer = loop.call_later(self.timeout, _expire, waiter, f"no answer within {self.timeout:g} s")
        conn.send(data, waiter)
        try:
            return await waiter
        except BaseException:
            conn.closed = True
            conn.transport.close()
            raise
        finally:
            timer.cancel()

    async def _connection(self, fresh: bool = False) -> tuple[_Connection, bool]:
        """A pooled connection (reused: True) or a new one."""
        while self._idle and not fresh:
            conn = self._idle.pop()
            if not conn.closed:
                return conn, True
        loop = asyncio.get_running_loop()
        connecting = loop.create_task(loop.create_connection(
            _Connection, self.host, self.port, ssl=self.ssl,
            server_hostname=self.host if self.ssl is not None else None))
        try:
            await asyncio.wait({connecting}, timeout=self.timeout)
        except asyncio.CancelledError:
            if connecting.done() and not connecting.cancelled() and connecting.exception() is None:
                connecting.result()[0].close()
            connecting.cancel()
            raise
        if not connecting.done():
            connecting.cancel()
            raise HTTPError(f"cannot connect to {self.host}:{self.port}: no connection within {self.timeout:g} s")
        exc = connecting.exception()
        if exc is not None:
            if isinstance(exc, (OSError, ssl.SSLError)):
                raise HTTPError(f"cannot connect to {self.host}:{self.port}: {exc}") from None
            raise exc
        return connecting.result()[1], False

    def close(self) -> None:
        while self._idle:
            conn = self._idle.pop()
            if conn.transport is not None:
                conn.transport.close()
