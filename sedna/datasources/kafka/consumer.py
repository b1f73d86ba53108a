"""Kafka consumer decoding codec-encoded values (sdk.md §9)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sedna.datasources.kafka import codec
from sedna.datasources.kafka.client import Client, kafka_module

__all__ = ["Consumer"]

logger = logging.getLogger(__name__)

POLL_TIMEOUT_MS = 1000


def _safe_decode(raw: bytes) -> Any:
    try:
        return codec.decode(raw)
    except Exception as exc:  # a bad message must not stop the consumer
        logger.warning("dropping undecodable Kafka message (%d bytes): %s", len(raw or b""), exc)
        return None


class Consumer(Client):
    """Earliest offset, auto-commit; ``consume_messages_poll()`` polls for up to 1 s."""

    def __init__(self, address: Sequence[str] | str | None = None, port: Sequence[Any] | Any = None,
                 group_id: str = "default", consumer_timeout_ms: int = 250):
        super().__init__(address, port)
        kafka = kafka_module()
        self.consumer = self.connect(lambda servers: kafka.KafkaConsumer(
            bootstrap_servers=servers,
            group_id=group_id,
            value_deserializer=_safe_decode,
            auto_offset_reset="earliest",
            enable_auto_commit=True,
            consumer_timeout_ms=consumer_timeout_ms,
            fetch_max_bytes=codec.MAX_MESSAGE_BYTES,
        ))

    def subscribe(self, topic: Sequence[str] | str) -> None:
        self.consumer.subscribe([topic] if isinstance(topic, str) else list(topic))

    def consume_messages(self) -> list[Any]:
        """Everything available until the consumer timeout passes without a message."""
        return [msg.value for msg in self.consumer if msg.value is not None]

    def consume_messages_poll(self) -> list[Any]:
        records = self.consumer.poll(timeout_ms=POLL_TIMEOUT_MS)
        return [msg.value for messages in records.values() for msg in messages if msg.value is not None]

    def close(self) -> None:
        self.consumer.close()
