"""The GM's finalizer ``sedna.io/lc-cleanup``: an object the GM pushes to LCs is deleted only after the GM has
told those LCs (a ``delete`` message), even when the GM was down at the time of the delete.

kopf can keep a finalizer for an ``on.delete`` handler, but with one registered it does its deletion bookkeeping
on every event of every object of the kind (a JSON-patch diff of a deep copy for each finalizer write, checks of
the handler's progress); in a burst of new jobs that was 30% of the GM's CPU (issue 16). The GM therefore adds
and releases its finalizer itself, in the object's sync (sedna/gm/operator.py): one merge patch each, guarded
by the object's resourceVersion, so a concurrent change makes it retry from a fresh read instead of
overwriting someone else's finalizer list. These functions decide; the operator only sends.
"""

from __future__ import annotations

from typing import Any

FINALIZER = "sedna.io/lc-cleanup"

ADD, RELEASE = "add", "release"


def finalizer_action(meta: dict[str, Any], finalizer: str = FINALIZER) -> str | None:
    """``ADD`` for a live object without the finalizer, ``RELEASE`` for an object being deleted that still
    carries it (its LCs are told first), else None. A finalizer cannot be added to an object being deleted."""
    listed = finalizer in (meta.get("finalizers") or [])
    if meta.get("deletionTimestamp"):
        return RELEASE if listed else None
    return None if listed else ADD


def finalizer_patch(meta: dict[str, Any], action: str, finalizer: str = FINALIZER) -> dict[str, Any]:
    """The merge patch that carries out ``action``: the whole finalizer list (a merge patch replaces lists),
    with the resourceVersion it was computed from as a precondition (409 if the object changed since)."""
    current = list(meta.get("finalizers") or [])
    if action == ADD:
        wanted = current if finalizer in current else [*current, finalizer]
    elif action == RELEASE:
        wanted = [f for f in current if f != finalizer]
    else:
        raise ValueError(f"unknown finalizer action {action!r}")
    return {"metadata": {"finalizers": wanted, "resourceVersion": meta.get("resourceVersion")}}
