"""Topic-level helpers: write results to topics, or feed polled batches to a callback in a thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from sedna.datasources.kafka.consumer import Consumer
from sedna.datasources.kafka.producer import Producer

__all__ = ["KafkaConsumerThread", "KafkaProducer"]

logger = logging.getLogger(__name__)


class KafkaProducer:
    def __init__(self, address: Sequence[str] | str, port: Sequence[Any] | Any, topic: Sequence[str] = (),
                 asynchronous: bool = False):
        self.producer = Producer(address=address, port=port)
        self.topic = list(topic)
        self.asynchronous = asynchronous

    def write_result(self, data: Any) -> None:
        if self.asynchronous:
            self.producer.publish_data_asynchronous(data, topic=self.topic)
        else:
            self.producer.publish_data_synchronous(data, topic=self.topic)


class KafkaConsumerThread(threading.Thread):
    """Daemon thread: poll the topics and pass each non-empty batch to ``callback``; ``stop()`` ends it."""

    def __init__(self, address: Sequence[str] | str, port: Sequence[Any] | Any, topic: Sequence[str] = (),
                 callback: Callable[[list[Any]], Any] | None = None):
        super().__init__(daemon=True, name="kafka-consumer")
        if callback is None:
            raise ValueError("KafkaConsumerThread needs a callback")
        self.consumer = Consumer(address=address, port=port)
        self.consumer.subscribe(list(topic))
        self.callback = callback
        self._stop_event = threading.Event()
        self.start()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                batch = self.consumer.consume_messages_poll()
                if batch:
                    self.callback(batch)
            except Exception:  # a failing callback or poll must not kill the pipeline
                logger.exception("Kafka consumer loop error")
                self._stop_event.wait(1.0)

    def stop(self, timeout: float | None = 5.0) -> None:
        self._stop_event.set()
        if threading.current_thread() is not self:
            self.join(timeout)
        self.consumer.close()
