"""YAML is read as Kubernetes reads it (YAML 1.2 core schema), not as PyYAML's YAML 1.1 default."""

from __future__ import annotations

import io
import math

import pytest
import yaml

from sedna.api import yamlio


@pytest.mark.parametrize("text, expected", [
    ("20:00", "20:00"),          # YAML 1.1: sexagesimal 1200
    ('"20:00"', "20:00"),
    ("02:00", "02:00"),
    ("24:00", "24:00"),
    ("1:30:00", "1:30:00"),
    ("yes", "yes"), ("no", "no"), ("on", "on"), ("off", "off"), ("y", "y"), ("Yes", "Yes"),
    ("true", True), ("True", True), ("TRUE", True), ("false", False),
    ("2024-01-01", "2024-01-01"),  # YAML 1.1: a date
    ("2001-12-14t21:59:43.10-05:00", "2001-12-14t21:59:43.10-05:00"),
    ("012", 12), ("0o17", 15), ("0x1F", 31), ("-5", -5), ("+7", 7),
    ("1_000", "1_000"),
    ("0.5", 0.5), (".5", 0.5), ("1e3", 1000.0), ("-1.5E-2", -0.015),
    ("~", None), ("null", None), ("", None),
    ("=", "="),
])
def test_scalar_resolution(text, expected):
    (doc,) = yamlio.load_all(f"v: {text}\n")
    value = doc["v"]
    assert value == expected and type(value) is type(expected)


def test_special_floats():
    (doc,) = yamlio.load_all("a: .inf\nb: -.Inf\nc: .NaN\n")
    assert doc["a"] == math.inf and doc["b"] == -math.inf and math.isnan(doc["c"])


def test_quoted_and_unquoted_times_agree_where_pyyaml_does_not():
    text = "timer:\n  start: 02:00\n  end: 20:00\nquoted:\n  start: '02:00'\n  end: \"20:00\"\n"
    (doc,) = yamlio.load_all(text)
    assert doc["timer"] == doc["quoted"] == {"start": "02:00", "end": "20:00"}
    assert yaml.safe_load(text)["timer"]["end"] == 1200  # the trap this loader avoids


def test_multi_document_streams_skip_empty_documents():
    text = "---\na: 1\n---\n---\n# only a comment\n---\nb: [x, 2]\n...\n"
    assert yamlio.load_all(text) == [{"a": 1}, {"b": ["x", 2]}]
    assert yamlio.load_all(io.StringIO(text)) == yamlio.load_all(text.encode())
    assert yamlio.load_all("") == []


def test_merge_keys_and_anchors():
    (doc,) = yamlio.load_all("base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  y: 3\n")
    assert doc["d"] == {"x": 1, "y": 3}


def test_load_single_document():
    assert yamlio.load("a: 1") == {"a": 1}
    assert yamlio.load("") is None
    with pytest.raises(ValueError, match="one YAML document"):
        yamlio.load("a: 1\n---\nb: 2\n")


def test_bad_yaml_raises_yaml_error():
    with pytest.raises(yamlio.YAMLError):
        yamlio.load_all("a: [1, 2\n")


def test_dump_is_deterministic_and_reads_back_identically():
    data = {"b": "line one\nline two", "a": ["20:00", "yes", "on", "2024-01-01", "012", 1, 1.5, True, None]}
    text = yamlio.dump(data)
    assert text == yamlio.dump(dict(reversed(list(data.items()))))
    assert text.index("a:") < text.index("b:")
    assert "b: |-\n" in text
    assert yamlio.load(text) == data
    assert yaml.safe_load(text) == data  # also unambiguous for YAML 1.1 readers


def test_uses_c_parser_when_available():
    if getattr(yaml, "CSafeLoader", None) is None:
        pytest.skip("PyYAML built without libyaml")
    assert issubclass(yamlio.Yaml12Loader, yaml.CSafeLoader)
