"""Reporting to the node's LocalController: ``POST <lc_server>/sedna/workers/<worker_name>/info``.

``LCClient.send`` posts one :class:`~sedna.api.messages.WorkerMessage` body. ``LCReporter`` is the periodic
inference-statistics reporter of joint inference; unlike upstream it keeps unsent reports in a bounded queue
while the LC is down and delivers them, oldest first, once it answers again. Counting never waits on the
network: inference threads only bump counters under a lock.

Both send ``Authorization: Bearer $LC_API_TOKEN`` when that variable is set.
"""

from __future__ import annotations

import collections
import copy
import logging
import os
import threading
import time
from typing import Any

import httpx

from sedna.service.client.http import bearer_headers, http_request, shared_client

__all__ = ["LC_TOKEN_ENV", "LCClient", "LCReporter"]

logger = logging.getLogger(__name__)

LC_TOKEN_ENV = "LC_API_TOKEN"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class LCClient:
    """Stateless sender of worker messages."""

    @staticmethod
    def url(lc_server: str, worker_name: str) -> str:
        return f"{str(lc_server).rstrip('/')}/sedna/workers/{worker_name}/info"

    @classmethod
    def send(cls, lc_server: str, worker_name: str, message: dict, *, timeout: float | None = None,
             retries: int | None = None, retry_interval: float | None = None) -> Any:
        """POST ``message`` as JSON; the LC's decoded answer, or None if it was not accepted.

        Defaults retry as upstream (5 tries, 3 s apart); the reporter thread passes ``retries=1``.
        """
        headers = bearer_headers(os.environ.get(LC_TOKEN_ENV) or None)
        return http_request(cls.url(lc_server, worker_name), method="POST", json=message, headers=headers,
                            timeout=timeout, retries=retries, retry_interval=retry_interval)


    @classmethod
    def post_once(cls, lc_server: str, worker_name: str, message: dict, timeout: float = 5.0) -> httpx.Response:
        """One POST, no retries; raises ``httpx.HTTPError`` on transport errors (our addition)."""
        headers = bearer_headers(os.environ.get(LC_TOKEN_ENV) or None)
        return shared_client().post(cls.url(lc_server, worker_name), json=message, headers=headers,
                                    timeout=timeout)


class LCReporter(threading.Thread):
    """Every ``period_interval`` seconds, if the counters changed, send ``message`` with a fresh ``ownerInfo``:

    ``{startTime, updateTime, inferenceNumber, hardExampleNumber, uploadCloudRatio, failedOffloadNumber}``
    (``failedOffloadNumber`` — hard examples whose cloud call failed — is our addition). Snapshots that cannot
    be delivered wait in a queue of at most ``max_pending`` (oldest dropped first; each snapshot is
    cumulative, so the latest one carries the totals).
    """

    def __init__(self, lc_server: str, message: dict, period_interval: float = 30, *, max_pending: int = 100,
                 send_timeout: float = 5.0):
        super().__init__(name="lc-reporter", daemon=True)
        self.lc_server = lc_server
        self.message = message
        self.period_interval = max(float(period_interval), 0.01)
        self.send_timeout = send_timeout
        self.inference_number = 0
        self.hard_example_number = 0
        self.failed_offload_number = 0
        self.start_time = time.strftime(TIME_FORMAT, time.localtime())
        self.pending: collections.deque[dict] = collections.deque(maxlen=max(1, int(max_pending)))
        self.sent_number = 0
        self.dropped_number = 0
        self.rejected_number = 0
        self._changed = False
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._stop_event = threading.Event()

    # -- counters (called from inference threads; never block on I/O) ---------------------------------------

    def update_for_edge_inference(self) -> None:
        with self._lock:
            self.inference_number += 1
            self._changed = True

    def update_for_collaboration_inference(self) -> None:
        with self._lock:
            self.inference_number += 1
            self.hard_example_number += 1
            self._changed = True

    def update_for_failed_offload(self) -> None:
        with self._lock:
            self.failed_offload_number += 1
            self._changed = True

    # -- reporting -------------------------------------------------------------------------------------------

    def owner_info(self) -> dict[str, Any]:
        with self._lock:
            return self._owner_info_locked()

    def _owner_info_locked(self) -> dict[str, Any]:
        ratio = self.hard_example_number / self.inference_number if self.inference_number else 0.0
        return {
            "startTime": self.start_time,
            "updateTime": time.strftime(TIME_FORMAT, time.localtime()),
            "inferenceNumber": self.inference_number,
            "hardExampleNumber": self.hard_example_number,
            "uploadCloudRatio": ratio,
            "failedOffloadNumber": self.failed_offload_number,
        }

    def _snapshot(self) -> None:
        with self._lock:
            if not self._changed:
                return
            self._changed = False
            report = copy.deepcopy(self.message)
            report["ownerInfo"] = self._owner_info_locked()
        if len(self.pending) == self.pending.maxlen:
            self.dropped_number += 1
        self.pending.append(report)

    def _deliver(self) -> None:
        while self.pending:
            report = self.pending[0]
            try:
                response = LCClient.post_once(self.lc_server, report.get("name", ""), report,
                                              timeout=self.send_timeout)
            except httpx.HTTPError as exc:
                logger.info("LC %s not reachable (%s); %d report(s) kept", self.lc_server, exc, len(self.pending))
                return
            status = response.status_code
            if status == 200:
                self.pending.popleft()
                self.sent_number += 1
            elif 400 <= status < 500 and status not in (408, 429):
                # the LC refuses this report for good (bad token, unknown owner...): resending cannot help,
                # and keeping it would block every later report
                self.pending.popleft()
                self.rejected_number += 1
                logger.error("LC %s rejected the report (%d): %s", self.lc_server, status, response.text[:300])
            else:
                logger.info("LC %s answered %d; %d report(s) kept", self.lc_server, status, len(self.pending))
                return

    def flush(self) -> bool:
        """Snapshot now and try to deliver everything pending; True if nothing is left."""
        with self._send_lock:  # the queue is only touched here, by one thread at a time
            self._snapshot()
            self._deliver()
            return not self.pending

    def run(self) -> None:
        while not self._stop_event.wait(self.period_interval):
            try:
                self.flush()
            except Exception:  # a reporter bug must not kill the thread silently
                logger.exception("LC reporter iteration failed")

    def stop(self, flush: bool = True, timeout: float = 5.0) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout)
        if flush:
            self.flush()
