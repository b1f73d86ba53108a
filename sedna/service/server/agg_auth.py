"""Who may join an aggregation round (docs/security.md).

The connection itself is authenticated by the job's bearer token (``AGG_TOKEN``, the per-job service token the
GM injects into the aggregator and every trainer of the job). On top of it, a client id is bound to the first
connection that says hello with it: a second live connection claiming the same id is refused (closed with
``CLIENT_ID_TAKEN``), the first one keeps its place — so nobody can push a trainer out of a round by reusing its
id. A connection may not change its id either. Once the first connection is closed, the id is free again (a
trainer that lost its connection reconnects as soon as the server has noticed the loss).
"""

from __future__ import annotations

import logging
from typing import Any

from websockets.protocol import State

logger = logging.getLogger(__name__)

CLIENT_ID_TAKEN = 4009
MAX_CLIENT_ID_CHARS = 253


class SubscribeRefused(Exception):
    """The hello is refused; ``code``/``reason`` close the connection."""

    def __init__(self, reason: str, code: int = CLIENT_ID_TAKEN) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def check_subscribe(clients: dict[str, Any], client_id: str, ws, current: Any | None) -> None:
    """Raise :class:`SubscribeRefused` unless ``ws`` may hold ``client_id``. ``clients`` maps ids to objects
    with ``.ws``; ``current`` is what ``ws`` already subscribed as (None on its first hello)."""
    if len(client_id) > MAX_CLIENT_ID_CHARS:
        raise SubscribeRefused(f"client id longer than {MAX_CLIENT_ID_CHARS} characters", 4008)
    if current is not None and current.client_id != client_id:
        raise SubscribeRefused(f"this connection is client {current.client_id!r}; it cannot become {client_id!r}",
                               4008)
    holder = clients.get(client_id)
    if holder is not None and holder.ws is not ws and holder.ws.state is State.OPEN:
        logger.warning("refused a second connection claiming client id %s (the first keeps it)", client_id)
        raise SubscribeRefused(f"client id {client_id!r} is already connected")
