"""Table tests of the pure trigger module (gm-lc-protocol §8)."""

from datetime import datetime

import pytest

from sedna.lc.triggers import compare, evaluate, in_window, lookup, parse_clock, to_number


def at(hhmm: str) -> datetime:
    h, m = hhmm.split(":")
    return datetime(2024, 5, 17, int(h), int(m), 30)


@pytest.mark.parametrize("text,minutes", [
    ("00:00", 0), ("02:00", 120), ("2:05", 125), ("23:59", 1439), ("24:00", 1440), (" 08:30 ", 510),
    ("24:01", None), ("25:00", None), ("12:60", None), ("1200", None), ("", None), (None, None), (120, None),
    ("ab:cd", None), ("12:5", None),
])
def test_parse_clock(text, minutes):
    assert parse_clock(text) == minutes


@pytest.mark.parametrize("start,end,now,inside", [
    ("02:00", "20:00", "02:00", True),     # start boundary inclusive
    ("02:00", "20:00", "20:00", True),     # end boundary inclusive (minute resolution)
    ("02:00", "20:00", "01:59", False),
    ("02:00", "20:00", "20:01", False),
    ("02:00", "20:00", "12:00", True),
    ("02:00", "24:00", "23:59", True),     # "24:00" is the end of the day
    ("02:00", "24:00", "00:00", False),
    ("00:00", "24:00", "00:00", True),
    ("22:00", "06:00", "23:30", True),     # window crossing midnight
    ("22:00", "06:00", "00:00", True),
    ("22:00", "06:00", "06:00", True),
    ("22:00", "06:00", "06:01", False),
    ("22:00", "06:00", "21:59", False),
    ("22:00", "06:00", "12:00", False),
    ("10:00", "10:00", "10:00", True),
    ("10:00", "10:00", "10:01", False),
])
def test_window(start, end, now, inside):
    assert in_window(start, end, at(now)) is inside


@pytest.mark.parametrize("start,end", [("xx", "10:00"), ("10:00", None), ("25:00", "01:00")])
def test_window_malformed(start, end):
    assert in_window(start, end, at("10:00")) is None


GT, EQ, LT = 10.5, 10.0, 9.5
NEAR = 10.0 + 5e-7   # within the 1e-6 tolerance of 10


@pytest.mark.parametrize("op,value,expected", [
    (">", GT, True), (">", EQ, False), (">", LT, False), (">", NEAR, False),
    ("gt", GT, True), ("gt", EQ, False),
    (">=", GT, True), (">=", EQ, True), (">=", LT, False), (">=", 10.0 - 5e-7, True),
    ("ge", EQ, True), ("ge", LT, False),
    ("<", LT, True), ("<", EQ, False), ("<", GT, False), ("<", 10.0 - 5e-7, False),
    ("lt", LT, True), ("lt", GT, False),
    ("<=", LT, True), ("<=", EQ, True), ("<=", GT, False), ("<=", NEAR, True),
    ("le", EQ, True), ("le", GT, False),
    ("=", EQ, True), ("=", NEAR, True), ("=", GT, False),
    ("==", EQ, True), ("==", LT, False),
    ("eq", EQ, True), ("eq", 10.00001, False),
    ("!=", EQ, False), ("!=", NEAR, False), ("!=", GT, True),
    ("ne", LT, True), ("ne", EQ, False),
])
def test_operators(op, value, expected):
    assert compare(value, op, 10.0) is expected


@pytest.mark.parametrize("op", ["<>", "", "GT", "=>", "approx", None, 3])
def test_unknown_operator(op):
    assert compare(1.0, op, 0.0) is None
    assert not evaluate({"condition": {"metric": "m", "operator": op, "threshold": 0}}, {"m": 1}, at("10:00"))


@pytest.mark.parametrize("value,number", [
    (3, 3.0), (2.5, 2.5), ("4", 4.0), (" 1e-3 ", 0.001), ("x", None), ([1], None), (None, None),
    (True, None), ({"a": 1}, None),
])
def test_to_number(value, number):
    assert to_number(value) == number


STATS = {"num_of_samples": 40, "precision": [0.5, 0.9], "precision_delta": [0.05, 0.2], "s": "7",
         "lst": [1, 2], "one": [0.25], "obj": {"a": 1}}


@pytest.mark.parametrize("metric,found,value", [
    ("num_of_samples", True, 40),
    ("precision_delta[1]", True, 0.2),
    ("precision_delta[0]", True, 0.05),
    ("precision_delta[2]", False, None),     # out of range
    ("precision_delta[-1]", False, None),    # negative index
    ("num_of_samples[0]", False, None),      # not a list
    ("missing", False, None),
    ("missing[0]", False, None),
    ("s", True, "7"),
])
def test_lookup(metric, found, value):
    ok, got = lookup(STATS, metric)
    assert ok is found
    if found:
        assert got == value


def cond(metric, op, threshold, timer=None):
    trig = {"condition": {"metric": metric, "operator": op, "threshold": threshold}}
    if timer is not None:
        trig["timer"] = timer
    return trig


@pytest.mark.parametrize("trigger,now,fired", [
    (cond("num_of_samples", ">", 30), "10:00", True),
    (cond("num_of_samples", ">", 40), "10:00", False),
    (cond("num_of_samples", ">=", 40), "10:00", True),
    (cond("num_of_samples", ">", 30, {"start": "02:00", "end": "20:00"}), "10:00", True),
    (cond("num_of_samples", ">", 30, {"start": "02:00", "end": "20:00"}), "21:00", False),
    (cond("num_of_samples", ">", 30, {"start": "22:00", "end": "02:00"}), "01:00", True),
    (cond("num_of_samples", ">", 30, {"start": "bad", "end": "02:00"}), "01:00", False),
    (cond("num_of_samples", ">", 30, "not-an-object"), "01:00", False),
    (cond("precision_delta[1]", ">", 0.1), "10:00", True),
    (cond("precision_delta[0]", ">", 0.1), "10:00", False),
    (cond("precision_delta[5]", ">", 0.1), "10:00", False),
    (cond("s", "==", 7), "10:00", True),                 # numeric string value
    (cond("lst", "==", 0), "10:00", True),               # upstream: list without index converts to 0
    (cond("obj", "==", 0), "10:00", True),               # ... and so does any other type
    (cond("one", ">", 0.2), "10:00", True),              # ours: a one-element list means its element
    (cond("one", ">", 0.3), "10:00", False),
    (cond("num_of_samples", ">", "30"), "10:00", True),  # numeric string threshold
    (cond("num_of_samples", ">", "abc"), "10:00", False),
    (cond("", ">", 1), "10:00", False),
    ({"condition": None}, "10:00", False),
    ({}, "10:00", False),
    (None, "10:00", False),
    ("junk", "10:00", False),
])
def test_evaluate(trigger, now, fired):
    result = evaluate(trigger, STATS, at(now))
    assert result.fired is fired
    assert result.reason


def test_reason_names_the_values():
    result = evaluate(cond("num_of_samples", ">", 30, {"start": "02:00", "end": "20:00"}), STATS, at("10:00"))
    assert result.reason == "num_of_samples=40 > 30 is true within 02:00-20:00"
