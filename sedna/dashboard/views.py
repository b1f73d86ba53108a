"""What the dashboard shows, computed from Kubernetes objects: pure functions, no I/O.

Every function takes wire-form dicts (as the API server returns them) and answers plain JSON-able dicts, so the
HTTP layer only looks objects up and the browser only draws. Missing or malformed fields never raise: a CR
written by hand, an older GM or another controller still gets a row, with what could be read.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sedna.api.common import GROUP, condition_data
from sedna.api.registry import KINDS

#: plural -> kind of every Sedna kind the dashboard watches
SEDNA_PLURALS: dict[str, str] = {k.plural: k.kind for k in KINDS}
#: kinds whose jobs run rounds/stages and whose worker pods carry ``<kind>.sedna.io/name``
_ROUND_RE = re.compile(r"Round (\d+)")
_FAILING_WAIT_REASONS = {"CrashLoopBackOff", "CreateContainerError", "ErrImagePull", "ImagePullBackOff",
                         "CreateContainerConfigError", "RunContainerError"}
MAX_SERIES = 24


def _status(obj: dict) -> dict:
    st = obj.get("status")
    return st if isinstance(st, dict) else {}


def _meta(obj: dict) -> dict:
    m = obj.get("metadata")
    return m if isinstance(m, dict) else {}


def _conditions(obj: dict) -> list[dict]:
    conds = _status(obj).get("conditions")
    return [c for c in conds if isinstance(c, dict)] if isinstance(conds, list) else []


def to_number(value: Any) -> float | None:
    """A metric value as a float: numbers, numeric strings, and one-element lists of them (``"[0.91]"``)."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return float(text)
        except ValueError:
            try:
                return to_number(json.loads(text)) if text[:1] in "[{" else None
            except ValueError:
                return None
    if isinstance(value, list) and len(value) == 1:
        return to_number(value[0])
    return None


def key_value_metrics(items: Any) -> dict[str, float]:
    """``[{key, value}]`` (status.metrics of JI and Models) or a plain mapping → numeric metrics only."""
    out: dict[str, float] = {}
    if isinstance(items, dict):
        items = [{"key": k, "value": v} for k, v in items.items()]
    if not isinstance(items, list):
        return out
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("key"), str):
            number = to_number(item.get("value"))
            if number is not None:
                out[item["key"]] = number
    return out


# ---- pods ----------------------------------------------------------------------------------------------

def pod_view(pod: dict) -> dict[str, Any]:
    """A pod's row: phase, the state of its worst container, restarts, last exit code, whether it is failing."""
    meta, st = _meta(pod), _status(pod)
    containers = []
    failing = st.get("phase") == "Failed"
    for cs in st.get("containerStatuses") or []:
        if not isinstance(cs, dict):
            continue
        state = cs.get("state") if isinstance(cs.get("state"), dict) else {}
        which = next(iter(state), "waiting")
        detail = state.get(which) if isinstance(state.get(which), dict) else {}
        last_state = cs.get("lastState") if isinstance(cs.get("lastState"), dict) else {}
        last = last_state.get("terminated") if isinstance(last_state.get("terminated"), dict) else {}
        exit_code = detail.get("exitCode") if which == "terminated" else last.get("exitCode")
        reason = detail.get("reason") or ""
        bad = reason in _FAILING_WAIT_REASONS or (which == "terminated" and exit_code not in (0, None)) \
            or (which != "running" and last.get("exitCode") not in (0, None))
        failing = failing or bad
        containers.append({"name": cs.get("name", ""), "state": which, "reason": reason,
                           "message": detail.get("message") or "", "ready": bool(cs.get("ready")),
                           "restarts": int(cs.get("restartCount") or 0), "lastExitCode": exit_code,
                           "lastReason": last.get("reason") or ""})
    spec = pod.get("spec") if isinstance(pod.get("spec"), dict) else {}
    names = [c.get("name", "") for c in spec.get("containers") or [] if isinstance(c, dict)]
    worst = next((c for c in containers if c["reason"] in _FAILING_WAIT_REASONS), None) \
        or next((c for c in containers if c["state"] != "running"), None)
    state = (worst["reason"] or worst["state"].capitalize()) if worst else st.get("phase", "Pending")
    return {"namespace": meta.get("namespace", ""), "name": meta.get("name", ""),
            "node": spec.get("nodeName", ""), "phase": st.get("phase", "Pending"), "state": state,
            "restarts": sum(c["restarts"] for c in containers),
            "lastExitCode": next((c["lastExitCode"] for c in containers if c["lastExitCode"] not in (None, 0)),
                                 next((c["lastExitCode"] for c in containers
                                       if c["lastExitCode"] is not None), None)),
            "failing": failing, "containers": containers or [{"name": n, "state": "waiting", "reason": "",
                                                              "message": "", "ready": False, "restarts": 0,
                                                              "lastExitCode": None, "lastReason": ""}
                                                             for n in names],
            "workerType": next((v for k, v in (meta.get("labels") or {}).items()
                                if k.endswith(f".{GROUP}/worker-type")), ""),
            "created": meta.get("creationTimestamp", "")}


