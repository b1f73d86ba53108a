"""Pod status the way a kubelet reports it, computed from container states (pure functions)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ContainerRun:
    """What the runtime knows about one container of a pod."""

    name: str
    image: str = ""
    state: str = "waiting"            # waiting | running | terminated
    reason: str = "PodInitializing"   # waiting reason, or terminated reason (Completed / Error / StartError)
    message: str = ""
    exit_code: int | None = None
    started_at: str | None = None
    finished_at: str | None = None
    restart_count: int = 0
    last_terminated: dict[str, Any] | None = None
    ready: bool = False
    container_id: str = ""
    pid: int | None = None

    @property
    def ever_started(self) -> bool:
        return self.state != "waiting" or self.last_terminated is not None

    @property
    def succeeded(self) -> bool:
        return self.state == "terminated" and self.exit_code == 0

    def start(self, pid: int, when: str | None = None) -> None:
        self.state, self.reason, self.message = "running", "", ""
        self.pid, self.exit_code, self.finished_at = pid, None, None
        self.started_at = when or now_iso()
        self.container_id = f"sedna-local://{pid}"

    def finish(self, exit_code: int, when: str | None = None, reason: str | None = None, message: str = "") -> None:
        self.state = "terminated"
        self.exit_code = exit_code
        self.reason = reason or ("Completed" if exit_code == 0 else "Error")
        self.message = message
        self.finished_at = when or now_iso()
        self.ready = False
        self.pid = None

    def wait(self, reason: str, message: str = "") -> None:
        """Enter waiting (before a restart): the terminated state becomes lastState."""
        if self.state == "terminated":
            self.last_terminated = self.terminated_dict()
        self.state, self.reason, self.message = "waiting", reason, message
        self.ready = False

    def terminated_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"exitCode": self.exit_code if self.exit_code is not None else 0,
                               "reason": self.reason, "startedAt": self.started_at,
                               "finishedAt": self.finished_at, "containerID": self.container_id or None}
        if self.message:
            out["message"] = self.message
        return out

    def status(self) -> dict[str, Any]:
        if self.state == "running":
            state: dict[str, Any] = {"running": {"startedAt": self.started_at}}
        elif self.state == "terminated":
            state = {"terminated": self.terminated_dict()}
        else:
            waiting: dict[str, Any] = {"reason": self.reason}
            if self.message:
                waiting["message"] = self.message
            state = {"waiting": waiting}
        out: dict[str, Any] = {
            "name": self.name, "image": self.image, "imageID": "", "state": state,
            "lastState": {"terminated": self.last_terminated} if self.last_terminated else {},
            "ready": self.ready, "restartCount": self.restart_count, "started": self.state == "running",
        }
        if self.container_id:
            out["containerID"] = self.container_id
        return out


def will_restart(policy: str, run: ContainerRun) -> bool:
    """Whether a terminated container is restarted under ``restartPolicy``."""
    if policy == "Always":
        return True
    if policy == "OnFailure":
        return run.exit_code != 0
    return False


def pod_phase(policy: str, init: list[ContainerRun], containers: list[ContainerRun]) -> str:
    """Phase from container states, as the kubelet computes it."""
    policy = policy or "Always"
    for run in init:
        if run.state == "terminated" and run.exit_code != 0 and policy == "Never":
            return "Failed"
    if not all(run.succeeded for run in init):
        return "Pending"
    if any(not run.ever_started for run in containers):
        return "Pending"
    if any(run.state == "running" for run in containers):
        return "Running"
    if any(run.state == "waiting" for run in containers):
        return "Running"            # between restarts
    # all terminated
    if policy == "Always":
        return "Running"
    if all(run.exit_code == 0 for run in containers):
        return "Succeeded"
    if policy == "OnFailure":
        return "Running"
    return "Failed"


def _condition(ctype: str, ok: bool, since: Mapping[str, Mapping[str, Any]], reason: str = "",
               message: str = "") -> dict[str, Any]:
    status = "True" if ok else "False"
    old = since.get(ctype) or {}
    when = old.get("lastTransitionTime") if old.get("status") == status else None
    out: dict[str, Any] = {"type": ctype, "status": status, "lastProbeTime": None,
                           "lastTransitionTime": when or now_iso()}
    if reason:
        out["reason"] = reason
    if message:
        out["message"] = message
    return out


def pod_status(policy: str, init: list[ContainerRun], containers: list[ContainerRun], *, host_ip: str,
               pod_ip: str, start_time: str, previous: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The full ``status`` of a pod bound to this node (``previous`` keeps condition transition times)."""
    phase = pod_phase(policy, init, containers)
    since = {c.get("type"): c for c in ((previous or {}).get("conditions") or [])}
    inits_done = all(run.succeeded for run in init)
    not_ready = [run.name for run in containers if not run.ready]
    terminal = phase in ("Succeeded", "Failed")
    if terminal:
        ready_reason, ready_msg = "PodCompleted", ""
    elif not_ready:
        ready_reason, ready_msg = "ContainersNotReady", f"containers with unready status: [{' '.join(not_ready)}]"
    else:
        ready_reason, ready_msg = "", ""
    pending_init = [run.name for run in init if not run.succeeded]
    init_reason = "PodCompleted" if terminal and inits_done else ("ContainersNotInitialized" if pending_init else "")
    init_msg = f"containers with incomplete status: [{' '.join(pending_init)}]" if pending_init else ""
    ready = not not_ready and not terminal
    conditions = [
        _condition("Initialized", inits_done, since, init_reason if not inits_done or terminal else "",
                   init_msg),
        _condition("Ready", ready, since, ready_reason, ready_msg),
        _condition("ContainersReady", ready, since, ready_reason, ready_msg),
        _condition("PodScheduled", True, since),
    ]
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": conditions,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}] if host_ip else [],
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}] if pod_ip else [],
        "startTime": start_time,
        "containerStatuses": [run.status() for run in containers],
        "qosClass": "BestEffort",
    }
    if init:
        status["initContainerStatuses"] = [run.status() for run in init]
    return status


@dataclass
class Backoff:
    """Kubelet-style restart back-off: base, doubling, capped; reset after a long enough clean run."""

    base: float = 10.0
    cap: float = 300.0
    reset_after: float = 600.0
    failures: int = field(default=0)

    def next_delay(self, ran_for: float) -> float:
        if ran_for >= self.reset_after:
            self.failures = 0
        delay = min(self.cap, self.base * (2 ** self.failures))
        self.failures += 1
        return delay
