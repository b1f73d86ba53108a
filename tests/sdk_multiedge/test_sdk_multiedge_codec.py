"""The multi-edge codec: round trips of the exchanged objects, and refusal of pickle, garbage and oversize."""

from __future__ import annotations

import json
import pickle

import msgpack
import numpy as np
import pytest

from sedna.core.multi_edge_inference import codec
from sedna.core.multi_edge_inference.data_classes import OP_MODE, DetTrackResult, Target, TargetImages

pytestmark = pytest.mark.timeout(30)

FORMATS = ["msgpack", "json"]


def sample_result() -> DetTrackResult:
    frame = np.arange(24 * 32 * 3, dtype=np.uint8).reshape(24, 32, 3)
    result = DetTrackResult(frame_index=5, scene=frame, confidence=np.array([0.9, 0.75], np.float32),
                            detection_time="Thu, 26 November 2026 10:00:00.500000", camera="cam-2",
                            bbox_coord=[[1, 2, 10, 20], [3, 4, 12, 22]], tracking_ids=[7, 8])
    result.features.append(np.full((1, 16), 0.25, np.float32))
    result.features.append(np.full((1, 16), 0.5, np.float32))
    result.userID = "alice"
    result.targetID = ["alice", -1]
    return result


@pytest.mark.parametrize("fmt", FORMATS)
def test_det_track_result_round_trip(fmt):
    original = sample_result()
    decoded = codec.decode(codec.encode([original], fmt), fmt)
    assert isinstance(decoded, list) and len(decoded) == 1
    got = decoded[0]
    assert type(got) is DetTrackResult
    assert got.frame_index == 5 and got.camera == "cam-2" and got.userID == "alice"
    assert got.image_key == original.image_key != "0"
    assert got.scene.dtype == np.uint8 and np.array_equal(got.scene, original.scene)
    assert got.confidence.dtype == np.float32 and np.allclose(got.confidence, [0.9, 0.75])
    assert [f.shape for f in got.features] == [(1, 16), (1, 16)]
    assert got.bbox_coord == [[1, 2, 10, 20], [3, 4, 12, 22]]
    assert got.tracklets == [7, 8] and got.targetID == ["alice", -1]


@pytest.mark.parametrize("fmt", FORMATS)
def test_other_values_round_trip(fmt):
    value = {
        "target": Target("bob", [np.ones((1, 4))], _targetid="0001", _frame_index=3),
        "images": TargetImages("bob", [np.zeros((2, 2, 3), np.uint8)]),
        "mode": OP_MODE.COVID19,
        "frame": (np.zeros((2, 3), np.int16), "Thu", 4),
        "raw": b"\x00\x01jpeg",
        "scalar": np.float64(2.5),
        "nested": [[1, [2, (3, None)]], {"k": True}],
    }
    got = codec.decode(codec.encode(value, fmt), fmt)
    assert got["target"].userid == "bob" and got["target"].targetid == "0001" and got["target"].frame_index == 3
    assert np.array_equal(got["target"].features[0], np.ones((1, 4)))
    assert type(got["images"]) is TargetImages and got["images"].targets[0].shape == (2, 2, 3)
    assert got["mode"] is OP_MODE.COVID19
    assert isinstance(got["frame"], tuple) and got["frame"][0].dtype == np.int16 and got["frame"][1:] == ("Thu", 4)
    assert got["raw"] == b"\x00\x01jpeg"
    assert got["scalar"] == 2.5
    assert got["nested"] == [[1, [2, (3, None)]], {"k": True}]


def test_array_like_objects_travel_as_arrays():
    class TensorLike:  # torch tensors expose detach().cpu() and __array__
        def detach(self):
            return self

        def cpu(self):
            return self

        def __array__(self, dtype=None, copy=None):
            return np.array([[1.0, 2.0]], dtype=np.float32)

    got = codec.decode(codec.encode([TensorLike()]))
    assert isinstance(got[0], np.ndarray) and got[0].tolist() == [[1.0, 2.0]]


def test_registered_custom_type_round_trips_and_unregistered_is_refused():
    class Detection:
        def __init__(self, label):
            self.label = label

    with pytest.raises(codec.CodecError, match="not a registered data class"):
        codec.encode(Detection("x"))
    codec.register_type(Detection, name="TestDetection")
    got = codec.decode(codec.encode(Detection("person")))
    assert type(got) is Detection and got.label == "person"


