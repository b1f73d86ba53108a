"""What kopf keeps on the GM's objects: its finalizer and handler progress, but no diff base.

kopf stores a "diff base" (the last handled spec, ``<prefix>/last-handled-configuration``) so that it can tell
its ``on.create`` / ``on.update`` / ``on.resume`` handlers what changed. The GM registers none of those: every
watch event goes to an ``on.event`` handler and the GM reconciles level-triggered from the object itself
(sedna/gm/operator.py). The stored diff base was therefore never read, yet writing it cost one PATCH per
new or changed object, and that PATCH came back as one more watch event for kopf and the GM to process
(issue 16: a third of the GM's API writes in a burst of new jobs).

:class:`NoDiffBase` makes every object's essence empty, so kopf sees no change to hand to a handler (its
changing cause is NOOP, or RESUME on the first listing, with no handlers either way) and stores nothing. The
finalizer and the ``on.delete`` handler are unaffected: kopf decides those from ``metadata.finalizers`` and
``metadata.deletionTimestamp``, and keeps the delete handler's progress in the progress storage.
"""

from __future__ import annotations

from typing import Any

import kopf


class NoDiffBase(kopf.DiffBaseStorage):
    """A diff base that is never stored: the GM has no change-driven kopf handlers (see module docstring)."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return kopf.BodyEssence()

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None
