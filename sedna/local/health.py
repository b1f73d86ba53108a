"""Health of every component of a single-machine cluster, from its ``state.json``: what ``sedna local up`` waits
for before it says "up" and what ``sedna local status`` shows.

A component is healthy when it does its job, not when its process merely exists: the API server answers, each
node is Ready, the GM answers ``/healthz``, and each LC answers ``/healthz`` on its node address *and* reports
its channel to the GM connected (an LC that could not bind its port, or talks to another cluster's GM, is not).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from sedna.local import state as st

TIMEOUT = 2.0


@dataclass(frozen=True)
class ComponentHealth:
    name: str
    healthy: bool
    detail: str = ""


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any, str]:
    """(HTTP status, JSON body or None, error text)."""
    try:
        resp = httpx.get(url, timeout=TIMEOUT, headers=headers or {})
    except httpx.HTTPError as exc:
        return 0, None, f"not answering at {url}: {type(exc).__name__}"
    try:
        body = resp.json()
    except ValueError:
        body = None
    return resp.status_code, body, ""


def node_ready(node: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or [])


def _api_headers(state: dict[str, Any]) -> dict[str, str]:
    """The API server's token (``DIR/apiserver-token``; none with ``--insecure``)."""
    token_file = Path(state.get("data_dir") or ".") / "apiserver-token"
    try:
        return {"Authorization": f"Bearer {token_file.read_text().strip()}"}
    except OSError:
        return {}


def check(state: dict[str, Any]) -> list[ComponentHealth]:
    """Probe every component named in ``state`` (a cluster's ``state.json``)."""
    out: list[ComponentHealth] = []
    children = state.get("children") or {}

    def dead(name: str) -> ComponentHealth | None:
        record = children.get(name)
        if record is not None and not st.alive(record):
            return ComponentHealth(name, False, f"process {record.get('pid')} is not running")
        return None

    url = state.get("url") or ""
    code, body, err = _get(f"{url}/api/v1/nodes", _api_headers(state)) if url else (0, None, "no URL yet")
    api_ok = code == 200
    out.append(ComponentHealth("apiserver", api_ok, url if api_ok else (err or f"HTTP {code}")))
    nodes = {n["metadata"]["name"]: n for n in (body or {}).get("items") or []} if api_ok else {}
    for node in state.get("nodes") or []:
        name = node["name"]
        problem = dead(f"node-{name}")
        if problem is None and not api_ok:
            problem = ComponentHealth(f"node/{name}", False, "API server not answering")
        elif problem is None and name not in nodes:
            problem = ComponentHealth(f"node/{name}", False, "not registered")
        elif problem is None and not node_ready(nodes[name]):
            problem = ComponentHealth(f"node/{name}", False, "NotReady")
        out.append(ComponentHealth(f"node/{name}", problem is None,
                                   node.get("address", "") if problem is None else problem.detail))
    ctl = state.get("controllers") or {}
    if not ctl.get("enabled"):
        return out
    gm_health = ctl.get("gm_health") or ""
    problem = dead("gm")
    if problem is None and gm_health:
        code, _, err = _get(gm_health)
        if code != 200:
            problem = ComponentHealth("gm", False, err or f"{gm_health} answered HTTP {code}")
    out.append(problem or ComponentHealth("gm", True, ctl.get("gm", "")))
    for node in state.get("nodes") or []:
        name = node["name"]
        lc_url = f"http://{node['address']}:{ctl.get('lc_port')}/healthz"
        problem = dead(f"lc-{name}")
        if problem is None:
            code, body, err = _get(lc_url)
            if code != 200:
                problem = ComponentHealth(f"lc/{name}", False, err or f"{lc_url} answered HTTP {code}")
            elif not (body or {}).get("gmConnected"):
                problem = ComponentHealth(f"lc/{name}", False, "not connected to the GM")
        out.append(ComponentHealth(f"lc/{name}", problem is None,
                                   f"{node['address']}:{ctl.get('lc_port')}" if problem is None else problem.detail))
    return out


def first_problem(results: list[ComponentHealth]) -> ComponentHealth | None:
    return next((r for r in results if not r.healthy), None)
