"""The one way every sedna server opens its listening socket: :func:`listening_socket`.

Each server (LC worker API, GM channel, inference / knowledge-base / multi-edge / aggregation servers, the local
API emulator) binds its socket up front and hands it to its framework, so a busy port is one clear error and
``port=0`` picks a free port. The socket gets ``TCP_NODELAY``, which Linux copies to every accepted connection:
without it a response written in two pieces (headers, then body) waits for the client's delayed ACK — about
40 ms per request. asyncio only sets the option itself when the socket was created with ``proto=IPPROTO_TCP``,
which a plain ``socket.socket()`` is not, so we set it here and create the socket with that protocol too.
"""

from __future__ import annotations

import socket

__all__ = ["listening_socket"]


def listening_socket(host: str, port: int, *, backlog: int = 512, inheritable: bool = False,
                     blocking: bool = False) -> socket.socket:
    """A bound, listening TCP socket on ``host``:``port`` with ``SO_REUSEADDR`` and ``TCP_NODELAY``.

    Raises ``OSError`` (socket closed) when the address cannot be bound; callers name their own setting in
    the error they report."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, int(port)))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(inheritable)
    sock.setblocking(blocking)
    return sock
