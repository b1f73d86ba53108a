"""Worker configuration read from the environment the GM/LC give each worker pod.

``BaseConfig`` holds the job-wide settings (read once, at import time, as upstream does); ``Context`` reads
arbitrary variables live and decodes the ``<ALGORITHM>_NAME`` / ``<ALGORITHM>_PARAMETERS`` pairs.
"""

from __future__ import annotations

import json
import os
import runpy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sedna.common.utils import singleton

__all__ = ["BaseConfig", "ConfigSerializable", "Context", "ParametersError", "parse_parameters"]

# attribute name -> (env var, default), the table of sdk.md §1.1
ENV_ATTRIBUTES: dict[str, tuple[str, Any]] = {
    "device_category": ("DEVICE_CATEGORY", "CPU"),
    "backend_type": ("BACKEND_TYPE", "TENSORFLOW"),
    "lc_server": ("LC_SERVER", "http://127.0.0.1:9100"),
    "original_dataset_url": ("ORIGINAL_DATASET_URL", None),
    "train_dataset_url": ("TRAIN_DATASET_URL", None),
    "test_dataset_url": ("TEST_DATASET_URL", None),
    "data_path_prefix": ("DATA_PATH_PREFIX", "/home/data"),
    "namespace": ("NAMESPACE", ""),
    "worker_name": ("WORKER_NAME", ""),
    "service_name": ("SERVICE_NAME", ""),
    "job_name": ("JOB_NAME", "sedna"),
    "pretrained_model_url": ("PRETRAINED_MODEL_URL", "./"),
    "model_url": ("MODEL_URL", None),
    "model_name": ("MODEL_NAME", None),
    "log_level": ("LOG_LEVEL", "INFO"),
    "transmitter": ("TRANSMITTER", "ws"),
    "agg_data_path": ("AGG_DATA_PATH", "./"),
    "s3_endpoint_url": ("S3_ENDPOINT_URL", ""),
    "access_key_id": ("ACCESS_KEY_ID", ""),
    "secret_access_key": ("SECRET_ACCESS_KEY", ""),
    "parameters": ("PARAMETERS", None),
}

_REMOTE_PREFIXES = ("s3://", "http://", "https://", "gs://")


class ParametersError(ValueError):
    """``PARAMETERS`` names a file that cannot be read or holds content that does not parse."""


def parse_parameters(value: str) -> Any:
    """Decode a ``PARAMETERS`` value.

    ``*.yaml``/``*.yml`` → YAML file, ``*.json`` → JSON file (local, or remote via FileOps), ``*.py`` → the
    file is executed and its public globals returned — **only from a local path** (we refuse to download
    and run code), anything else → a JSON document given inline.
    """
    text = value.strip()
    lower = text.lower()
    if lower.endswith((".yaml", ".yml", ".json")):
        try:
            content = Path(_local_copy(text)).read_text(encoding="utf-8")
        except OSError as exc:  # includes FileOpsError for remote files
            raise ParametersError(f"PARAMETERS file {text!r} cannot be read: {exc}") from None
        try:
            if lower.endswith(".json"):
                return json.loads(content)
            import yaml

            return yaml.safe_load(content)
        except ValueError as exc:  # json.JSONDecodeError and yaml.YAMLError's subclasses
            raise ParametersError(f"PARAMETERS file {text!r} does not parse: {exc}") from None
        except Exception as exc:  # yaml.YAMLError is not a ValueError
            raise ParametersError(f"PARAMETERS file {text!r} does not parse: {exc}") from None
    if lower.endswith(".py"):
        if text.startswith(_REMOTE_PREFIXES):
            raise ParametersError(f"PARAMETERS python file {text!r} is remote; only local .py files are run")
        local = text.removeprefix("file://")
        if not os.path.isfile(local):
            raise ParametersError(f"PARAMETERS python file {text!r} does not exist")
        module_globals = runpy.run_path(local, run_name="sedna_parameters")
        return {k: v for k, v in module_globals.items() if not k.startswith("__")}
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ParametersError(f"PARAMETERS is neither a .yaml/.yml/.json/.py path nor JSON: {exc}") from None


def _local_copy(url: str) -> str:
    if url.startswith("file://"):
        return url[len("file://"):]
    if url.startswith(_REMOTE_PREFIXES):
        from sedna.common.file_ops import FileOps  # lazy: file_ops imports config

        return FileOps.download(url)
    return url


