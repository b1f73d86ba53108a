"""Shared helpers of the sdk_multiedge tests."""

from __future__ import annotations


def loopback_env(monkeypatch, tmp_path) -> None:
    """Components bind 127.0.0.1 on free ports, share files under ``tmp_path/shared``, retry quickly, use the
    sklearn backend, and see no Kafka and no ``MODEL_URL``."""
    for prefix in ("DET", "FE", "REID"):
        monkeypatch.setenv(f"{prefix}_MODEL_BIND_URL", "127.0.0.1")
        monkeypatch.setenv(f"{prefix}_MODEL_BIND_PORT", "0")
    monkeypatch.setenv("MULTI_EDGE_SHARED_DIR", str(tmp_path / "shared"))
    monkeypatch.setenv("MULTI_EDGE_RETRIES", "2")
    monkeypatch.setenv("MULTI_EDGE_RETRY_INTERVAL", "0.1")
    monkeypatch.setenv("BACKEND_TYPE", "SKLEARN")
    monkeypatch.delenv("MODEL_URL", raising=False)
    monkeypatch.delenv("KAFKA_ENABLED", raising=False)
