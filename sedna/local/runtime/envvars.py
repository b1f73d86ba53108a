"""Container environment and argument rewriting, the way a kubelet builds them (pure functions).

- :func:`expand` does Kubernetes' ``$(VAR)`` expansion (``$$`` escapes, unknown names stay as written).
- :func:`build_env` resolves ``envFrom`` and ``env`` (``value``, ``fieldRef``, ``resourceFieldRef``,
  ``secretKeyRef``, ``configMapKeyRef``) in Kubernetes order over a base environment.
- :func:`rewrite_hosts` replaces Service host names with their ClusterIPs (there is no cluster DNS here).
- :func:`rewrite_paths` replaces container mount paths with the host directories standing in for them
  (there is no mount namespace here).
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

_ENV_NAME_RE = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


class EnvError(ValueError):
    """A reference the container needs cannot be resolved (kubelet's CreateContainerConfigError)."""


def expand(text: str, lookup: Mapping[str, str]) -> str:
    """Expand ``$(NAME)`` references from ``lookup``; ``$$`` → ``$``; unresolvable references stay verbatim."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "$" and i + 1 < n:
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                end = text.find(")", i + 2)
                if end != -1:
                    name = text[i + 2:end]
                    if name and name in lookup:
                        out.append(lookup[name])
                    else:
                        out.append(text[i:end + 1])
                    i = end + 1
                    continue
        out.append(c)
        i += 1
    return "".join(out)


# ---- quantities (for resourceFieldRef) --------------------------------------------------------------------

_SUFFIX = {
    "": 1, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60,
}
_QUANTITY_RE = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")


def parse_quantity(value: Any) -> float:
    """A Kubernetes quantity (``500m``, ``1Gi``, ``2``) as a number."""
    m = _QUANTITY_RE.match(str(value).strip())
    if not m or m.group(2) not in _SUFFIX:
        raise EnvError(f"invalid quantity {value!r}")
    return float(m.group(1)) * _SUFFIX[m.group(2)]


def resource_value(container: Mapping[str, Any], resource: str, divisor: Any, node_allocatable: Mapping[str, Any]
                   ) -> str:
    """What a ``resourceFieldRef`` yields: the container's limit/request, else the node's allocatable, divided and
    rounded up like the kubelet does."""
    kind, _, name = resource.partition(".")
    if kind not in ("limits", "requests") or not name:
        raise EnvError(f"unsupported resourceFieldRef resource {resource!r}")
    resources = container.get("resources") or {}
    raw = (resources.get(kind) or {}).get(name)
    if raw is None and kind == "requests":
        raw = (resources.get("limits") or {}).get(name)
    if raw is None:
        raw = node_allocatable.get(name, 0)
    div = parse_quantity(divisor) if divisor not in (None, "") else 1.0
    if div <= 0:
        raise EnvError(f"invalid divisor {divisor!r}")
    return str(math.ceil(parse_quantity(raw) / div - 1e-9))


# ---- env -------------------------------------------------------------------------------------------------

@dataclass
class EnvSources:
    """What env references can point to: secrets/configmaps of the pod's namespace (by name) and pod facts."""

    secrets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    configmaps: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    pod_ip: str = ""
    host_ip: str = ""
    node_allocatable: Mapping[str, Any] = field(default_factory=dict)


def field_ref(pod: Mapping[str, Any], path: str, sources: EnvSources) -> str:
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    simple: dict[str, Callable[[], Any]] = {
        "metadata.name": lambda: meta.get("name", ""),
        "metadata.namespace": lambda: meta.get("namespace", "default"),
        "metadata.uid": lambda: meta.get("uid", ""),
        "spec.nodeName": lambda: spec.get("nodeName", ""),
        "spec.serviceAccountName": lambda: spec.get("serviceAccountName") or "default",
        "status.podIP": lambda: sources.pod_ip,
        "status.podIPs": lambda: sources.pod_ip,
        "status.hostIP": lambda: sources.host_ip,
        "status.hostIPs": lambda: sources.host_ip,
    }
    if path in simple:
        return str(simple[path]())
    m = re.match(r"^metadata\.(labels|annotations)\['([^']+)'\]$", path)
    if m:
        return str((meta.get(m.group(1)) or {}).get(m.group(2), ""))
    if path in ("metadata.labels", "metadata.annotations"):
        items = meta.get(path.split(".")[1]) or {}
        return "\n".join(f'{k}="{v}"' for k, v in sorted(items.items()))
    raise EnvError(f"unsupported fieldRef fieldPath {path!r}")


def _secret_data(secret: Mapping[str, Any]) -> dict[str, str]:
    data = {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in (secret.get("data") or {}).items()}
    data.update({k: str(v) for k, v in (secret.get("stringData") or {}).items()})
    return data


def _configmap_data(cm: Mapping[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in (cm.get("data") or {}).items()}


def _key_ref(ref: Mapping[str, Any], store: Mapping[str, Mapping[str, Any]], decode, what: str, var: str
             ) -> str | None:
    name, key, optional = ref.get("name", ""), ref.get("key", ""), bool(ref.get("optional"))
    obj = store.get(name)
    if obj is None:
        if optional:
            return None
        raise EnvError(f"env {var}: {what} {name!r} not found")
    data = decode(obj)
    if key not in data:
        if optional:
            return None
        raise EnvError(f"env {var}: key {key!r} not found in {what} {name!r}")
    return data[key]


def build_env(pod: Mapping[str, Any], container: Mapping[str, Any], sources: EnvSources,
              base: Mapping[str, str] | None = None, literal: set[str] | None = None) -> dict[str, str]:
    """The container's environment: ``base``, then ``envFrom`` in order, then ``env`` in order, each ``value``
    expanded against what is defined so far. ``literal`` (if given) receives the names whose final value
    came from a literal ``value`` (the ones worth rewriting)."""
    env: dict[str, str] = dict(base or {})
    literal = literal if literal is not None else set()
    for src in container.get("envFrom") or []:
        prefix = src.get("prefix") or ""
        if "configMapRef" in src:
            ref, store, decode, what = src["configMapRef"], sources.configmaps, _configmap_data, "configmap"
        elif "secretRef" in src:
            ref, store, decode, what = src["secretRef"], sources.secrets, _secret_data, "secret"
        else:
            raise EnvError("envFrom entry needs configMapRef or secretRef")
        obj = store.get(ref.get("name", ""))
        if obj is None:
            if ref.get("optional"):
                continue
            raise EnvError(f"envFrom: {what} {ref.get('name')!r} not found")
        for key, value in decode(obj).items():
            if _ENV_NAME_RE.match(prefix + key):
                env[prefix + key] = value
                literal.discard(prefix + key)
    for item in container.get("env") or []:
        name = item.get("name", "")
        if "valueFrom" not in item:
            env[name] = expand(str(item.get("value", "") or ""), env)
            literal.add(name)
            continue
        vf = item["valueFrom"] or {}
        if "fieldRef" in vf:
            value: str | None = field_ref(pod, vf["fieldRef"].get("fieldPath", ""), sources)
        elif "resourceFieldRef" in vf:
            ref = vf["resourceFieldRef"]
            target = container
            if ref.get("containerName"):
                target = next((c for c in (pod.get("spec") or {}).get("containers") or []
                               if c.get("name") == ref["containerName"]), container)
            value = resource_value(target, ref.get("resource", ""), ref.get("divisor"),
                                   sources.node_allocatable)
        elif "secretKeyRef" in vf:
            value = _key_ref(vf["secretKeyRef"], sources.secrets, _secret_data, "secret", name)
        elif "configMapKeyRef" in vf:
            value = _key_ref(vf["configMapKeyRef"], sources.configmaps, _configmap_data, "configmap", name)
        else:
            raise EnvError(f"env {name}: unsupported valueFrom {sorted(vf)}")
        if value is not None:
            env[name] = value
            literal.discard(name)
    return env


# ---- host names -------------------------------------------------------------------------------------------

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_HOST_RE = re.compile(rf"(?P<pre>^|//|@|[\s;,=])(?P<host>{_LABEL}(?:\.{_LABEL})*)(?=$|[:/?#\s;,])")


def service_host_table(services: list[Mapping[str, Any]], namespace: str, cluster_domain: str = "cluster.local"
                       ) -> tuple[dict[str, str], dict[str, str]]:
    """``(qualified, bare)`` maps of host name → address: qualified names (``svc.ns``, ``svc.ns.svc``,
    ``svc.ns.svc.<domain>``) for every Service, bare names (``svc``) for the pod's own namespace."""
    qualified: dict[str, str] = {}
    bare: dict[str, str] = {}
    for svc in services:
        meta, spec = svc.get("metadata") or {}, svc.get("spec") or {}
        ip = spec.get("clusterIP") or ""
        if not ip or ip == "None":
            continue
        name, ns = meta.get("name", ""), meta.get("namespace", "default")
        for host in (f"{name}.{ns}", f"{name}.{ns}.svc", f"{name}.{ns}.svc.{cluster_domain}"):
            qualified[host.lower()] = ip
        if ns == namespace:
            bare[name.lower()] = ip
    return qualified, bare


def rewrite_hosts(value: str, qualified: Mapping[str, str], bare: Mapping[str, str]) -> str:
    """Replace Service host names in ``value`` with addresses.

    Qualified names are replaced wherever they stand as a host (start of the value, after ``//``, ``@``, blank,
    ``;``, ``,`` or ``=``, followed by the end, a port, a path or a separator). A bare name is replaced only where
    it cannot be an ordinary word: after ``//`` (a URL) or followed by ``:<port>``.
    """
    if not qualified and not bare:
        return value

    def repl(m: re.Match) -> str:
        host, pre = m.group("host"), m.group("pre")
        key = host.lower()
        if key in qualified:
            return pre + qualified[key]
        if key in bare and (pre == "//" or re.match(r":\d+(?!\d)", value[m.end():])):
            return pre + bare[key]
        return m.group(0)

    return _HOST_RE.sub(repl, value)


# ---- mount paths ------------------------------------------------------------------------------------------

def rewrite_paths(value: str, mounts: Mapping[str, str], exact: Mapping[str, str] | None = None) -> str:
    """Replace container paths that start with a mount path by the host path standing in for it.

    A path is recognised at the start of the value or after a blank, ``;``, ``,``, ``=``, ``:`` or a quote
    (so paths inside ``python -c '...'`` code are found), and only when the mount path ends there or continues
    with ``/``. The longest mount path wins; ``/`` is never rewritten. Paths of ``exact`` are replaced only
    when they stand alone (not followed by ``/``): the parents of mount paths, such as ``DATA_PATH_PREFIX``.
    """
    pre, end = r"(?P<pre>^|[\s;,=:'\"])", r"(?=$|[\s;,:'\"])"
    for table, tail in ((mounts, r"(?=$|[/\s;,:'\"])"), (exact or {}, end)):
        items = sorted(((mp.rstrip("/"), host) for mp, host in table.items() if mp.rstrip("/")),
                       key=lambda kv: len(kv[0]), reverse=True)
        if not items:
            continue
        lookup = dict(items)
        alternatives = "|".join(re.escape(mp) for mp, _ in items)
        pattern = re.compile(rf"{pre}(?P<path>{alternatives}){tail}")
        value = pattern.sub(lambda m, t=lookup: m.group("pre") + t[m.group("path")].rstrip("/"), value)
    return value
