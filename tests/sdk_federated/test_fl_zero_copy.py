"""The zero-copy paths of federated aggregation (issue 16): messages as buffers, receive buffers sized from the
safetensors header and bounded by the receive slots, the chunked running sum, and multi-fragment round trips
that must come back exactly."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save
from support_fl import make_server, url_of

from sedna.algorithms.aggregation.aggregation import ADD_CHUNK, WeightedSum
from sedna.algorithms.transmitter.wire import (
    FRAGMENT_BYTES,
    encode_weights,
    encode_weights_parts,
    fragments,
    message_size,
    read_binary_message,
    safetensors_size,
)
from sedna.common.tensors import TensorFormatError, dumps_arrays, dumps_arrays_parts, loads_arrays
from sedna.service.client import AggregationClient
from sedna.service.client.aggregation import AggregationError
from sedna.service.server import aggregation as server_module
from sedna.service.server.aggregation import RECEIVE_SLOTS, load_checkpoint, save_checkpoint

pytestmark = pytest.mark.timeout(120)

ARRAY_SETS = {
    "mixed dtypes": {"b": np.ones(3, np.float16), "a": np.zeros(2, np.float32), "c": np.arange(4, dtype=np.int64)},
    "non-contiguous": {"t": np.arange(12, dtype=np.float64).reshape(3, 4).T},
    "big-endian": {"be": np.arange(5, dtype=">i4"), "bf": np.linspace(0, 1, 7).astype(">f8")},
    "empty and scalar": {"z": np.zeros((0, 3), np.uint8), "s": np.array(2.5, np.float32), "flag": np.array([True])},
    "unicode names": {"couche_é": np.ones((2, 2), np.int8), "层": np.full(3, 7, np.uint16)},
    "no arrays": {},
}


@pytest.mark.parametrize("name", sorted(ARRAY_SETS))
def test_parts_join_to_exactly_what_safetensors_writes(name):
    arrays = ARRAY_SETS[name]
    meta = {"round": 3, "client": "c/é"}
    ours = b"".join(dumps_arrays_parts(arrays, meta))
    reference = st_save({k: np.ascontiguousarray(v) for k, v in arrays.items()},
                        metadata={"sedna": json.dumps(meta, separators=(",", ":"))})
    assert ours == reference == dumps_arrays(arrays, meta)
    back, back_meta = loads_arrays(ours, copy=False)
    assert back_meta == meta
    for key, arr in arrays.items():                   # 0-d arrays travel as shape (1,), as they always did
        assert back[key].dtype == arr.dtype.newbyteorder("=") and np.array_equal(back[key], np.atleast_1d(arr))
    assert set(st_load(ours)) == set(arrays)


def test_parts_are_views_of_contiguous_arrays_and_refuse_object_dtypes():
    weights = np.arange(1000, dtype=np.float32)
    parts = dumps_arrays_parts({"w": weights})
    assert len(parts) == 2 and np.shares_memory(np.frombuffer(parts[1], np.float32), weights)
    with pytest.raises(TensorFormatError, match="tensor o"):
        dumps_arrays_parts({"o": np.array([{"a": 1}], dtype=object)})


def test_fragments_of_parts_are_bounded_views_that_rebuild_the_message():
    big = np.arange(3 * FRAGMENT_BYTES // 4 + 5, dtype=np.float32)
    parts = encode_weights_parts("update_weight", {"0000": big, "0001": np.ones(3, np.float32)},
                                 {"round": 1, "num_samples": 2})
    frags = fragments(parts)
    assert all(isinstance(f, memoryview) and 0 < len(f) <= FRAGMENT_BYTES for f in frags)
    assert len(frags) == 1 + 4 + 1                    # header, the big layer in 4, the small layer
    joined = b"".join(frags)
    assert joined == bytes(parts) == encode_weights("update_weight", {"0000": big, "0001": np.ones(3, np.float32)},
                                                    {"round": 1, "num_samples": 2})
    assert message_size(parts) == len(joined) and message_size(joined) == len(joined)
    assert any(np.shares_memory(np.frombuffer(f, np.uint8), big.view(np.uint8)) for f in frags)
    assert fragments("text") == "text" and fragments(b"small") == b"small"


@pytest.mark.parametrize("first, limit, expected", [
    ("whole header", 10 ** 9, "total"),
    ("header cut", 10 ** 9, 0),
    ("too short", 10 ** 9, 0),
    ("not json", 10 ** 9, 0),
    ("whole header", 100, 0),                         # claims more than the limit: grow as data comes
])
def test_safetensors_size_reads_the_total_from_the_first_fragment(first, limit, expected):
    data = dumps_arrays({"a": np.zeros(1000, np.float32), "b": np.ones(10, np.int64)}, {"k": 1})
    header_end = 8 + int.from_bytes(data[:8], "little")
    sample = {"whole header": data[:header_end], "header cut": data[:header_end - 3], "too short": data[:5],
              "not json": data[:8] + b"x" * (header_end - 8)}[first]
    assert safetensors_size(sample, limit) == (len(data) if expected == "total" else expected)


@pytest.mark.parametrize("dtype, shape", [(np.float32, (ADD_CHUNK * 2 + 7,)), (np.float16, (3, 5)),
                                          (np.float64, (1000, 301)), (np.int64, (4,)), (np.float32, ())])
def test_chunked_running_sum_is_the_unchunked_arithmetic_bit_for_bit(dtype, shape):
    rng = np.random.default_rng(7)
    summed = WeightedSum()
    acc_dtype = np.result_type(dtype, np.float32) if np.issubdtype(dtype, np.floating) else np.float64
    reference = np.zeros(shape, acc_dtype)
    for _ in range(4):
        arr = (rng.standard_normal(shape) * 100).astype(dtype)
        n = int(rng.integers(1, 1000))
        summed.add({"x": arr}, n)
        reference += np.multiply(arr, n, dtype=acc_dtype)
    assert summed._sum["x"].tobytes() == reference.tobytes()


def test_checkpoint_written_part_by_part_reads_back(tmp_path):
    arrays = {"w": np.arange(3 * FRAGMENT_BYTES, dtype=np.float32), "b": np.array([1, 2], np.int64)}
    path = tmp_path / "d" / "ckpt.safetensors"
    save_checkpoint(str(path), arrays, {"round": 4})
    assert path.read_bytes() == dumps_arrays(arrays, {"round": 4})
    loaded, meta = load_checkpoint(str(path))
    assert meta == {"round": 4} and all(np.array_equal(loaded[k], v) for k, v in arrays.items())


def test_multi_fragment_updates_round_trip_exactly_with_bounded_receive_buffers(tmp_path, monkeypatch):
    """Four clients, three rounds, ~9 MB updates of several dtypes in 1 MiB fragments: every client gets the
    exact FedAvg of what was sent (values chosen so the float sums are exact in any order), as writable arrays,
    and the server never allocates more receive buffers than it has receive slots."""
    allocations = []
    original_take = server_module.ReceiveBuffers.take

    def counting_take(self, needed=0):
        if not any(len(buf) >= needed for buf in self._idle):
            allocations.append(needed)
        return original_take(self, needed)

    monkeypatch.setattr(server_module.ReceiveBuffers, "take", counting_take)
    server = make_server(tmp_path, exit_round=3, participants_count=4, ws_size=64 * 1024 * 1024, job_name="zc")
    server.start_background()
    size = 2 * 1024 * 1024 + 3                       # 8 MB + a tail: crosses fragment boundaries
    results: dict[str, list] = {}
    errors: list[BaseException] = []

    def layers(i: int, r: int) -> list[np.ndarray]:
        return [np.full(size, float(i + r), np.float32), np.arange(6, dtype=np.int64) * (i + 1),
                np.full((3, 2), i, np.float16)]

    def run(i: int) -> None:
        try:
            client = AggregationClient(url_of(server), f"c{i}", connect_timeout=20)
            got = []
            for r in range(3):
                got.append(client.exchange(layers(i, r), 1, timeout=90)["data"]["weights"])
            client.close()
            results[f"c{i}"] = got
        except BaseException as exc:                 # reported below, with the thread's own error
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(100)
    server.stop()
    assert not errors, errors
    assert sorted(results) == ["c0", "c1", "c2", "c3"]
    for r in range(3):
        expected = [np.mean([layers(i, r)[k].astype(np.float64) for i in range(4)], axis=0) for k in range(3)]
        for cid, rounds in results.items():
            got = rounds[r]
            assert [w.dtype for w in got] == [np.float32, np.int64, np.float16]
            for w, e in zip(got, expected):
                assert w.shape == e.shape and np.array_equal(w.astype(np.float64), np.rint(e) if
                                                              w.dtype == np.int64 else e), cid
            got[0][0] = -1.0                         # the global model handed to the worker is its own
    assert len(allocations) <= RECEIVE_SLOTS, allocations


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int32])
def test_spent_mean_equals_the_mean_and_empties_the_sum(dtype):
    rng = np.random.default_rng(3)
    sums = [WeightedSum(), WeightedSum()]
    for _ in range(3):
        update = {"a": (rng.standard_normal((50, 7)) * 9).astype(dtype), "b": np.arange(4, dtype=dtype)}
        n = int(rng.integers(1, 40))
        for summed in sums:
            summed.add(update, n)
    kept, spent = sums[0].mean(), sums[1].mean(spend=True)
    for name in kept:
        assert spent[name].dtype == kept[name].dtype == np.dtype(dtype)
        assert spent[name].tobytes() == kept[name].tobytes()
    assert sums[1].mean() == {} and sums[1].total == 0


@pytest.mark.parametrize("split, header_in_first", [(FRAGMENT_BYTES, True), (5, False), (10 ** 9, True)])
def test_read_binary_message_copies_fragments_once_into_writable_memory(split, header_in_first):
    data = dumps_arrays({"w": np.arange(300_000, dtype=np.float32)}, {"round": 1})
    pieces = [data[i:i + split] for i in range(0, len(data), split)]
    buf = read_binary_message(pieces[0], iter(pieces[1:]), limit=10 ** 9)
    assert not memoryview(buf).readonly and bytes(buf) == data
    assert (safetensors_size(pieces[0], 10 ** 9) == len(data)) is header_in_first
    arrays, _ = loads_arrays(buf, copy=False)
    arrays["w"][0] = 5.0                              # writable: the worker owns it
    # a sender that lies about the size (more data than its header says) still gets all its bytes to the decoder
    longer = read_binary_message(data, iter([b"tail"]), limit=10 ** 9)
    assert bytes(longer) == data + b"tail"


def test_exchange_timeout_gives_up_on_a_silent_round_and_the_client_reconnects(tmp_path):
    """The deadline closes the streaming read; the client reports the timeout and later calls reconnect."""
    server = make_server(tmp_path, exit_round=1, participants_count=2, job_name="to")
    server.start_background()
    url = url_of(server)
    a = AggregationClient(url, "a", connect_timeout=10)
    with pytest.raises(AggregationError, match="within 1"):
        a.exchange([np.ones(4, np.float32)], 1, timeout=1)
    b = AggregationClient(url, "b", connect_timeout=10)
    done = threading.Thread(target=lambda: b.exchange([np.full(4, 3.0, np.float32)], 1, timeout=30))
    done.start()
    result = a.exchange([np.ones(4, np.float32)], 1, timeout=30)   # duplicate or resend: the round closes
    done.join(30)
    assert result["data"]["weights"][0].tolist() == [2.0] * 4
    a.close()
    b.close()
    server.stop()