def test_msgpack_is_much_smaller_than_json_for_images():
    frame = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    packed, as_json = codec.encode(frame), codec.encode(frame, "json")
    assert len(packed) < 120 * 160 * 3 + 200
    assert len(as_json) > 3 * len(packed)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
@pytest.mark.parametrize("fmt", FORMATS)
def test_pickle_is_refused(protocol, fmt):
    with pytest.raises(codec.CodecError, match="pickle"):
        codec.decode(pickle.dumps(sample_result(), protocol=protocol), fmt)


def test_object_arrays_inside_npy_are_refused():
    import io

    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    payload = msgpack.packb(msgpack.ExtType(42, buf.getvalue()), use_bin_type=True)
    with pytest.raises(codec.CodecError, match="npy"):
        codec.decode(payload)


@pytest.mark.parametrize("payload", [
    b"",
    b"\xc1",  # never used in msgpack
    b"\x93\x01",  # array of 3 with one item: truncated
    msgpack.packb([1, 2]) + b"\x01",  # trailing data
    b"GET / HTTP/1.1\r\n",
    msgpack.packb(msgpack.ExtType(99, b"xx")),  # unknown extension
    msgpack.packb(msgpack.ExtType(44, msgpack.packb(["os.system", {}]))),  # unknown type
    msgpack.packb(msgpack.ExtType(44, msgpack.packb(["Target", {"__class__": 1}]))),  # dunder attribute
    msgpack.packb(msgpack.ExtType(44, msgpack.packb(["Target"]))),  # malformed record
    msgpack.packb(msgpack.ExtType(45, msgpack.packb(["OP_MODE", "flying"]))),  # invalid enum value
])
def test_garbage_msgpack_is_refused(payload):
    with pytest.raises(codec.CodecError):
        codec.decode(payload)


@pytest.mark.parametrize("doc", [
    "not json",
    {"__ndarray__": {"dtype": "|O", "shape": [1], "data": [1]}},
    {"__ndarray__": {"dtype": "<f4", "shape": [3], "data": [1, 2]}},
    {"__ndarray__": {"dtype": "<f4", "shape": [-1], "data": [1, 2]}},
    {"__object__": "subprocess.Popen", "fields": {}},
    {"__bytes__": "***"},
])
def test_garbage_json_is_refused(doc):
    raw = doc.encode() if isinstance(doc, str) else json.dumps(doc).encode()
    with pytest.raises(codec.CodecError):
        codec.decode(raw, "json")


def test_size_limit_and_nesting_limit():
    big = codec.encode(np.zeros(4096, np.uint8))
    with pytest.raises(codec.CodecError, match="exceeds"):
        codec.decode(big, max_bytes=1024)
    assert codec.decode(big, max_bytes=len(big)).shape == (4096,)
    nested: object = 1
    for _ in range(codec.MAX_DEPTH + 5):
        nested = (nested,)
    with pytest.raises(codec.CodecError, match="nested"):
        codec.decode(codec.encode(nested))
    with pytest.raises(codec.CodecError, match="nested"):
        codec.encode(nested, "json")


def test_content_types():
    assert codec.format_for("application/x-msgpack") == "msgpack"
    assert codec.format_for("application/json; charset=utf-8") == "json"
    assert codec.format_for(None) == "json"
    with pytest.raises(codec.CodecError, match="not supported"):
        codec.format_for("application/python-pickle")


def test_det_track_result_defaults_are_not_shared():
    a, b = DetTrackResult(), DetTrackResult()
    a.features.append(1)
    a.bbox_coord.append([0, 0, 1, 1])
    assert b.features == [] and b.bbox_coord == [] and b.image_key == "0"


@pytest.mark.parametrize("fmt", FORMATS)
def test_subclasses_of_plain_types_travel_as_plain_values(fmt):
    from collections import OrderedDict, defaultdict
    from enum import IntEnum

    class Level(IntEnum):
        HIGH = 3

    counts = defaultdict(int, {"a": 2})
    got = codec.decode(codec.encode({"od": OrderedDict(x=1), "dd": counts, "level": Level.HIGH}, fmt), fmt)
    assert got == {"od": {"x": 1}, "dd": {"a": 2}, "level": 3}


def test_huge_msgpack_lists_are_refused_but_big_arrays_pass():
    huge = msgpack.packb([0] * (codec.MAX_ITEMS + 1))
    with pytest.raises(codec.CodecError, match="max_array_len"):
        codec.decode(huge)
    big = np.zeros(codec.MAX_ITEMS * 2, np.uint8)
    assert codec.decode(codec.encode([big]))[0].shape == big.shape
