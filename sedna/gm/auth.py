"""The GM's side of authentication (docs/security.md): node identities on the LC channel, the tokens it puts
into worker pods, and which node may report about which object.

One ``GMAuth`` per GM, built from the config: ``secret`` (every credential is derived from it, see
``sedna.common.tokens``), ``insecure`` (the loud, explicit opt-out) and ``insecure_nodes`` (nodes whose LC may
connect without a node token — the per-node exemption for LCs that cannot present one).
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from sedna.common import tokens
from sedna.gm.config import ConfigError, GMConfig
from sedna.gm.runtime.names import GROUP

logger = logging.getLogger(__name__)

WORKER_KEY_HEADER = "Sedna-Worker-Key"
MULTI_EDGE_KINDS = frozenset({"featureextractionservice", "videoanalyticsjob", "reidjob", "objectsearchservice",
                              "objecttrackingservice"})


def load_secret(cfg: GMConfig) -> str:
    """The GM secret: ``auth.secret``/``SEDNA_GM_SECRET``, else the file ``auth.secretFile`` (created 0600 with a
    random secret when missing), else a random secret for this process only (in-process use and tests)."""
    if cfg.insecure:
        return ""
    if cfg.auth_secret:
        return cfg.auth_secret
    if cfg.auth_secret_file:
        path = Path(cfg.auth_secret_file)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_hex(32))
            logger.warning("created a new GM secret in %s; mint each LC's token with "
                           "`sedna gm node-token NODE --config ...`", path)
        secret = path.read_text().strip()
        if not secret:
            raise ConfigError(f"GM secret file {str(path)!r} is empty")
        return secret
    logger.warning("no GM secret configured: using a random one for this process (LC node tokens will not "
                   "survive a restart; set auth.secretFile)")
    return secrets.token_hex(32)


class GMAuth:
    def __init__(self, secret: str, *, insecure: bool = False, insecure_nodes: Iterable[str] = ()) -> None:
        if not secret and not insecure:
            raise ConfigError("authentication needs a GM secret (or the explicit insecure opt-out)")
        self.secret = secret
        self.insecure = insecure
        self.insecure_nodes = frozenset(insecure_nodes)
        # derived once: every worker pod's env carries them (a burst of jobs signed them per container)
        self._worker_key = tokens.worker_key(secret) if secret else ""
        self._kb_token = tokens.kb_token(secret) if secret else ""
        if insecure:
            tokens.warn_insecure("sedna gm", "LC channel, worker API and servers run without authentication")
        elif self.insecure_nodes:
            logger.warning("LCs of nodes %s may connect WITHOUT a node token (auth.insecureNodes)",
                           ", ".join(sorted(self.insecure_nodes)))

    @classmethod
    def from_config(cls, cfg: GMConfig) -> GMAuth:
        return cls(load_secret(cfg), insecure=cfg.insecure, insecure_nodes=cfg.insecure_nodes)

    # ---- LC channel ---------------------------------------------------------------------------------

    def node_token(self, node: str) -> str:
        return tokens.node_token(self.secret, node)

    def check_node(self, node: str, authorization: str | None) -> str | None:
        """None when the handshake may proceed as ``node``; else the reason it is refused."""
        if self.insecure or (node in self.insecure_nodes and not authorization):
            return None   # an upstream LC sends no token; one that does send a token must send the right one
        if not authorization:
            return "missing bearer token (each LC needs its node token: sedna gm node-token NODE)"
        if not tokens.bearer_matches(authorization, self.node_token(node)):
            return f"the bearer token is not node {node}'s token"
        return None

    def handshake_headers(self, node: str) -> dict[str, str]:
        """Headers of the 101 answer to an authenticated LC: the key it checks worker tokens with."""
        if self.insecure or node in self.insecure_nodes:
            return {}
        return {WORKER_KEY_HEADER: tokens.worker_key(self.secret)}

    # ---- worker pods --------------------------------------------------------------------------------

    def worker_env(self, kind: str, namespace: str, job: str, worker_name: str) -> dict[str, str]:
        """What the GM adds to a worker's env: its LC API token, its job's service token (inference and
        aggregation servers of that job) and the KB token."""
        if self.insecure:
            return {}
        claims = tokens.WorkerClaims(kind.lower(), namespace or "default", job, worker_name)
        if kind.lower() in MULTI_EDGE_KINDS:
            # The multi-edge kinds call each other's servers (video analytics -> feature extraction -> ReID):
            # one token shared by the multi-edge workers of a namespace.
            service = tokens.service_token(self.secret, "multi-edge", namespace, "")
        else:
            service = tokens.service_token(self.secret, kind, namespace, job)
        return {"LC_API_TOKEN": tokens.sign_worker(self._worker_key, claims),
                "SEDNA_INFERENCE_TOKEN": service, "AGG_TOKEN": service,
                "SEDNA_KB_TOKEN": self._kb_token}

    def sign_manifest(self, manifest: dict) -> dict:
        """A worker Pod/Deployment with the tokens in every container's env (a copy; others unchanged).

        The owner comes from the controller ownerReference the GM itself set, so a template cannot ask for
        another job's tokens; a user env entry of the same name is replaced."""
        if self.insecure or manifest.get("kind") not in ("Pod", "Deployment"):
            return manifest
        meta = manifest.get("metadata") or {}
        owner = next((r for r in meta.get("ownerReferences") or []
                      if r.get("controller") and str(r.get("apiVersion", "")).startswith(f"{GROUP}/")), None)
        if owner is None:
            return manifest
        # copy only the path to the env lists (a deep copy of every worker manifest was 5% of a burst of jobs)
        manifest = dict(manifest)
        pod_spec = manifest["spec"] = dict(manifest["spec"])
        if manifest["kind"] != "Pod":
            template = pod_spec["template"] = dict(pod_spec["template"])
            pod_spec = template["spec"] = dict(template["spec"])
        if "containers" in pod_spec:
            pod_spec["containers"] = [dict(c) for c in pod_spec["containers"] or []]
        for container in pod_spec.get("containers") or []:
            env = container.get("env") or []
            worker = next((str(e.get("value", "")) for e in env if e.get("name") == "WORKER_NAME"), "")
            add = self.worker_env(owner["kind"], meta.get("namespace") or "default", owner["name"], worker)
            container["env"] = [e for e in env if e.get("name") not in add] + [
                {"name": k, "value": v} for k, v in add.items()]
        return manifest

    def kb_token(self) -> str:
        return "" if self.insecure else tokens.kb_token(self.secret)