def owned_by(pod: dict, kind: str, name: str) -> bool:
    """Whether the GM made ``pod`` for the CR ``kind/name`` (its ``<kind>.sedna.io/name`` label)."""
    return (_meta(pod).get("labels") or {}).get(f"{kind.lower()}.{GROUP}/name") == name


# ---- the overview row ----------------------------------------------------------------------------------

def summary(obj: dict, pods: list[dict] | None = None) -> dict[str, Any]:
    """One overview row: kind, phase or stage, the current condition with its reason, and ``failing`` (the CR
    says Failed, counts failed workers, or one of its pods crash-loops or exited non-zero)."""
    meta, st = _meta(obj), _status(obj)
    kind = obj.get("kind", "")
    conds = _conditions(obj)
    last = conds[-1] if conds else {}
    stage = last.get("stage") or ""
    phase = st.get("phase") or ""
    if not phase:
        phase = (f"{stage} {last.get('type', '')}".strip() if stage else last.get("type", "")) or ""
    if not phase and kind == "Dataset" and "numberOfSamples" in st:
        phase = f"{st.get('numberOfSamples')} samples"
    if not phase and kind == "Model":
        phase = "metrics reported" if st.get("metrics") else "—"
    pod_rows = [pod_view(p) for p in pods or []]
    failed_pods = [p for p in pod_rows if p["failing"]]
    cond_type = str(last.get("type") or "")
    failing = cond_type == "Failed" or phase == "Failed" or bool(failed_pods) or \
        (isinstance(st.get("failed"), int) and st["failed"] > 0)
    reason = last.get("reason") or ""
    message = last.get("message") or ""
    if failed_pods and not reason:
        p = failed_pods[0]
        reason = p["state"]
        message = f"pod {p['name']}: last exit code {p['lastExitCode']}"
    return {"kind": kind, "namespace": meta.get("namespace", ""), "name": meta.get("name", ""),
            "uid": meta.get("uid", ""), "created": meta.get("creationTimestamp", ""),
            "phase": phase or "Pending", "condition": cond_type, "reason": reason, "message": message,
            "failing": failing, "pods": len(pod_rows), "failingPods": len(failed_pods),
            "restarts": sum(p["restarts"] for p in pod_rows)}


def overview_order(rows: list[dict]) -> list[dict]:
    """Failing first, then by kind, namespace and name."""
    return sorted(rows, key=lambda r: (not r["failing"], r["kind"], r["namespace"], r["name"]))


# ---- per-kind pages ------------------------------------------------------------------------------------

def fl_rounds(obj: dict) -> list[dict]:
    """The FL round timeline: one entry per ``Training`` condition that names a round."""
    out = []
    for cond in _conditions(obj):
        m = _ROUND_RE.search(str(cond.get("message") or ""))
        if m:
            out.append({"round": int(m.group(1)),
                        "time": cond.get("lastProbeTime") or cond.get("lastHeartbeatTime") or ""})
    return out


