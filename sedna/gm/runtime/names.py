"""Names, labels and ownership of worker objects (gm.md §2)."""

from __future__ import annotations

import random
import re
import string
from typing import Any

GROUP = "sedna.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

# The hyphen is kept; everything else outside [a-z0-9-] becomes one '-'.
_NOT_DNS = re.compile(r"[^a-z0-9-]+")
DEFAULT_VOLUME_NAME = "sedna-default-volume-name"


def worker_labels(kind: str, name: str, uid: str, worker_type: str | None = None) -> dict[str, str]:
    """Labels injected on every worker object; without ``worker_type`` this is the selector of all workers."""
    k = kind.lower()
    labels = {f"{k}.{GROUP}/name": name, f"{k}.{GROUP}/uid": uid}
    if worker_type is not None:
        labels[f"{k}.{GROUP}/worker-type"] = worker_type.lower()
    return labels


def owner_reference(kind: str, meta: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": kind, "name": meta["name"], "uid": meta.get("uid", ""),
            "controller": True, "blockOwnerDeletion": True}


def deployment_name(cr_name: str, worker_type: str) -> str:
    return f"{cr_name}-deployment-{worker_type.lower()}"


def service_name(cr_name: str, worker_type: str) -> str:
    return f"{cr_name}-{worker_type}".lower()


def service_host(cr_name: str, worker_type: str, namespace: str) -> str:
    return f"{service_name(cr_name, worker_type)}.{namespace}"


def app_label(cr_name: str, worker_type: str) -> str:
    """Value of ``app.sedna.io`` on Deployments; the worker type keeps its case (e.g. ``myji-Cloud-svc``)."""
    return f"{cr_name}-{worker_type}-svc"


def rand_suffix(n: int = 5, rng: random.Random | None = None) -> str:
    r = rng or random
    return "".join(r.choice(string.ascii_lowercase + string.digits) for _ in range(n))


def dns_label(text: str) -> str:
    """Turn a host directory into a volume name: ``/output/train/`` -> ``output-trainz`` (gm.md §3.1)."""
    name = _NOT_DNS.sub("-", text.lower())
    name = re.sub("-+", "-", name).lstrip("-")[:63]
    if name.endswith("-"):
        name = name[:-1] + "z"
    return name or DEFAULT_VOLUME_NAME
