"""The SDK reads its configuration from the environment once; tests that change the environment restore it."""

from __future__ import annotations

import pytest

from sedna.common.config import BaseConfig


@pytest.fixture(autouse=True, name="restore_config")
def restore_config_fixture(monkeypatch):
    """Autouse in a module that imports it: after each test, undo its env changes and re-read the config."""
    yield
    monkeypatch.undo()
    BaseConfig.reload_from_env()
