"""Fixtures of the LC tests; the peers themselves live in ``lc_harness``."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lc_harness


@pytest.fixture
def fake_gm():
    yield from lc_harness._fake_gm_fixture()


@pytest.fixture
def lc_process(tmp_path):
    yield from lc_harness._lc_process_fixture(tmp_path)
