"""``UnseenSampleDetection``: watches a robot's status service and, when the robot reports a fall, copies the
camera images taken around that moment into the edge KB's unseen-samples directory (sdk.md §8.5).

Env: ``STATUS_IP`` (host[:port] of the status service, default ``127.0.0.1``) or ``STATUS_URL`` (full URL,
ours), ``IMAGE_TOPIC_URL`` (image directory, default ``/tmp/``), ``STATUS_POLL_SECONDS`` (ours, default 1).
The status answer is JSON with ``if_fall`` (``"True"``/``"False"``) and ``time_stamp``. Upstream posted to
the bare IP instead of a URL and never reached the service; we GET ``http://<STATUS_IP>/`` (or
``STATUS_URL``).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from sedna.common.class_factory import ClassFactory, ClassType
from sedna.common.config import Context
from sedna.common.file_ops import FileOps

__all__ = ["UnseenSampleDetection"]

logger = logging.getLogger(__name__)

MAX_IMAGES = 10


@ClassFactory.register(ClassType.UTD)
class UnseenSampleDetection(threading.Thread):
    def __init__(self, edge_knowledge_management: Any, **kwargs: Any):
        super().__init__(name="unseen-sample-detection", daemon=True)
        self.edge_knowledge_management = edge_knowledge_management
        status_ip = Context.get_parameters("STATUS_IP", "127.0.0.1")
        self.status_url = kwargs.get("status_url") or Context.get_parameters("STATUS_URL", f"http://{status_ip}/")
        self.image_dir = kwargs.get("image_dir") or Context.get_parameters("IMAGE_TOPIC_URL", "/tmp/")
        self.period = float(kwargs.get("period") or Context.get_parameters("STATUS_POLL_SECONDS", "1"))
        self.fetch_status = kwargs.get("fetch_status") or self._fetch_status
        self.last_fall = False
        self.copied: list[str] = []
        self._stop = threading.Event()

    def _fetch_status(self) -> dict | None:
        from sedna.service.client.http import http_request

        answer = http_request(self.status_url, method="GET", retries=1, timeout=5)
        return answer if isinstance(answer, dict) else None

    def images_near(self, time_stamp: Any) -> list[str]:
        """Up to 10 images of ``IMAGE_TOPIC_URL`` whose names sort closest to ``time_stamp``."""
        if not os.path.isdir(self.image_dir):
            return []
        names = sorted(n for n in os.listdir(self.image_dir)
                       if os.path.isfile(os.path.join(self.image_dir, n)) and not n.startswith("."))
        if not names:
            return []
        stamp = str(time_stamp)
        centre = next((i for i, n in enumerate(names) if n >= stamp), len(names) - 1)
        start = max(0, min(centre - MAX_IMAGES // 2, len(names) - MAX_IMAGES))
        return [os.path.join(self.image_dir, n) for n in names[start:start + MAX_IMAGES]]

    def check_once(self) -> list[str]:
        status = self.fetch_status() or {}
        fall = str(status.get("if_fall", "False")) == "True"
        copied: list[str] = []
        if fall and not self.last_fall:
            target = self.edge_knowledge_management.local_unseen_save_url
            for image in self.images_near(status.get("time_stamp", "")):
                copied.append(FileOps.copy_file(image, os.path.join(target, os.path.basename(image))))
            self.copied.extend(copied)
            logger.info("robot fall reported: %d image(s) kept as unseen samples", len(copied))
        self.last_fall = fall
        return copied

    def run(self) -> None:
        while not self._stop.wait(self.period):
            try:
                self.check_once()
            except Exception:
                logger.exception("unseen sample detection poll failed")

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self.is_alive():
            self.join(timeout)
