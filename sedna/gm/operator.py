"""The GM's I/O shell: a level-triggered work queue that feeds the pure controllers and carries out their
plans, the LC report path, and the kopf registry that feeds both from watch events.

kopf watches; this module decides nothing itself. Every CR event, and every event of a Pod or Deployment
labelled as one of our workers, enqueues the owning CR's key; a worker task then reads the CR and its children
fresh from the API, calls ``controller.reconcile`` and applies the plan (deletes, creates, replaces, status,
annotations, Events). Downstream pushes to LCs happen on CR events (deduplicated by resourceVersion), on
Dataset/Model changes for their dependants, on the periodic resync and when an LC (re)connects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from datetime import datetime, timezone
from typing import Any

import kopf

from sedna.api.messages import Message
from sedna.api.validate import check_object
from sedna.common import fastjson
from sedna.gm.auth import GMAuth, assigned_nodes, report_refused
from sedna.gm.bounds import bound_conditions, check_report
from sedna.gm.config import GMConfig
from sedna.gm.controllers import all_controllers
from sedna.gm.controllers import model as model_controller
from sedna.gm.controllers.base import Context, Controller, Downstream, Observed, Plan, Refs
from sedna.gm.finalizer import ADD, RELEASE, finalizer_action, finalizer_patch
from sedna.gm.informer import OwnedObjects
from sedna.gm.kopfstate import NoDiffBase
from sedna.gm.kube import Connection, KubeClient, KubeError
from sedna.gm.messagelayer import MessageServer
from sedna.gm.metrics import GMMetrics, HealthServer
from sedna.gm.runtime.names import GROUP, VERSION, worker_labels

logger = logging.getLogger(__name__)

Key = tuple[str, str, str]          # (lower kind, namespace, name)
BACKOFF_BASE = 2.0
BACKOFF_MAX = 360.0
STATUS_ATTEMPTS = 3
EVENT_REPEAT_SECONDS = 600.0
NODES_TTL = 5.0
MAX_FOLLOW_UPS = 3
KOPF_FINALIZER = "gm.sedna.io/kopf"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _relevant(body: dict) -> tuple:
    """What a reconcile reads from the CR itself; events that change nothing else (kopf's own annotations
    and the GM's finalizer) do not need a sync. The periodic resync still re-checks everything."""
    meta = body.get("metadata") or {}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if not k.startswith("gm.sedna.io/")}
    return (meta.get("uid"), meta.get("generation"), meta.get("deletionTimestamp"), annotations,
            meta.get("labels"), body.get("spec"), body.get("status"))


def _newer(a: dict, b: dict) -> bool:
    """``a`` is a later version of the object than ``b`` by resourceVersion. Kubernetes calls them opaque, but
    they are etcd revisions (integers) in practice; anything else counts as not newer, which costs at most a 409
    and a GET."""
    ra, rb = (str((o.get("metadata") or {}).get("resourceVersion") or "") for o in (a, b))
    return ra.isdigit() and rb.isdigit() and int(ra) > int(rb)


def _conditions(status: Any) -> list:
    conds = status.get("conditions") if isinstance(status, dict) else None
    return conds if isinstance(conds, list) else []


def _condition_identity(cond: Any) -> Any:
    """A condition without its timestamps (set by the GM when it applies the report)."""
    if not isinstance(cond, dict):
        return cond
    return {k: v for k, v in cond.items() if not (k.startswith("last") and k.endswith("Time"))}


def _applied_prefix(obj: dict, appended: list[list[dict]]) -> int:
    """How many leading reports of a batch are already applied to ``obj``: the largest ``j`` such that the
    conditions reports ``1..j`` append (two or more) equal, timestamps aside, the object's newest conditions.
    (One repeated condition is already dropped by each kind's own "same as the last one" rule.)"""
    conds = _conditions(obj.get("status"))
    if not conds:
        return 0
    newest = _condition_identity(conds[-1])
    best, flat = 0, []
    for j, added in enumerate(appended, start=1):
        if not added:
            continue
        flat.extend(_condition_identity(c) for c in added)
        if len(flat) > len(conds):
            break
        # only a report ending in the object's newest condition can end an applied prefix: O(batch) normally
        if len(flat) >= 2 and flat[-1] == newest and [
                _condition_identity(c) for c in conds[len(conds) - len(flat):]] == flat:
            best = j
    return best


def event_manifest(kind: str, obj: dict, etype: str, reason: str, message: str, now: datetime) -> dict:
    """A core/v1 Event about a sedna object."""
    meta = obj["metadata"]
    ns = meta.get("namespace") or "default"
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"generateName": f"{meta['name']}.", "namespace": ns},
        "involvedObject": {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "name": meta["name"],
                           "namespace": ns, "uid": meta.get("uid", ""),
                           "resourceVersion": meta.get("resourceVersion", "")},
        "reason": reason, "message": message[:1024], "type": etype,
        "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
        "source": {"component": "sedna-gm"}, "reportingComponent": "sedna-gm",
    }


