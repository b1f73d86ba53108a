"""Pods, Deployments, Services and HPAs for workers (gm.md §2.4-2.5, §3.5)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from sedna.common import fastjson
from sedna.gm.runtime.names import (
    app_label,
    deployment_name,
    owner_reference,
    service_name,
    worker_labels,
)
from sedna.gm.runtime.storage import Mount, inject_storage

HOT_UPDATE_ROOT = "/var/lib/sedna/model-hot-update"
HOT_UPDATE_VOLUME = "sedna-model-hot-update-volume"
HOT_UPDATE_MOUNT = "/model-hot-update"
HOT_UPDATE_ANNOTATION = "sedna.io/model-hot-update-config"


@dataclass
class HotUpdate:
    poll_period_seconds: int = 60


@dataclass
class Worker:
    """What a controller wants for one worker: its type, GM env, mounts and forced pod settings."""

    worker_type: str
    env: dict[str, str] = field(default_factory=dict)
    mounts: list[Mount] = field(default_factory=list)
    host_network: bool = False
    restart_policy: str | None = None
    dns_policy: str | None = None
    hot_update: HotUpdate | None = None


@dataclass(frozen=True)
class Owner:
    kind: str
    meta: dict[str, Any]

    @property
    def name(self) -> str:
        return self.meta["name"]

    @property
    def namespace(self) -> str:
        return self.meta.get("namespace") or "default"

    @property
    def uid(self) -> str:
        return self.meta.get("uid", "")


def hot_update_config_path(owner: Owner) -> str:
    return f"{HOT_UPDATE_ROOT}/{owner.namespace}/{owner.kind}/{owner.name}/model_config.json".lower()


def _append_env(spec: dict[str, Any], env: dict[str, str]) -> None:
    """Append GM env to every container after the user's env; a user entry of the same name is dropped so the
    GM value is the only one (upstream appends duplicates and relies on last-wins)."""
    for container in spec.get("containers") or []:
        user = [e for e in container.get("env") or [] if e.get("name") not in env]
        container["env"] = user + [{"name": k, "value": str(v)} for k, v in env.items()]


def _prepare_spec(owner: Owner, worker: Worker, template: dict[str, Any]) -> tuple[dict, dict]:
    template = fastjson.copy(template or {})
    meta = template.get("metadata") or {}
    spec = template.get("spec") or {}
    spec.setdefault("containers", [])
    env = dict(worker.env)
    if worker.mounts:
        env.update(inject_storage(spec, worker.mounts))
    if worker.hot_update is not None:
        config_path = hot_update_config_path(owner)
        host_dir = config_path.rsplit("/", 1)[0]
        spec.setdefault("volumes", []).append({"name": HOT_UPDATE_VOLUME,
                                               "hostPath": {"path": host_dir, "type": "DirectoryOrCreate"}})
        for container in spec["containers"]:
            container.setdefault("volumeMounts", []).append({"name": HOT_UPDATE_VOLUME,
                                                             "mountPath": HOT_UPDATE_MOUNT})
        env.update({"MODEL_HOT_UPDATE": "true",
                    "MODEL_POLL_PERIOD_SECONDS": str(worker.hot_update.poll_period_seconds),
                    "MODEL_HOT_UPDATE_CONFIG": f"{HOT_UPDATE_MOUNT}/model_config.json"})
    _append_env(spec, env)
    return meta, spec


def build_pod(owner: Owner, worker: Worker, template: dict[str, Any]) -> dict[str, Any]:
    meta, spec = _prepare_spec(owner, worker, template)
    labels = dict(meta.get("labels") or {})
    labels.update(worker_labels(owner.kind, owner.name, owner.uid, worker.worker_type))
    metadata: dict[str, Any] = {
        "generateName": f"{owner.name}-{worker.worker_type.lower()}-",
        "namespace": owner.namespace,
        "labels": labels,
        "ownerReferences": [owner_reference(owner.kind, owner.meta)],
    }
    for key in ("annotations", "finalizers"):
        if meta.get(key):
            metadata[key] = copy.deepcopy(meta[key])
    if worker.host_network:
        spec["hostNetwork"] = True
    if not spec.get("restartPolicy") and worker.restart_policy:
        spec["restartPolicy"] = worker.restart_policy
    if worker.dns_policy:
        spec["dnsPolicy"] = worker.dns_policy
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def build_deployment(owner: Owner, worker: Worker, template: dict[str, Any],
                     replicas: int | None) -> dict[str, Any]:
    meta, spec = _prepare_spec(owner, worker, template)
    selector = worker_labels(owner.kind, owner.name, owner.uid, worker.worker_type)
    selector["app.sedna.io"] = app_label(owner.name, worker.worker_type)
    pod_labels = dict(meta.get("labels") or {})
    pod_labels.update(selector)
    pod_meta: dict[str, Any] = {"labels": pod_labels}
    if meta.get("annotations"):
        pod_meta["annotations"] = copy.deepcopy(meta["annotations"])
    if worker.host_network:
        spec["hostNetwork"] = True
    if worker.dns_policy:
        spec["dnsPolicy"] = worker.dns_policy
    body: dict[str, Any] = {"selector": {"matchLabels": dict(selector)},
                            "template": {"metadata": pod_meta, "spec": spec}}
    if replicas is not None:
        body["replicas"] = int(replicas)
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": deployment_name(owner.name, worker.worker_type), "namespace": owner.namespace,
                     "labels": dict(selector), "ownerReferences": [owner_reference(owner.kind, owner.meta)]},
        "spec": body,
    }


def build_service(owner: Owner, worker_type: str, port: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": service_name(owner.name, worker_type), "namespace": owner.namespace,
                     "labels": worker_labels(owner.kind, owner.name, owner.uid, worker_type),
                     "ownerReferences": [owner_reference(owner.kind, owner.meta)]},
        "spec": {"type": "ClusterIP",
                 "selector": worker_labels(owner.kind, owner.name, owner.uid, worker_type),
                 "ports": [{"name": "tcp-0", "protocol": "TCP", "port": port, "targetPort": port}]},
    }


def build_hpa(owner: Owner, deployment: str, hpa: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
        "maxReplicas": int(hpa.get("maxReplicas", 1)),
    }
    if hpa.get("minReplicas") is not None:
        spec["minReplicas"] = int(hpa["minReplicas"])
    for key in ("metrics", "behavior"):
        if hpa.get(key):
            spec[key] = copy.deepcopy(hpa[key])
    return {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": f"hpa-{deployment}", "namespace": owner.namespace,
                     "ownerReferences": [owner_reference(owner.kind, owner.meta)]},
        "spec": spec,
    }
