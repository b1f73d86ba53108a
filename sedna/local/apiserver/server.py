"""HTTP routes of the emulated Kubernetes API (aiohttp): discovery, OpenAPI, the REST verbs, watch streams,
the status/scale/log/binding subresources."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from sedna.api import yamlio
from sedna.common import fastjson
from sedna.common.tokens import bearer_matches
from sedna.local.apiserver import discovery, errors
from sedna.local.apiserver.api import API, NS_BUCKET, now, parse_stamp
from sedna.local.apiserver.controllers.daemonsets import DaemonSetController
from sedna.local.apiserver.controllers.gc import (
    CRDController,
    GarbageCollector,
    NamespaceController,
    OwnerIndex,
)
from sedna.local.apiserver.controllers.workloads import (
    DeploymentController,
    ReplicaSetController,
    Scheduler,
    bind_pod,
)
from sedna.local.apiserver.patch import APPLY, JSON, MERGE, STRATEGIC, PatchError, apply_patch
from sedna.local.apiserver.resources import Registry, ResourceDef
from sedna.local.apiserver.selectors import SelectorError, parse_field_selector, parse_label_selector
from sedna.local.apiserver.store import Gone, Store
from sedna.local.apiserver.table import json_path, table

log = logging.getLogger(__name__)

PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/livez", "/version"})
MAX_BODY = 3 * 1024 * 1024 + 512 * 1024      # etcd's 3 MiB object limit plus room for the envelope
DEFAULT_WATCH_TIMEOUT = 1800.0


def _dumps(obj: Any) -> bytes:
    return fastjson.dumps(obj)


def _json(obj: Any, status: int = 200, warnings: list[str] | None = None) -> web.Response:
    headers = {"Warning": ", ".join('299 - "{}"'.format(w.replace("\\", "\\\\").replace('"', '\\"'))
                                    for w in warnings[:10])} if warnings else None
    return web.Response(body=_dumps(obj), status=status, content_type="application/json", headers=headers)


def _dig(obj: Any, path: list[str], default: Any) -> Any:
    for part in path:
        if not isinstance(obj, dict) or part not in obj:
            return default
        obj = obj[part]
    return obj


def _partial(obj: dict[str, Any]) -> dict[str, Any]:
    """The metadata-only view (``as=PartialObjectMetadata``) metadata clients ask for."""
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}


def log_container(pod: dict[str, Any], container: str | None) -> str:
    """The container whose log a ``pods/log`` request reads. Without a name, as in Kubernetes, a pod with one
    app container (init containers do not count) means that one; otherwise the answer is 400 naming them."""
    if container:
        return container
    spec = pod.get("spec") or {}
    apps = [c.get("name") or "" for c in spec.get("containers") or []]
    if len(apps) == 1:
        return apps[0]
    inits = [c.get("name") or "" for c in spec.get("initContainers") or []]
    name = pod["metadata"]["name"]
    message = f"a container name must be specified for pod {name}, choose one of: [{' '.join(apps)}]"
    if inits:
        message += f" or one of the init containers: [{' '.join(inits)}]"
    raise errors.bad_request(message)


class APIServer:
    """The emulator: store + resource registry + controllers + the aiohttp application."""

    def __init__(self, data_dir: str | Path | None = None, logs_dir: str | Path | None = None,
                 history: int = 10_000, bookmark_interval: float = 60.0, event_ttl: float = 3600.0,
                 pod_gc_slack: float = 30.0, service_cidr: str | None = None, token: str | None = None):
        self.data_dir = Path(data_dir) if data_dir else None
        self.logs_dir = Path(logs_dir) if logs_dir else (self.data_dir / "logs" if self.data_dir else None)
        self.store = Store(self.data_dir, history=history)
        self.registry = Registry()
        self.api = API(self.store, self.registry, service_cidr)
        self.bookmark_interval = bookmark_interval
        self.token = token
        self.event_ttl = event_ttl
        self.pod_gc_slack = pod_gc_slack
        self._event_ttl_task: asyncio.Task | None = None
        self._openapi_cache: dict[tuple[str, str, str], bytes] = {}
        self.crds = CRDController(self.api)
        self.owners = OwnerIndex(self.api)
        self.controllers = []
        if self.store.get(NS_BUCKET, "", "default") is None:
            ns_rd = self.registry.get("", "v1", "namespaces")
            for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
                if self.store.get(NS_BUCKET, "", name) is None:
                    self.api.create(ns_rd, None, {"metadata": {"name": name}})

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY, middlewares=[self._errors, self._authenticate])
        r = app.router
        r.add_get("/version", lambda req: _json(discovery.SERVER_VERSION))
        r.add_get("/version/", lambda req: _json(discovery.SERVER_VERSION))
        for probe in ("/healthz", "/readyz", "/livez"):
            r.add_get(probe, lambda req: web.Response(text="ok"))
        r.add_get("/api", self._api_versions)
        r.add_get("/api/", self._api_versions)
        r.add_get("/apis", self._api_groups)
        r.add_get("/apis/", self._api_groups)
        r.add_get("/openapi/v3", self._openapi_root)
        r.add_get("/openapi/v3/{path:.*}", self._openapi_gv)
        r.add_get("/openapi/v2", self._openapi_v2)
        r.add_route("*", "/api/{version}{rest:(/.*)?}", self._core)
        r.add_route("*", "/apis/{group}{rest:(/.*)?}", self._grouped)
        app.on_startup.append(self._start_controllers)
        app.on_shutdown.append(self._shutdown)
        return app

    async def _start_controllers(self, app) -> None:
        self.controllers = [GarbageCollector(self.api, self.owners), NamespaceController(self.api),
                            ReplicaSetController(self.api, self.owners),
                            DeploymentController(self.api, self.owners),
                            DaemonSetController(self.api, self.owners), Scheduler(self.api)]
        for controller in self.controllers:
            controller.start()
        self._event_ttl_task = asyncio.get_running_loop().create_task(self._expire_events())

    async def _expire_events(self) -> None:
        """Housekeeping every few seconds: Events live ``event_ttl`` seconds (the API server's --event-ttl);
        pods still terminating ``pod_gc_slack`` seconds after their grace period ended (their kubelet is gone)
        are removed, as the pod garbage collector does for lost nodes."""
        while True:
            await asyncio.sleep(min(5.0, self.event_ttl / 4))
            try:
                self._housekeeping(time.time())
            except Exception:
                log.exception("housekeeping failed")

    def _housekeeping(self, now_epoch: float) -> None:
        cutoff = now_epoch - self.event_ttl
        for bucket in ("/events", "events.k8s.io/events"):
            for event in list(self.store.items(bucket)):
                meta = event["metadata"]
                created = parse_stamp(meta.get("creationTimestamp"))
                if created is not None and created < cutoff:
                    self.store.remove(bucket, meta.get("namespace", ""), meta["name"])
        for pod in list(self.store.items("/pods")):
            meta = pod["metadata"]
            deadline = parse_stamp(meta.get("deletionTimestamp"))
            if deadline is not None and not meta.get("finalizers") and deadline + self.pod_gc_slack < now_epoch:
                log.info("removing pod %s/%s: its grace period ended long ago", meta["namespace"], meta["name"])
                self.store.remove("/pods", meta["namespace"], meta["name"])

    async def _shutdown(self, app) -> None:
        if self._event_ttl_task is not None:
            self._event_ttl_task.cancel()
        self.store.close_watchers()
        for controller in self.controllers:
            await controller.stop()
        self.store.close()

    @web.middleware
    async def _authenticate(self, request: web.Request, handler):
        """The kubeconfig's bearer token on every request but the public probes (as a real API server's
        system:public-info-viewer)."""
        if self.token and request.path.rstrip("/") not in PUBLIC_PATHS and not bearer_matches(
                request.headers.get("Authorization"), self.token):
            raise errors.APIError(401, "Unauthorized", "Unauthorized: missing or wrong bearer token")
        return await handler(request)

    @web.middleware
    async def _errors(self, request: web.Request, handler):
        try:
            return await handler(request)
        except errors.APIError as exc:
            return _json(exc.status(), exc.code)
        except web.HTTPRequestEntityTooLarge:
            exc = errors.APIError(413, "RequestEntityTooLarge", "the request body is too large (limit "
                                  f"{MAX_BODY} bytes)")
            return _json(exc.status(), 413)
        except web.HTTPException as exc:
            if exc.status >= 400:
                reason = {404: "NotFound", 405: "MethodNotAllowed"}.get(exc.status, "BadRequest")
                return _json(errors.APIError(exc.status, reason, exc.reason or reason).status(), exc.status)
            raise
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception as exc:
            log.exception("internal error on %s %s", request.method, request.path)
            return _json(errors.APIError(500, "InternalError", f"Internal error occurred: {exc}").status(), 500)

    # ---- discovery and OpenAPI ----------------------------------------------------------------------------

    async def _api_versions(self, request):
        return _json(discovery.api_versions())

    async def _api_groups(self, request):
        return _json(discovery.api_group_list(self.registry))

    async def _openapi_root(self, request):
        return _json(discovery.openapi_root(self.registry))

    async def _openapi_gv(self, request):
        path = request.match_info["path"].strip("/")
        parts = path.split("/")
        if len(parts) == 2 and parts[0] == "api":
            group, version = "", parts[1]
        elif len(parts) == 3 and parts[0] == "apis":
            group, version = parts[1], parts[2]
        else:
            raise errors.APIError(404, "NotFound", f"the OpenAPI document for {path} is not found")
        if not self.registry.has_group_version(group, version):
            raise errors.APIError(404, "NotFound", f"the OpenAPI document for {path} is not found")
        # documents with CRD schemas are megabytes: encode each revision once
        key = (group, version, discovery.openapi_digest(self.registry, group, version))
        body = self._openapi_cache.get(key)
        if body is None:
            for stale in [k for k in self._openapi_cache if k[:2] == key[:2]]:
                del self._openapi_cache[stale]
            body = self._openapi_cache[key] = _dumps(discovery.openapi_gv(self.registry, group, version))
        return web.Response(body=body, content_type="application/json",
                            headers={"Cache-Control": "public, immutable"} if request.query.get("hash") else None)

    async def _openapi_v2(self, request):
        raise errors.APIError(404, "NotFound", "OpenAPI v2 is not served; use /openapi/v3")

    # ---- resource routing -----------------------------------------------------------------------------------

    async def _core(self, request: web.Request):
        version = request.match_info["version"]
        rest = request.match_info["rest"]
        return await self._route(request, "", version, rest)

    async def _grouped(self, request: web.Request):
        group = request.match_info["group"]
        rest = request.match_info["rest"].strip("/")
        if not rest:
            doc = discovery.api_group(self.registry, group)
            if doc is None:
                raise errors.APIError(404, "NotFound", "the server could not find the requested resource")
            return _json(doc)
        version, _, remainder = rest.partition("/")
        return await self._route(request, group, version, "/" + remainder if remainder else "")

    async def _route(self, request: web.Request, group: str, version: str, rest: str):
        parts = [p for p in rest.split("/") if p]
        if not parts:
            doc = discovery.resource_list(self.registry, group, version)
            if doc is None:
                raise errors.APIError(404, "NotFound", "the server could not find the requested resource")
            return _json(doc)
        watch_path = parts[0] == "watch"
        if watch_path:
            parts = parts[1:]
        namespace = None
        if len(parts) >= 3 and parts[0] == "namespaces":
            rd = self.registry.get(group, version, parts[2])
            if rd is not None and rd.namespaced:
                namespace, parts = parts[1], parts[2:]
        rd = self.registry.get(group, version, parts[0]) if parts else None
        if rd is None or (rd.namespaced is False and namespace is not None):
            raise errors.APIError(404, "NotFound", "the server could not find the requested resource")
        name = parts[1] if len(parts) > 1 else None
        sub = parts[2] if len(parts) > 2 else None
        if len(parts) > 3 or (sub is not None and sub not in rd.subresources):
            raise errors.APIError(404, "NotFound", "the server could not find the requested resource")
        method = request.method
        q = request.query
        if name is None:
            if method == "GET":
                if watch_path or q.get("watch") in ("true", "1"):
                    return await self._watch(request, rd, namespace)
                return self._list(request, rd, namespace)
            if method == "POST":
                return await self._create(request, rd, namespace)
            if method == "DELETE":
                return await self._delete_collection(request, rd, namespace)
            raise errors.method_not_allowed()
        if watch_path or (method == "GET" and sub is None and q.get("watch") in ("true", "1")):
            return await self._watch(request, rd, namespace, name)
        if sub == "log":
            return await self._log(request, rd, namespace, name)
        if sub == "scale":
            return await self._scale(request, rd, namespace, name)
        if sub == "binding":
            return await self._binding(request, rd, namespace, name)
        if method == "GET":
            obj = self.api.get(rd, namespace, name)
            accept = request.headers.get("Accept", "")
            if sub is None and "as=Table" in accept:
                return _json(table(rd, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]},
                                   q.get("includeObject", "Metadata")))
            if sub is None and "as=PartialObjectMetadata" in accept:
                return _json(_partial(obj))
            return _json(obj)
        dry_run = "dryRun" in q
        validation = q.get("fieldValidation")
        if method == "PUT":
            body = await self._body(request)
            obj, warnings = self.api.update(rd, namespace, name, body, subresource=sub, dry_run=dry_run,
                                            field_validation=validation, owned=True)
            return _json(obj, warnings=warnings)
        if method == "PATCH":
            ctype = request.content_type
            if ctype not in (MERGE, JSON, STRATEGIC, APPLY):
                raise errors.APIError(415, "UnsupportedMediaType", f"the body of the request was in an unknown "
                                      f"format - accepted media types include: {JSON}, {MERGE}, "
                                      f"{STRATEGIC}, {APPLY}")
            body = await self._body(request, yaml_ok=ctype == APPLY)
            obj, warnings, created = self.api.patch(rd, namespace, name, ctype, body, subresource=sub,
                                                    dry_run=dry_run, field_validation=validation)
            return _json(obj, 201 if created else 200, warnings)
        if method == "DELETE":
            options = await self._delete_options(request)
            obj, _ = self.api.delete(rd, namespace, name, options, dry_run=dry_run)
            return _json(obj)
        raise errors.method_not_allowed()

    # ---- bodies -----------------------------------------------------------------------------------------

    async def _body(self, request: web.Request, yaml_ok: bool = False) -> Any:
        if "protobuf" in request.content_type or "cbor" in request.content_type:
            raise errors.APIError(415, "UnsupportedMediaType", f"the emulator does not decode {request.content_type} "
                                  "bodies; send JSON or YAML (e.g. kubectl create -f / apply -f)")
        raw = await request.read()
        if not raw.strip():
            raise errors.bad_request("the request body is empty")
        if yaml_ok or "yaml" in request.content_type:
            # the project's one YAML reader (YAML 1.2 core schema: `on`/`yes` stay strings, 0777 is decimal)
            try:
                doc = yamlio.load(raw)
            except yamlio.YAMLError as exc:
                raise errors.bad_request(f"error decoding YAML: {exc}")
            except ValueError as exc:            # more than one document
                raise errors.bad_request(f"error decoding YAML: {exc}")
            try:
                return json.loads(json.dumps(doc))     # only what JSON can carry (no !!binary, !!set)
            except (TypeError, ValueError) as exc:
                raise errors.bad_request(f"the YAML body holds values JSON cannot represent: {exc}")
        try:
            return fastjson.loads(raw)          # strict: NaN/Infinity are refused, as the API server does
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise errors.bad_request(f"error decoding JSON: {exc}")

    async def _delete_options(self, request: web.Request) -> dict[str, Any]:
        options: dict[str, Any] = {}
        raw = await request.read()
        if raw.strip():
            try:
                options = json.loads(raw)
            except (ValueError, UnicodeDecodeError) as exc:
                raise errors.bad_request(f"error decoding DeleteOptions: {exc}")
            if not isinstance(options, dict):
                raise errors.bad_request("DeleteOptions must be an object")
        q = request.query
        if "propagationPolicy" in q:
            options["propagationPolicy"] = q["propagationPolicy"]
        if "orphanDependents" in q:
            options["orphanDependents"] = q["orphanDependents"] == "true"
        if "gracePeriodSeconds" in q:
            options["gracePeriodSeconds"] = q["gracePeriodSeconds"]
        return options

    def _selectors(self, request: web.Request, rd: ResourceDef):
        try:
            labels = parse_label_selector(request.query.get("labelSelector"))
            fields = parse_field_selector(request.query.get("fieldSelector"), rd.field_allowed)
        except SelectorError as exc:
            raise errors.bad_request(f"unable to parse requirement: {exc}")
        return labels, fields

    # ---- verbs --------------------------------------------------------------------------------------------

    def _list(self, request: web.Request, rd: ResourceDef, namespace: str | None) -> web.Response:
        labels, fields = self._selectors(request, rd)
        q = request.query
        limit = None
        if q.get("limit"):
            try:
                limit = max(0, int(q["limit"]))
            except ValueError:
                raise errors.bad_request(f"invalid limit {q['limit']!r}")
        result = self.api.list(rd, namespace, labels, fields, limit, q.get("continue") or None)
        accept = request.headers.get("Accept", "")
        if "as=Table" in accept:
            return _json(table(rd, result["items"], result["metadata"], q.get("includeObject", "Metadata")))
        if "as=PartialObjectMetadataList" in accept:
            return _json({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                          "metadata": result["metadata"], "items": [_partial(o) for o in result["items"]]})
        return _json(result)

    async def _create(self, request: web.Request, rd: ResourceDef, namespace: str | None) -> web.Response:
        body = await self._body(request)
        obj, warnings = self.api.create(rd, namespace, body, dry_run="dryRun" in request.query,
                                        field_validation=request.query.get("fieldValidation"), owned=True)
        return _json(obj, 201, warnings)

    async def _delete_collection(self, request, rd, namespace) -> web.Response:
        labels, fields = self._selectors(request, rd)
        options = await self._delete_options(request)
        result = self.api.list(rd, namespace, labels, fields)
        deleted = []
        for obj in result["items"]:
            try:
                gone, _ = self.api.delete(rd, obj["metadata"].get("namespace"), obj["metadata"]["name"], options,
                                          dry_run="dryRun" in request.query)
                deleted.append(gone)
            except errors.APIError as exc:
                if exc.code != 404:
                    raise
        return _json({"kind": rd.list_kind, "apiVersion": rd.api_version,
                      "metadata": {"resourceVersion": str(self.store.rv)}, "items": deleted})

    # ---- watch ------------------------------------------------------------------------------------------

    async def _watch(self, request: web.Request, rd: ResourceDef, namespace: str | None,
                     name: str | None = None) -> web.StreamResponse:
        labels, fields = self._selectors(request, rd)
        q = request.query
        if name is not None:
            single = name
            matches = lambda o: o["metadata"]["name"] == single and labels.matches(
                o["metadata"].get("labels")) and fields.matches(o)
        else:
            matches = lambda o: labels.matches(o["metadata"].get("labels")) and fields.matches(o)
        try:
            timeout = float(q["timeoutSeconds"]) if q.get("timeoutSeconds") else DEFAULT_WATCH_TIMEOUT
        except ValueError:
            raise errors.bad_request(f"invalid timeoutSeconds {q['timeoutSeconds']!r}")
        bookmarks = q.get("allowWatchBookmarks") == "true"
        as_table = "as=Table" in request.headers.get("Accept", "")
        rv_text = q.get("resourceVersion", "")
        send_initial = q.get("sendInitialEvents") == "true" or (rv_text in ("", "0") and
                                                                  q.get("sendInitialEvents") != "false")
        if not send_initial and rv_text in ("", "0"):
            rv_text = str(self.store.rv)     # start now, without the current objects
        ns = namespace if rd.namespaced else None
        # snapshot and subscription happen with no await in between, so no event is missed or repeated
        initial: list[tuple[str, dict]] = []
        gone_message = None
        if send_initial:
            initial = [("ADDED", o) for o in self.store.items(rd.bucket, ns) if matches(o)]
        else:
            try:
                since = int(rv_text)
                replay = self.store.events_since(rd.bucket, since)
            except ValueError:
                raise errors.bad_request(f"invalid resourceVersion {rv_text!r}")
            except Gone as exc:
                replay, gone_message = [], str(exc)
        watcher = self.store.subscribe(rd.bucket, ns, matches)
        if not send_initial and gone_message is None:
            for event in replay:
                watcher.queue.put_nowait(("REPLAY", event))
        start_rv = self.store.rv
        response = web.StreamResponse(headers={"Content-Type": "application/json",
                                               "Cache-Control": "no-cache"})
        response.enable_chunked_encoding()
        try:
            await response.prepare(request)
            if gone_message is not None:
                status = errors.gone(gone_message).status()
                await response.write(_dumps({"type": "ERROR", "object": status}) + b"\n")
                return response
            for kind, obj in initial:
                await response.write(self._event_line(rd, kind, obj, as_table))
            if send_initial and q.get("sendInitialEvents") == "true" and bookmarks:
                await response.write(self._bookmark(rd, start_rv, initial_end=True))
            deadline = time.monotonic() + timeout
            next_bookmark = time.monotonic() + self.bookmark_interval
            while True:
                now_t = time.monotonic()
                wait = deadline - now_t
                if bookmarks:
                    wait = min(wait, next_bookmark - now_t)
                if wait <= 0:
                    if now_t >= deadline:
                        break
                    if watcher.queue.empty():
                        # only with nothing left to send may a bookmark carry the newest resourceVersion
                        await response.write(self._bookmark(rd, self.store.rv))
                        next_bookmark = time.monotonic() + self.bookmark_interval
                        continue
                    wait = 0.001
                try:
                    item = await asyncio.wait_for(watcher.queue.get(), wait)
                except asyncio.TimeoutError:
                    continue
                if item is None:
                    break
                kind, event = item
                if kind == "REPLAY":
                    kind = self._replay_kind(event, matches, ns)
                    if kind is None:
                        continue
                lines = [self._encoded(rd, kind, event, as_table)]
                while not watcher.queue.empty() and len(lines) < 256:
                    nxt = watcher.queue.get_nowait()
                    if nxt is None:
                        watcher.queue.put_nowait(None)
                        break
                    nkind, nevent = nxt
                    if nkind == "REPLAY":
                        nkind = self._replay_kind(nevent, matches, ns)
                        if nkind is None:
                            continue
                    lines.append(self._encoded(rd, nkind, nevent, as_table))
                await response.write(b"".join(lines))
        except ConnectionResetError:
            log.debug("a watch client of %s went away", rd.bucket)
        finally:
            self.store.unsubscribe(watcher)
        return response

    @staticmethod
    def _replay_kind(event, matches, ns) -> str | None:
        def visible(o):
            return o is not None and (ns is None or o["metadata"].get("namespace") == ns) and matches(o)
        new_ok, old_ok = visible(event.obj), visible(event.old)
        if event.type == "ADDED":
            return "ADDED" if new_ok else None
        if event.type == "DELETED":
            return "DELETED" if new_ok or old_ok else None
        if new_ok and old_ok:
            return "MODIFIED"
        if new_ok:
            return "ADDED"
        return "DELETED" if old_ok else None

    def _encoded(self, rd: ResourceDef, kind: str, event, as_table: bool) -> bytes:
        """A watch line for a stored event, encoded once and shared by every watcher that sends it."""
        key = (kind, rd.version, as_table)
        line = event.encoded.get(key)
        if line is None:
            line = event.encoded[key] = self._event_line(rd, kind, event.obj, as_table)
        return line

    def _event_line(self, rd: ResourceDef, kind: str, obj: dict[str, Any], as_table: bool) -> bytes:
        shown = self.api._present(rd, obj)
        if as_table:
            shown = table(rd, [shown], {"resourceVersion": obj["metadata"]["resourceVersion"]})
        return _dumps({"type": kind, "object": shown}) + b"\n"

    def _bookmark(self, rd: ResourceDef, rv: int, initial_end: bool = False) -> bytes:
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return _dumps({"type": "BOOKMARK", "object": {"kind": rd.kind, "apiVersion": rd.api_version,
                                                      "metadata": meta}}) + b"\n"

    # ---- subresources -------------------------------------------------------------------------------------

    async def _scale(self, request, rd, namespace, name) -> web.Response:
        """autoscaling/v1 Scale of deployments, replica sets and custom resources (their CRD's scale paths)."""
        obj = self.api.get(rd, namespace, name)
        paths = ((rd.crd_version or {}).get("subresources") or {}).get("scale") or {}
        spec_path = paths.get("specReplicasPath", ".spec.replicas").lstrip(".").split(".")
        status_path = paths.get("statusReplicasPath", ".status.replicas").lstrip(".").split(".")
        selector_path = paths.get("labelSelectorPath", "")

        def scale_of(o):
            if rd.is_custom:
                selector = json_path(o, selector_path) if selector_path else ""
            else:
                labels = ((o.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
                selector = ",".join(f"{k}={v}" for k, v in labels.items())
            return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                    "metadata": {"name": name, "namespace": namespace, "uid": o["metadata"]["uid"],
                                 "resourceVersion": o["metadata"]["resourceVersion"],
                                 "creationTimestamp": o["metadata"]["creationTimestamp"]},
                    "spec": {"replicas": _dig(o, spec_path, 1)},
                    "status": {"replicas": _dig(o, status_path, 0), "selector": selector or ""}}
        current = scale_of(obj)
        if request.method == "GET":
            return _json(current)
        body = await self._body(request)
        if request.method == "PUT":
            wanted = body
        elif request.method == "PATCH":
            try:
                wanted = apply_patch(request.content_type, current, body)
            except PatchError as exc:
                raise errors.APIError(422, "Invalid", str(exc))
        else:
            raise errors.method_not_allowed()
        replicas = ((wanted or {}).get("spec") or {}).get("replicas") if isinstance(wanted, dict) else None
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise errors.invalid(rd, name, [{"reason": "FieldValueInvalid", "field": "spec.replicas",
                                             "message": f"Invalid value: {replicas!r}: must be greater than or "
                                                        "equal to 0"}])
        updated = copy.deepcopy(obj)
        target = updated
        for part in spec_path[:-1]:
            target = target.setdefault(part, {})
        target[spec_path[-1]] = replicas
        result, _ = self.api.update(rd, namespace, name, updated)
        return _json(scale_of(result))

    async def _binding(self, request, rd, namespace, name) -> web.Response:
        if request.method != "POST":
            raise errors.method_not_allowed()
        body = await self._body(request)
        target = ((body or {}).get("target") or {}).get("name") if isinstance(body, dict) else None
        if not target:
            raise errors.invalid(rd, name, [{"reason": "FieldValueRequired", "field": "target.name",
                                             "message": "Required value"}])
        pod = copy.deepcopy(self.api.get(rd, namespace, name))
        if pod["spec"].get("nodeName"):
            raise errors.conflict(rd, name, f"pod {name} is already assigned to node "
                                            f'"{pod["spec"]["nodeName"]}"')
        pod["spec"]["nodeName"] = target
        status = pod.setdefault("status", {})
        status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"] + \
            [{"type": "PodScheduled", "status": "True", "lastTransitionTime": now()}]
        bind_pod(self.api, pod)
        return _json({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}, 201)

    def log_path(self, namespace: str, pod: str, container: str) -> Path | None:
        if self.logs_dir is None:
            return None
        return self.logs_dir / f"{namespace}_{pod}_{container}.log"

    async def _log(self, request, rd, namespace, name) -> web.StreamResponse:
        if request.method != "GET":
            raise errors.method_not_allowed()
        pod = self.api.get(rd, namespace, name)
        container = log_container(pod, request.query.get("container"))
        names = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
        names += [c.get("name") for c in (pod.get("spec") or {}).get("initContainers") or []]
        if container not in names:
            raise errors.bad_request(f"container {container} is not valid for pod {name}")
        path = self.log_path(pod["metadata"]["namespace"], name, container)
        if path is None or not path.is_file():
            raise errors.bad_request(f'container "{container}" in pod "{name}" is waiting to start: '
                                     "no log file yet")
        data = path.read_bytes()
        if request.query.get("tailLines"):
            try:
                tail = int(request.query["tailLines"])
            except ValueError:
                raise errors.bad_request("invalid tailLines")
            lines = data.splitlines(keepends=True)
            data = b"".join(lines[-tail:]) if tail > 0 else b""
        if request.query.get("limitBytes"):
            try:
                data = data[:int(request.query["limitBytes"])]
            except ValueError:
                raise errors.bad_request("invalid limitBytes")
        if request.query.get("follow") != "true":
            return web.Response(body=data, content_type="text/plain")
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        offset = path.stat().st_size
        await response.write(data)
        try:
            while True:
                current = self.store.get("/pods", pod["metadata"]["namespace"], name)
                size = path.stat().st_size if path.exists() else 0
                if size > offset:
                    with path.open("rb") as fh:
                        fh.seek(offset)
                        chunk = fh.read(size - offset)
                    offset = size
                    await response.write(chunk)
                    continue
                if current is None or current["metadata"]["uid"] != pod["metadata"]["uid"] or \
                        (current.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                    break
                await asyncio.sleep(0.2)
        except ConnectionResetError:
            log.debug("a log client of pod %s went away", name)
        return response
