"""Shared helpers of the sdk_lifelong tests: the example's data and estimator, a recording LC, env setup."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

from support_http import AppServer, recording_lc_app

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "lifelong_learning" / "thermal_comfort"


def _example_module(name: str):
    """Load ``<EXAMPLE>/<name>.py`` under a private module name: other examples have an ``interface.py``
    too, and ``sys.modules["interface"]`` must stay theirs."""
    private = f"sdk_lifelong_example_{name}"
    if private not in sys.modules:
        spec = importlib.util.spec_from_file_location(private, EXAMPLE / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[private] = module
        spec.loader.exec_module(module)
    return sys.modules[private]


_interface = _example_module("interface")
DATACONF, Estimator, feature_process = _interface.DATACONF, _interface.Estimator, _interface.feature_process
generate = _example_module("prepare").generate

__all__ = [
    "ATTRIBUTE",
    "DATACONF",
    "EXAMPLE",
    "REPO",
    "AppServer",
    "Estimator",
    "feature_process",
    "generate",
    "load_csv",
    "recording_lc_app",
]

ATTRIBUTE = json.dumps({"attribute": DATACONF["ATTRIBUTES"]})


def load_csv(path, data_type="train"):
    from sedna.datasources import CSVDataParse

    ds = CSVDataParse(data_type=data_type, func=feature_process)
    ds.parse(str(path), label=DATACONF["LABEL"])
    return ds
