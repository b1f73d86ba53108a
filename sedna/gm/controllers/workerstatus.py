"""What a CR's status says about its workers, decided from :mod:`sedna.gm.controllers.health` (pure).

Two rules, shared by every kind:

- **Services** (and running jobs) carry a current condition that tells the truth about their workers: ``Degraded``
  while a worker crash-loops, cannot pull its image or cannot be created (reason = Kubernetes' own word, message
  naming worker, pod, exit code and restarts), ``Pending`` while a worker cannot be placed (``Unschedulable``, or
  ``NodeNotFound`` for a pod bound to a node that does not exist), and ``Running`` again when all recover. The
  condition list stays append-only (the last entry is the current state); a repeated state refreshes the last
  entry's message instead of growing the list. Every transition is an Event (Warning for a failure).
- **Jobs** honour ``backoffLimit`` as Kubernetes Jobs do: failures are counted across all of the job's pods
  (container restarts plus pods that failed); above the limit the job ends ``Failed`` with reason
  ``BackoffLimitExceeded`` and the culprit's exit code, and its remaining pods are deleted. The default is
  batch/v1's default (6), which is what upstream's inlined JobSpec means when the field is left out.
"""

from __future__ import annotations

from collections.abc import Callable

from sedna.gm.controllers import base
from sedna.gm.controllers.base import Context, Event, Observed, Plan
from sedna.gm.controllers.health import FAILING, UNPLACED, Summary, summarize

DEFAULT_BACKOFF_LIMIT = 6
BACKOFF_REASON = "BackoffLimitExceeded"
DEGRADED = "Degraded"
PENDING = "Pending"
RUNNING = "Running"
WORKER_STATES = (DEGRADED, PENDING)


def backoff_limit(obj: dict) -> int:
    """``spec.backoffLimit`` (a non-negative int), else the batch/v1 default."""
    value = base.spec(obj).get("backoffLimit")
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return DEFAULT_BACKOFF_LIMIT


def observe_workers(pods: list[dict], observed: Observed, ctx: Context, plan: Plan) -> Summary:
    """Health of ``pods`` at the sync's time; when a state will change by time alone (a restarted worker
    becoming stable), the plan asks for a sync then — no pod event would trigger it."""
    summary = summarize(pods, observed.nodes, ctx.now)
    settle = summary.settle_in
    if settle is not None:
        wait = settle + 0.5
        plan.requeue_after = wait if plan.requeue_after is None else min(plan.requeue_after, wait)
    return summary


def worker_state(summary: Summary) -> tuple[str, str, str]:
    """(condition type, reason, message) the workers' health calls for."""
    failing = summary.worst(FAILING)
    if failing is not None:
        return DEGRADED, failing.reason or failing.state, failing.describe()
    unplaced = summary.worst(UNPLACED)
    if unplaced is not None:
        return PENDING, unplaced.reason or unplaced.state, unplaced.describe()
    return RUNNING, "", ""


def set_condition(st: dict, ctype: str, reason: str, message: str, ctx: Context, plan: Plan, kind: str,
                  time_keys: tuple[str, ...] = ("lastHeartbeatTime", "lastTransitionTime"),
                  always_append_running: bool = True) -> None:
    """Make ``ctype`` the current condition. A new state is appended (and an Event posted); the same state with a
    new message (one more restart) updates the last entry in place."""
    last = base.last_condition(st)
    same = last is not None and last.get("type") == ctype and (last.get("reason") or "") == reason
    if same:
        if (last.get("message") or "") != message:
            if message:
                last["message"] = message
            else:
                last.pop("message", None)
            last["lastHeartbeatTime"] = ctx.now_str
        return
    if ctype == RUNNING and not always_append_running and (last is None or last.get("type") not in WORKER_STATES):
        return
    recovered = ctype == RUNNING and last is not None and last.get("type") in WORKER_STATES
    base.append_condition(st, ctype, ctx.now_str, reason, message, time_keys=time_keys)
    if ctype in WORKER_STATES:
        plan.events.append(Event("Warning", reason or ctype, message))
    elif recovered:
        plan.events.append(Event("Normal", "Recovered", f"all workers of {kind} are running again"))


