"""Reading the Kubernetes API: where it is (kubeconfig or in-cluster), list + watch, pod logs.

The dashboard only reads (get, list, watch; pods/log), so this is a small httpx client rather than the
generated one: a watch is one streamed GET whose lines are events, and the same code serves the single-machine
cluster and a real one. The kubernetes package only resolves the kubeconfig (contexts, tokens, client
certificates, the in-cluster service account).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

logger = logging.getLogger(__name__)


class KubeError(RuntimeError):
    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


@dataclass
class KubeConnection:
    server: str
    headers: dict[str, str] = field(default_factory=dict)
    verify: Any = True
    cert: tuple[str, str] | None = None

    def client(self, timeout: httpx.Timeout | float = 30.0) -> httpx.Client:
        return httpx.Client(base_url=self.server, headers=self.headers, verify=self.verify, cert=self.cert,
                            timeout=timeout)


def load_connection(kubeconfig: str | None = None) -> KubeConnection:
    """``kubeconfig`` (or ``$KUBECONFIG``, or ``~/.kube/config``); inside a pod with none of them, the service
    account."""
    from kubernetes import client, config

    cfg = client.Configuration()
    path = kubeconfig or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or ""
    if not path and Path("~/.kube/config").expanduser().exists():
        path = str(Path("~/.kube/config").expanduser())
    if path:
        config.load_kube_config(config_file=path, client_configuration=cfg)
    else:
        config.load_incluster_config(client_configuration=cfg)
    headers = {}
    # the client names its token setting differently across versions ("authorization", "BearerToken")
    for setting in cfg.auth_settings().values():
        if setting.get("in") == "header" and setting.get("value"):
            headers[setting.get("key") or "Authorization"] = setting["value"]
    verify: Any = cfg.ssl_ca_cert or cfg.verify_ssl
    cert = (cfg.cert_file, cfg.key_file) if cfg.cert_file and cfg.key_file else None
    return KubeConnection(cfg.host.rstrip("/"), headers, verify, cert)


def collection_path(group_version: str, plural: str, namespace: str | None = None) -> str:
    base = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
    return f"{base}/namespaces/{namespace}/{plural}" if namespace else f"{base}/{plural}"


class KubeReader:
    """Blocking reads; each watcher thread uses its own streamed request, the handlers share one client."""

    def __init__(self, conn: KubeConnection):
        self.conn = conn
        self._http = conn.client()

    def close(self) -> None:
        self._http.close()

    def list(self, path: str) -> dict[str, Any]:
        resp = self._http.get(path)
        if resp.status_code >= 400:
            raise KubeError(resp.status_code, resp.text[:300])
        return resp.json()

    def watch(self, path: str, resource_version: str, stop, timeout_seconds: int = 240) -> Iterator[dict]:
        """Yield the watch events after ``resource_version`` until the server ends the stream or ``stop()``."""
        params = {"watch": "1", "resourceVersion": resource_version, "allowWatchBookmarks": "true",
                  "timeoutSeconds": str(timeout_seconds)}
        with self.conn.client(httpx.Timeout(30.0, read=timeout_seconds + 30)) as http, \
                http.stream("GET", path, params=params) as resp:
            if resp.status_code >= 400:
                resp.read()
                raise KubeError(resp.status_code, resp.text[:300])
            for line in resp.iter_lines():
                if stop():
                    return
                if line.strip():
                    yield json.loads(line)

    def pod_log(self, namespace: str, pod: str, container: str | None, tail_lines: int) -> str:
        params: dict[str, str] = {"tailLines": str(tail_lines)}
        if container:
            params["container"] = container
        resp = self._http.get(f"/api/v1/namespaces/{namespace}/pods/{pod}/log", params=params)
        if resp.status_code >= 400:
            raise KubeError(resp.status_code, resp.text[:300])
        return resp.text
