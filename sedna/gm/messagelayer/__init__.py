"""The GM side of the GM<->LC websocket channel: per-node latest-message queues and the server."""

from sedna.gm.messagelayer.queue import NodeQueue, RecentIds
from sedna.gm.messagelayer.server import MessageServer

__all__ = ["MessageServer", "NodeQueue", "RecentIds"]
