"""Address layout of a single-machine cluster on the loopback range (pure functions).

All of 127.0.0.0/8 is loopback on Linux, so every node, pod and Service gets its own address there and two
Services can both listen on port 5000 exactly as in a cluster. One cluster owns one /16, ``127.C.0.0/16``:

====================  ===================================================
``127.C.0.<i+1>``      node *i* (its InternalIP; hostNetwork pods use it)
``127.C.1.0/20``       Service ClusterIPs (``127.C.1.1`` … ``127.C.15.254``)
``127.C.(16+8i).0/21`` pod IPs of node *i* (``spec.podCIDR`` of the Node)
====================  ===================================================

so up to 30 nodes with 2046 pods each. Addresses ending in .0 or .255 are never handed out.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

MAX_NODES = 30


class AddressExhausted(RuntimeError):
    """No free address is left in a range."""


@dataclass(frozen=True)
class ClusterNet:
    """The /16 of one cluster; ``octet`` is its second octet (127.<octet>.0.0/16)."""

    octet: int = 20

    def __post_init__(self):
        if not 1 <= self.octet <= 254:
            raise ValueError(f"cluster octet must be in 1..254, got {self.octet}")

    @classmethod
    def from_cidr(cls, cidr: str) -> ClusterNet:
        net = ipaddress.ip_network(cidr, strict=False)
        if net.prefixlen != 16 or not str(net).startswith("127."):
            raise ValueError(f"cluster CIDR must be a /16 inside 127.0.0.0/8, got {cidr!r}")
        return cls(int(str(net.network_address).split(".")[1]))

    @property
    def cidr(self) -> str:
        return f"127.{self.octet}.0.0/16"

    @property
    def service_cidr(self) -> str:
        return f"127.{self.octet}.0.0/20"

    def node_address(self, index: int) -> str:
        _check_index(index)
        return f"127.{self.octet}.0.{index + 1}"

    def pod_cidr(self, index: int) -> str:
        _check_index(index)
        return f"127.{self.octet}.{16 + 8 * index}.0/21"

    def service_candidates(self) -> Iterable[str]:
        for third in range(1, 16):
            for fourth in range(1, 255):
                yield f"127.{self.octet}.{third}.{fourth}"


def _check_index(index: int) -> None:
    if not 0 <= index < MAX_NODES:
        raise ValueError(f"node index must be in 0..{MAX_NODES - 1}, got {index}")


def cidr_candidates(cidr: str) -> Iterable[str]:
    """Usable addresses of ``cidr`` in order, skipping .0/.255 endings and the network's first address."""
    net = ipaddress.ip_network(cidr, strict=False)
    for addr in net.hosts():
        text = str(addr)
        last = int(text.rsplit(".", 1)[1])
        if last in (0, 255):
            continue
        yield text


def allocate(candidates: Iterable[str], used: Iterable[str], after: str | None = None) -> str:
    """First candidate not in ``used``; with ``after``, the search starts behind that address and wraps
    around, so a just-freed address is not handed out again at once."""
    taken = set(used)
    ordered = list(candidates)
    if after in ordered:
        i = ordered.index(after) + 1
        ordered = ordered[i:] + ordered[:i]
    for addr in ordered:
        if addr not in taken:
            return addr
    raise AddressExhausted("no free address left")