class ConfigSerializable:
    """Dict-like access to class-level settings, with upstream's class-mutating ``from_json``."""

    def _attribute_names(self) -> list[str]:
        names = []
        for name in dir(self):
            if name.startswith("_"):
                continue
            if callable(getattr(self, name, None)):
                continue
            names.append(name)
        return names

    def dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._attribute_names()}

    def to_json(self) -> dict[str, Any]:
        """Settings as a JSON-able dict (nested serialisables expand; other objects become strings)."""
        return {name: _jsonable(value) for name, value in self.dict().items()}

    def get(self, item: str, default: Any = "") -> Any:
        return self[item] or default

    def __getitem__(self, item: str) -> Any:
        return getattr(self, item, None)

    def __contains__(self, item: str) -> bool:
        return hasattr(self, item)

    def update(self, **kwargs: Any) -> ConfigSerializable:
        """Set only attributes that already exist (on the class, so every holder sees the change)."""
        for key, value in kwargs.items():
            if hasattr(self, key) and not callable(getattr(self, key)):
                setattr(type(self), key, value)
        return self

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str | None):
        """Set a **class attribute** for every key of ``data`` (a dict or a JSON object string).

        As upstream: a job passing a config dict mutates the process-wide configuration.
        """
        if not data:
            return cls
        if isinstance(data, (str, bytes)):
            data = json.loads(data)
        if not isinstance(data, Mapping):
            raise TypeError(f"config must be a mapping, got {type(data).__name__}")
        for key, value in data.items():
            setattr(cls, str(key), value)
        return cls


def _jsonable(value: Any) -> Any:
    if isinstance(value, ConfigSerializable):
        return value.to_json()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


@singleton
class BaseConfig(ConfigSerializable):
    """Process-wide worker settings (``BaseConfig()`` always returns the same object).

    Values come from the environment once, at import; ``reload_from_env()`` re-reads them (our addition, for
    tests and tools). If ``PARAMETERS`` is set, ``parameter`` holds its parsed content.
    """

    parameter: Any = None

    def __init__(self) -> None:
        self._parse_parameter()

    @classmethod
    def reload_from_env(cls, environ: Mapping[str, str] | None = None) -> BaseConfig:
        env = os.environ if environ is None else environ
        for attr, (var, default) in ENV_ATTRIBUTES.items():
            setattr(cls, attr, env.get(var, default))
        cls.parameter = None
        instance = cls()
        instance._parse_parameter()
        return instance

    def _parse_parameter(self) -> None:
        raw = type(self).parameters
        type(self).parameter = parse_parameters(raw) if raw else None


for _attr, (_var, _default) in ENV_ATTRIBUTES.items():
    setattr(BaseConfig, _attr, os.environ.get(_var, _default))


class Context:
    """Live view of the worker's environment."""

    parameters = os.environ

    @classmethod
    def get_parameters(cls, param: str, default: Any = None) -> Any:
        """Env ``param``, else env ``param.upper()``; empty strings count as missing."""
        value = cls.parameters.get(param) or cls.parameters.get(param.upper())
        return value if value else default

    @classmethod
    def get_algorithm_from_api(cls, algorithm: str, **param: Any) -> dict[str, Any]:
        """``{"method": <ALGORITHM>_NAME, "param": {...}}`` or ``{}`` when no name is configured.

        ``<ALGORITHM>_PARAMETERS`` is a JSON list of ``{"key": ..., "value": ...}``; a missing value becomes
        ``""`` and anything malformed yields no parameters. Keyword arguments override.
        """
        name = cls.get_parameters(f"{algorithm}_NAME")
        if not name:
            return {}
        raw = cls.get_parameters(f"{algorithm}_PARAMETERS")
        parsed: dict[str, Any] = {}
        try:
            items = json.loads(raw)
            if not isinstance(items, list):
                raise ValueError("not a list")
            for item in items:
                if not isinstance(item, dict) or "key" not in item:
                    raise ValueError("item without key")
                parsed[item["key"]] = item.get("value", "")
        except (TypeError, ValueError):
            parsed = {}
        parsed.update(param)
        return {"method": name, "param": parsed}
