"""Who may post to the LC's worker API (docs/security.md).

A worker presents the token the GM put in its pod (``LC_API_TOKEN``): signed claims naming its kind, namespace,
job and worker name. The LC checks the signature with the worker key the GM hands it in every channel handshake
(kept in a 0600 file next to the database, so a restarted LC accepts workers before the GM is back) and that the
report is about that job and from that worker — a worker can report only for itself.

Also accepted: a static ``LC_API_TOKEN`` set on the LC itself (an operator's token, trusted for every job).
``insecure`` (``sedna lc --insecure`` / ``LC_INSECURE=true``) turns the check off, loudly.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from sedna.api.messages import WorkerMessage
from sedna.common import tokens

logger = logging.getLogger(__name__)

MAX_VERIFIED_TOKENS = 4096   # workers of one node; more distinct tokens than this just start the cache over


class WorkerAuth:
    def __init__(self, key_path: str | os.PathLike | None, *, static_token: str = "",
                 insecure: bool = False) -> None:
        self.key_path = Path(key_path) if key_path else None
        self.static_token = static_token
        self.insecure = insecure
        self.key = ""
        # token string -> its claims, verified with the current key (a worker presents the same token on
        # every report; the HMAC check is done once). Emptied when the key changes.
        self._verified: dict[str, tokens.WorkerClaims] = {}
        if self.key_path is not None and self.key_path.is_file():
            self.key = self.key_path.read_text().strip()

    def set_key(self, key: str) -> None:
        """The worker key from a GM handshake; stored when it changed (a rotated GM secret)."""
        key = key.strip()
        if not key or key == self.key:
            return
        self.key = key
        self._verified = {}
        if self.key_path is not None:
            self.key_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.key_path.with_name(self.key_path.name + ".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(key)
            os.replace(tmp, self.key_path)
        logger.info("worker key from the GM stored")

    def refuse(self, authorization: str | None, worker_name: str) -> tuple[int, str] | None:
        """(status, reason) when the request is not authenticated at all; None when it may go on (the claims
        are then checked against the body with :meth:`refuse_report`)."""
        if self.insecure:
            return None
        if self.static_token and tokens.bearer_matches(authorization, self.static_token):
            return None
        if not authorization:
            return 401, "missing bearer token (the worker's LC_API_TOKEN)"
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip().startswith(tokens.WORKER_TOKEN_PREFIX + "."):
            return 401, "wrong bearer token"
        if not self.key:
            return 503, "no worker key yet: the LC has not connected to the GM"
        return None

    def _claims(self, token: str) -> tokens.WorkerClaims:
        claims = self._verified.get(token)
        if claims is None:
            key = self.key
            claims = tokens.verify_worker(key, token)   # raises TokenError: failures are never cached
            if key == self.key:
                if len(self._verified) >= MAX_VERIFIED_TOKENS:
                    self._verified = {}
                self._verified[token] = claims
        return claims

    def refuse_report(self, authorization: str | None, msg: WorkerMessage) -> tuple[int, str] | None:
        if self.insecure or (self.static_token and tokens.bearer_matches(authorization, self.static_token)):
            return None
        scheme, _, value = (authorization or "").partition(" ")
        try:
            if scheme.lower() != "bearer":
                raise tokens.TokenError("not a bearer token")
            claims = self._claims(value.strip())
        except tokens.TokenError as exc:
            return 401, str(exc)
        ns = msg.namespace or "default"
        if (claims.kind, claims.namespace, claims.job) != (msg.owner_kind.lower(), ns, msg.owner_name):
            return 403, (f"this worker's token is for {claims.kind} {claims.namespace}/{claims.job}, not "
                         f"{msg.owner_kind.lower()} {ns}/{msg.owner_name}")
        if claims.worker and claims.worker != msg.name:
            return 403, f"this worker's token is for worker {claims.worker!r}, not {msg.name!r}"
        return None
