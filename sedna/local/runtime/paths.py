"""Where things live on disk for a node, and how a container's mounts map onto host directories.

Layout under the cluster data directory::

    <data-dir>/nodes/<node>/                      the node's root: hostPath /x is <node-root>/x
    <node-root>/var/lib/kubelet/pods/<uid>/       one pod's directory
        rootfs/<mountPath> -> <host dir>          symlinks giving each mount a stable container-like path
        volumes/<kind>/<volume>/                  emptyDir / secret / configMap contents
        containers/<name>.pid                     "<pgid> <start-time>" of the running process group
    <data-dir>/logs/<namespace>_<pod>_<container>.log

There is no mount namespace: a container's process sees the host file system, so the runtime rewrites every
env value, command word and argument that starts with a mount path to ``<pod-dir>/rootfs/<mountPath>``
(see :func:`sedna.local.runtime.envvars.rewrite_paths`).
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VOLUME_DIRS = {
    "emptyDir": "kubernetes.io~empty-dir",
    "secret": "kubernetes.io~secret",
    "configMap": "kubernetes.io~configmap",
    "downwardAPI": "kubernetes.io~downward-api",
    "projected": "kubernetes.io~projected",
}


class VolumeError(ValueError):
    """A volume or mount the runtime cannot provide."""


def node_root(data_dir: Path | str, node: str) -> Path:
    return Path(data_dir) / "nodes" / node


def pod_dir(data_dir: Path | str, node: str, uid: str) -> Path:
    return node_root(data_dir, node) / "var" / "lib" / "kubelet" / "pods" / uid


def service_hosts_path(data_dir: Path | str) -> Path:
    """The Service name table pods resolve through (written by the cluster services, see
    :mod:`sedna.common.cluster_dns`)."""
    return Path(data_dir) / "services.json"


def log_path(data_dir: Path | str, namespace: str, pod: str, container: str) -> Path:
    return Path(data_dir) / "logs" / f"{namespace}_{pod}_{container}.log"


def host_path(root: Path | str, path: str) -> Path:
    """A node path (``/data/x``) as the host path under the node root; ``..`` cannot climb out of the root."""
    if not path:
        raise VolumeError("empty hostPath")
    clean = posixpath.normpath("/" + path.lstrip("/"))
    if clean.startswith("//"):
        clean = "/" + clean.lstrip("/")
    rel = clean.lstrip("/")
    return Path(root) / rel if rel else Path(root)


def inside(path: Path | str, root: Path | str) -> str:
    """A container path under ``root`` (``root`` + normalised ``path``) — never outside it."""
    clean = posixpath.normpath("/" + str(path).lstrip("/")).lstrip("/")
    return str(Path(root) / clean) if clean else str(root)


@dataclass
class VolumeSpec:
    name: str
    kind: str                    # hostPath | emptyDir | secret | configMap | downwardAPI
    host: Path                   # directory (or file for hostPath files) backing the volume
    host_type: str = ""          # hostPath.type
    source: dict[str, Any] = field(default_factory=dict)


def plan_volumes(pod: Mapping[str, Any], root: Path, pdir: Path) -> dict[str, VolumeSpec]:
    """Volume name → where it lives on the host. Unsupported volume kinds raise :class:`VolumeError`."""
    out: dict[str, VolumeSpec] = {}
    for vol in (pod.get("spec") or {}).get("volumes") or []:
        name = vol.get("name", "")
        if "hostPath" in vol:
            hp = vol["hostPath"] or {}
            out[name] = VolumeSpec(name, "hostPath", host_path(root, hp.get("path", "")), hp.get("type") or "")
            continue
        for kind, sub in VOLUME_DIRS.items():
            if kind in vol:
                out[name] = VolumeSpec(name, kind, pdir / "volumes" / sub / name, source=vol.get(kind) or {})
                break
        else:
            kinds = sorted(k for k in vol if k != "name")
            raise VolumeError(f"volume {name!r}: unsupported volume source {kinds} (supported: hostPath, "
                              f"{', '.join(VOLUME_DIRS)})")
    return out


def plan_mounts(container: Mapping[str, Any], volumes: Mapping[str, VolumeSpec]) -> dict[str, Path]:
    """mountPath → host path for one container (``subPath`` applied)."""
    mounts: dict[str, Path] = {}
    for vm in container.get("volumeMounts") or []:
        name = vm.get("name", "")
        if name not in volumes:
            raise VolumeError(f"container {container.get('name')!r}: volumeMount {name!r} names no volume")
        mount_path = posixpath.normpath("/" + str(vm.get("mountPath", "")).lstrip("/"))
        host = volumes[name].host
        sub = vm.get("subPath") or ""
        if sub:
            clean = posixpath.normpath(sub)
            if clean.startswith("..") or posixpath.isabs(clean):
                raise VolumeError(f"volumeMount {name!r}: subPath {sub!r} must be relative without '..'")
            host = host / clean
        mounts[mount_path] = host
    return mounts


def container_view(mounts: Mapping[str, Path], rootfs: Path
                   ) -> tuple[dict[str, str], dict[str, Path], dict[str, str]]:
    """``(rewrites, links, parents)``: mount path → path the process should use, rootfs symlink → host target,
    and each parent directory of a symlinked mount path → its directory in the rootfs.

    Each mount gets the symlink ``<rootfs>/<mountPath>``; a mount nested inside another mount gets no symlink
    (it would land in the outer volume) and is rewritten straight to its host path. A parent such as
    ``/home/data`` (of a mount at ``/home/data/models``) maps to ``<rootfs>/home/data``, where the mounts below
    it appear as symlinks, so ``$DATA_PATH_PREFIX/models/...`` works.
    """
    rewrites: dict[str, str] = {}
    links: dict[str, Path] = {}
    parents: dict[str, str] = {}
    paths = sorted(mounts)
    for mp in paths:
        if mp == "/":
            continue
        nested = any(other != mp and other != "/" and mp.startswith(other.rstrip("/") + "/") for other in paths)
        if nested:
            rewrites[mp] = str(mounts[mp])
            continue
        link = Path(inside(mp, rootfs))
        links[str(link)] = mounts[mp]
        rewrites[mp] = str(link)
        parent = posixpath.dirname(mp.rstrip("/"))
        while parent not in ("/", ""):
            parents.setdefault(parent, inside(parent, rootfs))
            parent = posixpath.dirname(parent)
    for mp in rewrites:
        parents.pop(mp, None)
    return rewrites, links, parents
