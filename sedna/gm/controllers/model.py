"""Model: no workers of its own. Upstream pushes Models to LCs only from the incremental-learning routing;
we do the same (the IL downstream function emits the Model messages) and, in addition, re-push a changed Model
to every node that currently holds it: the operator re-runs the downstream routing of the IL jobs that name it
(``dependants``), so a Model update reaches the LCs without waiting for an IL condition change."""

from __future__ import annotations

from sedna.gm.controllers import base
from sedna.gm.controllers.base import Context, Controller, Observed, Plan, Refs

KIND = "Model"


references = base.credential_references


def reconcile(obj: dict, observed: Observed, refs: Refs, ctx: Context) -> Plan:
    plan = Plan()
    base.warn_missing(plan, base.missing_refs(refs, references(obj)))
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