def stage_timeline(obj: dict) -> list[dict]:
    """IL/LL: every stage condition with the models (and their metrics) it took in and put out."""
    out = []
    for cond in _conditions(obj):
        data = condition_data(cond)
        models = []
        for side in ("input", "output"):
            section = data.get(side) if isinstance(data.get(side), dict) else {}
            for model in section.get("models") or []:
                if isinstance(model, dict):
                    models.append({"side": side, "url": model.get("url") or "", "format": model.get("format") or "",
                                   "metrics": key_value_metrics(model.get("metrics"))})
        out.append({"stage": cond.get("stage") or "", "type": cond.get("type") or "",
                    "reason": cond.get("reason") or "", "message": cond.get("message") or "",
                    "time": cond.get("lastTransitionTime") or cond.get("lastHeartbeatTime") or "",
                    "models": models})
    return out


def _flatten_numbers(doc: Any, prefix: str, out: dict[str, float], depth: int = 0) -> None:
    if depth > 3 or len(out) >= MAX_SERIES:
        return
    if isinstance(doc, dict):
        for key, value in doc.items():
            _flatten_numbers(value, f"{prefix}.{key}" if prefix else str(key), out, depth + 1)
    elif isinstance(doc, (int, float)) and not isinstance(doc, bool):
        out[prefix] = float(doc)


def metrics_sample(obj: dict, related_model: dict | None = None) -> dict[str, float]:
    """The numbers of one observation of ``obj`` that the plots draw.

    JI: its ``status.metrics`` (inference count, hard examples, failed offloads, ...). FL: the current round and
    the aggregation Model's metrics (``related_model``). IL/LL: each stage's output-model metrics, named
    ``<stage>.<metric>``. Multi-edge jobs: the numbers in the last condition's data (frames, matches). Every
    kind: ``active``/``succeeded``/``failed`` and a Dataset's sample count."""
    st = _status(obj)
    out: dict[str, float] = {}
    for key in ("active", "succeeded", "failed", "numberOfSamples"):
        number = to_number(st.get(key))
        if number is not None:
            out[key] = number
    out.update(key_value_metrics(st.get("metrics")))
    kind = obj.get("kind", "")
    if kind == "FederatedLearningJob":
        rounds = fl_rounds(obj)
        if rounds:
            out["round"] = float(rounds[-1]["round"])
        if related_model:
            out.update(key_value_metrics(_status(related_model).get("metrics")))
    elif kind in ("IncrementalLearningJob", "LifelongLearningJob"):
        for entry in stage_timeline(obj):
            for model in entry["models"]:
                if model["side"] == "output":
                    for key, value in model["metrics"].items():
                        out[f"{entry['stage'].lower() or 'stage'}.{key}"] = value
    else:
        conds = _conditions(obj)
        if conds:
            _flatten_numbers(condition_data(conds[-1]), "", out)
    return dict(list(out.items())[:MAX_SERIES])


def fl_model_name(obj: dict) -> str:
    """The aggregation Model of an FL job (its metrics are the per-round metrics)."""
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    model = (spec.get("aggregationWorker") or {}).get("model") if isinstance(spec.get("aggregationWorker"),
                                                                              dict) else None
    return model.get("name", "") if isinstance(model, dict) else ""


def deployed_versions(obj: dict) -> dict[str, Any]:
    """IL/LL: the model deployed last (the Deploy stage's input) and, for LL, the knowledge base status."""
    deployed = ""
    for entry in stage_timeline(obj):
        if entry["stage"] == "Deploy":
            urls = [m["url"] for m in entry["models"] if m["url"]]
            if urls:
                deployed = urls[-1]
    kb = _status(obj).get("knowledgeBase")
    return {"deployedModel": deployed, "knowledgeBase": kb if isinstance(kb, dict) else None}


def event_view(event: dict) -> dict[str, Any]:
    involved = event.get("involvedObject") if isinstance(event.get("involvedObject"), dict) else {}
    return {"type": event.get("type") or "", "reason": event.get("reason") or "",
            "message": event.get("message") or "", "count": event.get("count") or 1,
            "object": f"{involved.get('kind', '')}/{involved.get('name', '')}",
            "time": event.get("lastTimestamp") or event.get("eventTime") or _meta(event).get("creationTimestamp")
            or ""}
