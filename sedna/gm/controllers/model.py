"""Model: no workers of its own. Upstream pushes Models to LCs only from the incremental-learning routing;
we do the same (the IL downstream function emits the Model messages) and, in addition, re-push a changed Model
to every node that currently holds it: the operator re-runs the downstream routing of the IL jobs that name it
(``dependants``), so a Model update reaches the LCs without waiting for an IL condition change."""

from __future__ import annotations

from sedna.gm.controllers import base
from sedna.gm.controllers.base import Context, Controller, Event, Observed, Plan, Refs

KIND = "Model"


def references(obj: dict) -> list[tuple[str, str]]:
    secret = base.spec(obj).get("credentialName")
    return [("Secret", secret)] if secret else []


def reconcile(obj: dict, observed: Observed, refs: Refs, ctx: Context) -> Plan:
    plan = Plan()
    missing = base.missing_refs(refs, references(obj))
    if missing:
        plan.events.append(Event("Warning", "MissingReference", "missing " + ", ".join(missing)))
        plan.requeue_after = 30.0
    return plan


def dependants(model: dict, jobs: list[dict]) -> list[dict]:
    """IncrementalLearningJobs in the Model's namespace that name it (initial, deploy or eval model)."""
    name, ns = base.meta(model).get("name"), base.namespace(model)
    out = []
    for job in jobs:
        if base.namespace(job) != ns:
            continue
        sp = base.spec(job)
        names = {base.ref_name(sp.get("initialModel")),
                 base.ref_name((sp.get("deploySpec") or {}).get("model")),
                 base.ref_name((sp.get("evalSpec") or {}).get("initialEvalModel"))}
        if name in names:
            out.append(job)
    return out


CONTROLLER = Controller(KIND, "models", reconcile, references, None, None, has_children=False)
