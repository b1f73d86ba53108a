"""A small synchronous API client for the ``sedna local`` commands: discovery, apply, get, delete, logs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import httpx


class ClientError(RuntimeError):
    """A request the user made cannot be carried out; the message says why."""


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str
    short_names: tuple[str, ...]

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None, name: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base


class Client:
    def __init__(self, server: str, token: str = "sedna-local", timeout: float = 30.0):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=server, headers=headers, timeout=timeout)
        self._resources: list[Resource] | None = None

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kw) -> httpx.Response:
        try:
            return self.http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise ClientError(f"cannot reach the API server at {self.http.base_url}: {exc}") from exc

    def json(self, method: str, path: str, ok: tuple[int, ...] = (200, 201), **kw) -> Any:
        resp = self.request(method, path, **kw)
        if resp.status_code not in ok:
            raise ClientError(_message(resp))
        return resp.json()

    # ---- discovery -----------------------------------------------------------------------------------

    def resources(self) -> list[Resource]:
        if self._resources is not None:
            return self._resources
        found: list[Resource] = []
        group_versions: list[tuple[str, str, bool]] = [("", v, True) for v in
                                                       self.json("GET", "/api").get("versions", ["v1"])]
        for group in self.json("GET", "/apis").get("groups") or []:
            preferred = (group.get("preferredVersion") or {}).get("version")
            for version in group.get("versions") or []:
                group_versions.append((group["name"], version["version"], version["version"] == preferred))
        ordered = sorted(group_versions, key=lambda gv: (not gv[2], gv[0] != "", gv[0]))
        for group, version, _ in ordered:
            path = f"/apis/{group}/{version}" if group else f"/api/{version}"
            resp = self.request("GET", path)
            if resp.status_code != 200:
                continue
            for r in resp.json().get("resources") or []:
                if "/" in r["name"]:
                    continue
                found.append(Resource(group, version, r["name"], r["kind"], bool(r.get("namespaced")),
                                      r.get("singularName") or r["kind"].lower(), tuple(r.get("shortNames") or ())))
        self._resources = found
        return found

    def forget_resources(self) -> None:
        """Discover again on next use (after CRDs were created)."""
        self._resources = None

    def resolve(self, name: str) -> Resource:
        """A resource by plural, singular, kind, short name or ``plural.group`` (as kubectl accepts)."""
        want = name.lower()
        for res in self.resources():
            if want in (res.plural, res.singular, res.kind.lower(), *res.short_names):
                return res
        for res in self.resources():
            for n in (res.plural, res.singular, res.kind.lower()):
                if want in (f"{n}.{res.group}", f"{n}.{res.version}.{res.group}"):
                    return res
        raise ClientError(f'the server doesn\'t have a resource type "{name}"')

    def for_object(self, obj: dict[str, Any]) -> Resource:
        api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
        group, _, version = api_version.rpartition("/")
        for res in self.resources():
            if res.kind == kind and res.group == group and res.version == version:
                return res
        raise ClientError(f'no matches for kind "{kind}" in version "{api_version}"')

    # ---- verbs ---------------------------------------------------------------------------------------

    def apply(self, obj: dict[str, Any], namespace: str, field_validation: str = "Strict",
              warnings: list[str] | None = None) -> str:
        """Create ``obj``, or merge-patch it onto the existing object (fields other writers added, such as a
        controller's finalizers and annotations, are kept); returns what happened. ``field_validation`` is the
        API's ``fieldValidation`` (Strict: unknown fields are an error naming them, as kubectl's default;
        Warn; Ignore); the server's warnings are appended to ``warnings``."""
        params = {"fieldValidation": field_validation}
        if not isinstance(obj, dict) or not obj.get("kind") or not obj.get("apiVersion"):
            raise ClientError("each document needs apiVersion and kind")
        meta = obj.setdefault("metadata", {})
        if not meta.get("name"):
            raise ClientError(f"{obj['kind']}: metadata.name is required")
        res = self.for_object(obj)
        ns = (meta.get("namespace") or namespace) if res.namespaced else None
        if res.namespaced:
            meta["namespace"] = ns
        resp = self.request("POST", res.path(ns), json=obj, params=params)
        _collect_warnings(resp, warnings)
        if resp.status_code == 201:
            return "created"
        if resp.status_code != 409:
            raise ClientError(_message(resp))
        current = self.json("GET", res.path(ns, meta["name"]))
        patch = {k: v for k, v in obj.items() if k != "status"}
        resp = self.request("PATCH", res.path(ns, meta["name"]), json=patch, params=params,
                            headers={"Content-Type": "application/merge-patch+json"})
        _collect_warnings(resp, warnings)
        if resp.status_code != 200:
            raise ClientError(_message(resp))
        updated = resp.json()
        same = updated["metadata"].get("resourceVersion") == current["metadata"]["resourceVersion"]
        return "unchanged" if same else "configured"

    def get(self, res: Resource, namespace: str | None, name: str | None = None, table: bool = False) -> Any:
        headers = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io, application/json"} if table else {}
        return self.json("GET", res.path(namespace, name), headers=headers)

    def delete(self, res: Resource, namespace: str | None, name: str) -> None:
        self.json("DELETE", res.path(namespace, name), json={"propagationPolicy": "Background"}, ok=(200, 202))

    def follow_logs(self, namespace: str, pod: str, container: str | None, out) -> None:
        """Stream a container's log (``follow=true``) to ``out`` until the server ends it."""
        params = {"follow": "true", **({"container": container} if container else {})}
        try:
            with self.http.stream("GET", f"/api/v1/namespaces/{namespace}/pods/{pod}/log", params=params,
                                  timeout=httpx.Timeout(None, connect=10.0)) as resp:
                if resp.status_code != 200:
                    resp.read()
                    raise ClientError(_message(resp))
                for chunk in resp.iter_text():
                    out.write(chunk)
                    out.flush()
        except httpx.HTTPError as exc:
            raise ClientError(f"log stream ended: {exc}") from exc

    def logs(self, namespace: str, pod: str, container: str | None = None) -> str:
        params = {"container": container} if container else None
        resp = self.request("GET", f"/api/v1/namespaces/{namespace}/pods/{pod}/log", params=params)
        if resp.status_code != 200:
            raise ClientError(_message(resp))
        return resp.text


