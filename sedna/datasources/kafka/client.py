"""Broker list handling shared by the Kafka producer and consumer."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from sedna.backend._require import BackendNotInstalledError

logger = logging.getLogger(__name__)


def kafka_module():
    """The ``kafka`` package (kafka-python), imported on first use."""
    try:
        import kafka
    except ImportError:
        raise BackendNotInstalledError("the Kafka helpers need kafka-python; install it with: "
                                       "pip install 'sedna[kafka]'") from None
    return kafka


class Client:
    """Brokers are ``address[i]:port[i]`` pairs."""

    def __init__(self, address: Sequence[str] | str | None = None, port: Sequence[Any] | Any = None):
        addresses = [address] if isinstance(address, str) else list(address or ["127.0.0.1"])
        ports = [port] if isinstance(port, (str, int)) else list(port or [9092])
        if len(ports) == 1 and len(addresses) > 1:
            ports = ports * len(addresses)
        if len(addresses) != len(ports):
            raise ValueError(f"{len(addresses)} Kafka addresses but {len(ports)} ports")
        self.brokers = [f"{a}:{p}" for a, p in zip(addresses, ports)]

    def connect(self, factory: Callable[[list[str]], Any]) -> Any:
        """``factory(brokers)`` with all brokers; if that fails, with each broker alone."""
        attempts = [self.brokers] + ([[b] for b in self.brokers] if len(self.brokers) > 1 else [])
        errors = []
        for servers in attempts:
            try:
                return factory(servers)
            except Exception as exc:  # kafka-python raises its own KafkaError family
                logger.warning("Kafka brokers %s unavailable: %s", servers, exc)
                errors.append(f"{','.join(servers)}: {exc}")
        raise ConnectionError("no Kafka broker reachable (" + "; ".join(errors) + ")")
