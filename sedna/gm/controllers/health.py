"""Worker health from observed pods: the one place every controller learns whether a worker is well, and why not.

A controller sees only pods. Kubernetes already says what is wrong with a pod, scattered over its status: the
phase, each container's ``state.waiting.reason`` (CrashLoopBackOff, ImagePullBackOff, CreateContainerError ...),
the last termination's exit code and reason, the restart count, the ``PodScheduled=False`` condition of a pod the
scheduler cannot place, and — only visible by comparing with the node list — a ``spec.nodeName`` that names no
node, where no kubelet will ever pick the pod up. :func:`pod_health` folds all of that into one
:class:`PodHealth` whose ``state`` is one word and whose ``describe()`` is the sentence a user needs to see in the
CR ("worker cloud (pod ji-cloud-x2f): container \"w\" CrashLoopBackOff, last exit code 3 (Error), 4 restarts").

``failures`` counts failures the way the Job controller does for ``backoffLimit``: every restart of a container,
plus the current run when it has failed and not been restarted yet (a container waiting to be restarted after a
crash, or terminated non-zero in a pod that will not restart it). Summed over pods this gives "restarts counted
across pods". Everything here is pure: no I/O, the node list is passed in (``None`` = unknown, then a missing node
is never concluded).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

# a container that crashed must run this long before its worker counts as recovered
STABLE_SECONDS = 15.0

# state words, ordered from worst to best for choosing what to report
CRASHING = "CrashLoopBackOff"      # a container keeps failing and is being restarted
IMAGE_ERROR = "ImageError"         # the image cannot be pulled / is invalid
CONFIG_ERROR = "ConfigError"       # the container cannot be created (bad command, missing secret/config)
FAILED = "Failed"                  # pod phase Failed: nothing will run it again
NODE_MISSING = "NodeNotFound"      # bound to a node that does not exist: Pending forever
UNSCHEDULABLE = "Unschedulable"    # the scheduler found no node for it
STARTING = "Starting"              # Pending or Running-not-ready on the way up
RUNNING = "Running"                # Running and ready
SUCCEEDED = "Succeeded"
TERMINATING = "Terminating"

SEVERITY = {CRASHING: 0, IMAGE_ERROR: 1, CONFIG_ERROR: 2, FAILED: 3, NODE_MISSING: 4, UNSCHEDULABLE: 5,
            STARTING: 6, TERMINATING: 7, RUNNING: 8, SUCCEEDED: 9}
FAILING = frozenset({CRASHING, IMAGE_ERROR, CONFIG_ERROR, FAILED})
UNPLACED = frozenset({NODE_MISSING, UNSCHEDULABLE})

IMAGE_REASONS = frozenset({"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull",
                           "ImageInspectError", "RegistryUnavailable"})
CONFIG_REASONS = frozenset({"CreateContainerError", "CreateContainerConfigError", "RunContainerError",
                            "StartError", "PreStartHookError", "PostStartHookError"})
CRASH_REASONS = frozenset({"CrashLoopBackOff"})
# waiting reasons that are just the way up
BENIGN_WAITING = frozenset({"", "ContainerCreating", "PodInitializing"})


@dataclass(frozen=True)
class PodHealth:
    """What one pod says about its worker."""

    pod: str
    worker: str                 # the worker-type label ("" when the pod carries none)
    state: str                  # one of the state words above
    phase: str
    ready: bool
    node: str = ""
    container: str = ""         # the container the reason is about
    reason: str = ""            # Kubernetes' own reason word (CrashLoopBackOff, Unschedulable, OOMKilled ...)
    message: str = ""
    exit_code: int | None = None
    exit_reason: str = ""       # reason of the last termination (Error, OOMKilled, Completed)
    restarts: int = 0
    failures: int = 0
    #: seconds after which this pod's state changes by time alone (a restarted worker becoming stable)
    settle_in: float | None = None

    @property
    def active(self) -> bool:
        """Counts in ``status.active``: Running and ready."""
        return self.state == RUNNING

    @property
    def failing(self) -> bool:
        return self.state in FAILING

    @property
    def unplaced(self) -> bool:
        return self.state in UNPLACED

    def describe(self) -> str:
        """One sentence naming the worker, the pod and what is wrong (or right) with it."""
        who = f"worker {self.worker} (pod {self.pod})" if self.worker else f"pod {self.pod}"
        parts: list[str] = []
        if self.state == NODE_MISSING:
            parts.append(f'bound to node "{self.node}", which does not exist')
        elif self.state == UNSCHEDULABLE:
            parts.append("unschedulable" + (f": {self.message}" if self.message else ""))
        else:
            what = self.reason or self.state
            if self.container:
                what = f'container "{self.container}" {what}'
            parts.append(what)
            if self.exit_code is not None:
                parts.append(f"last exit code {self.exit_code}" + (f" ({self.exit_reason})" if self.exit_reason
                                                                    else ""))
            if self.restarts:
                parts.append(f"{self.restarts} restart" + ("s" if self.restarts != 1 else ""))
            if self.message and self.state in (IMAGE_ERROR, CONFIG_ERROR, FAILED):
                parts.append(self.message)
        return f"{who}: " + ", ".join(parts)


def _condition(pod: dict, ctype: str) -> dict | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return cond
    return None


def _worker_type(pod: dict) -> str:
    for key, value in ((pod.get("metadata") or {}).get("labels") or {}).items():
        if key.endswith(".sedna.io/worker-type"):
            return str(value)
    return ""


@dataclass
class _Container:
    name: str
    waiting_reason: str
    waiting_message: str
    terminated: dict | None
    last_terminated: dict | None
    restarts: int
    ready: bool
    running_since: str = ""

    @classmethod
    def of(cls, cs: dict) -> _Container:
        state = cs.get("state") or {}
        waiting = state.get("waiting")
        return cls(name=str(cs.get("name") or ""),
                   waiting_reason=str((waiting or {}).get("reason") or "") if waiting is not None else "",
                   waiting_message=str((waiting or {}).get("message") or "") if waiting is not None else "",
                   terminated=state.get("terminated"),
                   last_terminated=(cs.get("lastState") or {}).get("terminated"),
                   restarts=int(cs.get("restartCount") or 0), ready=bool(cs.get("ready")),
                   running_since=str((state.get("running") or {}).get("startedAt") or ""))

    def restarted_after_failure(self) -> bool:
        return self.restarts > 0 and bool(self.running_since) and self.last_terminated is not None and int(
            self.last_terminated.get("exitCode") or 0) != 0

    @property
    def latest_termination(self) -> dict | None:
        return self.terminated or self.last_terminated

    def failures(self, phase: str) -> int:
        """Restarts, plus the current run if it failed and has not been restarted yet."""
        crashed = self.terminated is not None and int(self.terminated.get("exitCode") or 0) != 0
        awaiting_restart = self.waiting_reason in CRASH_REASONS and self.last_terminated is not None and int(
            self.last_terminated.get("exitCode") or 0) != 0
        gave_up = phase == "Failed" and self.terminated is None and bool(self.waiting_reason)  # never ran
        current_failed = crashed or awaiting_restart or gave_up
        return self.restarts + (1 if current_failed else 0)


def _seconds_since(stamp: str, now: datetime) -> float | None:
    try:
        then = datetime.fromisoformat(stamp[:-1] + "+00:00" if stamp.endswith("Z") else stamp)
    except (TypeError, ValueError):
        return None
    if then.tzinfo is None:
        then = then.replace(tzinfo=timezone.utc)
    return (now - then).total_seconds()


def _unsettled(containers: list[_Container], now: datetime | None) -> tuple[_Container | None, float | None]:
    """A container that crashed and has been running again for less than ``STABLE_SECONDS`` (with the seconds
    left): between two crashes of a crash loop the container runs for a moment, which is not a recovery."""
    if now is None:
        return None, None
    for c in containers:
        if c.restarted_after_failure():
            ran = _seconds_since(c.running_since, now)
            if ran is not None and ran < STABLE_SECONDS:
                return c, STABLE_SECONDS - max(ran, 0.0)
    return None, None


def _state_of(phase: str, containers: list[_Container], pod: dict, nodes: set[str] | None,
              unsettled: _Container | None) -> tuple[str, _Container | None, str, str]:
    """(state word, container concerned, reason, message)."""
    status = pod.get("status") or {}
    node = (pod.get("spec") or {}).get("nodeName") or ""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return TERMINATING, None, "Terminating", ""
    if phase == "Succeeded":
        return SUCCEEDED, None, "", ""
    for c in containers:
        if c.waiting_reason in CRASH_REASONS:
            return CRASHING, c, c.waiting_reason, c.waiting_message
    if unsettled is not None and phase == "Running":
        return CRASHING, unsettled, "CrashLoopBackOff", f"restarted less than {STABLE_SECONDS:g}s ago"
    for c in containers:
        if c.waiting_reason in IMAGE_REASONS:
            return IMAGE_ERROR, c, c.waiting_reason, c.waiting_message
    for c in containers:
        if c.waiting_reason in CONFIG_REASONS:
            return CONFIG_ERROR, c, c.waiting_reason, c.waiting_message
        if c.waiting_reason == "ContainerCreating" and "MountVolume" in c.waiting_message:
            return CONFIG_ERROR, c, "FailedMount", c.waiting_message
        if c.terminated is not None and c.terminated.get("reason") in CONFIG_REASONS and phase != "Failed":
            return CONFIG_ERROR, c, str(c.terminated["reason"]), str(c.terminated.get("message") or "")
    if phase == "Failed":
        failed = next((c for c in containers if c.terminated is not None
                       and int(c.terminated.get("exitCode") or 0) != 0), None)
        concerned = failed or next((c for c in containers if c.latest_termination), None)
        return FAILED, concerned, str(status.get("reason") or "Failed"), str(status.get("message") or "")
    if phase == "Pending" or not phase:
        scheduled = _condition(pod, "PodScheduled")
        if not node and scheduled is not None and scheduled.get("status") == "False":
            return UNSCHEDULABLE, None, str(scheduled.get("reason") or UNSCHEDULABLE), str(
                scheduled.get("message") or "")
        if node and nodes is not None and node not in nodes:
            return NODE_MISSING, None, NODE_MISSING, f'node "{node}" does not exist'
        waiting = next((c for c in containers if c.waiting_reason not in BENIGN_WAITING), None)
        if waiting is not None:
            return STARTING, waiting, waiting.waiting_reason, waiting.waiting_message
        return STARTING, None, "", ""
    if phase == "Unknown":
        return STARTING, None, "NodeLost", str(status.get("message") or "")
    ready = _condition(pod, "Ready")
    # a status that says no more than "Running" (no conditions, no container statuses) is taken at its word
    all_ready = all(c.ready for c in containers)
    if (ready is not None and ready.get("status") == "True") or (ready is None and all_ready):
        return RUNNING, None, "", ""
    waiting = next((c for c in containers if c.waiting_reason not in BENIGN_WAITING), None)
    if waiting is not None:
        return STARTING, waiting, waiting.waiting_reason, waiting.waiting_message
    return STARTING, None, "NotReady", ""


def pod_health(pod: dict, nodes: Iterable[str] | None = None, now: datetime | None = None) -> PodHealth:
    """Health of one pod; ``nodes`` = names of the nodes that exist (``None``: not known); ``now`` = the time
    of the sync (``None``: a restarted container counts as recovered as soon as it runs)."""
    status = pod.get("status") or {}
    phase = str(status.get("phase") or "Pending")
    node_set = set(nodes) if nodes is not None else None
    containers = [_Container.of(cs) for cs in (status.get("initContainerStatuses") or [])
                  + (status.get("containerStatuses") or [])]
    unsettled, settle_in = _unsettled(containers, now)
    state, concerned, reason, message = _state_of(phase, containers, pod, node_set, unsettled)
    term = concerned.latest_termination if concerned is not None else None
    if term is None:
        # the exit code that matters is the latest non-zero one of any container
        term = next((c.latest_termination for c in containers if c.latest_termination is not None
                     and int(c.latest_termination.get("exitCode") or 0) != 0), None)
    exit_code = int(term.get("exitCode") or 0) if term is not None else None
    if state in (RUNNING, SUCCEEDED, STARTING) and exit_code == 0:
        exit_code = None
    return PodHealth(
        pod=str((pod.get("metadata") or {}).get("name") or ""),
        worker=_worker_type(pod), state=state, phase=phase,
        ready=state == RUNNING, node=(pod.get("spec") or {}).get("nodeName") or "",
        container=concerned.name if concerned is not None else "", reason=reason, message=message,
        exit_code=exit_code, exit_reason=str((term or {}).get("reason") or "") if exit_code is not None else "",
        restarts=sum(c.restarts for c in containers),
        failures=sum(c.failures(phase) for c in containers) or (1 if phase == "Failed" else 0),
        settle_in=settle_in if state == CRASHING and concerned is unsettled else None)


@dataclass(frozen=True)
class Summary:
    """Health of a set of pods (one CR's workers)."""

    pods: tuple[PodHealth, ...]

    @property
    def active(self) -> int:
        return sum(1 for p in self.pods if p.active)

    @property
    def succeeded(self) -> int:
        return sum(1 for p in self.pods if p.state == SUCCEEDED)

    @property
    def failed(self) -> int:
        """Pods whose worker is failing (crash-looping, cannot start, or Failed)."""
        return sum(1 for p in self.pods if p.failing)

    @property
    def failed_pods(self) -> int:
        return sum(1 for p in self.pods if p.phase == "Failed")

    @property
    def failures(self) -> int:
        """Failures counted across pods, as the Job controller counts them against ``backoffLimit``."""
        return sum(p.failures for p in self.pods)

    @property
    def settle_in(self) -> float | None:
        """Seconds until some pod's state changes by time alone (sync again then), or ``None``."""
        times = [p.settle_in for p in self.pods if p.settle_in is not None]
        return min(times) if times else None

    def worst(self, states: Iterable[str] | None = None) -> PodHealth | None:
        """The pod to report: the most severe state first, then the most failures, then the name."""
        wanted = set(states) if states is not None else None
        candidates = [p for p in self.pods if wanted is None or p.state in wanted]
        if not candidates:
            return None
        return min(candidates, key=lambda p: (SEVERITY.get(p.state, 99), -p.failures, p.pod))

    def last_failure(self) -> PodHealth | None:
        """The pod whose failure is most telling for a job that failed: one with an exit code, most failures."""
        failing = [p for p in self.pods if p.failures > 0 or p.failing]
        if not failing:
            return None
        return min(failing, key=lambda p: (p.exit_code is None, -p.failures, SEVERITY.get(p.state, 99), p.pod))


def summarize(pods: Iterable[dict], nodes: Iterable[str] | None = None, now: datetime | None = None) -> Summary:
    node_set = set(nodes) if nodes is not None else None
    return Summary(tuple(pod_health(p, node_set, now) for p in pods))


def node_names(nodes: Iterable[dict[str, Any]] | None) -> set[str] | None:
    if nodes is None:
        return None
    return {str((n.get("metadata") or {}).get("name") or "") for n in nodes}