def _collect_warnings(resp: httpx.Response, out: list[str] | None) -> None:
    """The texts of the ``Warning: 299 - "text"`` headers of a response."""
    if out is None:
        return
    for value in resp.headers.get_list("warning"):
        out.extend(re.sub(r"\\(.)", r"\1", text) for text in re.findall(r'\d{3} \S+ "((?:[^"\\]|\\.)*)"', value))


def _message(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return f"HTTP {resp.status_code}: {resp.text[:300]}"
    return body.get("message") or f"HTTP {resp.status_code}"


def age(timestamp: str | None, now: datetime | None = None) -> str:
    """Kubernetes-style age (``45s``, ``3m``, ``2h``, ``5d``)."""
    if not timestamp:
        return "<unknown>"
    try:
        then = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return "<unknown>"
    secs = int(((now or datetime.now(timezone.utc)) - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size * (2 if unit != "d" else 1):
            return f"{secs // size}{unit}"
    return f"{max(secs, 0)}s"


def table_rows(obj: dict[str, Any], wide: bool, with_namespace: bool) -> list[list[str]]:
    """Rows (header first) from a server-side Table or, failing that, NAME/AGE of a list."""
    if obj.get("kind") == "Table":
        cols = [(i, c["name"]) for i, c in enumerate(obj.get("columnDefinitions") or [])
                if wide or c.get("priority", 0) == 0]
        header = [name.upper() for _, name in cols]
        rows = []
        for row in obj.get("rows") or []:
            cells = row.get("cells") or []
            values = [_cell(cells[i]) if i < len(cells) else "" for i, _ in cols]
            if with_namespace:
                ns = ((row.get("object") or {}).get("metadata") or {}).get("namespace", "")
                values = [ns, *values]
            rows.append(values)
        if with_namespace:
            header = ["NAMESPACE", *header]
        return [header, *rows]
    items = obj.get("items") if "items" in obj else [obj]
    header = (["NAMESPACE"] if with_namespace else []) + ["NAME", "AGE"]
    rows = [header]
    for item in items or []:
        meta = item.get("metadata") or {}
        rows.append(([meta.get("namespace", "")] if with_namespace else [])
                    + [meta.get("name", ""), age(meta.get("creationTimestamp"))])
    return rows


def _cell(value: Any) -> str:
    if value is None:
        return "<none>"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def format_table(rows: list[list[str]]) -> str:
    if len(rows) <= 1:
        return ""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("   ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)
