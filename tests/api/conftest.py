"""Fixtures of the API tests (helpers live in api_reference.py)."""

from __future__ import annotations

import pytest
from api_reference import REFERENCE, SAMPLES_DIR, UPSTREAM_CRDS_DIR


@pytest.fixture(scope="session", autouse=True)
def _reference_present():
    if not SAMPLES_DIR.is_dir() or not UPSTREAM_CRDS_DIR.is_dir():
        pytest.fail(f"upstream reference material not found at {REFERENCE}")
