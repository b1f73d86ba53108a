"""Several single-machine clusters on one machine: each gets its own 127.<octet>.0.0/16, never a shared one.

Everything a cluster listens on besides its free API/GM ports lives in its /16 (node addresses where the LCs
bind their fixed port, pod IPs, Service ClusterIPs), so two clusters on the same /16 would cross-talk: the second
cluster's LCs cannot bind and its workers report to the first cluster's LCs. So ``sedna local up`` claims its /16:

- a claim is a file ``<tmp>/sedna-local-<uid>/cidr-<octet>.json`` naming the cluster's data dir; it is valid
  while that data dir's supervisor runs with that CIDR (stale claims are simply overwritten);
- without ``--cluster-cidr`` the first octet from 20 up that is neither claimed nor has anything listening on its
  node addresses at the LC port is taken; an explicit ``--cluster-cidr`` that is in use is refused with a message
  naming the other cluster (or the busy address).
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sedna.local import state as st
from sedna.local.runtime import netplan

STARTING_SECONDS = 60.0
FIRST_OCTET = 20
LAST_OCTET = 250


class AddressRangeInUse(RuntimeError):
    """The requested /16 is used by another cluster or by another program."""


def claims_dir() -> Path:
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"sedna-local-{uid}"


def _claim_path(octet: int, root: Path | None = None) -> Path:
    return (root or claims_dir()) / f"cidr-{octet}.json"


def claimed_by(octet: int, data_dir: Path, root: Path | None = None) -> Path | None:
    """The data dir of another live cluster that claimed this /16, or ``None``."""
    path = _claim_path(octet, root)
    try:
        other = Path(json.loads(path.read_text())["data_dir"])
        age = time.time() - path.stat().st_mtime
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if other.resolve() == Path(data_dir).resolve():
        return None
    state = st.read_state(other)
    if state and st.alive(state.get("supervisor")) and state.get("cluster_cidr") == f"127.{octet}.0.0/16":
        return other
    if age < STARTING_SECONDS and not state:
        return other             # claimed a moment ago: that cluster's supervisor is still starting
    return None


def release(data_dir: Path, root: Path | None = None) -> None:
    """Drop the claims of the cluster in ``data_dir`` (it is down)."""
    folder = root or claims_dir()
    mine = str(Path(data_dir).resolve())
    for path in folder.glob("cidr-*.json") if folder.is_dir() else []:
        try:
            if json.loads(path.read_text()).get("data_dir") == mine:
                path.unlink(missing_ok=True)
        except (OSError, ValueError, AttributeError):
            continue


def claim(octet: int, data_dir: Path, root: Path | None = None) -> None:
    path = _claim_path(octet, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"data_dir": str(Path(data_dir).resolve())}))
    os.replace(tmp, path)


def busy_address(octet: int, nodes: int, port: int) -> str | None:
    """``addr:port`` of a node address of this /16 where something already listens on the LC port, or None."""
    net = netplan.ClusterNet(octet)
    for index in range(nodes):
        addr = net.node_address(index)
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((addr, port))
            except OSError:
                return f"{addr}:{port}"
    return None


def choose_octet(requested: str | None, data_dir: Path, nodes: int, lc_port: int,
                 claimed: Callable[[int], Path | None] | None = None,
                 busy: Callable[[int], str | None] | None = None) -> int:
    """The octet of the /16 this cluster will use; raises :class:`AddressRangeInUse` for a requested one in use
    (or when every /16 is taken)."""
    claimed = claimed or (lambda o: claimed_by(o, data_dir))
    busy = busy or (lambda o: busy_address(o, nodes, lc_port))
    if requested:
        octet = netplan.ClusterNet.from_cidr(requested).octet
        other = claimed(octet)
        if other is not None:
            raise AddressRangeInUse(f"{requested} is used by the cluster in {other}; pick another "
                                    "--cluster-cidr or leave it out to get a free one")
        taken = busy(octet)
        if taken is not None:
            raise AddressRangeInUse(f"{requested} is in use: something already listens on {taken}; pick "
                                    "another --cluster-cidr or leave it out to get a free one")
        return octet
    for octet in range(FIRST_OCTET, LAST_OCTET + 1):
        if claimed(octet) is None and busy(octet) is None:
            return octet
    raise AddressRangeInUse(f"no free 127.X.0.0/16 for X in {FIRST_OCTET}..{LAST_OCTET}")
