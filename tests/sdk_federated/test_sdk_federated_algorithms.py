"""FedAvg arithmetic, strategy registry, update codecs and round-protocol decisions (pure logic)."""

import numpy as np
import pytest

from sedna.algorithms.aggregation import AggClient, FedAvg, FedAvgV2, MistNet, WeightedSum, weighted_mean
from sedna.algorithms.client_choose import SimpleClientChoose
from sedna.algorithms.compression import (
    CompressionError,
    FP16Codec,
    NoCompression,
    TopKCodec,
    decode_tensors,
    get_codec,
)
from sedna.common.class_factory import ClassFactory, ClassType
from sedna.service.server.aggregation import RoundSettings, classify_update, round_due

# (samples per client, layer values per client, expected mean) — worked by hand
FEDAVG_TABLE = [
    ([10, 30], [[1.0, 2.0], [3.0, 6.0]], [2.5, 5.0]),  # 0.25*1 + 0.75*3, 0.25*2 + 0.75*6
    ([1, 1, 2], [[0.0, 4.0], [4.0, 0.0], [2.0, 2.0]], [2.0, 2.0]),
    ([5], [[7.0, -1.0]], [7.0, -1.0]),
    ([3, 0], [[1.0, 1.0], [100.0, 100.0]], [1.0, 1.0]),  # a zero-sample client has no weight
]


@pytest.mark.parametrize("samples,values,expected", FEDAVG_TABLE)
def test_fedavg_matches_hand_computed_table(samples, values, expected):
    clients = [AggClient(n, [np.array([v[0]], np.float32), np.array([[v[1]]], np.float32)])
               for n, v in zip(samples, values)]
    agg = FedAvg()
    out = agg.aggregate(clients)
    assert [float(out[0][0]), float(out[1][0][0])] == pytest.approx(expected)
    assert out[0].dtype == np.float32 and out[1].shape == (1, 1)
    assert agg.total_size == sum(samples)


def test_fedavg_empty_round_keeps_previous_weights():
    agg = FedAvg()
    first = agg.aggregate([AggClient(2, [np.ones(3)])])
    assert agg.aggregate([]) is first


def test_weighted_mean_integer_layers_round_back_to_int():
    out = weighted_mean([[np.array([1, 2], np.int64)], [np.array([2, 3], np.int64)]], [1, 3])
    assert out[0].dtype == np.int64
    assert out[0].tolist() == [2, 3]  # 1.75 → 2, 2.75 → 3


def test_weighted_sum_rejects_mismatched_layers():
    acc = WeightedSum()
    acc.add({"a": np.zeros((2, 2))}, 1)
    with pytest.raises(ValueError, match="layer a: shape"):
        acc.add({"a": np.zeros((3, 2))}, 1)
    with pytest.raises(ValueError, match="differ"):
        acc.add({"b": np.zeros((2, 2))}, 1)


def test_registry_aliases_and_parameter_holders():
    assert ClassFactory.get_cls(ClassType.FL_AGG, "FedAvg") is FedAvg
    assert ClassFactory.get_cls(ClassType.FL_AGG, "FedAvgV2") is FedAvgV2
    assert ClassFactory.get_cls(ClassType.FL_AGG, "MistNet") is MistNet
    assert MistNet(cut_layer="4", epsilon="200").parameters == {"type": "mistnet", "cut_layer": 4, "epsilon": 200}
    assert FedAvgV2().parameters == {"type": "fedavg"}
    assert SimpleClientChoose(per_round="2").parameters == {"per_round": 2}
    with pytest.raises(ValueError, match="cut_layer"):
        MistNet(cut_layer="x")


def _roundtrip(codec, arrays, base=None):
    wire, specs = codec.encode(arrays, base)
    return decode_tensors(wire, specs, base), wire


def test_no_compression_and_fp16_roundtrip():
    rng = np.random.default_rng(0)
    arrays = {"w": rng.normal(size=(4, 5)).astype(np.float32), "step": np.array([7], np.int64)}
    out, _ = _roundtrip(NoCompression(), arrays)
    assert all(np.array_equal(out[k], arrays[k]) for k in arrays)
    out, wire = _roundtrip(FP16Codec(), arrays)
    assert wire["w"].dtype == np.float16 and wire["step"].dtype == np.int64
    assert out["w"].dtype == np.float32
    np.testing.assert_allclose(out["w"], arrays["w"], rtol=1e-3, atol=1e-3)
    # values beyond float16's range go uncompressed instead of becoming inf
    big = {"w": np.array([1e6, 1.0], np.float32)}
    out, wire = _roundtrip(FP16Codec(), big)
    assert wire["w"].dtype == np.float32 and out["w"].tolist() == [1e6, 1.0]


