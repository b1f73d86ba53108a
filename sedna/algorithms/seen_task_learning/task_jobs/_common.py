"""Helpers shared by the task algorithms: attribute lists and per-row task keys."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

__all__ = ["attribute_list", "float_columns", "require_frame", "row_key"]


def attribute_list(attribute: Any) -> list[str]:
    """Column names from a list, a JSON list string or a comma-separated string (``"Season, City"``)."""
    if attribute is None or attribute == "":
        return []
    if isinstance(attribute, str):
        text = attribute.strip()
        if text.startswith("["):
            try:
                attribute = json.loads(text)
            except ValueError:
                raise ValueError(f"attribute {attribute!r} is not a JSON list") from None
        else:
            return [part.strip() for part in text.split(",") if part.strip()]
    if not isinstance(attribute, (list, tuple)):
        raise TypeError(f"attribute must be a list of column names or a comma string, got {type(attribute).__name__}")
    return [str(a) for a in attribute]


def require_frame(x: Any, who: str, attributes: list[str]):
    """``x`` as a DataFrame that has every attribute column (clear errors otherwise)."""
    if not hasattr(x, "columns"):
        raise TypeError(f"{who} needs samples whose x is a pandas DataFrame, got {type(x).__name__}")
    missing = [a for a in attributes if a not in x.columns]
    if missing:
        raise ValueError(f"{who}: attribute column(s) {missing} not in the samples "
                         f"(columns: {list(x.columns)})")
    return x


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def row_key(values: Any) -> str:
    """Task key of one row's attribute values: each value with ``_`` → ``-``, joined by ``_``, no spaces."""
    return "_".join(str(_plain(v)).replace("_", "-") for v in values).replace(" ", "")


def float_columns(x: Any) -> np.ndarray:
    """The float64 columns of a DataFrame (all columns of a float array) as a 2-D float array."""
    if hasattr(x, "select_dtypes"):
        return x.select_dtypes(include=["float64"]).to_numpy(dtype=np.float64)
    arr = np.asarray(x)
    if arr.dtype.kind != "f":
        return np.empty((len(arr), 0))
    return arr.reshape(len(arr), -1).astype(np.float64)
