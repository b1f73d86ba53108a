"""Server-side behaviour of built-in kinds: the defaults and checks the real API server applies on write,
kept to what clients of this project observe (not every field Kubernetes defaults)."""

from __future__ import annotations

import functools
import ipaddress
import itertools
from collections.abc import Callable, Iterable
from typing import Any

from sedna.local.apiserver.selectors import SelectorError, selector_from_object

DEFAULT_SERVICE_CIDR = "10.96.0.0/16"


class ServiceIPRange:
    """Where Service ClusterIPs come from (kube-apiserver's ``--service-cluster-ip-range``).

    ``spec`` is a comma-separated list of IPv4 CIDRs (``127.20.0.0/20``) or inclusive ranges
    (``127.20.1.1-127.20.15.254``). Addresses whose last octet is 0 or 255 and a CIDR's network and broadcast
    addresses are never handed out. Allocation takes the first free address after the one handed out last
    (wrapping around), so a just-released address is not reused at once.
    """

    def __init__(self, spec: str = DEFAULT_SERVICE_CIDR):
        self.spec = spec
        self.blocks: list[tuple[int, int]] = []
        for part in (p.strip() for p in spec.split(",")):
            if not part:
                continue
            try:
                if "-" in part:
                    first_text, last_text = (x.strip() for x in part.split("-", 1))
                    first, last = ipaddress.IPv4Address(first_text), ipaddress.IPv4Address(last_text)
                else:
                    net = ipaddress.IPv4Network(part, strict=False)
                    first, last = net.network_address + 1, net.broadcast_address - 1
            except ValueError as exc:
                raise ValueError(f"invalid service CIDR or range {part!r}: {exc}") from None
            if int(last) < int(first):
                raise ValueError(f"empty service address range {part!r}")
            self.blocks.append((int(first), int(last)))
        if not self.blocks:
            raise ValueError(f"no service address range in {spec!r}")
        self._cursor: int | None = None

    def __contains__(self, ip: object) -> bool:
        try:
            n = int(ipaddress.IPv4Address(str(ip)))
        except ValueError:
            return False
        return n & 0xFF not in (0, 255) and any(a <= n <= b for a, b in self.blocks)

    def _candidates(self, start: int) -> Iterable[int]:
        for first, last in self.blocks:
            if last >= start:
                yield from range(max(first, start), last + 1)

    def allocate(self, used: Iterable[str]) -> str | None:
        """A free address (None when the range is exhausted); ``used`` are the ClusterIPs already taken."""
        taken = set()
        for ip in used:
            try:
                taken.add(int(ipaddress.IPv4Address(ip)))
            except ValueError:
                continue
        return self.allocate_free(taken.__contains__)

    def allocate_free(self, taken: Callable[[int], bool]) -> str | None:
        """A free address by ``taken(address as int)``, without listing what is taken (the API server keeps
        an index: scanning every Service per create made a burst of N Services cost O(N²))."""
        # from behind the last allocation to the end, then from the start
        starts = [0] if self._cursor is None else [self._cursor + 1, 0]
        for start in starts:
            for n in self._candidates(start):
                if n & 0xFF not in (0, 255) and not taken(n):
                    self._cursor = n
                    return str(ipaddress.IPv4Address(n))
        return None


def initial_status(plural: str, obj: dict[str, Any]) -> dict[str, Any] | None:
    """The status a freshly created object gets (None keeps what the client sent)."""
    if plural == "pods":
        return {"phase": "Pending", "qosClass": "BestEffort"}
    if plural == "namespaces":
        return {"phase": "Active"}
    if plural == "services":
        return {"loadBalancer": {}}
    if plural == "horizontalpodautoscalers":
        return {"currentReplicas": 0, "desiredReplicas": 0}
    if plural == "persistentvolumeclaims":
        return {"phase": "Pending"}
    if plural == "replicasets":
        return {"replicas": 0}
    if plural == "deployments":
        return {}
    if plural == "daemonsets":
        return {"currentNumberScheduled": 0, "desiredNumberScheduled": 0, "numberMisscheduled": 0,
                "numberReady": 0}
    return None


def keep_allocated(plural: str, old: dict[str, Any], new: dict[str, Any]) -> None:
    """Values the server allocated stay when an update leaves them out (a Service's clusterIP, as in 1.20+)."""
    if plural != "services":
        return
    old_spec, new_spec = old.get("spec") or {}, new.get("spec")
    if isinstance(new_spec, dict) and not new_spec.get("clusterIP") and old_spec.get("clusterIP"):
        new_spec["clusterIP"] = old_spec["clusterIP"]
        if old_spec.get("clusterIPs"):
            new_spec["clusterIPs"] = list(old_spec["clusterIPs"])


