"""``KBClient``: talks to the lifelong-learning knowledge base (sdk.md §8.3).

Upstream's methods and return values: ``upload_file`` → the file's absolute download URL (a non-file input is
returned unchanged), ``update_db`` → URL of the new index or None, ``update_task_status`` → URL of the new
index or None. Our additions: ``query()``, ``download(url, dst)`` (sends the token; used for every artefact
the KB serves), ``owns(url)``, a bearer token (env ``SEDNA_KB_TOKEN``) and adjustable retries (default 3
tries, 1 s apart; upstream 5 × 3 s).
"""

from __future__ import annotations

import logging
import os
import tempfile
from typing import Any

import httpx

from sedna.service.client.http import bearer_headers, http_request, shared_client

__all__ = ["TOKEN_ENV", "KBClient"]

logger = logging.getLogger(__name__)

TOKEN_ENV = "SEDNA_KB_TOKEN"


class KBClient:
    """``KBClient(kbserver)``: ``kbserver`` is ``http://host:port`` (the ``KB_SERVER`` env of LL workers)."""

    def __init__(self, kbserver: str, token: str | None = None, timeout: float = 60.0, retries: int = 3,
                 retry_interval: float = 1.0):
        self.kbserver = f"{str(kbserver).rstrip('/')}/knowledgebase"
        self.token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        self.timeout = timeout
        self.retries = retries
        self.retry_interval = retry_interval

    def _request(self, path: str, method: str = "POST", **kwargs: Any) -> Any:
        return http_request(f"{self.kbserver}{path}", method=method, timeout=self.timeout, retries=self.retries,
                            retry_interval=self.retry_interval, headers=bearer_headers(self.token), **kwargs)

    def _absolute(self, answer: Any) -> str | None:
        if not isinstance(answer, str) or not answer.startswith("/file/download"):
            return None
        return f"{self.kbserver}{answer}"

    def upload_file(self, files: str, name: str = "") -> str:
        """Upload a local file (as ``name``, default its base name); returns its download URL. Raises
        ``RuntimeError`` if the KB refused it; anything that is not a local file is returned unchanged."""
        if not isinstance(files, str) or not os.path.isfile(files):
            return files
        name = name or os.path.basename(files)
        with open(files, "rb") as fh:
            content = fh.read()
        answer = self._request("/file/upload", files={"file": (name, content, "application/octet-stream")})
        url = self._absolute(answer)
        if url is None:
            raise RuntimeError(f"knowledge base {self.kbserver} did not accept {files} as {name!r}")
        return url

    def update_db(self, task_info_file: str) -> str | None:
        """Send a task index document (a local JSON file, deleted afterwards); returns the new index URL."""
        with open(task_info_file, "rb") as fh:
            content = fh.read()
        answer = self._request("/update", files={"task": ("index.pkl", content, "application/json")})
        url = self._absolute(answer)
        if url is None:
            logger.error("knowledge base %s did not accept the task index %s", self.kbserver, task_info_file)
            return None
        try:
            os.remove(task_info_file)
        except OSError as exc:
            logger.debug("could not delete %s: %s", task_info_file, exc)
        return url

    def update_task_status(self, tasks: str, new_status: int = 1) -> str | None:
        """Set ``deploy = bool(new_status)`` for the comma-separated task groups; returns the index URL."""
        answer = self._request("/update/status", json={"tasks": tasks or "", "status": int(new_status)})
        url = self._absolute(answer)
        if url is None:
            logger.error("knowledge base %s did not update the status of %r", self.kbserver, tasks)
        return url

    def query(self) -> dict | None:
        answer = self._request("/query")
        return answer if isinstance(answer, dict) else None

    def owns(self, url: str) -> bool:
        return isinstance(url, str) and url.startswith(f"{self.kbserver}/")

    def download(self, url: str, dst: str | None = None) -> str:
        """Fetch a KB file to ``dst`` (default a temp file); raises ``RuntimeError`` on failure."""
        if dst is None:
            dst = os.path.join(tempfile.mkdtemp(prefix="sedna-kb-"), "download")
        os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
        partial = f"{dst}.part"
        try:
            with shared_client().stream("GET", url, headers=bearer_headers(self.token),
                                        timeout=self.timeout) as resp:
                if resp.status_code != 200:
                    raise RuntimeError(f"knowledge base answered {resp.status_code} for {url}")
                with open(partial, "wb") as fh:
                    fh.writelines(resp.iter_bytes(1 << 20))
            os.replace(partial, dst)
        except httpx.HTTPError as exc:
            raise RuntimeError(f"cannot download {url}: {exc}") from None
        finally:
            if os.path.exists(partial):
                os.remove(partial)
        return dst
