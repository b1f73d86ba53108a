"""``BaseService``: the batching, threading and Kafka wiring shared by the multi-edge components; and
``FileOperations``, their shared-folder exchange (codec files, never pickle).

Batching (env ``batch_size``, default 1):

- synchronous (default): ``put`` queues the item; when ``batch_size`` items are queued the caller's thread
  processes them (in order, one batch at a time);
- asynchronous: ``put`` only queues; a worker thread processes ``batch_size`` items at a time.

In both modes items left over for ``timeout`` seconds without a new ``put`` are processed by the worker
thread. A batch is flattened (nested lists become one list; tuples such as ``(frame, time, index)`` stay
items) and handed to ``process_data(ai, batch)`` for every model.

Kafka (``KAFKA_ENABLED=true``, brokers ``KAFKA_BIND_IPS`` / ``KAFKA_BIND_PORTS``, ``|``-separated; needs
``pip install 'sedna[kafka]'``): a producer for ``producer_topics`` and a consumer thread feeding ``put`` for
``consumer_topics``. Values are codec bytes.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
import uuid
from abc import ABC, abstractmethod
from typing import Any

from sedna.core.multi_edge_inference import codec
from sedna.core.multi_edge_inference.plugins import PLUGIN, PluggableNetworkService
from sedna.core.multi_edge_inference.utils import get_parameters, str_to_bool

__all__ = ["BaseService", "FileOperations"]

logger = logging.getLogger(__name__)


def _is_empty(data: Any) -> bool:
    return data is None or (isinstance(data, (list, tuple)) and len(data) == 0)


class BaseService(ABC):
    """Base of ``ObjectDetector``, ``FEService`` and ``ReID``.

    Subclasses implement ``process_data(ai, data)`` and ``update_operational_mode(status)``, may override
    ``preprocess(data)`` (return None to drop the item) and list the plugins they always need in
    ``_default_plugins()`` (created after the queues exist, so a hosted server never sees a half-built
    component).
    """

    def __init__(self, consumer_topics: list | None = None, producer_topics: list | None = None,
                 plugins: list | None = None, models: list | None = None, timeout: float = 10,
                 asynchronous: bool = False):
        self.models = list(models or [])
        if len(self.models) > 1 and not all(isinstance(m, type(self.models[0])) for m in self.models):
            raise ValueError("all models of a component must be of one type")
        self.asynchronous = bool(asynchronous)
        self.timeout = float(timeout)
        raw_batch = get_parameters("batch_size", 1)
        try:
            self.batch_size = max(1, int(raw_batch))
        except (TypeError, ValueError):
            raise ValueError(f"batch_size={raw_batch!r} is not an integer") from None
        self._pending: list[Any] = []
        self._cond = threading.Condition()
        self._process_lock = threading.RLock()
        self._closed = threading.Event()
        self.last_put = time.time()
        self.last_fetch = time.time()
        self.processed_batches = 0
        self.send_failures = 0
        self.kafka_enabled = False
        self.producer = None
        self.consumer = None
        self.plugins: list[PluggableNetworkService] = []
        try:
            self.plugins = list(self._default_plugins()) + list(plugins or [])
        except Exception:
            self._stop_plugins()
            raise
        self.plugins_kind = [p.kind for p in self.plugins]
        logger.info("plugins of %s: %s", type(self).__name__, self.plugins_kind)
        try:
            self._init_kafka_connection(list(consumer_topics or []), list(producer_topics or []))
        except Exception:
            self._stop_plugins()  # no server left listening for a component that was never built
            raise
        self._worker = threading.Thread(target=self.fetch_data, daemon=True, name=f"{type(self).__name__}-fetch")
        self._post_init()

    # -- set-up ----------------------------------------------------------------------------------------------

    def _default_plugins(self) -> list[PluggableNetworkService]:
        return []

    def _init_kafka_connection(self, consumer_topics: list, producer_topics: list) -> None:
        self.kafka_enabled = str_to_bool(get_parameters("KAFKA_ENABLED", "False"))
        if not self.kafka_enabled:
            return
        from sedna.datasources.kafka.kafka_manager import KafkaConsumerThread, KafkaProducer

        addresses = [a for a in str(get_parameters("KAFKA_BIND_IPS", "")).split("|") if a]
        ports = [p for p in str(get_parameters("KAFKA_BIND_PORTS", "")).split("|") if p]
        if not addresses or not ports:
            raise ValueError("KAFKA_ENABLED is true but KAFKA_BIND_IPS / KAFKA_BIND_PORTS are not set")
        if producer_topics:
            self.producer = KafkaProducer(addresses, ports, topic=producer_topics, asynchronous=self.asynchronous)
        if consumer_topics:
            self.consumer = KafkaConsumerThread(addresses, ports, topic=consumer_topics,
                                                callback=self._on_kafka_batch)
        logger.info("Kafka %s:%s consume %s produce %s", addresses, ports, consumer_topics, producer_topics)

    def _on_kafka_batch(self, batch: list) -> None:
        items = []
        for value in batch:
            if isinstance(value, (bytes, bytearray)):
                try:
                    value = codec.decode(value)
                except codec.CodecError as exc:
                    logger.warning("dropping undecodable Kafka value: %s", exc)
                    continue
            items.append(value)
        if items:
            self.put(items)

    def _post_init(self) -> None:
        """Start the fetch loop (override to add start-up calls; call super)."""
        self._worker.start()

    # -- data in ---------------------------------------------------------------------------------------------

    def preprocess(self, data: Any, **kwargs: Any) -> Any:
        return data

    def put(self, data: Any) -> None:
        """Queue one item (a frame, a result list...) after ``preprocess``; see the module doc for batching."""
        data = self.preprocess(data)
        if _is_empty(data):
            return
        with self._cond:
            self._pending.append(data)
            self.last_put = time.time()
            self._cond.notify_all()
        if not self.asynchronous:
            self._process_ready(only_full=True)

    def _take(self, only_full: bool) -> list | None:
        with self._cond:
            if len(self._pending) >= self.batch_size:
                batch = self._pending[:self.batch_size]
            elif not only_full and self._pending:
                batch = list(self._pending)
            else:
                return None
            del self._pending[:len(batch)]
            return batch

    def _process_ready(self, only_full: bool) -> int:
        done = 0
        with self._process_lock:
            while True:
                batch = self._take(only_full)
                if batch is None:
                    return done
                self.last_fetch = time.time()
                self.distribute_data(self.flatten(batch))
                self.processed_batches += 1
                done += 1

    def flush(self) -> int:
        """Process everything queued now (ours); returns the number of batches."""
        return self._process_ready(only_full=False)

    def fetch_data(self) -> None:
        """Worker loop: full batches (asynchronous mode) and leftovers after ``timeout``."""
        while not self._closed.is_set():
            with self._cond:
                ready = self.asynchronous and len(self._pending) >= self.batch_size
                stale = bool(self._pending) and time.time() - self.last_put >= self.timeout
                if not (ready or stale):
                    wait = self.timeout - (time.time() - self.last_put) if self._pending else self.timeout
                    self._cond.wait(max(0.01, min(wait, 1.0)))
                    continue
            try:
                self._process_ready(only_full=not stale)
            except Exception:
                logger.exception("%s failed to process a batch", type(self).__name__)

    @staticmethod
    def flatten(items: Any) -> list:
        out: list = []
        stack = [iter(items)]
        while stack:
            for item in stack[-1]:
                if isinstance(item, list):
                    stack.append(iter(item))
                    break
                out.append(item)
            else:
                stack.pop()
        return out

    def distribute_data(self, data: Any = None, **kwargs: Any) -> None:
        for ai in self.models:
            self.process_data(ai, data, **kwargs)

    # -- plugins and output ----------------------------------------------------------------------------------

    def get_plugin(self, plugin_key: PLUGIN) -> PluggableNetworkService | None:
        for plugin in self.plugins:
            if plugin.kind == plugin_key.name:
                return plugin
        return None

    def _send(self, result: Any, client: PLUGIN, **kwargs: Any) -> Any:
        """Results go to the Kafka producer topics (one message per item) or to ``client``'s ``transmit``."""
        if self.kafka_enabled and self.producer is not None:
            for item in result:
                self.producer.write_result(codec.encode(item))
            return None
        plugin = self.get_plugin(client)
        if plugin is None:
            raise RuntimeError(f"{type(self).__name__} has no {client.value} plugin to send results to")
        answer = plugin.plugin_api.transmit(result, **kwargs)
        if answer is None:  # unreachable or refused after the client's retries: the results are lost
            self.send_failures += 1
            logger.warning("%s could not deliver %d result(s) to %s (%d failures so far)", type(self).__name__,
                           len(result) if hasattr(result, "__len__") else 1, client.value, self.send_failures)
        return answer

    @abstractmethod
    def process_data(self, ai: Any, data: Any, **kwargs: Any) -> Any:
        """Run ``ai`` on a batch and route the result."""

    @abstractmethod
    def update_operational_mode(self, status: Any) -> Any:
        """Apply an ``update_service`` request."""

    # -- shutdown --------------------------------------------------------------------------------------------

    def _stop_plugins(self) -> None:
        for plugin in self.plugins:
            try:
                plugin.stop()
            except Exception:
                logger.exception("stopping plugin %s failed", plugin.kind)

    def close(self, flush: bool = True) -> None:
        """Process what is queued (unless ``flush=False``), stop the worker, servers and Kafka (ours for the
        servers; upstream's detector only closed Kafka)."""
        if flush:
            try:
                self.flush()
            except Exception:
                logger.exception("final flush failed")
        self._closed.set()
        with self._cond:
            self._cond.notify_all()
        if self._worker.is_alive() and threading.current_thread() is not self._worker:
            self._worker.join(5)
        self._stop_plugins()
        if self.consumer is not None:
            self.consumer.stop()
        if self.producer is not None:
            self.producer.producer.close()


