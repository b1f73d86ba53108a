"""Kafka producer publishing codec-encoded values (sdk.md §9)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sedna.datasources.kafka import codec
from sedna.datasources.kafka.client import Client, kafka_module

__all__ = ["Producer"]

logger = logging.getLogger(__name__)

SEND_TIMEOUT_S = 3


class Producer(Client):
    """Max request 10 MB, linger 1 s; values encoded with :mod:`sedna.datasources.kafka.codec`."""

    def __init__(self, address: Sequence[str] | str | None = None, port: Sequence[Any] | Any = None):
        super().__init__(address, port)
        kafka = kafka_module()
        self.producer = self.connect(lambda servers: kafka.KafkaProducer(
            bootstrap_servers=servers,
            value_serializer=codec.encode,
            max_request_size=codec.MAX_MESSAGE_BYTES,
            linger_ms=1000,
        ))

    def publish_data_synchronous(self, data: Any, topic: Sequence[str] = ()) -> None:
        """Send to every topic, waiting up to 3 s for each acknowledgement."""
        for name in topic:
            self.producer.send(name, value=data).get(timeout=SEND_TIMEOUT_S)

    def publish_data_asynchronous(self, data: Any, topic: Sequence[str] = ()) -> None:
        for name in topic:
            self.producer.send(name, value=data)

    def close(self) -> None:
        self.producer.flush()
        self.producer.close()
