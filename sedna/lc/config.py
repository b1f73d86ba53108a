"""LC configuration: one loader reading the environment (gm-lc-protocol §1 plus our additions)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path


class ConfigError(ValueError):
    """An environment variable has an unusable value; the message names it."""


def _float(env: dict[str, str], name: str, default: float, minimum: float) -> float:
    raw = env.get(name, "")
    if raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if value < minimum:
        raise ConfigError(f"{name}={raw!r} must be >= {minimum}")
    return value


def _int(env: dict[str, str], name: str, default: int, minimum: int) -> int:
    raw = env.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ConfigError(f"{name}={raw!r} must be >= {minimum}")
    return value


def _bool(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (true/false)")


def _channel_token(env: dict[str, str], rootfs: str) -> str:
    """The node token: ``SEDNA_CHANNEL_TOKEN``, else the file ``SEDNA_CHANNEL_TOKEN_FILE`` (default
    ``<rootfs>/var/lib/sedna/node-token``, provisioned per node like a kubelet's bootstrap token)."""
    if env.get("SEDNA_CHANNEL_TOKEN"):
        return env["SEDNA_CHANNEL_TOKEN"].strip()
    path = Path(env.get("SEDNA_CHANNEL_TOKEN_FILE") or Path(rootfs) / "var/lib/sedna/node-token")
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""
    except OSError as exc:
        raise ConfigError(f"SEDNA_CHANNEL_TOKEN_FILE {str(path)!r} cannot be read: {exc}") from None


@dataclass(frozen=True)
class LCConfig:
    gm_address: str
    node_name: str
    bind_address: str = "0.0.0.0"
    bind_port: int = 9100
    rootfs: str = "/rootfs"
    db_path: str = "/rootfs/var/lib/sedna/database.db"
    channel_token: str = ""
    api_token: str = ""
    dataset_poll_seconds: float = 60.0
    trigger_period_seconds: float = 10.0
    outbox_max: int = 10000
    outbox_window: int = 400
    max_report_bytes: int = 1024 * 1024
    reconnect_max_seconds: float = 30.0
    gm_acks: bool | None = None   # None: detect from the GM's handshake (see gmclient)
    ack_timeout_seconds: float = 30.0
    insecure: bool = False

    @property
    def worker_key_path(self) -> str:
        return self.db_path + ".worker-key"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> LCConfig:
        env = dict(os.environ if env is None else env)
        gm_address = env.get("GM_ADDRESS", "").strip()
        if not gm_address:
            raise ConfigError("GM_ADDRESS is required (host:port of the GM websocket)")
        if "://" in gm_address:
            # Accept ws://host:port too; upstream only ever sets host:port.
            gm_address = gm_address.split("://", 1)[1]
        node_name = env.get("NODENAME") or env.get("HOSTNAME") or socket.gethostname()
        rootfs = env.get("ROOTFS_MOUNT_DIR") or "/rootfs"
        db_path = env.get("LC_DB_PATH") or str(Path(rootfs) / "var/lib/sedna/database.db")
        return cls(
            gm_address=gm_address.rstrip("/"),
            node_name=node_name,
            bind_address=env.get("BIND_ADDRESS") or "0.0.0.0",
            bind_port=_int(env, "BIND_PORT", 9100, 0),
            rootfs=rootfs,
            db_path=db_path,
            channel_token=_channel_token(env, rootfs),
            api_token=env.get("LC_API_TOKEN", ""),
            dataset_poll_seconds=_float(env, "LC_DATASET_POLL_SECONDS", 60.0, 0.05),
            trigger_period_seconds=_float(env, "LC_TRIGGER_PERIOD_SECONDS", 10.0, 0.05),
            outbox_max=_int(env, "LC_OUTBOX_MAX", 10000, 1),
            outbox_window=_int(env, "LC_OUTBOX_WINDOW", 400, 1),
            max_report_bytes=_int(env, "LC_MAX_REPORT_BYTES", 1024 * 1024, 1024),
            reconnect_max_seconds=_float(env, "LC_RECONNECT_MAX_SECONDS", 30.0, 0.1),
            gm_acks=None if env.get("LC_GM_ACKS", "auto").strip().lower() in ("", "auto")
            else _bool(env, "LC_GM_ACKS", True),
            ack_timeout_seconds=_float(env, "LC_ACK_TIMEOUT_SECONDS", 30.0, 0.1),
            insecure=_bool(env, "LC_INSECURE", False),
        )
