"""GM configuration: the YAML keys of gm.md §1.2 plus our additions (token, metrics, peering)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """The config file is missing or a key has a bad value; the message names the key."""


@dataclass
class GMConfig:
    kube_config: str = ""
    master: str = ""
    namespace: str = ""
    websocket_address: str = "0.0.0.0"
    websocket_port: int = 9000
    websocket_token: str = ""        # deprecated spelling of auth_secret (the old shared channel token)
    auth_secret: str = ""            # the GM secret every credential is derived from (docs/security.md)
    auth_secret_file: str = ""       # where the secret is read from (created with a random one if missing)
    insecure: bool = False           # explicit opt-out: no authentication on any channel
    insecure_nodes: frozenset[str] = frozenset()   # nodes whose (upstream) LC may connect without a node token
    max_message_bytes: int = 8 * 1024 * 1024
    lc_server: str = "http://localhost:9100"
    kb_server: str = "http://localhost:9020"
    min_resync_period_seconds: int = 30
    metrics_address: str = "0.0.0.0"
    metrics_port: int = 9090
    peering: str = ""
    workers: int = 8
    log_format: str = "json"


def _get(doc: dict, dotted: str, default: Any) -> Any:
    node: Any = doc
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return default if node is None else node


def _int(doc: dict, key: str, default: int, minimum: int = 0) -> int:
    value = _get(doc, key, default)
    try:
        value = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"config key {key!r} must be an integer, got {value!r}") from None
    if value < minimum:
        raise ConfigError(f"config key {key!r} must be >= {minimum}, got {value}")
    return value


def _names(doc: dict, key: str, env_value: str) -> frozenset[str]:
    """A list of node names from the config (YAML list) or, failing that, a comma-separated env value."""
    value = _get(doc, key, None)
    if value is None:
        value = [n for n in env_value.split(",") if n.strip()]
    if not isinstance(value, list) or not all(isinstance(n, str) and n.strip() for n in value):
        raise ConfigError(f"config key {key!r} must be a list of node names, got {value!r}")
    return frozenset(n.strip() for n in value)


def _bool(doc: dict, key: str, default: bool) -> bool:
    value = _get(doc, key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"config key {key!r} must be true or false, got {value!r}")
    return value
_ENV_REF = re.compile(r"^\$\(([A-Za-z_][A-Za-z0-9_]*)\)$")


def _address(doc: dict, key: str, env: dict[str, str]) -> str:
    """A bind address; ``$(NAME)`` (Kubernetes' env syntax) reads the env var NAME, so a ConfigMap can say
    ``$(POD_IP)`` for the pod's own address (the Helm chart's ``gm.bindAddress``)."""
    value = str(_get(doc, key, "0.0.0.0"))
    ref = _ENV_REF.match(value.strip())
    if not ref:
        return value
    resolved = env.get(ref.group(1), "").strip()
    if not resolved:
        raise ConfigError(f"config key {key!r} is {value!r} but the environment has no {ref.group(1)}")
    return resolved


def parse_config(doc: dict[str, Any] | None, env: dict[str, str] | None = None) -> GMConfig:
    doc = doc or {}
    if not isinstance(doc, dict):
        raise ConfigError("config file must hold a YAML mapping")
    env = os.environ if env is None else env
    cfg = GMConfig(
        kube_config=str(_get(doc, "kubeConfig", "")),
        master=str(_get(doc, "master", "")),
        namespace=str(_get(doc, "namespace", "")),
        websocket_address=_address(doc, "websocket.address", env),
        websocket_port=_int(doc, "websocket.port", 9000),
        websocket_token=str(_get(doc, "websocket.token", "") or env.get("SEDNA_CHANNEL_TOKEN", "")),
        max_message_bytes=_int(doc, "websocket.maxMessageBytes", 8 * 1024 * 1024, 1024),
        lc_server=str(_get(doc, "localController.server", "http://localhost:9100")),
        kb_server=str(_get(doc, "knowledgeBaseServer.server", "http://localhost:9020")),
        min_resync_period_seconds=_int(doc, "minResyncPeriodSeconds", 30, 1),
        metrics_address=_address(doc, "metrics.address", env),
        metrics_port=_int(doc, "metrics.port", 9090),
        peering=str(_get(doc, "peering", "")),
        workers=_int(doc, "workers", 8, 1),
        log_format=str(_get(doc, "logFormat", "json")),
        auth_secret=str(_get(doc, "auth.secret", "") or env.get("SEDNA_GM_SECRET", "")),
        auth_secret_file=str(_get(doc, "auth.secretFile", "") or env.get("SEDNA_GM_SECRET_FILE", "")),
        insecure=_bool(doc, "auth.insecure", False) or env.get("SEDNA_GM_INSECURE", "").lower() == "true",
        insecure_nodes=_names(doc, "auth.insecureNodes", env.get("SEDNA_GM_INSECURE_NODES", "")),
    )
    if not cfg.auth_secret and cfg.websocket_token:
        cfg.auth_secret = cfg.websocket_token
    if cfg.log_format not in ("json", "text"):
        raise ConfigError(f"config key 'logFormat' must be json or text, got {cfg.log_format!r}")
    if cfg.kube_config and not Path(cfg.kube_config).is_file():
        raise ConfigError(f"kubeConfig {cfg.kube_config!r} does not exist")
    return cfg


def load_config(path: str | os.PathLike | None) -> GMConfig:
    path = Path(path or "./sedna-gm.yaml")
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {exc}") from None
    cfg = parse_config(doc)
    if not (cfg.auth_secret or cfg.auth_secret_file or cfg.insecure):
        cfg.auth_secret_file = str(path.resolve().parent / "sedna-gm.secret")
    return cfg