class GlobalManager:
    def __init__(self, cfg: GMConfig, kube: KubeClient, conn: Connection | None = None,
                 metrics: GMMetrics | None = None) -> None:
        self.cfg = cfg
        self.kube = kube
        self.conn = conn
        self.metrics = metrics or GMMetrics()
        self.controllers: dict[str, Controller] = all_controllers()
        self.by_plural = {c.plural: c for c in self.controllers.values()}
        self.store: dict[str, dict[tuple[str, str], dict]] = {k: {} for k in self.controllers}
        self.auth = GMAuth.from_config(cfg)
        self.server = MessageServer(self.apply_report, auth=self.auth,
                                    max_message_bytes=cfg.max_message_bytes, on_connect=self.resync_node,
                                    metrics=self.metrics, apply_batch=self.apply_reports)
        self.health = HealthServer(self.metrics)
        self.children = OwnedObjects(kube, cfg.namespace or None, on_change=self.on_child_event)
        self._pushed_rv: dict[Key, str] = {}
        self._queue: asyncio.Queue[Key] = asyncio.Queue()
        self._queued: set[Key] = set()
        self._active: set[Key] = set()
        self._dirty: set[Key] = set()
        self._failures: dict[Key, int] = {}
        self._locks: dict[Key, asyncio.Lock] = {}
        self._tasks: list[asyncio.Task] = []
        self._timers: dict[Key, asyncio.TimerHandle] = {}
        self._stopped = False
        self._checked: dict[Key, str] = {}
        self._events_posted: dict[tuple, float] = {}
        self._own_writes: dict[Key, tuple] = {}
        self._report_writes: dict[Key, dict] = {}      # the API's answer to our last report status write
        self._nodes: tuple[float, set[str] | None] | None = None
        self._follow_ups: dict[Key, int] = {}

    # ---- lifecycle ----------------------------------------------------------------------------------

    async def start(self, *, serve_websocket: bool = True, serve_health: bool = True) -> None:
        if serve_websocket:
            await self.server.start(self.cfg.websocket_address, self.cfg.websocket_port)
        if serve_health:
            await self.health.start(self.cfg.metrics_address, self.cfg.metrics_port)
        for i in range(self.cfg.workers):
            self._tasks.append(asyncio.create_task(self._worker(), name=f"gm-worker-{i}"))
        self._tasks.append(asyncio.create_task(self._resync_loop(), name="gm-resync"))
        self._tasks.append(asyncio.create_task(self.children.run(), name="gm-owned-objects"))

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.health.ready = False
        for timer in list(self._timers.values()):
            timer.cancel()
        self._timers.clear()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.server.stop()
        await self.health.stop()
        await self.kube.close()

    # ---- work queue ---------------------------------------------------------------------------------

    def enqueue(self, key: Key, delay: float = 0.0) -> None:
        """Queue a sync of ``key`` (deduplicated); with ``delay``, at most one pending timer per key is kept
        (the earliest), so retries of an object never multiply."""
        if delay > 0:
            loop = asyncio.get_running_loop()
            when = loop.time() + delay
            pending = self._timers.get(key)
            if pending is not None and pending.when() <= when:
                return
            if pending is not None:
                pending.cancel()

            def fire() -> None:
                self._timers.pop(key, None)
                self.enqueue(key)
            self._timers[key] = loop.call_at(when, fire)
            return
        if key in self._queued:
            return
        if key in self._active:
            self._dirty.add(key)
            return
        self._queued.add(key)
        self._queue.put_nowait(key)

    async def _worker(self) -> None:
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            self._active.add(key)
            try:
                delay = await self._sync_safely(key)
            finally:
                self._active.discard(key)
            if key in self._dirty:
                self._dirty.discard(key)
                self.enqueue(key)
            elif delay is not None:
                self.enqueue(key, delay)

    async def _sync_safely(self, key: Key) -> float | None:
        kind = key[0]
        started = time.perf_counter()
        self.metrics.reconciles.labels(kind).inc()
        try:
            delay = await self.sync(*key)
            self._failures.pop(key, None)
            return delay
        except KubeError as exc:
            if exc.status == 409:
                logger.info("conflict syncing %s/%s/%s, retrying", *key)
                return 0.05
            return self._backoff(key, exc)
        except Exception as exc:  # noqa: BLE001 - one bad object must not stop the worker
            return self._backoff(key, exc)
        finally:
            self.metrics.reconcile_seconds.labels(kind).observe(time.perf_counter() - started)

    def _backoff(self, key: Key, exc: Exception) -> float:
        self.metrics.reconcile_errors.labels(key[0]).inc()
        n = self._failures.get(key, 0) + 1
        self._failures[key] = n
        delay = min(BACKOFF_BASE * 2 ** (n - 1), BACKOFF_MAX)
        logger.warning("sync of %s %s/%s failed (attempt %d, retry in %.0fs): %s", key[0], key[1], key[2], n,
                       delay, exc, exc_info=not isinstance(exc, KubeError))
        return delay

    def lock(self, key: Key) -> asyncio.Lock:
        if key not in self._locks:
            self._locks[key] = asyncio.Lock()
        return self._locks[key]

    # ---- reading the world --------------------------------------------------------------------------

    async def fetch_refs(self, obj: dict, ctrl: Controller, cached: bool = False) -> Refs:
        """Referenced Datasets/Models (fresh from the API, or from the watch cache when ``cached``) and the
        Secrets they and the CR name (always read from the API; Secrets are not watched)."""
        refs = Refs()
        ns = obj["metadata"].get("namespace") or "default"
        secrets: set[str] = set()
        for kind, name in dict.fromkeys(ctrl.references(obj)):
            if not name:
                continue
            if kind == "Secret":
                secrets.add(name)
                continue
            plural = "datasets" if kind == "Dataset" else "models"
            found = self.store[kind.lower()].get((ns, name)) if cached else None
            if found is None:
                found = await self.kube.get_cr(plural, ns, name)
            if found is not None:
                (refs.datasets if kind == "Dataset" else refs.models)[name] = found
                secret = (found.get("spec") or {}).get("credentialName")
                if secret:
                    secrets.add(secret)
        for name in sorted(secrets):
            found = await self.kube.get_secret(ns, name)
            if found is not None:
                refs.secrets[name] = found
        return refs

    async def observe(self, ctrl: Controller, obj: dict) -> Observed:
        meta = obj["metadata"]
        ns = meta.get("namespace") or "default"
        labels = worker_labels(ctrl.kind, meta["name"], meta.get("uid", ""))
        kinds = ["Pod", "Deployment", "Service"]
        if ctrl.kind == "JointInferenceService":
            kinds.append("HorizontalPodAutoscaler")
        lists = await asyncio.gather(*(self._owned(k, ns, labels, meta.get("uid", "")) for k in kinds))
        bound = {(p.get("spec") or {}).get("nodeName") for p in lists[0]} - {None, ""}
        observed = Observed(pods=lists[0], deployments=lists[1], services=lists[2],
                            nodes=await self._node_names(bound))
        if len(lists) > 3:
            observed.hpas = lists[3]
        return observed

    async def _node_names(self, bound: set[str]) -> set[str] | None:
        """Names of the cluster's nodes, so worker health can tell a pod bound to a node that does not exist;
        ``None`` when they cannot be listed (then nothing is concluded). Listed at most every ``NODES_TTL``
        seconds, and again at once (at most every 0.5 s) when a pod names a node the last list did not have."""
        now = time.monotonic()
        if self._nodes is not None:
            age, known = now - self._nodes[0], self._nodes[1]
            if age < NODES_TTL and (known is None or bound <= known or age < 0.5):
                return known
        try:
            names: set[str] | None = {n["metadata"]["name"] for n in await self.kube.list("/api/v1", "nodes", None)}
        except KubeError as exc:
            logger.warning("cannot list nodes (%s): pods on missing nodes will not be reported", exc)
            names = None
        self._nodes = (now, names)
        return names

    async def _owned(self, kind: str, ns: str, labels: dict, uid: str) -> list[dict]:
        if kind == "HorizontalPodAutoscaler":
            # HPAs carry no worker labels upstream; select them by owner. A cluster without autoscaling/v2
            # only fails the services that ask for an HPA (their create is then retried with back-off).
            try:
                items = await self.kube.list_objects(kind, ns, {})
            except KubeError as exc:
                if exc.status != 404:
                    raise
                items = []
        else:
            cached = self.children.owned(kind, ns, uid)
            if cached is not None:
                return cached
            items = await self.kube.list_objects(kind, ns, labels)
            if kind == "Pod":
                # The selector carries the CR's uid; pods of our Deployments are owned by a ReplicaSet, not by us.
                return items
        return [i for i in items if any(r.get("uid") == uid for r in i["metadata"].get("ownerReferences") or [])]

    # ---- sync ---------------------------------------------------------------------------------------

    async def sync(self, kind: str, namespace: str, name: str) -> float | None:
        ctrl = self.controllers[kind]
        if ctrl.reconcile is None and not ctrl.needs_finalizer:
            return None
        async with self.lock((kind, namespace, name)):
            # The CR as kopf's watch last delivered it (the informer habit: a GET per sync cost every new job a
            # request); a write refused because that copy was stale (409, or 404: deleted meanwhile) is retried
            # at once from a fresh GET.
            cached = self.store[kind].get((namespace, name))
            if cached is not None:
                try:
                    return await self._sync_object(ctrl, fastjson.copy(cached))
                except KubeError as exc:
                    if exc.status not in (404, 409):
                        raise
                    logger.debug("%s %s/%s changed meanwhile (%s): syncing from a fresh read", kind, namespace,
                                 name, exc.status)
            return await self._sync_object(ctrl, await self.kube.get_cr(ctrl.plural, namespace, name))

    async def _sync_object(self, ctrl: Controller, obj: dict | None) -> float | None:
        """One reconcile of ``obj`` (None: gone) and the execution of its plan, and the GM's finalizer; the
        caller holds the key's lock.

        A deleted object only has its finalizer released. A new object gets it right after the sync's own
        writes, not before them, so its pods do not wait for one more round trip (issue 16). Nothing the GM
        tells an LC depends on the finalizer being there first: an object deleted before it has one is told
        to its LCs from the DELETED event."""
        if obj is None:
            return None
        obj["kind"] = ctrl.kind
        action = finalizer_action(obj["metadata"]) if ctrl.needs_finalizer else None
        if action == RELEASE:
            await self._finalize(ctrl, obj, action)
            return None
        if obj["metadata"].get("deletionTimestamp"):
            return None
        if ctrl.reconcile is None:
            if action == ADD:
                await self._finalize(ctrl, obj, action)
            return None
        kind, namespace, name = ctrl.kind.lower(), obj["metadata"].get("namespace") or "default", \
            obj["metadata"]["name"]
        await self._report_spec_issues(ctrl, obj)
        # Datasets/Models from the watch cache (a miss falls back to a GET): they change rarely and a
        # change re-triggers their dependants anyway.
        refs = await self.fetch_refs(obj, ctrl, cached=True)
        observed = await self.observe(ctrl, obj) if ctrl.has_children else Observed()
        ctx = Context(self.cfg, utcnow())
        try:
            try:
                plan = ctrl.reconcile(obj, observed, refs, ctx)
            except Exception as exc:
                # A spec the controller cannot handle: say so on the object, retry with back-off.
                await self.post_event(ctrl, obj, "Warning", "ReconcileError", f"{type(exc).__name__}: {exc}")
                raise
            written = await self.execute(ctrl, obj, plan)
        except Exception:
            if action == ADD:       # an object whose sync keeps failing still gets it (a 409 here: next time)
                with contextlib.suppress(KubeError):
                    await self._finalize(ctrl, obj, action)
            raise
        if action == ADD:
            written = await self._finalize(ctrl, written or obj, action) or written
        key = (kind, namespace, name)
        if (plan.create or plan.delete or plan.replace) and self._follow_ups.get(key, 0) < MAX_FOLLOW_UPS:
            return await self._follow_up(key, ctrl, written or obj, refs, ctx, plan.requeue_after)
        self._follow_ups.pop(key, None)
        return plan.requeue_after

    async def _finalize(self, ctrl: Controller, obj: dict, action: str) -> dict | None:
        """Add the GM's finalizer to a live object, or tell the LCs of a deleted one and release it
        (sedna/gm/finalizer.py). Returns the object as the API answered (None: nothing written, or gone)."""
        meta = obj["metadata"]
        if action == RELEASE:
            await self.push_delete(ctrl, obj)
        ns = meta.get("namespace") or "default"
        try:
            written = await self.kube.patch_cr(ctrl.plural, ns, meta["name"], finalizer_patch(meta, action))
        except KubeError as exc:
            if exc.status == 404 and action == RELEASE:
                return None
            raise
        if action == ADD and isinstance(written, dict):
            self._remember(ctrl, written)
            return dict(written, kind=ctrl.kind)
        return None

    async def _follow_up(self, key: Key, ctrl: Controller, obj: dict, refs: Refs, ctx: Context,
                         requeue_after: float | None) -> float | None:
        """After a sync changed children: would the sync their watch events used to trigger change anything?

        The owned-object cache ignores the echoes of the GM's own writes (sedna/gm/informer.py), so this sync
        asks the controller once more, with what it just wrote observed, and queues a real sync only when that
        plan is not empty (e.g. a new pod bound to a node that does not exist). In a burst of new jobs this
        saves each job a GET and a no-op sync (issue 16). At most ``MAX_FOLLOW_UPS`` follow-ups in a row (a
        create that keeps failing with 409 must not spin)."""
        obj = dict(obj, kind=ctrl.kind)
        observed = await self.observe(ctrl, obj)
        try:
            again = ctrl.reconcile(obj, observed, refs, ctx)
        except Exception:  # noqa: BLE001 - the re-sync reports it (Event, back-off) as any sync does
            again = Plan(requeue_after=0.0)
        if again.requeue_after is not None:
            requeue_after = again.requeue_after if requeue_after is None else min(requeue_after, again.requeue_after)
        again.requeue_after = None
        if not again.is_empty():
            self._follow_ups[key] = self._follow_ups.get(key, 0) + 1
            return 0.0
        self._follow_ups.pop(key, None)
        return requeue_after

    async def _report_spec_issues(self, ctrl: Controller, obj: dict) -> None:
        """Semantic problems (sedna.api.validate.check_object) become one Warning Event per generation.

        They do not block reconciling: upstream accepts such objects, and some "errors" (e.g. a hard example
        mining name registered by user code) are only knowable at run time."""
        meta = obj["metadata"]
        key = (ctrl.kind.lower(), meta.get("namespace") or "default", meta["name"])
        generation = str(meta.get("generation", meta.get("resourceVersion", "")))
        if self._checked.get(key) == generation:
            return
        self._checked[key] = generation
        try:
            issues = [i for i in check_object(obj) if i.severity == "error"]
        except Exception:
            logger.exception("semantic check of %s %s failed", ctrl.kind, meta["name"])
            return
        if issues:
            await self.post_event(ctrl, obj, "Warning", "InvalidSpec", "; ".join(str(i) for i in issues))

    async def execute(self, ctrl: Controller, obj: dict, plan: Plan) -> dict | None:
        """Carry out ``plan``; returns the object as the API answered its last write (None: not written)."""
        ns = obj["metadata"].get("namespace") or "default"
        name = obj["metadata"]["name"]
        for ref in plan.delete:
            logger.info("deleting %s %s/%s of %s %s", ref["kind"], ns, ref["name"], ctrl.kind, name)
            await self.kube.delete_object(ns, ref["kind"], ref["name"])
            self.children.deleted(ref["kind"], ns, ref["name"])
        # the creates of one plan are independent (pods, services, deployments): send them together
        results = await asyncio.gather(*(self._create(ns, manifest)
                                         for manifest in map(self.auth.sign_manifest, plan.create)),
                                       return_exceptions=True)
        created = [r for r in results if isinstance(r, str)]
        if created:
            logger.info("created %s in %s for %s %s", ", ".join(created), ns, ctrl.kind, name)
        for failure in results:
            if isinstance(failure, BaseException):
                raise failure
        for manifest in map(self.auth.sign_manifest, plan.replace):
            replaced = await self.kube.replace_object(ns, manifest)
            if isinstance(replaced, dict):
                self.children.created(dict(replaced, kind=replaced.get("kind") or manifest["kind"]))
        written = None
        if plan.status is not None:
            written = await self.kube.replace_cr_status(ctrl.plural, obj, plan.status)
        if plan.annotations:
            written = await self.kube.patch_cr_annotations(ctrl.plural, ns, name, plan.annotations)
        if isinstance(written, dict):
            # The watch event of our own write needs no new sync: this sync already ran to a fixed point.
            self._own_writes[(ctrl.kind.lower(), ns, name)] = _relevant(written)
            self._remember(ctrl, written)
        for event in plan.events:
            await self.post_event(ctrl, obj, event.type, event.reason, event.message)
        return written if isinstance(written, dict) else None

    def _remember(self, ctrl: Controller, written: dict) -> None:
        """Keep what the API answered to our own write of a CR as the cached copy (newer than the watch has
        delivered yet), so a sync before its watch event does not start from the older copy."""
        meta = written.get("metadata") or {}
        key = (meta.get("namespace") or "default", meta.get("name"))
        held = self.store[ctrl.kind.lower()].get(key)
        if held is None or (held.get("metadata") or {}).get("uid") != meta.get("uid"):
            return
        old_rv, new_rv = str(held["metadata"].get("resourceVersion", "")), str(meta.get("resourceVersion", ""))
        if old_rv.isdigit() and new_rv.isdigit() and int(new_rv) > int(old_rv):
            self.store[ctrl.kind.lower()][key] = dict(written, kind=ctrl.kind)

    async def _create(self, ns: str, manifest: dict) -> str | None:
        """Create one child; returns "Kind name" (None: it was already there)."""
        try:
            created = await self.kube.create_object(ns, manifest)
        except KubeError as exc:
            if exc.status == 409:        # fixed-name object already there (e.g. created by a previous run)
                return None
            raise
        self.children.created(created)
        self.metrics.objects_created.labels(manifest["kind"]).inc()
        return f"{manifest['kind']} {created['metadata']['name']}"

    async def post_event(self, ctrl: Controller, obj: dict, etype: str, reason: str, message: str) -> None:
        """Post a core/v1 Event; the same event for the same object is posted at most once per
        ``EVENT_REPEAT_SECONDS`` (retries of a missing reference would otherwise post one every 30 s)."""
        meta = obj["metadata"]
        ns = meta.get("namespace") or "default"
        seen_key = (ctrl.kind, ns, meta["name"], meta.get("uid", ""), reason, message)
        now_mono = time.monotonic()
        if now_mono - self._events_posted.get(seen_key, -EVENT_REPEAT_SECONDS) < EVENT_REPEAT_SECONDS:
            return
        self._events_posted[seen_key] = now_mono
        if len(self._events_posted) > 10_000:
            cutoff = now_mono - EVENT_REPEAT_SECONDS
            self._events_posted = {k: t for k, t in self._events_posted.items() if t > cutoff}
        event = event_manifest(ctrl.kind, obj, etype, reason, message, utcnow())
        try:
            await self.kube.create_object(ns, event)
        except KubeError as exc:
            logger.warning("could not post event %s on %s %s: %s", reason, ctrl.kind, meta["name"], exc)

    # ---- downstream ---------------------------------------------------------------------------------

    async def push(self, ctrl: Controller, obj: dict, *, force: bool = False, only_node: str | None = None) -> int:
        if ctrl.downstream is None:
            return 0
        meta = obj["metadata"]
        key = (ctrl.kind.lower(), meta.get("namespace") or "default", meta["name"])
        rv = meta.get("resourceVersion", "")
        if not ctrl.push_on_status and meta.get("generation") is not None:
            rv = f"generation-{meta['generation']}"
        if not force and only_node is None and self._pushed_rv.get(key) == rv:
            return 0
        obj = dict(obj, kind=ctrl.kind)
        refs = await self.fetch_refs(obj, ctrl, cached=True)
        msgs = ctrl.downstream(obj, refs, False)
        if only_node is not None:
            msgs = [m for m in msgs if m.node == only_node]
        else:
            self._pushed_rv[key] = rv
        for msg in msgs:
            self.server.send(msg)
        return len(msgs)

    async def push_delete(self, ctrl: Controller, obj: dict) -> None:
        if ctrl.downstream is None:
            return
        obj = dict(obj, kind=ctrl.kind)
        refs = await self.fetch_refs(obj, ctrl, cached=True)
        for msg in ctrl.downstream(obj, refs, True):
            self.server.send(msg)

    async def _retract(self, ctrl: Controller, old: dict, new: dict) -> None:
        """Static routing (Dataset, JI, FL): nodes that received the old version but are not targets of the
        new one (e.g. a changed ``spec.nodeName``) get a ``delete``. IL/LL route by state and send their own
        deletes."""
        if ctrl.downstream is None:
            return
        old_nodes = {m.node for m in ctrl.downstream(dict(old, kind=ctrl.kind), Refs(), True)}
        new_nodes = {m.node for m in ctrl.downstream(dict(new, kind=ctrl.kind), Refs(), True)}
        meta = new["metadata"]
        for node in sorted(old_nodes - new_nodes):
            logger.info("%s %s no longer targets node %s: sending delete", ctrl.kind, meta["name"], node)
            self.server.send(Downstream(node, ctrl.kind.lower(), meta.get("namespace") or "default",
                                        meta["name"], "delete"))

    async def resync_node(self, node: str) -> None:
        """Re-send every current object relevant to ``node`` (its LC just (re)connected)."""
        count = 0
        for kind, ctrl in self.controllers.items():
            if ctrl.downstream is None:
                continue
            for obj in list(self.store[kind].values()):
                try:
                    count += await self.push(ctrl, obj, only_node=node)
                except Exception:
                    logger.exception("resync of %s %s to node %s failed", kind, obj["metadata"]["name"], node)
        logger.info("resynced %d messages to node %s", count, node)

    async def _resync_loop(self) -> None:
        """Informer-like periodic resync: re-check every object and re-push objects to their LCs."""
        base = self.cfg.min_resync_period_seconds
        while True:
            await asyncio.sleep(base + random.random() * base)
            for kind, ctrl in self.controllers.items():
                for (ns, name), obj in list(self.store[kind].items()):
                    if ctrl.reconcile is not None:
                        self.enqueue((kind, ns, name))
                    try:
                        await self.push(ctrl, obj, force=True)
                    except Exception:
                        logger.exception("periodic push of %s %s/%s failed", kind, ns, name)

    # ---- upstream -----------------------------------------------------------------------------------

    async def apply_report(self, node: str, msg: Message) -> None:
        """Apply one LC ``status`` report. ValueError = permanently rejected (answered with ``error``)."""
        result = (await self.apply_reports(node, [msg]))[0]
        if result is not None:
            raise result

    async def apply_reports(self, node: str, msgs: list[Message]) -> list[Exception | None]:
        """Apply LC ``status`` reports of one object, in order, as one status write (the channel batches the
        reports that queued up while the object's previous write was in flight). Returns per report None or
        the ValueError that rejected it; raises ValueError when the object or its kind is unknown (all
        rejected) and other errors when the write failed (nothing acked, the LCs resend)."""
        h = msgs[0].header
        kind = h.resource_kind.lower()
        ctrl = self.controllers.get(kind)
        if ctrl is None or ctrl.upstream is None:
            raise ValueError(f"no status handler for kind {h.resource_kind!r}")
        ns = h.namespace or "default"
        if not h.resource_name:
            raise ValueError("report without resourceName")
        key = (kind, ns, h.resource_name)
        async with self.lock(key):
            for attempt in range(STATUS_ATTEMPTS):
                # First from memory (the answer to our last write, or the watch cache), then, after a 409,
                # fresh from the API: optimistic concurrency makes a stale copy cost one retry, never a lost
                # update, and saves a GET per batch.
                obj = self._known_object(ctrl, ns, h.resource_name) if attempt == 0 else None
                if obj is None:
                    obj = await self.kube.get_cr(ctrl.plural, ns, h.resource_name)
                if obj is None:
                    raise ValueError(f"{ctrl.kind} {ns}/{h.resource_name} does not exist")
                obj = dict(obj, kind=ctrl.kind)
                if not self.auth.insecure:
                    refused = report_refused(node, await assigned_nodes(self, ctrl, obj))
                    if refused:
                        raise ValueError(refused)
                results, own_status, others = self._fold_reports(ctrl, obj, msgs)
                try:
                    if own_status is not None:
                        written = await self.kube.replace_cr_status(ctrl.plural, obj, bound_conditions(own_status))
                        self._remember_write(key, written)
                        await self._check_after_report(ctrl, key, written)
                    for write in others.values():
                        await self._write_other_status(h.key, write)
                    return results
                except KubeError as exc:
                    self._report_writes.pop(key, None)
                    if exc.status in (400, 413, 422):      # permanent: re-sending the same report cannot help
                        raise ValueError(f"the API server refused the status write: {exc}") from None
                    # 409: changed meanwhile; 404: maybe deleted (or re-created) since the copy was taken
                    if exc.status not in (404, 409) or attempt == STATUS_ATTEMPTS - 1:
                        raise
        return [None] * len(msgs)

    async def _check_after_report(self, ctrl: Controller, key: Key, written: Any) -> None:
        """Ask the controller about the status a report batch just wrote, instead of letting the watch echo of
        that write trigger a full sync (a GET of the whole CR and a reconcile for every batch, issue 16).

        An empty plan means the sync would change nothing: the echo is marked as the GM's own write. Anything
        else (a stage that needs new pods, a condition to add) queues the real sync, as the echo would have."""
        if ctrl.reconcile is None or not isinstance(written, dict):
            return
        obj = dict(written, kind=ctrl.kind)
        try:
            refs = await self.fetch_refs(obj, ctrl, cached=True)
            observed = await self.observe(ctrl, obj) if ctrl.has_children else Observed()
            plan = ctrl.reconcile(obj, observed, refs, Context(self.cfg, utcnow()))
        except Exception:  # noqa: BLE001 - the real sync reports it (Event, back-off)
            self.enqueue(key)
            return
        requeue_after, plan.requeue_after = plan.requeue_after, None
        if not plan.is_empty():
            self.enqueue(key)
            return
        self._own_writes[key] = _relevant(obj)
        if requeue_after is not None:
            self.enqueue(key, requeue_after)

    def _known_object(self, ctrl: Controller, ns: str, name: str) -> dict | None:
        """The newest copy of a CR the GM holds: the answer to its own last status write or the watch cache's,
        whichever has the higher resourceVersion (the cache lags our writes by one watch event); None when
        neither is known."""
        cached = self.store[ctrl.kind.lower()].get((ns, name))
        written = self._report_writes.get((ctrl.kind.lower(), ns, name))
        if written is None or cached is None:
            return written or cached
        return written if _newer(written, cached) else cached

    def _remember_write(self, key: Key, written: Any) -> None:
        if isinstance(written, dict) and (written.get("metadata") or {}).get("resourceVersion"):
            self._report_writes[key] = written

    async def _write_other_status(self, source: str, write: Any) -> None:
        """A report's status write to another object (an FL job's aggregation Model), with the same
        known-copy-then-GET policy as the reported object itself."""
        ctrl = self.by_plural[write.plural]
        key = (ctrl.kind.lower(), write.namespace, write.name)
        for attempt in range(STATUS_ATTEMPTS):
            target = self._known_object(ctrl, write.namespace, write.name) if attempt == 0 else None
            if target is None:
                target = await self.kube.get_cr(write.plural, write.namespace, write.name)
            if target is None:
                logger.warning("report for %s names missing %s %s", source, write.plural, write.name)
                return
            try:
                written = await self.kube.replace_cr_status(write.plural, dict(target, kind=ctrl.kind),
                                                            bound_conditions(write.status))
            except KubeError as exc:
                self._report_writes.pop(key, None)
                if exc.status not in (404, 409) or attempt == STATUS_ATTEMPTS - 1:
                    raise
                continue
            self._remember_write(key, written)
            return

    @staticmethod
    def _fold_reports(ctrl: Controller, obj: dict, msgs: list[Message]
                      ) -> tuple[list[Exception | None], dict | None, dict[tuple[str, str, str], Any]]:
        """Each report's status writes applied on top of the previous one's: the object's final status, the
        last write per other object, and per report None or the ValueError rejecting it.

        Leading reports whose conditions are already the newest conditions of the object are skipped as
        applied: a batch re-sent by an LC after the GM wrote it but died before acking it (the ids of applied
        reports are remembered in memory only) must not append its conditions twice."""
        results, own_status, others, appended = GlobalManager._fold(ctrl, obj, msgs)
        done = _applied_prefix(obj, appended)
        if done:
            logger.info("%d re-sent reports for %s %s were already applied", done, ctrl.kind,
                        obj["metadata"]["name"])
            rest, own_status, others, _ = GlobalManager._fold(ctrl, obj, msgs[done:])
            results = [None] * done + rest
        return results, own_status, others

    @staticmethod
    def _fold(ctrl: Controller, obj: dict, msgs: list[Message]
              ) -> tuple[list[Exception | None], dict | None, dict[tuple[str, str, str], Any], list[list[dict]]]:
        now = utcnow()
        name = obj["metadata"]["name"]
        current, own_status = obj, None
        others: dict[tuple[str, str, str], Any] = {}
        results: list[Exception | None] = []
        appended: list[list[dict]] = []          # per report, the conditions it appended to the object
        for msg in msgs:
            try:
                check_report(msg.content)
                writes = ctrl.upstream(current, msg.content, now)
            except ValueError as exc:
                results.append(exc)
                appended.append([])
                continue
            results.append(None)
            added: list[dict] = []
            for write in writes:
                if write.plural == ctrl.plural and write.name == name:
                    before = len(_conditions(current.get("status")))
                    own_status = write.status
                    added = _conditions(own_status)[before:]
                    current = {**current, "status": write.status}
                else:
                    others[(write.plural, write.namespace, write.name)] = write
            appended.append(added)
        return results, own_status, others, appended

    # ---- event entry points (kopf handlers call these) ----------------------------------------------

    def dependants(self, kind: str, obj: dict) -> list[tuple[Controller, dict]]:
        """CRs in the same namespace whose references name this Dataset/Model."""
        ref_kind = "Dataset" if kind == "dataset" else "Model"
        ns = obj["metadata"].get("namespace") or "default"
        name = obj["metadata"]["name"]
        out = []
        for other_kind, ctrl in self.controllers.items():
            for (ons, _), other in self.store[other_kind].items():
                if ons == ns and (ref_kind, name) in ctrl.references(other):
                    out.append((ctrl, other))
        return out

    async def on_cr_event(self, plural: str, event_type: str | None, body: dict) -> None:
        ctrl = self.by_plural[plural]
        kind = ctrl.kind.lower()
        meta = body.get("metadata") or {}
        ns, name = meta.get("namespace") or "default", meta.get("name")
        if not name:
            return
        body = dict(body, kind=ctrl.kind)
        if event_type == "DELETED":
            self.store[kind].pop((ns, name), None)
            self._pushed_rv.pop((kind, ns, name), None)
            self._locks.pop((kind, ns, name), None)
            self._own_writes.pop((kind, ns, name), None)
            self._report_writes.pop((kind, ns, name), None)
            self._checked.pop((kind, ns, name), None)
            self._failures.pop((kind, ns, name), None)
            self._follow_ups.pop((kind, ns, name), None)
            # Also for kinds with a finalizer: an object deleted before the GM added it never reaches the
            # GM's finalizer release. A second delete for the same key is harmless (latest-per-key, idempotent).
            await self.push_delete(ctrl, body)
            return
        previous = self.store[kind].get((ns, name))
        if previous is not None and (previous.get("metadata") or {}).get("uid") == meta.get("uid") \
                and _newer(previous, body):
            return      # older than what the GM's own write was answered with; the watch brings that too
        self.store[kind][(ns, name)] = body
        relevant = _relevant(body)
        own = relevant == self._own_writes.get((kind, ns, name))
        if own:
            del self._own_writes[(kind, ns, name)]
        if ctrl.needs_finalizer and not own and finalizer_action(meta) is not None:
            self.enqueue((kind, ns, name))          # the sync adds or releases the finalizer
        if meta.get("deletionTimestamp"):
            return
        if ctrl.reconcile is not None and not own and (previous is None or _relevant(previous) != relevant):
            self.enqueue((kind, ns, name))
        if previous is not None and not ctrl.push_on_status and previous.get("spec") != body.get("spec"):
            await self._retract(ctrl, previous, body)
        await self.push(ctrl, body)
        spec_changed = previous is None or (previous.get("metadata") or {}).get("generation") != meta.get(
            "generation") or previous.get("spec") != body.get("spec")
        if kind in ("dataset", "model") and spec_changed:
            # Objects waiting for this reference are re-reconciled now instead of at their next retry.
            for dep_ctrl, dep in self.dependants(kind, body):
                dep_meta = dep["metadata"]
                self.enqueue((dep_ctrl.kind.lower(), dep_meta.get("namespace") or "default", dep_meta["name"]))
                if kind == "dataset" and dep_ctrl.push_on_status:
                    await self.push(dep_ctrl, dep, force=True)      # IL/LL routing follows the dataset's node
        if kind == "model" and spec_changed:
            # A changed Model reaches the LCs that hold it through the IL jobs that push it.
            for job in model_controller.dependants(body, list(self.store["incrementallearningjob"].values())):
                await self.push(self.controllers["incrementallearningjob"], job, force=True)

    def on_child_event(self, body: dict) -> None:
        """A Pod/Deployment of ours changed: sync its CR. Direct children name it in their controller
        ownerReference; pods of our Deployments (owned by a ReplicaSet) are found by the worker labels."""
        meta = body.get("metadata") or {}
        ns = meta.get("namespace") or "default"
        for ref in meta.get("ownerReferences") or []:
            if not ref.get("controller") or not str(ref.get("apiVersion", "")).startswith(f"{GROUP}/"):
                continue
            kind = str(ref.get("kind", "")).lower()
            if kind in self.controllers:
                self.enqueue((kind, ns, ref.get("name", "")))
                return
        for label, value in (meta.get("labels") or {}).items():
            kind, _, suffix = label.partition(f".{GROUP}/")
            if suffix == "name" and kind in self.controllers and value:
                self.enqueue((kind, ns, value))


