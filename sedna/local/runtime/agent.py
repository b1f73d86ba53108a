"""The node agent: a kubelet that runs the pods bound to one node as process groups.

It registers its Node (labels, podCIDR, InternalIP, Ready), watches the pods whose ``spec.nodeName`` is its
node, and for each pod runs the init containers in order and then the containers, restarting them according
to ``restartPolicy`` with exponential back-off, and reports the pod status. Deleting a pod (or its owner)
kills its process groups; so does stopping the agent.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import logging
import os
import platform
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from sedna.common import cluster_dns
from sedna.local.runtime import envvars, images, netplan, paths, podstatus, procs
from sedna.local.runtime.kube import ApiError, Informer, KubeClient, run_until_stopped

log = logging.getLogger(__name__)

PASS_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV", "SSL_CERT_FILE",
            "REQUESTS_CA_BUNDLE")
KUBELET_VERSION = "v1.29.0-sedna-local"


@dataclass
class AgentConfig:
    node: str
    data_dir: Path
    address: str = ""
    pod_cidr: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    image_map: images.ImageMap = field(default_factory=images.ImageMap)
    lc_server: str = ""
    #: given as KUBECONFIG to pods that name a serviceAccountName: the stand-in for the service account token
    #: that a kubelet mounts at /var/run/secrets/... (no mount namespace here, so that path cannot exist)
    pod_kubeconfig: str = ""
    backoff_base: float = 10.0
    backoff_max: float = 300.0
    heartbeat: float = 10.0
    shutdown_grace: float = 5.0


def pod_key(pod: dict[str, Any]) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace', 'default')}/{meta.get('name', '')}"


def pod_path(pod: dict[str, Any], sub: str = "") -> str:
    meta = pod.get("metadata") or {}
    base = f"/api/v1/namespaces/{meta.get('namespace', 'default')}/pods/{meta.get('name', '')}"
    return f"{base}/{sub}" if sub else base


class PrepareError(Exception):
    """The pod cannot start yet: (waiting reason, message); retried."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class PodWorker:
    """Runs one pod (one uid) on this node."""

    def __init__(self, agent: NodeAgent, pod: dict[str, Any]):
        self.agent = agent
        self.pod = pod
        meta, spec = pod["metadata"], pod.get("spec") or {}
        self.uid = meta.get("uid", "")
        self.name, self.namespace = meta.get("name", ""), meta.get("namespace", "default")
        self.policy = spec.get("restartPolicy") or "Always"
        self.dir = paths.pod_dir(agent.cfg.data_dir, agent.cfg.node, self.uid or self.name)
        old = {c.get("name"): c for c in ((pod.get("status") or {}).get("containerStatuses") or [])}
        old_init = {c.get("name"): c for c in ((pod.get("status") or {}).get("initContainerStatuses") or [])}
        self.init_runs = [podstatus.ContainerRun(c["name"], c.get("image", ""),
                                                 restart_count=(old_init.get(c["name"]) or {}).get(
                                                     "restartCount", 0))
                          for c in spec.get("initContainers") or []]
        self.runs = [podstatus.ContainerRun(c["name"], c.get("image", ""), reason="ContainerCreating",
                                            restart_count=(old.get(c["name"]) or {}).get("restartCount", 0))
                     for c in spec.get("containers") or []]
        for run in self.runs if self.init_runs else []:
            run.reason = "PodInitializing"
        self.procs: dict[str, asyncio.subprocess.Process] = {}
        self.pod_ip = ""
        self.host_ip = agent.address
        self.start_time = (pod.get("status") or {}).get("startTime") or podstatus.now_iso()
        self.volumes: dict[str, paths.VolumeSpec] = {}
        self.stopping = False
        self.finished = asyncio.Event()
        self._dirty = asyncio.Event()
        self._last_status: dict[str, Any] | None = pod.get("status")
        self._pushed_once = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._main: asyncio.Task | None = None
        self._pusher: asyncio.Task | None = None
        self._log_truncated: set[str] = set()
        self._events: set[tuple[str, str]] = set()
        self._event_tasks: set[asyncio.Task] = set()

    # ---- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> None:
        self._pusher = asyncio.create_task(self._push_loop(), name=f"status {self.namespace}/{self.name}")
        self._main = asyncio.create_task(self._run(), name=f"pod {self.namespace}/{self.name}")
        for task in (self._pusher, self._main):
            task.add_done_callback(self._log_crash)

    def _log_crash(self, task: asyncio.Task) -> None:
        """A pod loop that dies of a bug must say so: otherwise the pod just stays Pending without a word."""
        if not task.cancelled() and task.exception() is not None:
            log.error("pod %s/%s: %s failed", self.namespace, self.name, task.get_name(), exc_info=task.exception())

    async def stop(self, grace: float, *, report: bool = False) -> None:
        """Kill every process group of the pod (SIGTERM, ``grace`` seconds, SIGKILL) and stop its loops;
        with ``report`` the final container states are written to the pod status."""
        self.stopping = True
        running = dict(self.procs)
        for name in running:
            self.event("Normal", "Killing", f"Stopping container {name}", name)
        for task in ([self._main] if self._main else []) + self._tasks:
            task.cancel()
        await asyncio.gather(*(procs.kill_group(p.pid, grace, p) for p in running.values()
                               if p.returncode is None), return_exceptions=True)
        self._kill_stale()
        for task in ([self._main] if self._main else []) + self._tasks:
            await _quietly(task)
        for run in self.init_runs + self.runs:
            if run.state == "running":
                proc = running.get(run.name)
                code = procs.exit_code(proc.returncode) if proc and proc.returncode is not None else 137
                run.finish(code, reason="Error" if code else "Completed")
        if self._pusher:
            self._pusher.cancel()
            await _quietly(self._pusher)
        if report:
            try:
                await self.agent.client.merge_patch(pod_path(self.pod, "status"),
                                                    {"metadata": {"uid": self.uid}, "status": self.status()})
            except (ApiError, httpx.HTTPError, OSError) as exc:
                log.info("pod %s/%s: final status not written: %s", self.namespace, self.name, exc)
        self.finished.set()

    def cleanup_dir(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def _kill_stale(self) -> None:
        """Kill process groups recorded in pid files that still run (e.g. left by a crashed agent)."""
        for pidfile in (self.dir / "containers").glob("*.pid"):
            pgid = procs.pidfile_alive(pidfile)
            if pgid is not None:
                procs.kill_group_now(pgid)
            pidfile.unlink(missing_ok=True)

    def changed(self) -> None:
        self._dirty.set()

    def event(self, etype: str, reason: str, message: str, container: str | None = None) -> None:
        """Record a Kubernetes Event about this pod (each distinct one once), without waiting for it."""
        key = (reason, message)
        if key in self._events:
            return
        self._events.add(key)
        task = asyncio.create_task(self.agent.post_event(self.pod, etype, reason, message, container))
        self._event_tasks.add(task)
        task.add_done_callback(self._event_tasks.discard)

    def status(self) -> dict[str, Any]:
        return podstatus.pod_status(self.policy, self.init_runs, self.runs, host_ip=self.host_ip,
                                    pod_ip=self.pod_ip, start_time=self.start_time, previous=self._last_status)

    async def _push_loop(self) -> None:
        client = self.agent.client
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            status = self.status()
            try:
                await client.merge_patch(pod_path(self.pod, "status"),
                                         {"metadata": {"uid": self.uid}, "status": status})
                self._last_status = status
                self._pushed_once.set()
            except ApiError as exc:
                if exc.status == 404:
                    return
                log.warning("pod %s/%s: status update failed: %s", self.namespace, self.name, exc)
                self._dirty.set()
                await asyncio.sleep(0.5)
            except (httpx.HTTPError, OSError) as exc:
                log.warning("pod %s/%s: status update failed: %s", self.namespace, self.name, exc)
                self._dirty.set()
                await asyncio.sleep(0.5)

    # ---- preparation ----------------------------------------------------------------------------------

    async def _prepare(self) -> None:
        spec = self.pod.get("spec") or {}
        self._kill_stale()
        if spec.get("hostNetwork"):
            self.pod_ip = self.agent.address
        else:
            self.pod_ip = self.agent.allocate_ip(self)
        self.dir.mkdir(parents=True, exist_ok=True)
        try:
            self.volumes = paths.plan_volumes(self.pod, self.agent.root, self.dir)
        except paths.VolumeError as exc:
            raise PrepareError("CreateContainerConfigError", str(exc)) from exc
        for vol in self.volumes.values():
            await self._materialize(vol)

    async def _materialize(self, vol: paths.VolumeSpec) -> None:
        if vol.kind == "hostPath":
            htype = vol.host_type
            if htype in ("", "DirectoryOrCreate"):
                if not vol.host.exists():
                    vol.host.mkdir(parents=True, exist_ok=True)
            elif htype == "Directory":
                if not vol.host.is_dir():
                    raise PrepareError("ContainerCreating", f"MountVolume.SetUp failed for volume {vol.name!r}: "
                                                            f"hostPath type check failed: {vol.host} is not a "
                                                            "directory")
            elif htype == "FileOrCreate":
                vol.host.parent.mkdir(parents=True, exist_ok=True)
                vol.host.touch(exist_ok=True)
            elif htype == "File" and not vol.host.is_file():
                raise PrepareError("ContainerCreating", f"MountVolume.SetUp failed for volume {vol.name!r}: "
                                                        f"hostPath type check failed: {vol.host} is not a file")
            return
        vol.host.mkdir(parents=True, exist_ok=True)
        if vol.kind in ("secret", "configMap"):
            is_secret = vol.kind == "secret"
            name = vol.source.get("secretName" if is_secret else "name", "")
            obj = await self.agent.get_ref("secrets" if is_secret else "configmaps", self.namespace, name)
            if obj is None:
                if vol.source.get("optional"):
                    return
                raise PrepareError("ContainerCreating", f"MountVolume.SetUp failed for volume {vol.name!r}: "
                                                        f"{vol.kind} {name!r} not found")
            if is_secret:
                data: dict[str, bytes] = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
            else:       # a ConfigMap's data is plain text (only its binaryData is base64)
                data = {k: str(v).encode() for k, v in (obj.get("data") or {}).items()}
                data.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
            items = vol.source.get("items")
            wanted = [(it["key"], it.get("path") or it["key"]) for it in items] if items else \
                [(k, k) for k in data]
            mode = vol.source.get("defaultMode", 0o644)
            for key, rel in wanted:
                if key not in data:
                    continue
                target = Path(paths.inside(rel, vol.host))
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data[key])
                os.chmod(target, mode)

    # ---- container launch -----------------------------------------------------------------------------

    async def _launch_spec(self, container: dict[str, Any]) -> tuple[list[str], dict[str, str], str]:
        cfg = self.agent.cfg
        imap = cfg.image_map
        try:
            imap = imap.merged(images.annotation_image_map(self.pod))
        except (images.ImageError, ValueError) as exc:
            raise PrepareError("CreateContainerConfigError", f"annotation {images.ANNOTATION}: {exc}") from exc
        entry = imap.lookup(container.get("image", ""))
        name = container["name"]
        rootfs = self.dir / "rootfs" / name
        try:
            mounts = paths.plan_mounts(container, self.volumes)
        except paths.VolumeError as exc:
            raise PrepareError("CreateContainerConfigError", str(exc)) from exc
        if entry:
            for cpath, host in entry.paths.items():
                mounts.setdefault(os.path.normpath("/" + cpath.lstrip("/")), Path(host))
        rewrites, links, parents = paths.container_view(mounts, rootfs)
        rootfs.mkdir(parents=True, exist_ok=True)
        for link, target in links.items():
            lp = Path(link)
            lp.parent.mkdir(parents=True, exist_ok=True)
            if lp.is_symlink() or lp.exists():
                if lp.is_symlink() and os.readlink(lp) == str(target):
                    continue
                if lp.is_dir() and not lp.is_symlink():
                    shutil.rmtree(lp)
                else:
                    lp.unlink()
            lp.symlink_to(target)
        # environment
        spec = self.pod.get("spec") or {}
        base = {k: os.environ[k] for k in PASS_ENV if k in os.environ}
        base["PYTHONUNBUFFERED"] = "1"
        base["HOSTNAME"] = cfg.node if spec.get("hostNetwork") else self.name
        base["POD_IP"] = self.pod_ip
        base[cluster_dns.HOSTS_ENV] = str(paths.service_hosts_path(cfg.data_dir))
        base[cluster_dns.NAMESPACE_ENV] = self.namespace
        # the container's view of its mounts, for paths that reach it as data (sedna.common.file_ops)
        base["SEDNA_LOCAL_ROOTFS"] = str(rootfs)
        if cfg.pod_kubeconfig and spec.get("serviceAccountName") and \
                spec.get("automountServiceAccountToken", True) is not False:
            base["KUBECONFIG"] = cfg.pod_kubeconfig
        services = await self.agent.list_services()
        if spec.get("enableServiceLinks", True):
            for svc in services:
                smeta, sspec = svc.get("metadata") or {}, svc.get("spec") or {}
                ip = sspec.get("clusterIP")
                if smeta.get("namespace") != self.namespace or not ip or ip == "None":
                    continue
                prefix = smeta.get("name", "").upper().replace("-", "_")
                ports = sspec.get("ports") or []
                base[f"{prefix}_SERVICE_HOST"] = ip
                if ports:
                    base[f"{prefix}_SERVICE_PORT"] = str(ports[0].get("port"))
        if entry:
            base.update(entry.env)
        sources = envvars.EnvSources(
            secrets=await self.agent.refs("secrets", self.namespace, container, "secretKeyRef", "secretRef"),
            configmaps=await self.agent.refs("configmaps", self.namespace, container, "configMapKeyRef",
                                             "configMapRef"),
            pod_ip=self.pod_ip, host_ip=self.host_ip, node_allocatable=self.agent.allocatable)
        literal: set[str] = set(entry.env) if entry else set()      # image ENV holds container paths too
        try:
            env = envvars.build_env(self.pod, container, sources, base, literal)
        except envvars.EnvError as exc:
            raise PrepareError("CreateContainerConfigError", str(exc)) from exc
        if cfg.lc_server and "LC_SERVER" in env:
            env["LC_SERVER"] = cfg.lc_server
        qualified, bare = envvars.service_host_table(services, self.namespace)

        def rewrite(value: str) -> str:
            return envvars.rewrite_paths(envvars.rewrite_hosts(value, qualified, bare), rewrites, parents)

        # only values written in the pod spec are rewritten: fieldRef/secret/configMap values are data
        env = {k: rewrite(v) if k in literal else v for k, v in env.items()}
        try:
            argv = images.container_argv(container, entry, imap.python)
        except images.ImageError as exc:
            raise PrepareError("CreateContainerError", str(exc)) from exc
        first_is_interpreter = argv[0] in (imap.python, entry.python if entry else None)
        argv = [word if i == 0 and first_is_interpreter else rewrite(envvars.expand(word, env))
                for i, word in enumerate(argv)]
        workdir = container.get("workingDir") or (entry.working_dir if entry else "")
        if workdir:
            wanted = os.path.normpath("/" + workdir.lstrip("/"))
            cwd = envvars.rewrite_paths(wanted, rewrites)
            if cwd == wanted:                   # not under a mount: a private directory in the rootfs
                cwd = paths.inside(wanted, rootfs)
        else:
            cwd = str(rootfs)
        Path(cwd).mkdir(parents=True, exist_ok=True)
        return argv, env, cwd

    async def _run_once(self, container: dict[str, Any], run: podstatus.ContainerRun) -> None:
        """Start the container's process and wait for it; ``run`` ends terminated."""
        name = container["name"]
        while True:
            try:
                argv, env, cwd = await self._launch_spec(container)
                break
            except PrepareError as exc:
                # the kubelet keeps such a container waiting and retries
                run.wait(exc.reason, str(exc))
                self.event("Warning", "Failed", f"Error: {exc}", name)
                self.changed()
                await asyncio.sleep(2.0)
        logfile = paths.log_path(self.agent.cfg.data_dir, self.namespace, self.name, name)
        logfile.parent.mkdir(parents=True, exist_ok=True)
        mode = "ab" if name in self._log_truncated else "wb"
        self._log_truncated.add(name)
        with open(logfile, mode) as out:  # noqa: ASYNC230 - a local file, opened once per start
            try:
                proc = await asyncio.create_subprocess_exec(
                    *argv, cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=out,
                    stderr=asyncio.subprocess.STDOUT, start_new_session=True)
            except OSError as exc:
                out.write(f"failed to start container {name!r}: {exc}\n".encode())
                run.start(0)
                run.container_id = ""
                run.finish(128, reason="StartError", message=f"exec {argv[0]!r}: {exc.strerror or exc}")
                self.changed()
                return
        self.procs[name] = proc
        procs.write_pidfile(self.dir / "containers" / f"{name}.pid", proc.pid)
        run.start(proc.pid)
        self.event("Normal", "Started", f"Started container {name} (pid {proc.pid})", name)
        probe_task = asyncio.create_task(self._readiness(container, run, proc))
        live_task = asyncio.create_task(self._liveness(container, run, proc))
        self.changed()
        try:
            rc = await proc.wait()
        finally:
            probe_task.cancel()
            live_task.cancel()
        self.procs.pop(name, None)
        (self.dir / "containers" / f"{name}.pid").unlink(missing_ok=True)
        if self.stopping:
            return
        # the container is gone: reap what it left in its process group
        if procs.group_alive(proc.pid):
            procs.kill_group_now(proc.pid)
        run.finish(procs.exit_code(rc))
        self.changed()

    async def _liveness(self, container: dict[str, Any], run: podstatus.ContainerRun, proc) -> None:
        """Run the livenessProbe; after ``failureThreshold`` failures in a row the container is killed (and
        then restarted or not by ``restartPolicy``, as in Kubernetes)."""
        probe = container.get("livenessProbe")
        if not probe:
            return
        period = float(probe.get("periodSeconds", 10))
        timeout = float(probe.get("timeoutSeconds", 1))
        need_fail = int(probe.get("failureThreshold", 3))
        await asyncio.sleep(float(probe.get("initialDelaySeconds", 0)))
        fails = 0
        while proc.returncode is None:
            fails = 0 if await self._probe(probe, container, timeout) else fails + 1
            if fails >= need_fail:
                self.event("Warning", "Unhealthy", f"Liveness probe failed {fails} times", run.name)
                self.event("Normal", "Killing", f"Container {run.name} failed liveness probe, will be "
                                                "restarted", run.name)
                grace = float(probe.get("terminationGracePeriodSeconds")
                              or (self.pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30))
                await procs.kill_group(proc.pid, min(grace, 10.0), proc)
                return
            await asyncio.sleep(period)

    async def _readiness(self, container: dict[str, Any], run: podstatus.ContainerRun, proc) -> None:
        probe = container.get("readinessProbe")
        if not probe:
            run.ready = True
            self.changed()
            return
        period = float(probe.get("periodSeconds", 10))
        timeout = float(probe.get("timeoutSeconds", 1))
        need_ok, need_fail = int(probe.get("successThreshold", 1)), int(probe.get("failureThreshold", 3))
        await asyncio.sleep(float(probe.get("initialDelaySeconds", 0)))
        oks = fails = 0
        while proc.returncode is None:
            ok = await self._probe(probe, container, timeout)
            oks, fails = (oks + 1, 0) if ok else (0, fails + 1)
            ready = run.ready
            if oks >= need_ok:
                ready = True
            elif fails >= need_fail:
                ready = False
            if ready != run.ready:
                run.ready = ready
                self.changed()
            await asyncio.sleep(period)

    async def _probe(self, probe: dict[str, Any], container: dict[str, Any], timeout: float) -> bool:
        def port_of(value: Any) -> int:
            if isinstance(value, int) or str(value).isdigit():
                return int(value)
            for p in container.get("ports") or []:
                if p.get("name") == value:
                    return int(p["containerPort"])
            raise ValueError(f"unknown port {value!r}")

        try:
            if "tcpSocket" in probe:
                tcp = probe["tcpSocket"]
                _, writer = await asyncio.wait_for(
                    asyncio.open_connection(tcp.get("host") or self.pod_ip, port_of(tcp.get("port"))), timeout)
                writer.close()
                return True
            if "httpGet" in probe:
                hg = probe["httpGet"]
                url = (f"{(hg.get('scheme') or 'HTTP').lower()}://{hg.get('host') or self.pod_ip}:"
                       f"{port_of(hg.get('port'))}{hg.get('path') or '/'}")
                headers = {h["name"]: h["value"] for h in hg.get("httpHeaders") or []}
                async with httpx.AsyncClient(timeout=timeout, verify=False) as http:
                    resp = await http.get(url, headers=headers)
                return 200 <= resp.status_code < 400
            if "exec" in probe:
                argv, env, cwd = await self._launch_spec({**container, "command": probe["exec"].get("command"),
                                                          "args": []})
                proc = await asyncio.create_subprocess_exec(*argv, cwd=cwd, env=env,
                                                            stdout=asyncio.subprocess.DEVNULL,
                                                            stderr=asyncio.subprocess.DEVNULL,
                                                            start_new_session=True)
                try:
                    return await asyncio.wait_for(proc.wait(), timeout) == 0
                except asyncio.TimeoutError:
                    procs.kill_group_now(proc.pid)
                    return False
        except (OSError, asyncio.TimeoutError, httpx.HTTPError, ValueError, PrepareError):
            return False
        return False

    # ---- main -----------------------------------------------------------------------------------------

    async def _run(self) -> None:
        spec = self.pod.get("spec") or {}
        while True:
            try:
                await self._prepare()
                break
            except PrepareError as exc:
                for run in self.init_runs[:1] or self.runs:
                    run.wait(exc.reason, str(exc))
                self.event("Warning", "FailedMount" if "MountVolume" in str(exc) else "Failed", str(exc))
                self.changed()
                await asyncio.sleep(2.0)
        self.changed()
        for container, run in zip(spec.get("initContainers") or [], self.init_runs):
            if not await self._container_loop(container, run, init=True):
                self.changed()
                return
        for run in self.runs:
            if run.state == "waiting" and run.reason == "PodInitializing":
                run.reason = "ContainerCreating"
        self._tasks = [asyncio.create_task(self._container_loop(c, r, init=False))
                       for c, r in zip(spec.get("containers") or [], self.runs)]
        await asyncio.gather(*self._tasks)
        self.changed()

    async def _container_loop(self, container: dict[str, Any], run: podstatus.ContainerRun, *, init: bool) -> bool:
        """Run a container until it is done for good; returns whether it (an init container) succeeded."""
        cfg = self.agent.cfg
        backoff = podstatus.Backoff(cfg.backoff_base, cfg.backoff_max, reset_after=max(2 * cfg.backoff_max, 1))
        loop = asyncio.get_running_loop()
        while True:
            began = loop.time()
            await self._run_once(container, run)
            if self.stopping:
                return False
            if init and run.exit_code == 0:
                return True
            restart = (self.policy != "Never") if init else podstatus.will_restart(self.policy, run)
            if not restart:
                return run.exit_code == 0
            delay = backoff.next_delay(loop.time() - began)
            run.wait("CrashLoopBackOff", f"back-off {delay:g}s restarting failed container={run.name} "
                                         f"pod={self.name}_{self.namespace}({self.uid})")
            self.event("Warning", "BackOff", f"Back-off restarting failed container {run.name} "
                                             f"(exit code {run.last_terminated.get('exitCode')})", run.name)
            self.changed()
            await asyncio.sleep(delay)
            run.restart_count += 1