# ---- which node may report about what -----------------------------------------------------------------

def template_nodes(obj: dict) -> set[str]:
    """Every ``template.spec.nodeName`` in the CR's spec (where its workers are pinned)."""
    found: set[str] = set()

    def walk(node) -> None:
        if isinstance(node, dict):
            tpl = node.get("template")
            if isinstance(tpl, dict) and isinstance(tpl.get("spec"), dict) and tpl["spec"].get("nodeName"):
                found.add(str(tpl["spec"]["nodeName"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(obj.get("spec") or {})
    return found


def report_refused(node: str, assigned: set[str], exempt: bool = False) -> str | None:
    """Why a report from ``node`` about an object assigned to ``assigned`` is refused (None: accepted)."""
    if exempt or node in assigned:
        return None
    shown = ", ".join(sorted(assigned)) or "no node"
    return f"node {node} may not report about this object: it is assigned to {shown}"


async def assigned_nodes(gm, ctrl, obj: dict) -> set[str]:
    """Nodes that may report about ``obj``: where the GM routes it (its downstream targets, incl. the nodes
    of every stage), where its spec pins workers, else where its worker pods run. ``gm`` is the
    GlobalManager (its watch cache and API client)."""
    from sedna.gm.controllers.base import Refs

    nodes = template_nodes(obj)
    ns = obj["metadata"].get("namespace") or "default"
    if ctrl.downstream is not None:
        refs = Refs(datasets={name: d for (dns, name), d in gm.store["dataset"].items() if dns == ns})
        nodes |= {m.node for m in ctrl.downstream(obj, refs, True) if m.node}
    if not nodes and ctrl.has_children:
        observed = await gm.observe(ctrl, obj)
        nodes |= {(p.get("spec") or {}).get("nodeName") for p in observed.pods} - {None, ""}
    return nodes
