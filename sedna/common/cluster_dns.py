"""Service names resolved when a worker connects, as cluster DNS does, in single-machine mode.

On Kubernetes a pod resolves a Service name (``svc``, ``svc.ns``, ``svc.ns.svc.cluster.local``) through cluster
DNS each time it connects, so a worker that starts before the Service it talks to works as soon as that Service
exists: a FeatureExtractionService and a VideoAnalyticsJob applied together find each other whatever the order.
``sedna local`` has no DNS server. Its cluster-services process keeps a table of every Service's fully
qualified name and ClusterIP in one JSON file (written atomically on every change), and the node agent gives
each pod two variables: ``SEDNA_SERVICE_HOSTS`` (that file) and ``SEDNA_SERVICE_NAMESPACE`` (the pod's
namespace). When both are set, importing ``sedna`` calls :func:`install`, which puts a lookup in that table in
front of ``socket.getaddrinfo`` (so httpx, asyncio, websockets and requests all see it). Names are searched as
a pod's resolv.conf does: ``<name>.<ns>.svc.<domain>``, ``<name>.svc.<domain>``, ``<name>.<domain>``, then the
name itself. Names not in the table go to the system resolver unchanged.

File: ``{"domain": "cluster.local", "hosts": {"<svc>.<ns>.svc.cluster.local": "<clusterIP>", ...}}``.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["HOSTS_ENV", "NAMESPACE_ENV", "HostsTable", "install", "lookup", "table_document", "write_table"]

logger = logging.getLogger(__name__)

HOSTS_ENV = "SEDNA_SERVICE_HOSTS"
NAMESPACE_ENV = "SEDNA_SERVICE_NAMESPACE"
DEFAULT_DOMAIN = "cluster.local"


def lookup(host: str, hosts: Mapping[str, str], namespace: str, domain: str = DEFAULT_DOMAIN) -> str | None:
    """The ClusterIP for ``host`` as seen from a pod in ``namespace``, or None (not a known Service name)."""
    name = host.rstrip(".").lower()
    if not name or name.replace(".", "").isdigit():
        return None
    for candidate in (f"{name}.{namespace}.svc.{domain}", f"{name}.svc.{domain}", f"{name}.{domain}", name):
        ip = hosts.get(candidate)
        if ip:
            return ip
    return None


def table_document(services: list[Mapping[str, Any]], domain: str = DEFAULT_DOMAIN) -> dict[str, Any]:
    """The file's content for these Service objects (those without a ClusterIP are left out)."""
    hosts = {}
    for svc in services:
        meta, spec = svc.get("metadata") or {}, svc.get("spec") or {}
        ip = spec.get("clusterIP") or ""
        if ip and ip != "None" and meta.get("name"):
            hosts[f"{meta['name']}.{meta.get('namespace') or 'default'}.svc.{domain}".lower()] = ip
    return {"domain": domain, "hosts": dict(sorted(hosts.items()))}


def write_table(path: Path, services: list[Mapping[str, Any]], domain: str = DEFAULT_DOMAIN) -> None:
    """Write the table atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(table_document(services, domain)), encoding="utf-8")
    os.replace(tmp, path)


class HostsTable:
    """The table file, re-read when its modification time or size changes."""

    def __init__(self, path: str | os.PathLike, namespace: str):
        self.path = Path(path)
        self.namespace = namespace or "default"
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._hosts: dict[str, str] = {}
        self._domain = DEFAULT_DOMAIN

    def _refresh(self) -> None:
        try:
            st = self.path.stat()
        except OSError:
            return
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            logger.debug("service hosts file %s unreadable: %s", self.path, exc)
            return
        self._stamp = stamp
        self._hosts = {str(k).lower(): str(v) for k, v in (doc.get("hosts") or {}).items()}
        self._domain = str(doc.get("domain") or DEFAULT_DOMAIN)

    def resolve(self, host: Any) -> str | None:
        if isinstance(host, bytes):
            host = host.decode("ascii", "replace")
        if not isinstance(host, str):
            return None
        with self._lock:
            self._refresh()
            return lookup(host, self._hosts, self.namespace, self._domain)


_installed: HostsTable | None = None


def install(environ: Mapping[str, str] | None = None) -> HostsTable | None:
    """Put the table in front of ``socket.getaddrinfo``/``gethostbyname`` if the env names one (once)."""
    global _installed
    env = os.environ if environ is None else environ
    path = env.get(HOSTS_ENV)
    if not path or _installed is not None:
        return _installed
    table = HostsTable(path, env.get(NAMESPACE_ENV, "default"))
    system_getaddrinfo, system_gethostbyname = socket.getaddrinfo, socket.gethostbyname

    def getaddrinfo(host, *args, **kwargs):
        ip = table.resolve(host)
        return system_getaddrinfo(ip if ip else host, *args, **kwargs)

    def gethostbyname(host):
        ip = table.resolve(host)
        return ip if ip else system_gethostbyname(host)

    socket.getaddrinfo = getaddrinfo
    socket.gethostbyname = gethostbyname
    _installed = table
    return table
