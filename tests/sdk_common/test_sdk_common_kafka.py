"""Kafka helpers: the safe value codec, broker fallback and the consumer thread (with an in-memory broker
standing in for kafka-python, which is an extra; there is no Kafka broker on the test machine)."""

from __future__ import annotations

import contextlib
import pickle
import sys
import threading
import types
from collections import defaultdict

import numpy as np
import pytest

from sedna.datasources.kafka import codec

pytestmark = pytest.mark.timeout(30)


def test_codec_roundtrip_with_arrays():
    value = {"frame": np.arange(6, dtype=np.uint8).reshape(2, 3), "meta": {"cam": "c1", "ts": 1.5},
             "boxes": [[1, 2, 3, 4]], "raw": b"\x00\x01", "n": np.int64(3)}
    out = codec.decode(codec.encode(value))
    np.testing.assert_array_equal(out["frame"], value["frame"])
    assert out["frame"].dtype == np.uint8
    assert out["meta"] == {"cam": "c1", "ts": 1.5} and out["boxes"] == [[1, 2, 3, 4]]
    assert out["raw"] == b"\x00\x01" and out["n"] == 3


def test_codec_refuses_arbitrary_objects():
    with pytest.raises(TypeError, match="cannot encode"):
        codec.encode({"x": object()})


class _Boom:
    triggered = False

    def __reduce__(self):
        return (_mark_triggered, ())


def _mark_triggered():
    _Boom.triggered = True


def test_codec_never_unpickles():
    payload = pickle.dumps(_Boom())
    with contextlib.suppress(Exception):  # msgpack rejecting it is fine; running it is not
        codec.decode(payload)
    assert _Boom.triggered is False


def test_codec_size_limit():
    with pytest.raises(ValueError, match="exceeds"):
        codec.decode(b"\x00" * (codec.MAX_MESSAGE_BYTES + 1))


class _FakeBroker:
    def __init__(self, reachable):
        self.reachable = set(reachable)
        self.topics = defaultdict(list)
        self.connects = []

    def module(self):
        broker = self

        class NoBrokersAvailable(Exception):
            pass

        class Future:
            def get(self, timeout=None):
                assert timeout == 3
                return True

        class KafkaProducer:
            def __init__(self, bootstrap_servers, value_serializer, **kwargs):
                broker.connects.append(("producer", list(bootstrap_servers)))
                if not set(bootstrap_servers) <= broker.reachable:
                    raise NoBrokersAvailable()
                self.serialize = value_serializer
                assert kwargs["max_request_size"] == 10 * 1024 * 1024 and kwargs["linger_ms"] == 1000

            def send(self, topic, value):
                broker.topics[topic].append(self.serialize(value))
                return Future()

            def flush(self):
                return None

            def close(self):
                return None

        class Message:
            def __init__(self, value):
                self.value = value

        class KafkaConsumer:
            def __init__(self, bootstrap_servers, value_deserializer, **kwargs):
                broker.connects.append(("consumer", list(bootstrap_servers)))
                if not set(bootstrap_servers) <= broker.reachable:
                    raise NoBrokersAvailable()
                self.deserialize = value_deserializer
                self.offsets = defaultdict(int)
                self.subscribed = []
                assert kwargs["auto_offset_reset"] == "earliest"

            def subscribe(self, topics):
                self.subscribed = list(topics)

            def poll(self, timeout_ms=0):
                out = {}
                for topic in self.subscribed:
                    pending = broker.topics[topic][self.offsets[topic]:]
                    self.offsets[topic] += len(pending)
                    if pending:
                        out[topic] = [Message(self.deserialize(raw)) for raw in pending]
                if not out:
                    threading.Event().wait(timeout_ms / 1000 / 20)
                return out

            def __iter__(self):
                for messages in self.poll().values():
                    yield from messages

            def close(self):
                return None

        return types.SimpleNamespace(KafkaProducer=KafkaProducer, KafkaConsumer=KafkaConsumer)


@pytest.fixture
def broker(monkeypatch):
    fake = _FakeBroker(reachable={"10.0.0.2:9092"})
    monkeypatch.setitem(sys.modules, "kafka", fake.module())
    return fake


def test_producer_falls_back_to_single_brokers_and_consumer_decodes(broker):
    from sedna.datasources.kafka import Consumer, Producer

    producer = Producer(address=["10.0.0.1", "10.0.0.2"], port=[9092, 9092])
    assert broker.connects[:3] == [("producer", ["10.0.0.1:9092", "10.0.0.2:9092"]),
                                   ("producer", ["10.0.0.1:9092"]), ("producer", ["10.0.0.2:9092"])]
    producer.publish_data_synchronous({"img": np.ones((2, 2))}, topic=["frames", "copy"])
    producer.publish_data_asynchronous([1, 2], topic=["frames"])
    consumer = Consumer(address=["10.0.0.2"], port=[9092])
    consumer.subscribe("frames")
    batch = consumer.consume_messages_poll()
    np.testing.assert_array_equal(batch[0]["img"], np.ones((2, 2)))
    assert batch[1] == [1, 2] and len(broker.topics["copy"]) == 1
    broker.topics["frames"].append(pickle.dumps({"evil": 1}))
    assert consumer.consume_messages() == []  # undecodable message dropped, not unpickled


def test_no_broker_reachable_names_them(broker):
    from sedna.datasources.kafka import Producer

    with pytest.raises(ConnectionError, match=r"10\.9\.9\.9:1"):
        Producer(address=["10.9.9.9"], port=[1])
    with pytest.raises(ValueError, match="ports"):
        Producer(address=["a", "b", "c"], port=[1, 2])


def test_consumer_thread_feeds_callback_and_stops(broker):
    from sedna.datasources.kafka import KafkaConsumerThread, KafkaProducer

    got, done = [], threading.Event()

    def callback(batch):
        got.extend(batch)
        if len(got) >= 2:
            done.set()

    thread = KafkaConsumerThread("10.0.0.2", 9092, topic=["results"], callback=callback)
    writer = KafkaProducer(["10.0.0.2"], [9092], topic=["results"])
    writer.write_result({"id": 1})
    KafkaProducer(["10.0.0.2"], [9092], topic=["results"], asynchronous=True).write_result({"id": 2})
    assert done.wait(5)
    thread.stop()
    assert got == [{"id": 1}, {"id": 2}] and not thread.is_alive() and thread.daemon


def test_missing_kafka_python_names_the_extra(monkeypatch):
    from sedna.backend import BackendNotInstalledError
    from sedna.datasources.kafka import Producer

    monkeypatch.setitem(sys.modules, "kafka", None)
    with pytest.raises(BackendNotInstalledError, match=r"sedna\[kafka\]"):
        Producer(address=["127.0.0.1"], port=[9092])