def service_workers(st: dict, summary: Summary, ctx: Context, plan: Plan, kind: str) -> None:
    """Current condition and counts of a service from its workers' health (not used once it Failed)."""
    ctype, reason, message = worker_state(summary)
    set_condition(st, ctype, reason, message, ctx, plan, kind)
    st["active"] = summary.active


def job_backoff_exceeded(obj: dict, summary: Summary) -> str | None:
    """The Failed message when the job's failures exceed its backoffLimit, else ``None``."""
    limit = backoff_limit(obj)
    if summary.failures <= limit:
        return None
    culprit = summary.last_failure()
    detail = f": {culprit.describe()}" if culprit is not None else ""
    return f"Job has reached the specified backoff limit ({summary.failures} failures > backoffLimit {limit})" \
           + detail


def fail_job(st: dict, message: str, summary: Summary, ctx: Context, plan: Plan,
             time_keys: tuple[str, ...]) -> None:
    """End a job Failed with BackoffLimitExceeded and delete its pods that still run (as the Job controller does)."""
    base.append_condition(st, "Failed", ctx.now_str, BACKOFF_REASON, message, time_keys=time_keys)
    st["phase"] = "Failed"
    plan.events.append(Event("Warning", BACKOFF_REASON, message))
    for pod in summary.pods:
        if pod.phase not in ("Failed", "Succeeded") and pod.pod:
            plan.delete.append({"kind": "Pod", "name": pod.pod})


def run_job_status(obj: dict, observed: Observed, ctx: Context, kind: str, plan: Plan,
                   create: Callable[[], list[dict]], replace: Callable[[], list[dict]] | None = None,
                   time_keys: tuple[str, ...] = ("lastHeartbeatTime", "lastTransitionTime")) -> None:
    """The batch-job status shared by FL, ReidJob and VideoAnalyticsJob (gm.md §4.3-4.5) with backoffLimit.

    ``create`` makes the job's pods when it has none; ``replace`` makes replacements for pods that failed
    (restartPolicy Never) while the job is within its backoffLimit."""
    st = base.status(obj)
    if base.has_condition(st, "Complete", "Completed", "Failed"):
        return
    before = base.copy_status(st)
    pods = observed.pods
    summary = observe_workers(pods, observed, ctx, plan)
    st.setdefault("startTime", ctx.now_str)
    exceeded = job_backoff_exceeded(obj, summary)
    if exceeded is not None:
        fail_job(st, exceeded, summary, ctx, plan, time_keys)
    else:
        if not pods:
            plan.create.extend(create())
        elif replace is not None:
            plan.create.extend(replace())
        unfinished = sum(1 for p in summary.pods if p.phase not in ("Succeeded", "Failed"))
        created = sum(1 for m in plan.create if m["kind"] == "Pod")
        if summary.succeeded > 0 and unfinished == 0 and created == 0:
            done = "Complete" if kind == "FederatedLearningJob" else "Completed"
            base.append_condition(st, done, ctx.now_str, time_keys=time_keys)
            st["completionTime"] = ctx.now_str
            st["phase"] = "Succeeded"
            plan.events.append(Event("Normal", "Completed", f"{kind} completed"))
        else:
            ctype, reason, message = worker_state(summary)
            set_condition(st, ctype, reason, message, ctx, plan, kind, time_keys, always_append_running=False)
            st["phase"] = "Pending" if ctype == PENDING else "Running"
    st["active"], st["succeeded"], st["failed"] = summary.active, summary.succeeded, summary.failed_pods
    if st != before:
        plan.status = st


def failed_without_replacement(pods: list[dict], key: Callable[[dict], str]) -> set[str]:
    """Keys (worker indices) whose pods all failed: each needs a replacement pod."""
    failed: set[str] = set()
    alive: set[str] = set()
    for pod in pods:
        (failed if base.pod_phase(pod) == "Failed" else alive).add(key(pod))
    return failed - alive


def replacement(pods: list[dict], create: Callable[[], list[dict]]) -> list[dict]:
    """For a one-pod job: a new pod when every pod it had failed, else nothing."""
    if pods and failed_without_replacement(pods, lambda p: "pod"):
        return [m for m in create() if m["kind"] == "Pod"]
    return []
