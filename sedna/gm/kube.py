"""A small async Kubernetes REST client for the GM's own reads, writes and watches (kopf watches the CRs).

Connection settings come from the kubeconfig named in the GM config, else in-cluster service account, else
``KUBECONFIG``/``~/.kube/config`` — the same resolution kopf's login uses, so both talk to the same server.

Request/response calls go through a lean keep-alive HTTP/1.1 pool (sedna/gm/http1.py); watches, long-lived
streams, use one aiohttp session (the HTTP library kopf itself uses). In a 200-job burst httpx cost the GM 43% of
its time, and aiohttp's general-purpose client a quarter of it (issue 16).
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp

from sedna.common import fastjson
from sedna.gm import http1
from sedna.gm.config import GMConfig

logger = logging.getLogger(__name__)

KIND_PATHS = {
    "Pod": ("/api/v1", "pods"),
    "Service": ("/api/v1", "services"),
    "Secret": ("/api/v1", "secrets"),
    "Event": ("/api/v1", "events"),
    "Deployment": ("/apis/apps/v1", "deployments"),
    "HorizontalPodAutoscaler": ("/apis/autoscaling/v2", "horizontalpodautoscalers"),
}
SEDNA_PREFIX = "/apis/sedna.io/v1alpha1"


class KubeError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


@dataclass
class Connection:
    server: str
    token: str = ""
    ca_path: str | None = None
    cert_path: str | None = None
    key_path: str | None = None
    insecure: bool = False
    namespace: str = "default"


def load_connection(cfg: GMConfig) -> Connection:
    from kubernetes import client, config

    conf = client.Configuration()
    namespace = "default"
    if cfg.kube_config:
        config.load_kube_config(config_file=cfg.kube_config, client_configuration=conf)
        namespace = _kubeconfig_namespace(cfg.kube_config) or namespace
    elif os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config(client_configuration=conf)
    else:
        config.load_kube_config(client_configuration=conf)
    if cfg.master:
        conf.host = cfg.master
    keys = conf.api_key or {}
    # The kubernetes client stores the kubeconfig token under "authorization" (older) or "BearerToken".
    auth = keys.get("authorization") or keys.get("BearerToken") or ""
    token = auth.split(" ", 1)[1] if auth.lower().startswith("bearer ") else auth
    return Connection(server=conf.host.rstrip("/"), token=token, ca_path=conf.ssl_ca_cert,
                      cert_path=conf.cert_file, key_path=conf.key_file, insecure=not conf.verify_ssl,
                      namespace=namespace)


def _kubeconfig_namespace(path: str) -> str:
    import yaml

    try:
        with open(path) as fh:
            doc = yaml.safe_load(fh) or {}
        current = doc.get("current-context")
        for ctx in doc.get("contexts") or []:
            if ctx.get("name") == current:
                return (ctx.get("context") or {}).get("namespace") or ""
    except (OSError, ValueError):
        return ""
    return ""


def _path(prefix: str, plural: str, namespace: str | None, name: str | None = None, sub: str | None = None) -> str:
    path = prefix
    if namespace:
        path += f"/namespaces/{quote(namespace)}"
    path += f"/{plural}"
    if name:
        path += f"/{quote(name)}"
    if sub:
        path += f"/{sub}"
    return path


class KubeClient:
    def __init__(self, conn: Connection, timeout: float = 30.0, max_connections: int = 32) -> None:
        self.conn = conn
        self._ssl: Any = None
        if conn.insecure:
            self._ssl = False
        elif conn.server.startswith("https"):
            ctx = ssl.create_default_context(cafile=conn.ca_path) if conn.ca_path else ssl.create_default_context()
            if conn.cert_path and conn.key_path:
                ctx.load_cert_chain(conn.cert_path, conn.key_path)
            self._ssl = ctx
        self._headers = {"Accept": "application/json"}
        if conn.token:
            self._headers["Authorization"] = f"Bearer {conn.token}"
        self._timeout = timeout
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._pool: http1.Pool | None = None
        self._pool_loop: asyncio.AbstractEventLoop | None = None
        self._header_lines = "".join(f"{k}: {v}\r\n" for k, v in self._headers.items()).encode("latin-1")

    def _client(self) -> aiohttp.ClientSession:
        """The session, made on first use (it belongs to the running event loop)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._max_connections, ssl=self._ssl, keepalive_timeout=60)
            self._session = aiohttp.ClientSession(headers=self._headers, connector=connector,
                                                  timeout=aiohttp.ClientTimeout(total=self._timeout))
        return self._session

    def _unary(self) -> http1.Pool:
        """The pool for request/response calls, made on first use in each event loop."""
        loop = asyncio.get_running_loop()
        if self._pool is None or self._pool_loop is not loop:
            context = None
            if self.conn.server.startswith("https"):
                if self._ssl is False:
                    context = ssl.create_default_context()
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
                else:
                    context = self._ssl
            self._pool = http1.Pool(self.conn.server, context, limit=self._max_connections, timeout=self._timeout)
            self._pool_loop = loop
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if self._session is not None:
            await self._session.close()

    async def _request(self, method: str, path: str, *, json: Any = None, params: dict | None = None,
                       headers: dict | None = None) -> Any:
        data = None
        lines = self._header_lines
        if json is not None:
            data = fastjson.dumps(json)
            ctype = (headers or {}).get("Content-Type", "application/json")
            lines += b"Content-Type: " + ctype.encode("latin-1") + b"\r\n"
        target = path + ("?" + urlencode(params) if params else "")
        try:
            status, body = await self._unary().request(method, target, lines, data)
        except http1.HTTPError as exc:
            raise KubeError(0, f"{method} {path}: {exc}") from exc
        if status >= 400:
            try:
                message = fastjson.loads(body).get("message") or body.decode(errors="replace")
            except (ValueError, AttributeError):
                message = body.decode(errors="replace")
            raise KubeError(status, message)
        return fastjson.loads(body) if body else None

    async def watch(self, path: str, params: dict[str, str]) -> AsyncIterator[dict]:
        """Events of one watch request (``{"type": ..., "object": ...}``) until the server ends it."""
        query = {**params, "watch": "true", "allowWatchBookmarks": "true"}
        timeout = aiohttp.ClientTimeout(total=None, sock_read=float(params.get("timeoutSeconds", 300)) + 30)
        async with self._client().get(self.conn.server + path, params=query, timeout=timeout) as resp:
            if resp.status >= 400:
                raise KubeError(resp.status, (await resp.read()).decode(errors="replace"))
            async for line in resp.content:
                if line.strip():
                    yield fastjson.loads(line)

    # ---- generic verbs --------------------------------------------------------------------------------

    async def get(self, prefix: str, plural: str, namespace: str, name: str) -> dict | None:
        try:
            return await self._request("GET", _path(prefix, plural, namespace, name))
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    async def list(self, prefix: str, plural: str, namespace: str | None, labels: dict[str, str] | None = None
                   ) -> list[dict]:
        params = {}
        if labels:
            params["labelSelector"] = ",".join(f"{k}={v}" for k, v in labels.items())
        doc = await self._request("GET", _path(prefix, plural, namespace), params=params)
        return list((doc or {}).get("items") or [])

    async def create(self, prefix: str, plural: str, namespace: str, body: dict) -> dict:
        return await self._request("POST", _path(prefix, plural, namespace), json=body)

    async def replace(self, prefix: str, plural: str, namespace: str, name: str, body: dict) -> dict:
        return await self._request("PUT", _path(prefix, plural, namespace, name), json=body)

    async def delete(self, prefix: str, plural: str, namespace: str, name: str) -> None:
        try:
            await self._request("DELETE", _path(prefix, plural, namespace, name),
                                json={"kind": "DeleteOptions", "apiVersion": "v1",
                                      "propagationPolicy": "Background"})
        except KubeError as exc:
            if exc.status != 404:
                raise

    async def merge_patch(self, prefix: str, plural: str, namespace: str, name: str, body: dict,
                          sub: str | None = None) -> dict:
        return await self._request("PATCH", _path(prefix, plural, namespace, name, sub), json=body,
                                   headers={"Content-Type": "application/merge-patch+json"})

    # ---- typed helpers --------------------------------------------------------------------------------

    async def get_cr(self, plural: str, namespace: str, name: str) -> dict | None:
        return await self.get(SEDNA_PREFIX, plural, namespace, name)

    async def list_cr(self, plural: str, namespace: str | None) -> list[dict]:
        return await self.list(SEDNA_PREFIX, plural, namespace)

    async def replace_cr_status(self, plural: str, obj: dict, status: dict) -> dict:
        """PUT the status subresource with the object's resourceVersion (409 on a concurrent change)."""
        body = {"apiVersion": "sedna.io/v1alpha1", "kind": obj.get("kind"), "metadata": {
            "name": obj["metadata"]["name"], "namespace": obj["metadata"].get("namespace"),
            "resourceVersion": obj["metadata"].get("resourceVersion")}, "spec": obj.get("spec"), "status": status}
        ns = obj["metadata"].get("namespace") or "default"
        return await self._request("PUT", _path(SEDNA_PREFIX, plural, ns, obj["metadata"]["name"], "status"),
                                   json=body)

    async def patch_cr(self, plural: str, namespace: str, name: str, patch: dict) -> dict:
        return await self.merge_patch(SEDNA_PREFIX, plural, namespace, name, patch)

    async def patch_cr_annotations(self, plural: str, namespace: str, name: str, annotations: dict) -> dict:
        return await self.patch_cr(plural, namespace, name, {"metadata": {"annotations": annotations}})

    async def create_object(self, namespace: str, manifest: dict) -> dict:
        prefix, plural = KIND_PATHS[manifest["kind"]]
        return await self.create(prefix, plural, namespace, manifest)

    async def replace_object(self, namespace: str, manifest: dict) -> dict:
        prefix, plural = KIND_PATHS[manifest["kind"]]
        return await self.replace(prefix, plural, namespace, manifest["metadata"]["name"], manifest)

    async def delete_object(self, namespace: str, kind: str, name: str) -> None:
        prefix, plural = KIND_PATHS[kind]
        await self.delete(prefix, plural, namespace, name)

    async def list_objects(self, kind: str, namespace: str, labels: dict[str, str]) -> list[dict]:
        prefix, plural = KIND_PATHS[kind]
        return await self.list(prefix, plural, namespace, labels)

    async def get_secret(self, namespace: str, name: str) -> dict | None:
        return await self.get("/api/v1", "secrets", namespace, name)
