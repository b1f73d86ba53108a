"""Credentials of every channel, all derived from one GM secret (see docs/security.md).

Why derived tokens: the GM holds one random secret; every other credential is ``HMAC-SHA256(secret, purpose)``,
so nothing but the secret has to be stored, a credential names what it is for (a node, a job, the KB), and
rotating the secret rotates everything. Nobody but the GM can mint a credential.

- **node token** (``purpose = node:<name>``): the identity of one LC on the GM websocket. A stolen node token
  lets its holder act as that node only.
- **worker key** (``purpose = worker-key``): given by the GM to each authenticated LC in the handshake answer;
  the LC checks with it the **worker tokens** the GM puts into each worker pod (``LC_API_TOKEN``). A worker
  token is ``swt1.<claims>.<mac>``, the claims naming kind, namespace, job and worker name, so a worker can
  report only for its own job and name.
- **service token** (``purpose = service:<kind>/<ns>/<name>``): one per job/service, shared by that job's
  workers: the aggregation server (``AGG_TOKEN``) and inference servers (``SEDNA_INFERENCE_TOKEN``).
- **KB token** (``purpose = kb``): the knowledge base server (``SEDNA_KB_TOKEN``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass

__all__ = ["TokenError", "WorkerClaims", "bearer_matches", "derive", "kb_token", "node_token", "service_token",
           "sign_worker", "verify_worker", "warn_insecure", "worker_key"]

logger = logging.getLogger(__name__)

WORKER_TOKEN_PREFIX = "swt1"
MAX_TOKEN_CHARS = 4096


class TokenError(ValueError):
    """A token is missing, malformed, not signed by the key, or names another job/worker."""


def derive(secret: str, purpose: str) -> str:
    if not secret:
        raise TokenError("no secret to derive a token from")
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).hexdigest()


def node_token(secret: str, node: str) -> str:
    return derive(secret, f"node:{node}")


def worker_key(secret: str) -> str:
    return derive(secret, "worker-key")


def service_token(secret: str, kind: str, namespace: str, name: str) -> str:
    return derive(secret, f"service:{kind.lower()}/{namespace or 'default'}/{name}")


def kb_token(secret: str) -> str:
    return derive(secret, "kb")


def bearer_matches(header: str | None, expected: str) -> bool:
    """``Authorization: Bearer <expected>`` (scheme case-insensitive), compared in constant time."""
    scheme, _, value = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), expected.encode())


@dataclass(frozen=True)
class WorkerClaims:
    kind: str          # lower-case CR kind (jointinferenceservice, ...)
    namespace: str
    job: str           # the CR's name (the report's ownerName)
    worker: str = ""   # WORKER_NAME; empty = any worker of the job (workers the GM gives no name)

    def to_json(self) -> bytes:
        return json.dumps({"k": self.kind, "n": self.namespace, "j": self.job, "w": self.worker},
                          separators=(",", ":"), sort_keys=True).encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_worker(key: str, claims: WorkerClaims) -> str:
    body = _b64(claims.to_json())
    mac = hmac.new(key.encode(), f"{WORKER_TOKEN_PREFIX}.{body}".encode(), hashlib.sha256).digest()
    return f"{WORKER_TOKEN_PREFIX}.{body}.{_b64(mac)}"


def verify_worker(key: str, token: str) -> WorkerClaims:
    """The claims of a worker token signed with ``key``; :class:`TokenError` otherwise."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise TokenError("missing or oversized worker token")
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != WORKER_TOKEN_PREFIX:
        raise TokenError("not a worker token")
    want = hmac.new(key.encode(), f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    try:
        mac = _unb64(parts[2])
        doc = json.loads(_unb64(parts[1]))
    except (ValueError, UnicodeDecodeError):
        raise TokenError("malformed worker token") from None
    if not hmac.compare_digest(mac, want):
        raise TokenError("worker token not signed by this cluster's GM")
    if not isinstance(doc, dict) or not all(isinstance(doc.get(k), str) for k in ("k", "n", "j", "w")):
        raise TokenError("malformed worker token claims")
    return WorkerClaims(doc["k"], doc["n"], doc["j"], doc["w"])


def warn_insecure(component: str, what: str = "authentication is OFF") -> None:
    """The loud log line of an explicit opt-out (``--insecure``)."""
    logger.warning("!!! %s: %s (--insecure). Anyone who can reach it can act on it. "
                   "Use only on a trusted, isolated machine. !!!", component, what)
