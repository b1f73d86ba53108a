"""Prometheus metrics of one LC instance (own registry, so tests can run several LCs in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


class LCMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.outbox_depth = Gauge("sedna_lc_outbox_depth", "messages waiting for a GM ack", registry=r)
        self.outbox_rejected = Counter("sedna_lc_outbox_full_rejections",
                                       "reports refused because the outbox was full", registry=r)
        self.reports_queued = Counter("sedna_lc_reports_queued", "upstream messages queued", registry=r)
        self.reports_sent = Counter("sedna_lc_reports_sent", "upstream frames written (incl. re-sends)",
                                    registry=r)
        self.reports_acked = Counter("sedna_lc_reports_acked", "upstream messages acked by the GM",
                                     registry=r)
        self.reports_rejected_by_gm = Counter("sedna_lc_reports_rejected_by_gm",
                                              "upstream messages the GM answered with an error", registry=r)
        self.reconnects = Counter("sedna_lc_gm_connects", "successful connections to the GM", registry=r)
        self.connect_failures = Counter("sedna_lc_gm_connect_failures", "failed connection attempts",
                                        registry=r)
        self.gm_acks = Gauge("sedna_lc_gm_acks", "1 when the connected GM acknowledges reports, 0 when it does "
                             "not (upstream's GM: fire-and-forget)", registry=r)
        self.connected = Gauge("sedna_lc_gm_connected", "1 while the GM channel is up", registry=r)
        self.downstream = Counter("sedna_lc_downstream_messages", "GM messages applied",
                                  ["kind", "operation"], registry=r)
        self.worker_messages = Counter("sedna_lc_worker_messages", "worker reports by owner kind and result",
                                       ["owner_kind", "result"], registry=r)
        self.dataset_samples = Gauge("sedna_lc_dataset_samples", "last counted samples",
                                     ["namespace", "name"], registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
