"""sedna.common.fastjson: the control plane's JSON (GM client, API emulator)."""

import json
from collections.abc import Mapping

import pytest

from sedna.common import fastjson


class View(Mapping):
    """A read-only mapping that is not a dict (as kopf's Body is)."""

    def __init__(self, raw):
        self._raw = raw

    def __getitem__(self, key):
        value = self._raw[key]
        return View(value) if isinstance(value, dict) else value

    def __iter__(self):
        return iter(self._raw)

    def __len__(self):
        return len(self._raw)


DOC = {"metadata": {"name": "a", "labels": {"x": "y"}, "finalizers": ["f"]},
       "spec": {"replicas": 2, "ratio": 0.5, "tiny": 1e-7, "on": True, "none": None, "text": "héllo ✓"}}


def test_dumps_is_compact_json_that_the_standard_library_reads_back():
    out = fastjson.dumps(DOC)
    assert isinstance(out, bytes) and b" " not in out.replace(b"h\xc3\xa9llo \xe2\x9c\x93", b"")
    assert json.loads(out) == DOC


def test_loads_reads_what_the_standard_library_writes():
    assert fastjson.loads(json.dumps(DOC)) == DOC
    assert fastjson.loads(json.dumps(DOC).encode()) == DOC


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"a": -Infinity}', "{", "", '{"a": 1,}'])
def test_loads_refuses_what_is_not_strict_json_with_a_value_error(text):
    with pytest.raises(ValueError):
        fastjson.loads(text)
    assert issubclass(fastjson.JSONDecodeError, ValueError)


def test_dumps_refuses_unknown_types_and_writes_non_finite_numbers_as_null():
    with pytest.raises(TypeError):
        fastjson.dumps({"a": object()})
    assert fastjson.dumps([float("nan"), float("inf"), -float("inf")]) == b"[null,null,null]"


def test_copy_is_deep_and_turns_mappings_and_tuples_into_plain_json_values():
    src = {"a": {"b": [{"c": 1}]}, "t": (1, 2)}
    out = fastjson.copy(src)
    assert out == {"a": {"b": [{"c": 1}]}, "t": [1, 2]}
    assert out["a"] is not src["a"] and out["a"]["b"][0] is not src["a"]["b"][0]
    viewed = fastjson.copy(View(DOC))
    assert viewed == DOC and type(viewed) is dict and type(viewed["metadata"]) is dict