def test_topk_sends_largest_changes_and_keeps_the_rest_as_residual():
    base = {"w": np.zeros(10, np.float32)}
    local = {"w": np.array([0, 5, 0, -9, 1, 0, 0, 2, 0, 0], np.float32)}
    codec = TopKCodec(ratio=0.2)
    out, wire = _roundtrip(codec, local, base)
    assert wire["w/idx"].tolist() == [1, 3]
    assert out["w"].tolist() == [0, 5, 0, -9, 0, 0, 0, 0, 0, 0]
    assert codec.residual["w"].tolist() == [0, 0, 0, 0, 1, 0, 0, 2, 0, 0]
    # error feedback: an unchanged model next round still delivers what was held back
    out2, wire2 = _roundtrip(codec, base, base)
    assert wire2["w/idx"].tolist() == [4, 7]
    assert out2["w"].tolist() == [0, 0, 0, 0, 1, 0, 0, 2, 0, 0]


def test_topk_error_feedback_converges_to_the_true_sum():
    rng = np.random.default_rng(1)
    base = {"w": np.zeros(1000, np.float32)}
    codec = TopKCodec(ratio=0.05)
    true_total = np.zeros(1000, np.float32)
    sent_total = np.zeros(1000, np.float32)
    for _ in range(30):
        delta = rng.normal(size=1000).astype(np.float32)
        true_total += delta
        out, _ = _roundtrip(codec, {"w": delta}, base)
        sent_total += out["w"]
    # what is still owed is exactly the residual
    np.testing.assert_allclose(true_total - sent_total, codec.residual["w"], atol=1e-3)
    no_feedback = TopKCodec(ratio=0.05, error_feedback=False)
    assert no_feedback.residual == {}


def test_topk_without_base_sends_dense():
    out, wire = _roundtrip(TopKCodec(0.1), {"w": np.arange(6, dtype=np.float32)})
    assert set(wire) == {"w"} and out["w"].tolist() == list(range(6))


def test_decode_rejects_payloads_that_contradict_the_header():
    arrays = {"w": np.ones((2, 3), np.float32)}
    wire, specs = NoCompression().encode(arrays)
    bad_shape = [{**specs[0], "shape": [3, 2]}]
    with pytest.raises(CompressionError, match=r"tensor w: got float32\[2, 3\], header says float32\[3, 2\]"):
        decode_tensors(wire, bad_shape)
    with pytest.raises(CompressionError, match="float64"):
        decode_tensors(wire, [{**specs[0], "dtype": "float64"}])
    with pytest.raises(CompressionError, match="not described"):
        decode_tensors({**wire, "x": np.zeros(1)}, specs)
    with pytest.raises(CompressionError, match="missing"):
        decode_tensors({}, specs)
    with pytest.raises(CompressionError, match="unsupported dtype"):
        decode_tensors(wire, [{**specs[0], "dtype": "object"}])
    base = {"w": np.zeros(4, np.float32)}
    twire, tspecs = TopKCodec(0.5).encode({"w": np.array([1, 0, 3, 0], np.float32)}, base)
    with pytest.raises(CompressionError, match="out of range"):
        decode_tensors({"w/idx": np.array([0, 9], np.int32), "w/val": twire["w/val"]}, tspecs, base)
    with pytest.raises(CompressionError, match="needs the current global model"):
        decode_tensors(twire, tspecs, None)


def test_get_codec_from_env(monkeypatch):
    monkeypatch.setenv("AGG_COMPRESSION", "topk")
    monkeypatch.setenv("AGG_TOPK_RATIO", "0.25")
    codec = get_codec()
    assert isinstance(codec, TopKCodec) and codec.ratio == 0.25
    assert isinstance(get_codec("fp16"), FP16Codec)
    with pytest.raises(ValueError, match="unknown compression"):
        get_codec("zip")


# ---- round-protocol decisions (pure) -------------------------------------------------------------------------

SETTINGS = RoundSettings(participants_count=3, min_participants=2, round_timeout=10.0)

# (finished, updates, seconds since the round's first update, due?)
ROUND_DUE_TABLE = [
    (False, 0, None, False),   # nothing yet
    (False, 3, 0.0, True),     # everyone in
    (False, 4, 0.0, True),     # more than expected (participants_count lowered) still closes
    (False, 2, 5.0, False),    # quorum but still within the timeout: wait for the third
    (False, 2, 10.0, True),    # timeout passed with a quorum: close with two
    (False, 1, 60.0, False),   # timeout passed below quorum: keep waiting
    (True, 3, 0.0, False),     # job finished: no more rounds
]


@pytest.mark.parametrize("finished,updates,waited,due", ROUND_DUE_TABLE)
def test_round_due_table(finished, updates, waited, due):
    assert round_due(SETTINGS, finished, updates, waited) is due


# (update round, completed rounds, finished, client already sent this round, verdict)
CLASSIFY_TABLE = [
    (1, 0, False, False, "accept"),
    (1, 0, False, True, "duplicate"),
    (1, 1, False, False, "stale"),     # round 1 closed while the update was in flight
    (0, 3, False, False, "stale"),
    (3, 1, False, False, "future"),    # a client cannot be ahead of the server
    (4, 3, True, False, "stale"),      # job finished: answer with the final model
]


@pytest.mark.parametrize("update_round,completed,finished,sent,verdict", CLASSIFY_TABLE)
def test_classify_update_table(update_round, completed, finished, sent, verdict):
    assert classify_update(update_round, completed, finished, sent) == verdict
