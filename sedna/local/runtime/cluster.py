"""Cluster-wide services of the single-machine cluster, run once per cluster:

- a scheduler: binds pods without ``spec.nodeName`` whose ``spec.schedulerName`` is its name (default
  ``sedna-local``; the API emulator schedules ``default-scheduler`` pods itself, so the two never bind the same
  pod; against an API server without a scheduler pass ``--scheduler-name default-scheduler``) to a node
  (:mod:`.scheduling` decides);
- the ClusterIP allocator: gives every Service an address of the cluster's loopback service range;
- the service proxy: one asyncio TCP listener per Service port on ``clusterIP:port`` forwarding to ready
  endpoints (Running + Ready pods matching the selector, at ``podIP:targetPort``), round robin.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from pathlib import Path
from typing import Any

import httpx

from sedna.common import cluster_dns
from sedna.common.sockets import listening_socket
from sedna.local.runtime import netplan, podstatus, scheduling
from sedna.local.runtime.kube import ApiError, Informer, KubeClient, run_until_stopped

log = logging.getLogger(__name__)

TERMINAL = ("Succeeded", "Failed")


def endpoints_for(service: dict[str, Any], port: dict[str, Any], pods: list[dict[str, Any]]
                  ) -> list[tuple[str, int]]:
    """Ready endpoints ``(podIP, targetPort)`` of one Service port (pure)."""
    meta, spec = service.get("metadata") or {}, service.get("spec") or {}
    selector = spec.get("selector") or {}
    if not selector:
        return []
    out = []
    target = port.get("targetPort", port.get("port"))
    for pod in pods:
        pmeta, pstatus = pod.get("metadata") or {}, pod.get("status") or {}
        if pmeta.get("namespace") != meta.get("namespace") or pmeta.get("deletionTimestamp"):
            continue
        labels = pmeta.get("labels") or {}
        if any(labels.get(k) != v for k, v in selector.items()):
            continue
        if pstatus.get("phase") != "Running" or not pstatus.get("podIP"):
            continue
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in pstatus.get("conditions") or [])
        if not ready:
            continue
        number = _resolve_port(pod, target)
        if number is not None:
            out.append((pstatus["podIP"], number))
    out.sort()
    return out


def _resolve_port(pod: dict[str, Any], target: Any) -> int | None:
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        return int(target)
    for container in (pod.get("spec") or {}).get("containers") or []:
        for p in container.get("ports") or []:
            if p.get("name") == target:
                return int(p["containerPort"])
    return None


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            if writer.can_write_eof():
                writer.write_eof()
        except (OSError, RuntimeError):
            pass


class PortProxy:
    """One listener ``ip:port`` of one Service port."""

    def __init__(self, services: ClusterServices, key: str, port_name: str, ip: str, port: int):
        self.services = services
        self.key, self.port_name, self.ip, self.port = key, port_name, ip, port
        self.server: asyncio.base_events.Server | None = None
        self._rr = itertools.count()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, sock=listening_socket(self.ip, self.port))
        log.info("service %s port %s: proxy listening on %s:%d", self.key, self.port_name, self.ip, self.port)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        endpoints = self.services.endpoints(self.key, self.port_name)
        upstream = None
        if endpoints:
            first = next(self._rr)
            for i in range(len(endpoints)):
                host, port = endpoints[(first + i) % len(endpoints)]
                try:
                    upstream = await asyncio.wait_for(asyncio.open_connection(host, port), 5.0)
                    break
                except (OSError, asyncio.TimeoutError):
                    continue
        if upstream is None:
            writer.close()
            return
        up_reader, up_writer = upstream
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                try:
                    w.close()
                except OSError:
                    pass


class ClusterServices:
    def __init__(self, client: KubeClient, net: netplan.ClusterNet, *, scheduler_name: str = "sedna-local",
                 retry_every: float = 1.0, hosts_file: Path | None = None):
        self.client = client
        self.hosts_file = hosts_file
        self.scheduler_name = scheduler_name
        self.net = net
        self.service_ips = set(net.service_candidates())
        self.retry_every = retry_every
        self.nodes = Informer(client, "/api/v1/nodes", self._on_node)
        self.pods = Informer(client, "/api/v1/pods", self._on_pod)
        self.services = Informer(client, "/api/v1/services", self._on_service)
        self.proxies: dict[tuple[str, str], PortProxy] = {}
        self._wake = asyncio.Event()
        self._binding: set[str] = set()
        self._unschedulable: dict[str, str] = {}
        self._svc_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task] = []

    # ---- scheduler ------------------------------------------------------------------------------------

    def _on_node(self, etype: str, node: dict[str, Any]) -> None:
        self._wake.set()

    def _on_pod(self, etype: str, pod: dict[str, Any]) -> None:
        if etype != "DELETED" and self._needs_binding(pod):
            self._wake.set()

    def _load(self) -> dict[str, int]:
        load: dict[str, int] = {}
        for pod in self.pods.cache.values():
            node = (pod.get("spec") or {}).get("nodeName")
            if node and (pod.get("status") or {}).get("phase") not in TERMINAL:
                load[node] = load.get(node, 0) + 1
        return load

    async def schedule_once(self) -> None:
        nodes = list(self.nodes.cache.values())
        load = self._load()
        for pod in sorted(self.pods.cache.values(), key=lambda p: (p["metadata"].get("creationTimestamp") or "",
                                                                   Informer.key(p))):
            uid = pod["metadata"].get("uid", "")
            if not self._needs_binding(pod) or uid in self._binding:
                continue
            decision = scheduling.choose_node(pod, nodes, load)
            if decision.node is None:
                if self._unschedulable.get(uid) != decision.message:
                    self._unschedulable[uid] = decision.message
                    await self._mark_unschedulable(pod, decision.message)
                continue
            self._binding.add(uid)
            try:
                await self._bind(pod, decision.node)
                load[decision.node] = load.get(decision.node, 0) + 1
                self._unschedulable.pop(uid, None)
                log.info("bound pod %s to %s", Informer.key(pod), decision.node)
            except ApiError as exc:
                self._binding.discard(uid)
                if exc.status not in (404, 409):
                    log.warning("binding pod %s failed: %s", Informer.key(pod), exc)

    async def _bind(self, pod: dict[str, Any], node: str) -> None:
        meta = pod["metadata"]
        base = f"/api/v1/namespaces/{meta.get('namespace', 'default')}/pods/{meta['name']}"
        binding = {"apiVersion": "v1", "kind": "Binding",
                   "metadata": {"name": meta["name"], "namespace": meta.get("namespace", "default"),
                                "uid": meta.get("uid")},
                   "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
        try:
            await self.client.create(f"{base}/binding", binding)
        except ApiError as exc:
            if exc.status not in (404, 405):
                raise
            await self.client.merge_patch(base, {"spec": {"nodeName": node}})

    async def _mark_unschedulable(self, pod: dict[str, Any], message: str) -> None:
        meta = pod["metadata"]
        cond = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message,
                "lastProbeTime": None, "lastTransitionTime": podstatus.now_iso()}
        try:
            await self.client.merge_patch(
                f"/api/v1/namespaces/{meta.get('namespace', 'default')}/pods/{meta['name']}/status",
                {"status": {"conditions": [cond]}})
        except (ApiError, httpx.HTTPError) as exc:
            log.warning("cannot mark pod %s unschedulable: %s", Informer.key(pod), exc)

    async def _scheduler_loop(self) -> None:
        await self.nodes.synced.wait()
        await self.pods.synced.wait()
        while True:
            self._wake.clear()
            try:
                await self.schedule_once()
            except (httpx.HTTPError, OSError) as exc:
                log.warning("scheduler: %s", exc)
            # forget bindings the cache has caught up with
            bound = {p["metadata"].get("uid") for p in self.pods.cache.values() if not self._needs_binding(p)}
            live = {p["metadata"].get("uid") for p in self.pods.cache.values()}
            self._binding = {u for u in self._binding if u not in bound and u in live}
            self._unschedulable = {u: m for u, m in self._unschedulable.items() if u in live}
            try:
                await asyncio.wait_for(self._wake.wait(), self.retry_every)
            except asyncio.TimeoutError:
                pass

    def _needs_binding(self, pod: dict[str, Any]) -> bool:
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        return (not spec.get("nodeName") and not meta.get("deletionTimestamp")
                and (spec.get("schedulerName") or "default-scheduler") == self.scheduler_name
                and (pod.get("status") or {}).get("phase", "Pending") == "Pending")

    # ---- services -------------------------------------------------------------------------------------

    def endpoints(self, key: str, port_name: str) -> list[tuple[str, int]]:
        svc = self.services.cache.get(key)
        if svc is None:
            return []
        for port in (svc.get("spec") or {}).get("ports") or []:
            if _port_id(port) == port_name:
                return endpoints_for(svc, port, list(self.pods.cache.values()))
        return []

    async def _on_service(self, etype: str, svc: dict[str, Any]) -> None:
        async with self._svc_lock:
            await self._sync_service(etype, svc)
            self._publish_hosts()

    def _publish_hosts(self) -> None:
        """The Service name table pods resolve through (:mod:`sedna.common.cluster_dns`)."""
        if self.hosts_file is None:
            return
        try:
            cluster_dns.write_table(self.hosts_file, list(self.services.cache.values()))
        except OSError as exc:
            log.warning("cannot write %s: %s", self.hosts_file, exc)

    async def _sync_service(self, etype: str, svc: dict[str, Any]) -> None:
        key = Informer.key(svc)
        spec = svc.get("spec") or {}
        wanted: dict[tuple[str, str], tuple[str, int]] = {}
        if etype != "DELETED" and spec.get("type", "ClusterIP") in ("ClusterIP", "NodePort", "LoadBalancer"):
            ip = spec.get("clusterIP") or ""
            if ip != "None":
                if ip not in self.service_ips:
                    ip = await self._allocate_cluster_ip(svc)
                if ip:
                    for port in spec.get("ports") or []:
                        if (port.get("protocol") or "TCP") == "TCP" and port.get("port"):
                            wanted[(key, _port_id(port))] = (ip, int(port["port"]))
        for pkey in [k for k in self.proxies if k[0] == key]:
            proxy = self.proxies[pkey]
            if wanted.get(pkey) != (proxy.ip, proxy.port):
                await proxy.close()
                del self.proxies[pkey]
        for pkey, (ip, port) in wanted.items():
            if pkey not in self.proxies:
                proxy = PortProxy(self, key, pkey[1], ip, port)
                try:
                    await proxy.start()
                except OSError as exc:
                    log.warning("service %s: cannot listen on %s:%d: %s", key, ip, port, exc)
                    continue
                self.proxies[pkey] = proxy

    async def _allocate_cluster_ip(self, svc: dict[str, Any]) -> str:
        meta = svc["metadata"]
        used = {(s.get("spec") or {}).get("clusterIP") for k, s in self.services.cache.items()
                if k != Informer.key(svc)}
        try:
            ip = netplan.allocate(self.net.service_candidates(), used)
        except netplan.AddressExhausted:
            log.error("service %s: no ClusterIP left in %s", Informer.key(svc), self.net.cidr)
            return ""
        try:
            updated = await self.client.merge_patch(
                f"/api/v1/namespaces/{meta.get('namespace', 'default')}/services/{meta['name']}",
                {"spec": {"clusterIP": ip, "clusterIPs": [ip]}})
        except ApiError as exc:
            log.warning("service %s: cannot set ClusterIP %s: %s", Informer.key(svc), ip, exc)
            return ""
        self.services.cache[Informer.key(svc)] = updated
        log.info("service %s: ClusterIP %s", Informer.key(svc), ip)
        return ip

    # ---- run ------------------------------------------------------------------------------------------

    async def run(self, ready: asyncio.Event | None = None) -> None:
        self._tasks = [asyncio.create_task(inf.run()) for inf in (self.nodes, self.pods, self.services)]
        self._tasks.append(asyncio.create_task(self._scheduler_loop()))
        for inf in (self.nodes, self.pods, self.services):
            await inf.synced.wait()
        if ready is not None:
            ready.set()
        await asyncio.gather(*self._tasks)

    async def shutdown(self) -> None:
        for task in self._tasks:
            task.cancel()
        for proxy in list(self.proxies.values()):
            await proxy.close()
        self.proxies.clear()


def _port_id(port: dict[str, Any]) -> str:
    return port.get("name") or str(port.get("port"))


async def serve(client: KubeClient, net: netplan.ClusterNet, stop: asyncio.Event,
                scheduler_name: str = "sedna-local", hosts_file: Path | None = None) -> None:
    """Run the cluster services until ``stop`` is set."""
    await run_until_stopped(ClusterServices(client, net, scheduler_name=scheduler_name, hosts_file=hosts_file),
                            stop)
