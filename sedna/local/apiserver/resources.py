"""The resource table: which REST resources exist, their kinds, scopes, short names and subresources.

Built-in kinds are declared here; custom resources are added and removed as CRDs come and go
(``Registry.register_crd``). A resource's objects live in one storage *bucket* (``group/plural``) shared by
all of its served versions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]

_COMMON_FIELDS = ("metadata.name", "metadata.namespace")
_FIELDS = {
    "pods": ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
             "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"),
    "events": ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
               "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
               "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type",
               "regarding.kind", "regarding.namespace", "regarding.name", "regarding.uid", "note"),
    "secrets": ("type",),
    "nodes": ("spec.unschedulable",),
    "namespaces": ("status.phase",),
    "replicasets": ("status.replicas",),
}


@dataclass
class ResourceDef:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: list[str] = field(default_factory=list)
    subresources: tuple[str, ...] = ()          # "status", "scale", "log", "binding"
    categories: list[str] = field(default_factory=list)
    crd: dict[str, Any] | None = None           # the CRD object for custom resources
    crd_version: dict[str, Any] | None = None   # the CRD's entry of spec.versions for this version
    storage_version: str = ""

    def __post_init__(self):
        self.singular = self.singular or self.kind.lower()
        self.storage_version = self.storage_version or self.version

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def storage_api_version(self) -> str:
        return f"{self.group}/{self.storage_version}" if self.group else self.storage_version

    @property
    def bucket(self) -> str:
        return f"{self.group}/{self.plural}"

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def is_custom(self) -> bool:
        return self.crd is not None

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    def group_resource(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def field_allowed(self, name: str) -> bool:
        if name in _COMMON_FIELDS or name in _FIELDS.get(self.plural, ()):
            return True
        if self.crd_version:
            return any(f.get("jsonPath", "").lstrip(".") == name
                       for f in self.crd_version.get("selectableFields") or [])
        return False


def _r(group, version, plural, kind, namespaced, short=(), sub=(), categories=()):
    return ResourceDef(group, version, plural, kind, namespaced, short_names=list(short),
                       subresources=tuple(sub), categories=list(categories))


BUILTINS: list[ResourceDef] = [
    _r("", "v1", "namespaces", "Namespace", False, ["ns"], ["status"]),
    _r("", "v1", "nodes", "Node", False, ["no"], ["status"]),
    _r("", "v1", "pods", "Pod", True, ["po"], ["status", "log", "binding"], ["all"]),
    _r("", "v1", "services", "Service", True, ["svc"], ["status"], ["all"]),
    _r("", "v1", "secrets", "Secret", True),
    _r("", "v1", "configmaps", "ConfigMap", True, ["cm"]),
    _r("", "v1", "serviceaccounts", "ServiceAccount", True, ["sa"]),
    _r("", "v1", "endpoints", "Endpoints", True, ["ep"]),
    _r("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, ["pvc"], ["status"]),
    _r("", "v1", "events", "Event", True, ["ev"]),
    _r("events.k8s.io", "v1", "events", "Event", True, ["ev"]),
    _r("coordination.k8s.io", "v1", "leases", "Lease", True),
    _r("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False,
       ["crd", "crds"], ["status"], ["api-extensions"]),
    _r("apps", "v1", "deployments", "Deployment", True, ["deploy"], ["status", "scale"], ["all"]),
    _r("apps", "v1", "replicasets", "ReplicaSet", True, ["rs"], ["status", "scale"], ["all"]),
    _r("apps", "v1", "daemonsets", "DaemonSet", True, ["ds"], ["status"], ["all"]),
    # RBAC objects are stored (so a Helm chart's roles apply) but not enforced: the emulator has one token
    _r("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    _r("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    _r("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
    _r("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
    _r("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", True, ["hpa"],
       ["status"], ["all"]),
]

# Preferred versions of the built-in groups, in the order discovery lists them.
GROUP_ORDER = ["", "apps", "events.k8s.io", "autoscaling", "coordination.k8s.io", "rbac.authorization.k8s.io",
               "apiextensions.k8s.io"]


class Registry:
    """The live resource table: built-ins plus the resources of established CRDs."""

    def __init__(self):
        self._by_gv: dict[tuple[str, str], dict[str, ResourceDef]] = {}
        self._crd_gvs: dict[str, list[tuple[str, str]]] = {}   # CRD name → its (group, version)s
        for rd in BUILTINS:
            self._add(rd)

    def _add(self, rd: ResourceDef) -> None:
        self._by_gv.setdefault((rd.group, rd.version), {})[rd.plural] = rd

    def get(self, group: str, version: str, plural: str) -> ResourceDef | None:
        return self._by_gv.get((group, version), {}).get(plural)

    def group_versions(self) -> list[tuple[str, str]]:
        return list(self._by_gv)

    def resources(self, group: str, version: str) -> list[ResourceDef]:
        return list(self._by_gv.get((group, version), {}).values())

    def has_group_version(self, group: str, version: str) -> bool:
        return (group, version) in self._by_gv

    def all(self) -> list[ResourceDef]:
        return [rd for table in self._by_gv.values() for rd in table.values()]

    def by_bucket(self, bucket: str) -> ResourceDef | None:
        """The storage-version definition of a bucket."""
        for rd in self.all():
            if rd.bucket == bucket and rd.version == rd.storage_version:
                return rd
        return None

    def by_kind(self, api_version: str, kind: str) -> ResourceDef | None:
        group, _, version = api_version.rpartition("/")
        for rd in self.resources(group, version):
            if rd.kind == kind:
                return rd
        return None

    def groups(self) -> list[str]:
        seen = []
        for group in GROUP_ORDER + sorted({g for g, _ in self._by_gv}):
            if group not in seen and any(g == group for g, _ in self._by_gv):
                seen.append(group)
        return seen

    def versions(self, group: str) -> list[str]:
        versions = [v for g, v in self._by_gv if g == group]
        return sorted(versions, key=_version_priority)

    def register_crd(self, crd: dict[str, Any]) -> None:
        self.unregister_crd(crd["metadata"]["name"])
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        group = spec.get("group", "")
        storage = next((v["name"] for v in spec.get("versions") or [] if v.get("storage")), None)
        gvs = []
        for ver in spec.get("versions") or []:
            if not ver.get("served", True):
                continue
            subresources = []
            if "status" in (ver.get("subresources") or {}):
                subresources.append("status")
            if "scale" in (ver.get("subresources") or {}):
                subresources.append("scale")
            rd = ResourceDef(group, ver["name"], names["plural"], names["kind"],
                             spec.get("scope", "Namespaced") == "Namespaced",
                             singular=names.get("singular", ""), short_names=list(names.get("shortNames") or []),
                             subresources=tuple(subresources), categories=list(names.get("categories") or []),
                             crd=crd, crd_version=ver, storage_version=storage or ver["name"])
            self._add(rd)
            gvs.append((group, ver["name"]))
        self._crd_gvs[crd["metadata"]["name"]] = gvs

    def unregister_crd(self, name: str) -> None:
        plural = name.split(".", 1)[0]
        for gv in self._crd_gvs.pop(name, []):
            table = self._by_gv.get(gv, {})
            table.pop(plural, None)
            if not table:
                self._by_gv.pop(gv, None)


def _version_priority(version: str) -> tuple:
    """Kubernetes' version ordering: GA before beta before alpha, higher numbers first."""
    import re
    m = re.match(r"^v(\d+)(?:(alpha|beta)(\d+))?$", version)
    if not m:
        return (3, 0, 0, version)
    major = int(m.group(1))
    stage = {None: 0, "beta": 1, "alpha": 2}[m.group(2)]
    minor = int(m.group(3) or 0)
    return (stage, -major, -minor, version)
