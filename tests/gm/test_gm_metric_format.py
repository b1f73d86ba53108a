"""Metric values as upstream's Go GM writes them (encoding/json of a float64 held in an interface{})."""

import math

import pytest

from sedna.common.gojson import GoJSONError, go_float, go_json
from sedna.gm.controllers.base import metrics_from_owner_info

# (value, what Go 1.22 json.Marshal prints) — the rule: shortest round-trip digits, fixed notation for
# 1e-6 <= |x| < 1e21, otherwise exponent form with an explicit sign and no zero padding.
GO_FLOATS = [
    (0.0, "0"), (-0.0, "-0"), (1.0, "1"), (0.25, "0.25"), (1e-7, "1e-7"), (123456789.0, "123456789"),
    (1e-6, "0.000001"), (9.99e-7, "9.99e-7"), (1e20, "100000000000000000000"), (1e21, "1e+21"),
    (-2.5e-8, "-2.5e-8"), (0.1 + 0.2, "0.30000000000000004"), (5e-324, "5e-324"),
    (1.7976931348623157e308, "1.7976931348623157e+308"), (12.0, "12"), (0.875, "0.875"), (-3.0, "-3"),
    (1234.5678, "1234.5678"), (1.5e300, "1.5e+300"),
]


@pytest.mark.parametrize(("value", "expected"), GO_FLOATS)
def test_float_formatting_follows_go(value, expected):
    assert go_float(value) == expected
    assert float(expected) == value     # round-trips


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_unsupported_floats_are_refused_like_go(value):
    with pytest.raises(GoJSONError):
        go_float(value)


def test_integers_are_float64_in_go():
    assert go_json(7) == "7"
    assert go_json(2 ** 53 + 1) == "9007199254740992"    # what a float64 can hold


def test_containers_compact_sorted_and_html_escaped():
    assert go_json({"b": [1, 2.5, None], "a": "<&>", "c": True}) == \
        '{"a":"\\u003c\\u0026\\u003e","b":[1,2.5,null],"c":true}'
    assert go_json("line\nbreak\u2028") == '"line\\nbreak\\u2028"'
    assert go_json("\x01") == '"\\u0001"'


def test_cr_metrics_match_upstream():
    metrics = metrics_from_owner_info({"inferenceNumber": 8, "hardExampleNumber": 7.0, "uploadCloudRatio": 0.875,
                                       "ratio": 1.0, "zero": 0, "tiny": 1e-7, "label": "as-is",
                                       "nan": math.nan, "updateTime": "dropped"})
    assert {m["key"]: m["value"] for m in metrics} == {
        "inferenceNumber": "8", "hardExampleNumber": "7", "uploadCloudRatio": "0.875", "ratio": "1",
        "zero": "0", "tiny": "1e-7", "label": "as-is", "nan": ""}
