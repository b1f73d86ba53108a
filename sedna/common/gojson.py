"""JSON text exactly as Go's ``encoding/json`` marshals it, for values that upstream's GM writes into CRs.

Upstream's GM turns every non-string report value into a CR metric with ``json.Marshal``: a report decoded into
``interface{}`` holds every number as a float64, so ``1.0`` and ``1`` both become ``"1"``, and ``1e-7`` becomes
``"1e-7"``. Python's ``json.dumps`` writes ``"1.0"`` and ``"1e-07"``, so ``kubectl get -o yaml`` would differ
between the two GMs. This module reproduces Go's rules: shortest round-trip digits; fixed notation unless the
magnitude is below 1e-6 or at least 1e21, then exponent notation with a sign and at least one exponent digit
(``1e-7``, ``1e+21``); object keys sorted; no spaces; ``<``, ``>``, ``&``, U+2028 and U+2029 escaped as Go's
HTML-safe encoder does.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t",
            "<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


class GoJSONError(ValueError):
    """A value Go's encoder refuses (NaN, ±Inf) or cannot hold (a non-string object key)."""


def go_float(value: float) -> str:
    """``json.Marshal(float64)``: the shortest digits that round-trip, in Go's fixed or exponent form."""
    if math.isnan(value) or math.isinf(value):
        raise GoJSONError(f"json: unsupported value: {value}")
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    digits = Decimal(repr(float(value)))
    if 1e-6 <= abs(value) < 1e21:
        text = format(digits, "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text
    sign, coeff, exponent = digits.as_tuple()
    mantissa = "".join(map(str, coeff)).rstrip("0") or "0"
    exp10 = exponent + len(coeff) - 1
    text = mantissa[0] + ("." + mantissa[1:] if len(mantissa) > 1 else "")
    return f"{'-' if sign else ''}{text}e{'-' if exp10 < 0 else '+'}{abs(exp10)}"


def _string(value: str) -> str:
    out = []
    for ch in value:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch < " ":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def go_json(value: Any) -> str:
    """``json.Marshal`` of ``value`` as decoded into ``interface{}`` (numbers are float64)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (int, float)):
        return go_float(float(value))
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise GoJSONError("json: object keys must be strings")
        return "{" + ",".join(f"{_string(k)}:{go_json(value[k])}" for k in sorted(value)) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(go_json(v) for v in value) + "]"
    raise GoJSONError(f"json: unsupported type: {type(value).__name__}")
