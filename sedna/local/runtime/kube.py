"""A small asyncio client of the Kubernetes REST API (httpx): requests, list+watch informers.

Only HTTP: the runtime must work against the emulator in ``sedna.local.apiserver`` and, in principle, against
a real API server.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import yaml

log = logging.getLogger(__name__)

MERGE = "application/merge-patch+json"


class ApiError(RuntimeError):
    def __init__(self, status: int, body: Any, what: str):
        self.status = status
        self.body = body
        message = body.get("message") if isinstance(body, dict) else str(body)[:300]
        super().__init__(f"{what}: HTTP {status}: {message}")


def load_kubeconfig(path: str | Path) -> tuple[str, dict[str, str], Any]:
    """(server, headers, verify) of the current context of a kubeconfig file (token or no auth)."""
    doc = yaml.safe_load(Path(path).read_text()) or {}
    current = doc.get("current-context")
    ctx = next((c["context"] for c in doc.get("contexts") or [] if c.get("name") == current), None)
    if ctx is None and doc.get("contexts"):
        ctx = doc["contexts"][0]["context"]
    ctx = ctx or {}
    cluster = next((c["cluster"] for c in doc.get("clusters") or [] if c.get("name") == ctx.get("cluster")),
                   (doc.get("clusters") or [{}])[0].get("cluster", {}))
    user = next((u["user"] for u in doc.get("users") or [] if u.get("name") == ctx.get("user")), {}) or {}
    headers = {"Authorization": f"Bearer {user['token']}"} if user.get("token") else {}
    verify: Any = True
    if cluster.get("insecure-skip-tls-verify"):
        verify = False
    elif cluster.get("certificate-authority"):
        verify = ssl.create_default_context(cafile=cluster["certificate-authority"])
    return cluster.get("server", ""), headers, verify


class KubeClient:
    def __init__(self, server: str, headers: dict[str, str] | None = None, verify: Any = True,
                 timeout: float = 30.0):
        self.server = server.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.server, headers=headers or {}, verify=verify,
                                       timeout=httpx.Timeout(timeout, connect=10.0))

    @classmethod
    def from_args(cls, server: str | None, kubeconfig: str | None) -> KubeClient:
        if kubeconfig:
            url, headers, verify = load_kubeconfig(kubeconfig)
            return cls(server or url, headers, verify)
        if not server:
            raise ValueError("need --server or --kubeconfig")
        return cls(server)

    async def close(self) -> None:
        await self._http.aclose()

    async def request(self, method: str, path: str, *, body: Any = None, params: dict[str, Any] | None = None,
                      content_type: str = "application/json", ok: tuple[int, ...] = ()) -> Any:
        headers = {"Content-Type": content_type} if body is not None else {}
        resp = await self._http.request(method, path, params=params, headers=headers,
                                        content=json.dumps(body) if body is not None else None)
        try:
            data = resp.json()
        except ValueError:
            data = resp.text
        if resp.status_code >= 400 and resp.status_code not in ok:
            raise ApiError(resp.status_code, data, f"{method} {path}")
        return data

    async def get(self, path: str, **params) -> Any:
        return await self.request("GET", path, params=params or None)

    async def get_or_none(self, path: str) -> Any:
        try:
            return await self.get(path)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def create(self, path: str, obj: dict[str, Any]) -> Any:
        return await self.request("POST", path, body=obj)

    async def merge_patch(self, path: str, patch: dict[str, Any]) -> Any:
        return await self.request("PATCH", path, body=patch, content_type=MERGE)

    async def delete(self, path: str, options: dict[str, Any] | None = None) -> Any:
        body = {"apiVersion": "v1", "kind": "DeleteOptions", **(options or {})} if options else None
        return await self.request("DELETE", path, body=body)

    async def watch(self, path: str, resource_version: str, params: dict[str, Any] | None = None,
                    timeout_seconds: int = 300):
        """Yield watch events (dicts with ``type`` and ``object``) until the server ends the stream."""
        query = {"watch": "true", "resourceVersion": resource_version, "timeoutSeconds": str(timeout_seconds),
                 "allowWatchBookmarks": "true", **(params or {})}
        timeout = httpx.Timeout(timeout_seconds + 30, connect=10.0)
        async with self._http.stream("GET", path, params=query, timeout=timeout) as resp:
            if resp.status_code >= 400:
                body = await resp.aread()
                raise ApiError(resp.status_code, body.decode("utf-8", "replace"), f"WATCH {path}")
            async for line in resp.aiter_lines():
                if line.strip():
                    yield json.loads(line)


Handler = Callable[[str, dict[str, Any]], Awaitable[None] | None]


class Informer:
    """List + watch one collection, keep a cache keyed by ``namespace/name`` and call ``handler(type, obj)``
    for every change (``ADDED``/``MODIFIED``/``DELETED``; a relist reports vanished objects as ``DELETED``)."""

    def __init__(self, client: KubeClient, path: str, handler: Handler | None = None,
                 params: dict[str, Any] | None = None, keep: Callable[[dict[str, Any]], bool] | None = None):
        self.client = client
        self.path = path
        self.handler = handler
        self.params = params or {}
        self.keep = keep or (lambda obj: True)
        self.cache: dict[str, dict[str, Any]] = {}
        self.synced = asyncio.Event()
        self._rv = ""

    @staticmethod
    def key(obj: dict[str, Any]) -> str:
        meta = obj.get("metadata") or {}
        return f"{meta.get('namespace', '')}/{meta.get('name', '')}"

    async def _emit(self, etype: str, obj: dict[str, Any]) -> None:
        if self.handler is None:
            return
        try:
            result = self.handler(etype, obj)
            if asyncio.iscoroutine(result):
                await result
        except Exception:  # a bad object must not stop the informer
            log.exception("handler failed for %s %s", etype, self.key(obj))

    async def _relist(self) -> None:
        data = await self.client.get(self.path, **self.params)
        self._rv = (data.get("metadata") or {}).get("resourceVersion", "")
        fresh = {self.key(o): o for o in data.get("items") or [] if self.keep(o)}
        for key in list(self.cache):
            if key not in fresh:
                gone = self.cache.pop(key)
                await self._emit("DELETED", gone)
        for key, obj in fresh.items():
            old = self.cache.get(key)
            self.cache[key] = obj
            if old is None:
                await self._emit("ADDED", obj)
            elif (old.get("metadata") or {}).get("resourceVersion") != (obj.get("metadata") or {}).get(
                    "resourceVersion"):
                await self._emit("MODIFIED", obj)
        self.synced.set()

    async def run(self) -> None:
        need_list = True
        delay = 0.2
        while True:
            try:
                if need_list:
                    await self._relist()
                    need_list = False
                async for event in self.client.watch(self.path, self._rv, self.params):
                    etype, obj = event.get("type"), event.get("object") or {}
                    if etype == "ERROR":
                        if obj.get("code") == 410:
                            need_list = True
                        else:
                            log.warning("watch %s error: %s", self.path, obj.get("message"))
                            need_list = True
                        break
                    rv = (obj.get("metadata") or {}).get("resourceVersion")
                    if rv:
                        self._rv = rv
                    if etype == "BOOKMARK":
                        continue
                    key = self.key(obj)
                    if etype == "DELETED" or not self.keep(obj):
                        if self.cache.pop(key, None) is not None or etype == "DELETED":
                            await self._emit("DELETED", obj)
                        continue
                    self.cache[key] = obj
                    await self._emit(etype, obj)
                delay = 0.2
            except asyncio.CancelledError:
                raise
            except ApiError as exc:
                if exc.status == 410:
                    need_list = True
                    continue
                log.warning("informer %s: %s; retrying in %.1fs", self.path, exc, delay)
                need_list = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            except (httpx.HTTPError, OSError, ValueError) as exc:
                log.warning("informer %s: %s; retrying in %.1fs", self.path, exc, delay)
                need_list = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)


async def run_until_stopped(component: Any, stop: asyncio.Event) -> None:
    """Run ``component.run()`` until ``stop`` is set, then ``await component.shutdown()``; if ``run()`` fails
    first, shut down and raise its exception."""
    main = asyncio.create_task(component.run())
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({main, stopper}, return_when=asyncio.FIRST_COMPLETED)
    if main in done and main.exception():
        stopper.cancel()
        await component.shutdown()
        raise main.exception()
    main.cancel()
    await component.shutdown()
