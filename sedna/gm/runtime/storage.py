"""Storage injection (gm.md §3): URL translation, hostPath mounts, the storage-initializer and S3 credentials.

``inject_storage(pod_spec, mounts)`` edits a pod spec in place and returns the env vars the workers must get;
everything here is pure so the exact result is table-tested.
"""

from __future__ import annotations

import base64
import posixpath
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sedna.gm.runtime.names import dns_label

INITIALIZER_NAME = "storage-initializer"
INITIALIZER_IMAGE = "kubeedge/sedna-storage-initializer:v0.3.0"
INITIALIZER_VOLUME = "sedna-storage-initializer"
DOWNLOAD_DIR = "/downloads"
HOST_PREFIX = "/home/data"
INDIRECT_MARK = "@"
DOWNLOAD_SCHEMES = ("s3", "http", "https")


@dataclass
class Mount:
    """One logical input of a worker: URLs, the env var that tells the worker where they are, flags."""

    urls: list[str]
    env_name: str
    secret: dict[str, Any] | None = None
    download: bool = False
    indirect: bool = False


@dataclass
class _Injection:
    worker_env: dict[str, str] = field(default_factory=dict)
    worker_volumes: dict[str, dict] = field(default_factory=dict)
    worker_mounts: dict[str, dict] = field(default_factory=dict)
    init_args: list[str] = field(default_factory=list)
    init_env: dict[str, str] = field(default_factory=dict)
    init_volumes: dict[str, dict] = field(default_factory=dict)
    init_mounts: dict[str, dict] = field(default_factory=dict)
    host_mounted: bool = False


def s3_env_from_secret(secret: dict[str, Any] | None) -> dict[str, str]:
    """S3 credential env vars derived from a Secret (gm.md §3.3); no ``s3-endpoint`` annotation -> none."""
    if not secret:
        return {}
    annotations = (secret.get("metadata") or {}).get("annotations") or {}
    endpoint = annotations.get("s3-endpoint")
    if not endpoint:
        return {}
    scheme = "http" if annotations.get("s3-usehttps") == "0" else "https"
    data = secret_data(secret)
    env = {"S3_ENDPOINT_URL": f"{scheme}://{endpoint}"}
    for key in ("ACCESS_KEY_ID", "SECRET_ACCESS_KEY"):
        if key in data:
            env[key] = data[key]
    return env


def secret_data(secret: dict[str, Any]) -> dict[str, str]:
    """Decoded ``data`` plus ``stringData`` of a Secret; undecodable values are skipped."""
    out: dict[str, str] = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            out[key] = base64.b64decode(value or "").decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            continue
    for key, value in (secret.get("stringData") or {}).items():
        out[key] = str(value)
    return out


def _host_volume(inj: _Injection, host_dir: str, *, for_init: bool) -> None:
    name = dns_label(host_dir)
    volume = {"name": name, "hostPath": {"path": host_dir, "type": "Directory"}}
    mount = {"name": name, "mountPath": HOST_PREFIX + host_dir}
    if for_init:
        inj.init_volumes.setdefault(name, volume)
        inj.init_mounts.setdefault(name, mount)
    else:
        inj.worker_volumes.setdefault(name, volume)
        inj.worker_mounts.setdefault(name, mount)
        inj.host_mounted = True


def _translate(inj: _Injection, mount: Mount, url: str) -> str:
    """Container path of one URL (or the URL itself when the worker reads it directly)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    secret_env = s3_env_from_secret(mount.secret) if scheme == "s3" else {}
    if scheme in DOWNLOAD_SCHEMES:
        if not mount.download:
            inj.worker_env.update({k: v for k, v in secret_env.items() if k not in inj.worker_env})
            return url
        container_path = f"{DOWNLOAD_DIR}/{parts.netloc}{parts.path}"
        _add_download(inj, url, container_path, mount.indirect, secret_env)
        return container_path
    if scheme:
        # Unknown scheme: the worker gets the URL untouched, nothing is mounted.
        return url
    host_dir = posixpath.dirname(url) or "/"
    if not mount.indirect:
        _host_volume(inj, host_dir, for_init=False)
        return HOST_PREFIX + url
    _host_volume(inj, host_dir, for_init=True)
    container_path = DOWNLOAD_DIR + url
    _add_download(inj, HOST_PREFIX + url, container_path, True, secret_env)
    return container_path


def _add_download(inj: _Injection, src: str, container_path: str, indirect: bool, secret_env: dict) -> None:
    dst = posixpath.dirname(container_path) + "/"
    inj.init_args += [src, (INDIRECT_MARK + dst) if indirect else dst]
    for key, value in secret_env.items():
        inj.init_env.setdefault(key, value)


def inject_storage(pod_spec: dict[str, Any], mounts: list[Mount]) -> dict[str, str]:
    """Add volumes, the init container and mounts to ``pod_spec``; return env vars for the workers."""
    inj = _Injection()
    env: dict[str, str] = {}
    for mount in mounts:
        paths = [_translate(inj, mount, url) for url in mount.urls if url]
        env[mount.env_name] = ";".join(paths)
    volumes = pod_spec.setdefault("volumes", [])
    existing = {v.get("name") for v in volumes}

    def add_volume(volume: dict) -> None:
        if volume["name"] not in existing:
            existing.add(volume["name"])
            volumes.append(volume)

    containers = pod_spec.get("containers") or []
    if inj.init_args:
        add_volume({"name": INITIALIZER_VOLUME, "emptyDir": {}})
        for volume in inj.init_volumes.values():
            add_volume(volume)
        init_env = dict(inj.init_env)
        init_env["INDIRECT_URL_MARK"] = INDIRECT_MARK
        pod_spec.setdefault("initContainers", []).append({
            "name": INITIALIZER_NAME,
            "image": INITIALIZER_IMAGE,
            "imagePullPolicy": "IfNotPresent",
            "args": list(inj.init_args),
            "env": [{"name": k, "value": v} for k, v in init_env.items()],
            "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
            "terminationMessagePolicy": "FallbackToLogsOnError",
            "volumeMounts": [{"name": INITIALIZER_VOLUME, "mountPath": DOWNLOAD_DIR}]
            + list(inj.init_mounts.values()),
        })
        for container in containers:
            container.setdefault("volumeMounts", []).append(
                {"name": INITIALIZER_VOLUME, "mountPath": DOWNLOAD_DIR, "readOnly": True})
    for volume in inj.worker_volumes.values():
        add_volume(volume)
    for container in containers:
        have = {m.get("mountPath") for m in container.get("volumeMounts") or []}
        for mount in inj.worker_mounts.values():
            if mount["mountPath"] not in have:
                container.setdefault("volumeMounts", []).append(dict(mount))
    if not volumes:
        pod_spec.pop("volumes")
    if inj.host_mounted:
        env["DATA_PATH_PREFIX"] = HOST_PREFIX
    env.update(inj.worker_env)
    return env