def apply_defaults(plural: str, obj: dict[str, Any],
                   allocate_ip: Callable[[], str | None] | None = None) -> None:
    """Fill server defaults; ``allocate_ip`` hands out a Service's ClusterIP (none is set without it)."""
    spec = obj.get("spec")
    if plural == "pods" and isinstance(spec, dict):
        _pod_spec_defaults(spec)
    elif plural in ("deployments", "replicasets") and isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        if plural == "deployments":
            spec.setdefault("revisionHistoryLimit", 10)
            spec.setdefault("progressDeadlineSeconds", 600)
            strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
            if strategy.get("type", "RollingUpdate") == "RollingUpdate":
                strategy["type"] = "RollingUpdate"
                rolling = strategy.setdefault("rollingUpdate", {})
                rolling.setdefault("maxSurge", "25%")
                rolling.setdefault("maxUnavailable", "25%")
        template_spec = (spec.get("template") or {}).get("spec")
        if isinstance(template_spec, dict):
            _pod_spec_defaults(template_spec)
    elif plural == "daemonsets" and isinstance(spec, dict):
        spec.setdefault("revisionHistoryLimit", 10)
        strategy = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
        if strategy.get("type", "RollingUpdate") == "RollingUpdate":
            strategy["type"] = "RollingUpdate"
            strategy.setdefault("rollingUpdate", {"maxUnavailable": 1, "maxSurge": 0})
        template_spec = (spec.get("template") or {}).get("spec")
        if isinstance(template_spec, dict):
            _pod_spec_defaults(template_spec)
    elif plural == "services" and isinstance(spec, dict):
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if spec.get("clusterIP") != "None" and not spec.get("clusterIP") and allocate_ip is not None \
                and spec.get("type") != "ExternalName":
            ip = allocate_ip()
            if ip:
                spec["clusterIP"] = ip
        if spec.get("clusterIP"):
            spec.setdefault("clusterIPs", [spec["clusterIP"]])
        for port in spec.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
                if "port" in port:
                    port.setdefault("targetPort", port["port"])
    elif plural == "namespaces":
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    elif plural == "secrets":
        obj.setdefault("type", "Opaque")


def _pod_spec_defaults(spec: dict[str, Any]) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    for container in itertools.chain(spec.get("containers") or [], spec.get("initContainers") or []):
        if isinstance(container, dict):
            container.setdefault("imagePullPolicy", "IfNotPresent")
            container.setdefault("terminationMessagePath", "/dev/termination-log")
            container.setdefault("terminationMessagePolicy", "File")
            container.setdefault("resources", {})
            for port in container.get("ports") or []:
                if isinstance(port, dict):
                    port.setdefault("protocol", "TCP")


def validate(plural: str, obj: dict[str, Any]) -> list[dict[str, str]]:
    """Checks of the built-in kinds' specs; returns Kubernetes-style causes."""
    causes: list[dict[str, str]] = []

    def need(cond: bool, fld: str, message: str = "Required value", reason: str = "FieldValueRequired"):
        if not cond:
            causes.append({"reason": reason, "message": message, "field": fld})

    if plural == "pods":
        _validate_pod_spec(obj.get("spec"), "spec", need)
    elif plural in ("deployments", "replicasets", "daemonsets"):
        spec = obj.get("spec")
        need(isinstance(spec, dict), "spec")
        if isinstance(spec, dict):
            replicas = spec.get("replicas", 1)
            need(isinstance(replicas, int) and replicas >= 0, "spec.replicas",
                 f"Invalid value: {replicas!r}: must be greater than or equal to 0", "FieldValueInvalid")
            selector = spec.get("selector")
            need(isinstance(selector, dict) and bool(selector), "spec.selector")
            template = spec.get("template") or {}
            labels = (template.get("metadata") or {}).get("labels") or {}
            if isinstance(selector, dict) and selector:
                try:
                    matcher = selector_from_object(selector)
                except SelectorError as exc:
                    matcher = None
                    need(False, "spec.selector", f"Invalid value: {exc}", "FieldValueInvalid")
                if matcher is not None:
                    need(matcher.matches(labels), "spec.template.metadata.labels",
                         f"Invalid value: {labels!r}: `selector` does not match template `labels`",
                         "FieldValueInvalid")
            _validate_pod_spec(template.get("spec"), "spec.template.spec", need)
    elif plural == "services":
        spec = obj.get("spec") or {}
        for i, port in enumerate(spec.get("ports") or []):
            need(isinstance(port, dict) and isinstance(port.get("port"), int), f"spec.ports[{i}].port")
    return causes


def _validate_pod_spec(spec: Any, path: str, need) -> None:
    need(isinstance(spec, dict), path)
    if not isinstance(spec, dict):
        return
    containers = spec.get("containers")
    need(isinstance(containers, list) and len(containers) > 0, f"{path}.containers")
    names = set()
    for i, container in enumerate(containers or []):
        if not isinstance(container, dict):
            need(False, f"{path}.containers[{i}]", "Invalid value: must be an object", "FieldValueInvalid")
            continue
        name = container.get("name")
        need(bool(name), f"{path}.containers[{i}].name")
        need(name not in names, f"{path}.containers[{i}].name", f'Duplicate value: "{name}"',
             "FieldValueDuplicate")
        names.add(name)
        need(bool(container.get("image")), f"{path}.containers[{i}].image")


@functools.cache
def _spec_schema(plural: str) -> dict[str, Any] | None:
    """Structural schema of the ``spec`` of a built-in kind, from the Kubernetes OpenAPI pinned in sedna.api
    (pods and deployments: the kinds the pin covers); ``None`` for kinds it does not cover."""
    from sedna.api import k8s

    if plural == "pods":
        return k8s.structural(k8s.POD_TEMPLATE_SPEC)["properties"]["spec"]
    if plural == "deployments":
        return k8s.structural(k8s.DEPLOYMENT_SPEC)
    return None


def unknown_fields(plural: str, obj: dict[str, Any]) -> list[str]:
    """Paths of fields under ``spec`` that the kind's schema does not declare (what kubectl's strict field
    validation rejects); the object is not changed."""
    from sedna.local.apiserver.schema import unknown_paths

    schema = _spec_schema(plural)
    if schema is None or not isinstance(obj.get("spec"), dict):
        return []
    return unknown_paths({"spec": obj["spec"]}, {"type": "object", "properties": {"spec": schema},
                                                 "x-kubernetes-preserve-unknown-fields": True})