def build_registry(gm: GlobalManager, on_ready=None) -> kopf.OperatorRegistry:
    """kopf handlers for every kind; each only hands the event to the GlobalManager."""
    registry = kopf.OperatorRegistry()

    @kopf.on.startup(registry=registry)
    async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.peering.standalone = not gm.cfg.peering
        if gm.cfg.peering:
            settings.peering.name = gm.cfg.peering
            settings.peering.mandatory = True
            settings.peering.clusterwide = not gm.cfg.namespace
        settings.posting.enabled = False
        # kopf keeps a finalizer only for handlers that need one, and the GM registers none (it keeps its own,
        # sedna/gm/finalizer.py); a name of kopf's own so that kopf never takes the GM's away.
        settings.persistence.finalizer = KOPF_FINALIZER
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="gm.sedna.io")
        settings.persistence.diffbase_storage = NoDiffBase()     # no change-driven handlers: see kopfstate.py
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330
        settings.watching.reconnect_backoff = 1.0
        settings.networking.request_timeout = 60
        # One kopf worker per object with events in flight; a cap would park objects behind idle workers.
        settings.batching.worker_limit = None
        settings.batching.batch_window = 0.02
        settings.batching.idle_timeout = 5
        settings.execution.max_workers = 8
        gm.health.ready = True
        if on_ready is not None:
            on_ready()

    @kopf.on.cleanup(registry=registry)
    async def cleanup(**_: Any) -> None:
        # Close LC connections and the health server before kopf waits for leftover tasks to end.
        await gm.stop()

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        conn = gm.conn
        if conn is None:
            raise kopf.PermanentError("no Kubernetes connection configured")
        return kopf.ConnectionInfo(server=conn.server, token=conn.token or None, ca_path=conn.ca_path,
                                   insecure=conn.insecure, certificate_path=conn.cert_path,
                                   private_key_path=conn.key_path, default_namespace=conn.namespace)

    for ctrl in gm.controllers.values():
        _register_kind(registry, gm, ctrl)

    # Children (Pods, Deployments, Services) are watched by gm.children (sedna/gm/informer.py), which feeds
    # both the owned-object cache and on_child_event: one watch per kind instead of kopf's per label.
    return registry


def _register_kind(registry: kopf.OperatorRegistry, gm: GlobalManager, ctrl: Controller) -> None:
    plural = ctrl.plural

    async def on_event(event: dict, **_: Any) -> None:
        # the raw object as the watch delivered it: the GM keeps its own copy, kopf's Body view is not needed
        await gm.on_cr_event(plural, event.get("type"), fastjson.copy(event["object"]))

    kopf.on.event(GROUP, VERSION, plural, id=f"event-{plural}", registry=registry)(on_event)
