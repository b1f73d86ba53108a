import base64
import json

import numpy as np
import pytest

from sedna.api.messages import Message, MessageError
from sedna.common.tensors import TensorFormatError, dumps_arrays, dumps_npy, loads_arrays, loads_npy


def test_envelope_content_is_base64_json_like_upstream():
    frame = json.loads(Message.build("dataset", "default", "ds1", "insert", {"a": 1}).encode())
    assert frame["header"] == {"namespace": "default", "resourceKind": "dataset", "resourceName": "ds1",
                               "operation": "insert"}
    assert json.loads(base64.b64decode(frame["content"])) == {"a": 1}


def test_bare_hello_frame_decodes_as_empty_message():
    msg = Message.decode('{"namespace":"","resourceKind":"","resourceName":"","operation":""}')
    assert msg.header.operation == "" and msg.content is None


@pytest.mark.parametrize("frame", ["not json", "[]", '{"header":{},"content":"@@@"}',
                                   '{"header":{"operation":"explode"}}', '{"header":{},"content":5}'])
def test_malformed_frames_raise_message_error(frame):
    with pytest.raises(MessageError):
        Message.decode(frame)


def test_arrays_round_trip_with_metadata():
    arrays = {"w": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.zeros(4, dtype=np.float16)}
    out, meta = loads_arrays(dumps_arrays(arrays, {"round": 2, "client": "c1"}))
    assert meta == {"round": 2, "client": "c1"}
    for name, arr in arrays.items():
        assert out[name].dtype == arr.dtype and np.array_equal(out[name], arr)


def test_npy_refuses_pickled_objects_and_oversize():
    import io

    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(TensorFormatError):
        loads_npy(buf.getvalue())
    with pytest.raises(TensorFormatError):
        loads_npy(b"garbage")
    with pytest.raises(TensorFormatError):
        loads_arrays(dumps_arrays({"x": np.ones(100)}), max_bytes=10)
    assert loads_npy(dumps_npy(np.eye(2))).shape == (2, 2)