class NodeAgent:
    def __init__(self, client: KubeClient, cfg: AgentConfig):
        self.client = client
        self.cfg = cfg
        self.root = paths.node_root(cfg.data_dir, cfg.node)
        self.address = cfg.address
        self.pod_cidr = cfg.pod_cidr
        self.workers: dict[str, PodWorker] = {}       # uid -> worker
        self.done: set[str] = set()                     # uids finished (terminal) or being deleted
        self.terminating: set[str] = set()              # uids whose graceful deletion is under way
        self._background: set[asyncio.Task] = set()
        self._last_ip: str | None = None
        self._candidates: list[str] | None = None
        self.informer = Informer(client, "/api/v1/pods", self._on_pod,
                                 params={"fieldSelector": f"spec.nodeName={cfg.node}"},
                                 keep=lambda p: (p.get("spec") or {}).get("nodeName") == cfg.node)
        self.allocatable = {"cpu": str(os.cpu_count() or 1), "memory": f"{_mem_kib()}Ki", "pods": "110"}
        self._services: tuple[float, list[dict[str, Any]]] = (0.0, [])
        self._tasks: list[asyncio.Task] = []

    # ---- node registration ----------------------------------------------------------------------------

    async def register(self) -> None:
        path = f"/api/v1/nodes/{self.cfg.node}"
        node = await self.client.get_or_none(path)
        labels = {"kubernetes.io/hostname": self.cfg.node, "kubernetes.io/os": "linux",
                  "kubernetes.io/arch": _arch(), **self.cfg.labels}
        if node is not None:
            spec = node.get("spec") or {}
            self.pod_cidr = self.pod_cidr or spec.get("podCIDR", "")
            for addr in (node.get("status") or {}).get("addresses") or []:
                if addr.get("type") == "InternalIP" and not self.address:
                    self.address = addr.get("address", "")
        self.address = self.address or netplan.ClusterNet().node_address(0)
        self.pod_cidr = self.pod_cidr or netplan.ClusterNet().pod_cidr(0)
        ipaddress.ip_network(self.pod_cidr, strict=False)
        meta_spec = {"metadata": {"labels": labels},
                     "spec": {"podCIDR": self.pod_cidr, "podCIDRs": [self.pod_cidr]}}
        if node is None:
            try:
                await self.client.create("/api/v1/nodes", {"apiVersion": "v1", "kind": "Node",
                                                           "metadata": {"name": self.cfg.node, "labels": labels},
                                                           "spec": meta_spec["spec"]})
            except ApiError as exc:
                if exc.status != 409:
                    raise
        await self.client.merge_patch(path, meta_spec)
        await self._heartbeat(ready=True)

    async def _heartbeat(self, ready: bool, reason: str = "KubeletReady",
                         message: str = "sedna local runtime is posting ready status") -> None:
        now = podstatus.now_iso()
        status = {
            "addresses": [{"type": "InternalIP", "address": self.address},
                          {"type": "Hostname", "address": self.cfg.node}],
            "capacity": self.allocatable, "allocatable": self.allocatable,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False", "reason": reason,
                            "message": message, "lastHeartbeatTime": now, "lastTransitionTime": now}],
            "nodeInfo": {"kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": KUBELET_VERSION,
                         "operatingSystem": "linux", "architecture": _arch(),
                         "containerRuntimeVersion": "sedna-local://process", "osImage": platform.platform(),
                         "kernelVersion": platform.release(), "machineID": "", "systemUUID": "",
                         "bootID": ""},
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
        }
        await self.client.merge_patch(f"/api/v1/nodes/{self.cfg.node}/status", {"status": status})

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.heartbeat)
            try:
                await self._heartbeat(ready=True)
            except (ApiError, httpx.HTTPError, OSError) as exc:
                log.warning("node heartbeat failed: %s", exc)

    # ---- helpers for workers --------------------------------------------------------------------------

    def allocate_ip(self, worker: PodWorker) -> str:
        used = {w.pod_ip for w in self.workers.values() if w is not worker and w.pod_ip}
        used |= {(p.get("status") or {}).get("podIP") for p in self.informer.cache.values()
                 if (p.get("metadata") or {}).get("uid") != worker.uid
                 and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")}
        previous = (worker.pod.get("status") or {}).get("podIP")
        net = ipaddress.ip_network(self.pod_cidr, strict=False)
        if previous and previous not in used and ipaddress.ip_address(previous) in net:
            return previous
        self._last_ip = netplan.allocate(self._ip_candidates(), used, self._last_ip)
        return self._last_ip

    def _ip_candidates(self) -> list[str]:
        if self._candidates is None:
            self._candidates = list(netplan.cidr_candidates(self.pod_cidr))
        return self._candidates

    async def post_event(self, pod: dict[str, Any], etype: str, reason: str, message: str,
                         container: str | None) -> None:
        meta = pod.get("metadata") or {}
        ns = meta.get("namespace", "default")
        now = podstatus.now_iso()
        involved = {"kind": "Pod", "namespace": ns, "name": meta.get("name"), "uid": meta.get("uid"),
                    "apiVersion": "v1"}
        if container:
            involved["fieldPath"] = f"spec.containers{{{container}}}"
        event = {"apiVersion": "v1", "kind": "Event",
                 "metadata": {"generateName": f"{meta.get('name')}.", "namespace": ns},
                 "involvedObject": involved, "reason": reason, "message": message, "type": etype,
                 "source": {"component": "kubelet", "host": self.cfg.node}, "count": 1,
                 "firstTimestamp": now, "lastTimestamp": now, "reportingComponent": "kubelet",
                 "reportingInstance": self.cfg.node}
        try:
            await self.client.create(f"/api/v1/namespaces/{ns}/events", event)
        except (ApiError, httpx.HTTPError, OSError) as exc:
            log.debug("event not recorded: %s", exc)

    async def get_ref(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        return await self.client.get_or_none(f"/api/v1/namespaces/{namespace}/{plural}/{name}")

    async def refs(self, plural: str, namespace: str, container: dict[str, Any], key_ref: str, from_ref: str
                   ) -> dict[str, dict[str, Any]]:
        names = {((item.get("valueFrom") or {}).get(key_ref) or {}).get("name") for item in
                 container.get("env") or []}
        names |= {(src.get(from_ref) or {}).get("name") for src in container.get("envFrom") or []}
        out = {}
        for name in sorted(n for n in names if n):
            obj = await self.get_ref(plural, namespace, name)
            if obj is not None:
                out[name] = obj
        return out

    async def list_services(self) -> list[dict[str, Any]]:
        """All Services; waits (up to 5 s) while some still lack a loopback ClusterIP, which the cluster
        services process is about to give them."""
        loop = asyncio.get_running_loop()
        when, cached = self._services
        if loop.time() - when < 0.5:
            return cached
        deadline = loop.time() + 5.0
        while True:
            try:
                items = (await self.client.get("/api/v1/services")).get("items") or []
            except (ApiError, httpx.HTTPError) as exc:
                log.warning("cannot list services: %s", exc)
                return cached
            pending = [Informer.key(s) for s in items if _awaits_cluster_ip(s)]
            if not pending or loop.time() > deadline:
                break
            await asyncio.sleep(0.1)
        if pending:
            log.warning("services without a loopback ClusterIP (not resolvable from pods): %s", pending)
        items = [s for s in items if not _awaits_cluster_ip(s)]
        self._services = (loop.time(), items)
        return items

    # ---- pod events -----------------------------------------------------------------------------------

    async def _on_pod(self, etype: str, pod: dict[str, Any]) -> None:
        meta = pod.get("metadata") or {}
        uid = meta.get("uid", "")
        worker = self.workers.get(uid)
        if etype == "DELETED":
            if worker is not None:
                self.workers.pop(uid, None)
                log.info("pod %s deleted: killing its processes", pod_key(pod))
                self._in_background(self._stop_and_clean(worker, grace=0.0))
            self.done.discard(uid)
            self.terminating.discard(uid)
            return
        if meta.get("deletionTimestamp"):
            if uid in self.terminating:
                return                  # already stopping (our own status updates come back as events)
            self.terminating.add(uid)
            self.done.add(uid)
            grace = float(meta.get("deletionGracePeriodSeconds") or 0)
            self._in_background(self._graceful_delete(pod, worker, grace))
            return
        if worker is not None:
            worker.pod = pod
            return
        if uid in self.done:
            return
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed"):
            self.done.add(uid)
            return
        worker = PodWorker(self, pod)
        self.workers[uid] = worker
        log.info("starting pod %s (%s)", pod_key(pod), uid)
        worker.start()

    def _in_background(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _stop_and_clean(self, worker: PodWorker, grace: float) -> None:
        await worker.stop(grace)
        worker.cleanup_dir()

    async def _graceful_delete(self, pod: dict[str, Any], worker: PodWorker | None, grace: float) -> None:
        meta = pod["metadata"]
        if worker is not None:
            log.info("pod %s terminating (grace %.0fs)", pod_key(pod), grace)
            await worker.stop(grace, report=True)
        try:
            await self.client.delete(pod_path(pod), {"gracePeriodSeconds": 0,
                                                     "preconditions": {"uid": meta.get("uid")}})
        except ApiError as exc:
            if exc.status not in (404, 409):
                log.warning("final delete of pod %s failed: %s", pod_key(pod), exc)
        if worker is not None:
            self.workers.pop(meta.get("uid", ""), None)
            worker.cleanup_dir()

    # ---- run ------------------------------------------------------------------------------------------

    async def run(self, ready: asyncio.Event | None = None) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        await self.register()
        log.info("node %s registered: address %s, pod CIDR %s", self.cfg.node, self.address, self.pod_cidr)
        self._tasks = [asyncio.create_task(self.informer.run(), name="pod informer"),
                       asyncio.create_task(self._heartbeat_loop(), name="node heartbeat")]
        await self.informer.synced.wait()
        if ready is not None:
            ready.set()
        await asyncio.gather(*self._tasks)

    async def shutdown(self) -> None:
        for task in self._tasks:
            task.cancel()
        workers = list(self.workers.values())
        self.workers.clear()
        await asyncio.gather(*(w.stop(min(self.cfg.shutdown_grace, _grace_of(w.pod))) for w in workers),
                             return_exceptions=True)
        try:
            await self._heartbeat(ready=False, reason="KubeletNotReady", message="sedna local runtime stopped")
        except (ApiError, httpx.HTTPError, OSError):
            pass


async def _quietly(task: asyncio.Task) -> None:
    """Wait for a cancelled task; its end (cancellation or error) was already dealt with or logged."""
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


def _awaits_cluster_ip(svc: dict[str, Any]) -> bool:
    ip = (svc.get("spec") or {}).get("clusterIP") or ""
    return ip != "None" and not ip.startswith("127.") and (svc.get("spec") or {}).get("type") != "ExternalName"


def _grace_of(pod: dict[str, Any]) -> float:
    return float((pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30))


def _arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def _mem_kib() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


async def serve(client: KubeClient, cfg: AgentConfig, stop: asyncio.Event) -> None:
    """Run an agent until ``stop`` is set, then kill its pods."""
    await run_until_stopped(NodeAgent(client, cfg), stop)
