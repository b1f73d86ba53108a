"""Train/deploy triggers of incremental and lifelong learning jobs (gm-lc-protocol §8), as pure functions.

A trigger is the AND of an optional daily time window and a metric condition. ``evaluate`` never raises: any
malformed part (unknown operator, bad timer text, missing or non-numeric value, bad index) makes the trigger
false and the returned ``TriggerResult.reason`` says why. The clock is an argument, so tests pin the time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

EQUAL_TOLERANCE = 1e-6
_INDEXED = re.compile(r"^(?P<name>[^\[\]]+)\[(?P<index>-?\d+)\]$")
_HHMM = re.compile(r"^(?P<h>\d{1,2}):(?P<m>\d{2})$")

OPERATORS = {
    "gt": "gt", ">": "gt",
    "ge": "ge", ">=": "ge",
    "lt": "lt", "<": "lt",
    "le": "le", "<=": "le",
    "eq": "eq", "=": "eq", "==": "eq",
    "ne": "ne", "!=": "ne",
}


@dataclass(frozen=True)
class TriggerResult:
    fired: bool
    reason: str

    def __bool__(self) -> bool:
        return self.fired


def parse_clock(text: Any) -> int | None:
    """``"HH:MM"`` → minutes since midnight (``"24:00"`` → 1440); anything else → None."""
    if not isinstance(text, str):
        return None
    m = _HHMM.match(text.strip())
    if not m:
        return None
    hours, minutes = int(m["h"]), int(m["m"])
    if minutes > 59 or hours > 24 or (hours == 24 and minutes != 0):
        return None
    return hours * 60 + minutes


def in_window(start: Any, end: Any, now: datetime) -> bool | None:
    """Whether ``now`` (local wall clock, minute resolution) is inside [start, end]; None if malformed.

    start > end means the window wraps midnight (e.g. 22:00-06:00).
    """
    s, e = parse_clock(start), parse_clock(end)
    if s is None or e is None:
        return None
    t = now.hour * 60 + now.minute
    if s <= e:
        return s <= t <= e
    return t >= s or t <= e


def to_number(value: Any) -> float | None:
    """int/float/numeric string → float; other types → None (upstream converts them to 0)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def lookup(stats: Mapping[str, Any], metric: str) -> tuple[bool, Any]:
    """Resolve ``metric`` or ``name[i]`` in ``stats``; (False, reason) when absent or not indexable."""
    m = _INDEXED.match(metric)
    if m is None:
        if metric not in stats:
            return False, f"metric {metric!r} not available"
        return True, stats[metric]
    name, index = m["name"], int(m["index"])
    seq = stats.get(name)
    if not isinstance(seq, (list, tuple)):
        return False, f"metric {name!r} is not a list"
    if not 0 <= index < len(seq):
        return False, f"index {index} out of range for {name!r} (length {len(seq)})"
    return True, seq[index]


def compare(value: float, operator: str, threshold: float) -> bool | None:
    op = OPERATORS.get(operator.strip() if isinstance(operator, str) else "")
    if op is None:
        return None
    equal = abs(value - threshold) < EQUAL_TOLERANCE
    return {
        "gt": not equal and value > threshold,
        "ge": equal or value >= threshold,
        "lt": not equal and value < threshold,
        "le": equal or value <= threshold,
        "eq": equal,
        "ne": not equal,
    }[op]


def evaluate_condition(condition: Any, stats: Mapping[str, Any]) -> TriggerResult:
    if not isinstance(condition, Mapping):
        return TriggerResult(False, "trigger has no condition")
    metric, operator = condition.get("metric"), condition.get("operator")
    threshold = to_number(condition.get("threshold"))
    if not isinstance(metric, str) or not metric:
        return TriggerResult(False, "condition.metric missing")
    if threshold is None:
        return TriggerResult(False, f"condition.threshold {condition.get('threshold')!r} is not a number")
    found, raw = lookup(stats, metric)
    if not found:
        return TriggerResult(False, raw)
    if isinstance(raw, (list, tuple)) and len(raw) == 1:
        # A one-element list without an index (``precision_delta`` with one metric value, as in upstream's
        # incremental learning sample) means its element; upstream converts every list to 0, so that sample's
        # deploy trigger could never fire.
        raw = raw[0]
    value = to_number(raw)
    if value is None:
        value = 0.0  # upstream converts other types (longer lists, objects) to 0 silently
    result = compare(value, operator, threshold)
    if result is None:
        return TriggerResult(False, f"condition.operator {operator!r} is not supported")
    return TriggerResult(result, f"{metric}={value:g} {operator} {threshold:g} is {str(result).lower()}")


def evaluate(trigger: Any, stats: Mapping[str, Any], now: datetime) -> TriggerResult:
    """Evaluate a CR trigger object (``{timer?: {start, end}, condition: {metric, operator, threshold}}``)."""
    if not isinstance(trigger, Mapping):
        return TriggerResult(False, "no trigger")
    timer = trigger.get("timer")
    window = ""
    if timer:
        if not isinstance(timer, Mapping):
            return TriggerResult(False, "timer is not an object")
        inside = in_window(timer.get("start"), timer.get("end"), now)
        if inside is None:
            return TriggerResult(False, f"timer {timer.get('start')!r}-{timer.get('end')!r} is not HH:MM")
        if not inside:
            return TriggerResult(False, f"{now:%H:%M} outside {timer.get('start')}-{timer.get('end')}")
        window = f" within {timer.get('start')}-{timer.get('end')}"
    cond = evaluate_condition(trigger.get("condition"), stats)
    return TriggerResult(cond.fired, cond.reason + window)
