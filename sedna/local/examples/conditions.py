"""Pure checks of an example's conditions against one observation of the cluster.

The runner gathers an ``Observation`` (the target CR, its pods, file counts and logs it was asked about) and
these functions decide; nothing here does I/O, so every rule is table-tested.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sedna.local.examples.spec import Condition

_STEP = re.compile(r"([^.\[\]]+)|\[(-?\d+)\]|\[([^=\]]+)=([^\]]*)\]")   # name | [i] | [k=v,k2=v2]
# a container in one of these states will not get better by waiting
BROKEN_WAITING = {"CrashLoopBackOff", "CreateContainerError", "CreateContainerConfigError", "StartError",
                  "ErrImagePull", "ImagePullBackOff", "InvalidImageName"}


@dataclass
class Observation:
    target: dict[str, Any] | None
    pods: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, int] = field(default_factory=dict)      # Condition.files -> count
    logs: dict[str, str] = field(default_factory=dict)       # pod name -> log text
    worker_label: str = ""


def lookup(obj: Any, path: str) -> Any:
    """``status.metrics[key=inferenceNumber].value``, ``status.conditions[-1].type``,
    ``status.conditions[stage=Deploy,type=Completed].message``; None when absent."""
    cur = obj
    pos = 0
    path = path.strip()
    while pos < len(path):
        if path[pos] == ".":
            pos += 1
            continue
        m = _STEP.match(path, pos)
        if not m:
            raise ValueError(f"bad field path {path!r} at {path[pos:]!r}")
        pos = m.end()
        name, index, key, value = m.groups()
        if name is not None:
            cur = cur.get(name) if isinstance(cur, dict) else None
        elif index is not None:
            i = int(index)
            cur = cur[i] if isinstance(cur, list) and -len(cur) <= i < len(cur) else None
        else:
            pairs = [p.split("=", 1) for p in f"{key}={value}".split(",")]
            cur = next((x for x in cur if isinstance(x, dict)
                        and all(len(p) == 2 and str(x.get(p[0].strip())) == p[1].strip() for p in pairs)),
                       None) if isinstance(cur, list) else None
        if cur is None:
            return None
    return cur


def _compare(value: Any, cond: Condition) -> bool:
    if value is None:
        return False
    if cond.equals is not None and str(value) != str(cond.equals):
        return False
    if cond.in_ is not None and str(value) not in {str(v) for v in cond.in_}:
        return False
    if cond.atLeast is not None:
        try:
            if float(value) < cond.atLeast:
                return False
        except (TypeError, ValueError):
            return False
    return True


def _tests(cond: Condition) -> str:
    parts = []
    if cond.equals is not None:
        parts.append(f"== {cond.equals}")
    if cond.in_ is not None:
        parts.append(f"in {cond.in_}")
    if cond.atLeast is not None:
        parts.append(f">= {cond.atLeast:g}")
    return " and ".join(parts)


def describe(cond: Condition) -> str:
    if cond.message:
        return cond.message
    if cond.field is not None:
        return f"{cond.field} {_tests(cond)}"
    if cond.pods is not None:
        want = [w for w in ("Ready" if cond.ready else "", cond.phase or "") if w]
        if cond.atLeast and cond.atLeast > 1:
            return f"at least {cond.atLeast:g} {cond.pods} pods are {' and '.join(want) or 'present'}"
        return f"some {cond.pods} pod is {' and '.join(want) or 'present'}"
    if cond.files is not None:
        return f"files {cond.files} {_tests(cond) or '>= 1'}"
    return f"the {cond.log} log contains {cond.contains!r}"


def pods_of(obs: Observation, worker_type: str) -> list[dict[str, Any]]:
    if worker_type == "*":
        return list(obs.pods)
    return [p for p in obs.pods
            if ((p.get("metadata") or {}).get("labels") or {}).get(obs.worker_label) == worker_type]


def is_ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def value_of(cond: Condition, obs: Observation) -> Any:
    """The observed value a condition tests (for progress display too)."""
    if cond.field is not None:
        return lookup(obs.target, cond.field) if obs.target is not None else None
    if cond.files is not None:
        return obs.files.get(cond.files, 0)
    return None


def holds(cond: Condition, obs: Observation) -> bool:
    if cond.field is not None:
        return _compare(value_of(cond, obs), cond)
    if cond.files is not None:
        count = obs.files.get(cond.files, 0)
        return _compare(count, cond) if (cond.equals, cond.in_, cond.atLeast) != (None, None, None) \
            else count >= 1
    if cond.pods is not None:
        matching = [pod for pod in pods_of(obs, cond.pods)
                    if (not cond.ready or is_ready(pod))
                    and (not cond.phase or (pod.get("status") or {}).get("phase") == cond.phase)]
        return len(matching) >= (cond.atLeast or 1)
    pods = {(p.get("metadata") or {}).get("name") for p in pods_of(obs, cond.log or "*")}
    return any(cond.contains in text for name, text in obs.logs.items() if name in pods)


def broken_pod(pods: list[dict[str, Any]]) -> tuple[str, str] | None:
    """The first pod that failed or whose container crashed or cannot start: (pod name, why)."""
    for pod in pods:
        name = (pod.get("metadata") or {}).get("name", "?")
        status = pod.get("status") or {}
        statuses = [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]
        for cs in statuses:
            exited = ""
            for key in ("state", "lastState"):
                term = (cs.get(key) or {}).get("terminated") or {}
                if term and term.get("exitCode", 0) != 0:
                    exited = f"exited with code {term.get('exitCode')} ({term.get('reason', 'Error')})"
                    break
            waiting = (cs.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in BROKEN_WAITING:
                why = f"{waiting['reason']}, {exited}" if exited else \
                    f"{waiting['reason']} {waiting.get('message', '')}".strip()
                return name, f"container {cs.get('name')}: {why}"
            if exited:
                return name, f"container {cs.get('name')} {exited}"
        if status.get("phase") == "Failed":
            return name, f"pod phase Failed ({status.get('reason') or status.get('message') or 'no reason'})"
    return None


def verdict(success: list[Condition], failure: list[Condition],
            obs: Observation) -> tuple[str, list[Condition], str]:
    """("success" | "failure" | "waiting", conditions still unmet, why it failed)."""
    for cond in failure:
        if holds(cond, obs):
            return "failure", [], f"failure condition holds: {describe(cond)}"
    broken = broken_pod(obs.pods)
    if broken:
        return "failure", [], f"pod {broken[0]}: {broken[1]}"
    unmet = [c for c in success if not holds(c, obs)]
    return ("success" if not unmet else "waiting"), unmet, ""