class FileOperations:
    """Exchange through a shared folder: one codec-encoded file per write (upstream pickled them)."""

    max_file_bytes = codec.DEFAULT_MAX_BYTES

    def read_from_disk(self, path: str) -> Any:
        """The decoded file, or ``[]`` if it cannot be read or decoded (logged, as upstream)."""
        try:
            with open(path, "rb") as fh:
                return codec.decode(fh.read(self.max_file_bytes + 1), max_bytes=self.max_file_bytes)
        except (OSError, codec.CodecError) as exc:
            logger.error("unable to read %s: %s", path, exc)
            return []

    def write_to_disk(self, data: Any, folder: str, exts: str = ".dat") -> str:
        """Write ``data`` to ``<folder>/<uuid><exts>`` atomically (readers never see half a file)."""
        os.makedirs(folder, exist_ok=True)
        payload = codec.encode(data)
        target = os.path.join(folder, f"{uuid.uuid1()}{exts}")
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=exts + ".part")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
            os.replace(tmp, target)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return target

    def delete_from_disk(self, filename: str) -> None:
        if os.path.exists(filename):
            os.remove(filename)
        else:
            logger.error("%s does not exist", filename)

    def get_files_list(self, folder: str) -> list[str]:
        """Files (not directories, not our temporary ``.tmp-*`` files) in ``folder``; [] if it is missing."""
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            return []
        return [os.path.join(folder, n) for n in names
                if not n.startswith(".tmp-") and os.path.isfile(os.path.join(folder, n))]
