"""Joint inference and federated learning: persist the pushed object and relay worker reports (§5, §11)."""

from __future__ import annotations

from sedna.api.messages import Message, WorkerMessage
from sedna.lc.managers.base import Manager, status_message, upstream_content


class JointInferenceManager(Manager):
    kind = "jointinferenceservice"
    object_kind = "JointInferenceService"

    def worker_report(self, msg: WorkerMessage) -> tuple[Message, str | None]:
        # Each report carries the full current counters, which replace status.metrics at the GM: a newer
        # report from the same worker supersedes a queued older one.
        coalesce = f"{self.kind}/{msg.namespace}/{msg.owner_name}/{msg.name}"
        return status_message(msg.owner_kind, msg.namespace, msg.owner_name,
                              upstream_content(msg, with_results=False)), coalesce


class FederatedLearningManager(Manager):
    kind = "federatedlearningjob"
    object_kind = "FederatedLearningJob"

    def worker_report(self, msg: WorkerMessage) -> tuple[Message, str | None]:
        # Round reports append conditions at the GM: never coalesced.
        return status_message(msg.owner_kind, msg.namespace, msg.owner_name,
                              upstream_content(msg, with_results=True)), None
