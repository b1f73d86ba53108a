"""Shared vocabulary of the pure controllers: what they observe, what they decide, and common algorithms."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sedna.common import fastjson
from sedna.common.gojson import GoJSONError, go_json
from sedna.gm.config import GMConfig
from sedna.gm.runtime.names import API_VERSION, rand_suffix
from sedna.gm.runtime.storage import secret_data

CREDENTIAL_ANNOTATION = "sedna.io/credential"


def fmt_time(now: datetime) -> str:
    return now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Observed:
    """Children of one CR as listed from the API (selected by the CR's name+uid labels)."""

    pods: list[dict] = field(default_factory=list)
    deployments: list[dict] = field(default_factory=list)
    services: list[dict] = field(default_factory=list)
    hpas: list[dict] = field(default_factory=list)
    #: names of the cluster's nodes (``None`` = not known: then no pod is judged to be on a missing node)
    nodes: set[str] | None = None


@dataclass
class Refs:
    """Referenced objects in the CR's namespace, keyed by kind then name; absent name = does not exist."""

    datasets: dict[str, dict] = field(default_factory=dict)
    models: dict[str, dict] = field(default_factory=dict)
    secrets: dict[str, dict] = field(default_factory=dict)

    def get(self, kind: str, name: str) -> dict | None:
        return {"Dataset": self.datasets, "Model": self.models, "Secret": self.secrets}[kind].get(name)

    def secret_of(self, obj: dict | None) -> dict | None:
        name = ((obj or {}).get("spec") or {}).get("credentialName")
        return self.secrets.get(name) if name else None


@dataclass
class Context:
    config: GMConfig
    now: datetime
    suffix: Callable[[], str] = rand_suffix

    @property
    def now_str(self) -> str:
        return fmt_time(self.now)


@dataclass
class Event:
    type: str      # Normal | Warning
    reason: str
    message: str


@dataclass
class Downstream:
    """One GM->LC message for the LC of ``node``."""

    node: str
    kind: str          # lower-cased kind
    namespace: str
    name: str
    operation: str     # insert | update | delete
    content: Any = None

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


@dataclass
class StatusWrite:
    """Replace ``status`` of one object (the CR itself or, for FL metrics, its aggregation Model)."""

    plural: str
    namespace: str
    name: str
    status: dict[str, Any]


@dataclass
class Plan:
    create: list[dict] = field(default_factory=list)
    delete: list[dict] = field(default_factory=list)      # {"kind", "name"}
    replace: list[dict] = field(default_factory=list)     # full manifests to PUT (deployment template changes)
    status: dict | None = None                            # full new status; None = leave unchanged
    annotations: dict[str, str] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    requeue_after: float | None = None

    def is_empty(self) -> bool:
        return not (self.create or self.delete or self.replace or self.status is not None
                    or self.annotations or self.events or self.requeue_after)


@dataclass
class Controller:
    kind: str
    plural: str
    reconcile: Callable[[dict, Observed, Refs, Context], Plan] | None
    references: Callable[[dict], list[tuple[str, str]]]
    downstream: Callable[[dict, Refs, bool], list[Downstream]] | None = None
    upstream: Callable[[dict, Any, datetime], list[StatusWrite]] | None = None
    has_children: bool = True
    needs_finalizer: bool = False
    # Re-push to LCs on every change (IL/LL: the LC acts on status conditions and stage annotations);
    # otherwise only when the spec changes (metadata.generation), so status writes caused by LC reports do
    # not echo the object back to the LC.
    push_on_status: bool = False


# ---- helpers over plain dicts -------------------------------------------------------------------------


def meta(obj: dict) -> dict:
    return obj.get("metadata") or {}


def spec(obj: dict) -> dict:
    return obj.get("spec") or {}


_SCALARS = (str, int, float, bool, type(None))


def status(obj: dict) -> dict:
    """An independent copy of ``obj``'s status (reconciles change it freely)."""
    return copy_status(obj.get("status") or {})


def copy_status(st: dict) -> dict:
    """A deep copy of a status, fast for its conditions: each is a flat dict of scalars, copied with ``dict``
    (``copy.deepcopy`` of a few hundred conditions cost milliseconds per reconcile, three times over)."""
    out = {}
    for key, value in st.items():
        if key == "conditions" and isinstance(value, list):
            out[key] = [_copy_condition(c) for c in value]
        else:
            out[key] = copy.deepcopy(value)
    return out


def _copy_condition(cond: Any) -> Any:
    if not isinstance(cond, dict):
        return copy.deepcopy(cond)
    out = dict(cond)
    for key, value in out.items():
        if not isinstance(value, _SCALARS):
            out[key] = copy.deepcopy(value)
    return out


def status_for_report(obj: dict) -> dict:
    """The status a report handler builds on: a new dict with a new ``conditions`` list, sharing everything
    else with ``obj``.

    Report handlers only set top-level keys and append conditions; they never change a value in place. A deep
    copy per report cost O(conditions) — with a few hundred conditions it was most of the GM's time applying a
    burst of reports (issue 16), since the reports of one object are folded one on top of the other.
    """
    st = dict(obj.get("status") or {})
    if isinstance(st.get("conditions"), list):
        st["conditions"] = list(st["conditions"])
    return st


def namespace(obj: dict) -> str:
    return meta(obj).get("namespace") or "default"


def ref_name(parent: dict | None, key: str = "name") -> str:
    return str((parent or {}).get(key) or "")


def last_condition(st: dict) -> dict | None:
    conds = st.get("conditions") or []
    return conds[-1] if conds else None


def has_condition(st: dict, *types: str) -> bool:
    return any(c.get("type") in types and c.get("status", "True") == "True" for c in st.get("conditions") or [])


def append_condition(st: dict, ctype: str, now: str, reason: str = "", message: str = "",
                     time_keys: tuple[str, ...] = ("lastHeartbeatTime", "lastTransitionTime"),
                     **extra: Any) -> bool:
    """Append a condition unless the last one already has this type; return whether it was appended."""
    last = last_condition(st)
    if last is not None and last.get("type") == ctype and all(last.get(k) == v for k, v in extra.items()):
        return False
    cond: dict[str, Any] = {"type": ctype, "status": "True"}
    cond.update(extra)
    for key in time_keys:
        cond[key] = now
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    st.setdefault("conditions", []).append(cond)
    return True


def pod_phase(pod: dict) -> str:
    return (pod.get("status") or {}).get("phase") or "Pending"


def is_deleting(obj: dict) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def count_pods(pods: list[dict]) -> tuple[int, int, int]:
    """(active, succeeded, failed) as upstream counts them."""
    active = succeeded = failed = 0
    for pod in pods:
        phase = pod_phase(pod)
        if phase == "Succeeded":
            succeeded += 1
        elif phase == "Failed":
            failed += 1
        elif not is_deleting(pod):
            active += 1
    return active, succeeded, failed


def deployment_active(dep: dict) -> bool:
    """A Deployment counts as active unless it is being deleted or reports Progressing=False.

    Upstream only counts Deployments whose *last* condition is Progressing, which marks every service Failed
    when a deployment controller has not written conditions yet; we only treat an explicit failure as failed.
    """
    if is_deleting(dep):
        return False
    for cond in (dep.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("status") == "False":
            return False
    return True


def missing_refs(refs: Refs, wanted: list[tuple[str, str]]) -> list[str]:
    """Human-readable list of references that do not exist, including the Secrets named by found objects."""
    missing: list[str] = []
    for kind, name in wanted:
        if not name:
            continue
        found = refs.get(kind, name)
        if found is None:
            missing.append(f'{kind} "{name}"')
            continue
        secret = spec(found).get("credentialName")
        if kind != "Secret" and secret and refs.secrets.get(secret) is None:
            missing.append(f'Secret "{secret}" (credentialName of {kind} "{name}")')
    return missing


@dataclass
class ServiceSync:
    """The opening of a service's reconcile: its ``plan``, its live ``status`` dict, a copy from ``before``
    this sync changed anything, and whether this is the ``first_sync`` (no ``startTime`` yet; now set)."""

    plan: Plan
    status: dict
    before: dict
    first_sync: bool


def begin_service_sync(obj: dict, ctx: Context) -> ServiceSync | None:
    """``None`` once the service has Failed (nothing more to do); else the :class:`ServiceSync`."""
    st = status(obj)
    if has_condition(st, "Failed"):
        return None
    before = copy_status(st)
    first_sync = "startTime" not in st
    st.setdefault("startTime", ctx.now_str)
    return ServiceSync(Plan(), st, before, first_sync)


def warn_missing(plan: Plan, missing: list[str], what: str = "") -> bool:
    """If references are ``missing``: a Warning Event (reason MissingReference, ``"<what>missing A, B"``) and
    a 30 s requeue on ``plan``. Returns whether anything was missing."""
    if not missing:
        return False
    plan.events.append(Event("Warning", "MissingReference", what + "missing " + ", ".join(missing)))
    plan.requeue_after = 30.0
    return True


def credential_references(obj: dict) -> list[tuple[str, str]]:
    """The Secret named by ``spec.credentialName``, if any (the only reference of a Dataset or a Model)."""
    secret = spec(obj).get("credentialName")
    return [("Secret", secret)] if secret else []


def pending_for_refs(st: dict, missing: list[str], ctx: Context, plan: Plan) -> None:
    """Record missing references: a Pending condition (reason MissingReference), an Event and a requeue."""
    message = "missing " + ", ".join(missing)
    last = last_condition(st)
    if last is None or last.get("type") != "Pending" or last.get("message") != message:
        st.setdefault("conditions", []).append({
            "type": "Pending", "status": "True", "reason": "MissingReference", "message": message,
            "lastHeartbeatTime": ctx.now_str, "lastTransitionTime": ctx.now_str})
    warn_missing(plan, missing)


def hem_env(hem: dict | None) -> dict[str, str]:
    hem = hem or {}
    params = hem.get("parameters")
    value = json.dumps([{"key": p.get("key"), "value": p.get("value")} for p in params]) if params else "null"
    return {"HEM_NAME": str(hem.get("name") or ""), "HEM_PARAMETERS": value}


def metrics_from_owner_info(owner_info: dict) -> list[dict[str, str]]:
    """Report values as CR metrics: strings verbatim, anything else as upstream's GM writes it (Go's JSON)."""
    out = []
    for key, value in owner_info.items():
        if key in ("startTime", "updateTime"):
            continue
        try:
            text = value if isinstance(value, str) else go_json(value)
        except GoJSONError:
            text = ""   # NaN/Inf: Go's marshal fails and upstream writes the empty result
        out.append({"key": key, "value": text})
    return out


def pushed_object(obj: dict, kind: str, secret: dict | None) -> dict:
    """The full CR JSON as sent to an LC: kind set, plus ``sedna.io/credential`` when it names a Secret."""
    doc = fastjson.copy(obj)
    doc["kind"] = kind
    doc.setdefault("apiVersion", API_VERSION)
    if secret is not None:
        cred = dict((secret.get("metadata") or {}).get("annotations") or {})
        cred.update(secret_data(secret))
        doc.setdefault("metadata", {}).setdefault("annotations", {})[CREDENTIAL_ANNOTATION] = json.dumps(
            cred, sort_keys=True)
    return doc


TEMPLATE_HASH_ANNOTATION = "sedna.io/template-hash"


def spec_hash(doc: Any) -> str:
    """A short stable hash of the CR fields a Deployment is built from (not of the built template: that carries
    a random WORKER_NAME, so it differs on every build)."""
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]


def stamp_hash(dep: dict, digest: str) -> dict:
    dep["metadata"].setdefault("annotations", {})[TEMPLATE_HASH_ANNOTATION] = digest
    return dep


def deployment_update(current: dict, desired: Callable[[], dict], digest: str, replicas: int | None) -> dict | None:
    """The Deployment to PUT when the CR changed, else ``None``: a new pod template when the CR fields it is built
    from changed (``digest`` differs from the stamped one), and ``spec.replicas`` when it differs from
    ``replicas`` (``None`` = not ours to manage, e.g. under an HPA). A Deployment without a stamp (made by an
    older GM) keeps its template. Identity, selector and status are kept; the Deployment rolls its pods."""
    replaced = copy.deepcopy(current)
    changed = False
    annotations = meta(current).get("annotations") or {}
    have = annotations.get(TEMPLATE_HASH_ANNOTATION)
    if have is not None and have != digest:
        new = desired()
        replaced["metadata"]["annotations"] = {**annotations, TEMPLATE_HASH_ANNOTATION: digest}
        replaced["spec"]["template"] = new["spec"]["template"]
        changed = True
    if replicas is not None and (current.get("spec") or {}).get("replicas") != replicas:
        replaced["spec"]["replicas"] = replicas
        changed = True
    if not changed:
        return None
    replaced.pop("status", None)
    return replaced
