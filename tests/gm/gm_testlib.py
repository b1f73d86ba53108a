"""Helpers shared by the GM tests (imported as a plain module: tests dirs have no __init__)."""

from __future__ import annotations

import base64
import itertools
from datetime import datetime, timezone
from pathlib import Path

import kubernetes_validate
import support_reference
import yaml

from sedna.api.yamlio import load_all
from sedna.gm.config import GMConfig
from sedna.gm.controllers.base import Context, Observed, Refs

REPO = Path(__file__).resolve().parents[2]
REFERENCE = support_reference.REFERENCE
SAMPLES = support_reference.SAMPLES
K8S_VERSION = "1.29.0"
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
NOW_STR = "2026-01-02T03:04:05Z"


def load_samples(name: str) -> list[dict]:
    """An upstream sample's documents; skips the calling test on a bare clone (no ../shared/reference)."""
    support_reference.require()
    return load_all((SAMPLES / name).read_text())  # YAML 1.2, as the API server reads manifests


def sample(name: str, kind: str | None = None) -> dict:
    docs = load_samples(name)
    if kind:
        docs = [d for d in docs if d.get("kind") == kind]
    doc = docs[0]
    _stringify_env(doc)
    doc["metadata"].setdefault("namespace", "default")
    doc["metadata"].setdefault("uid", "uid-1")
    return doc


def _stringify_env(node) -> None:
    """Some upstream samples put YAML lists in env values, which the CRD's PodTemplateSpec schema (and the API
    server) reject; turn them into the comma-joined string a user would have to write."""
    if isinstance(node, dict):
        if isinstance(node.get("env"), list):
            for entry in node["env"]:
                if isinstance(entry, dict) and isinstance(entry.get("value"), list):
                    entry["value"] = ",".join(str(v) for v in entry["value"])
        for value in node.values():
            _stringify_env(value)
    elif isinstance(node, list):
        for value in node:
            _stringify_env(value)


def ctx(**config) -> Context:
    counter = itertools.count()
    return Context(GMConfig(**config), NOW, suffix=lambda: f"r{next(counter):04d}")


def model(name: str, url: str, secret: str | None = None) -> dict:
    spec = {"url": url, "format": "pb"}
    if secret:
        spec["credentialName"] = secret
    return {"apiVersion": "sedna.io/v1alpha1", "kind": "Model",
            "metadata": {"name": name, "namespace": "default"}, "spec": spec}


def dataset(name: str, url: str, node: str = "edge-node", secret: str | None = None) -> dict:
    spec = {"url": url, "format": "txt", "nodeName": node}
    if secret:
        spec["credentialName"] = secret
    return {"apiVersion": "sedna.io/v1alpha1", "kind": "Dataset",
            "metadata": {"name": name, "namespace": "default"}, "spec": spec}


def s3_secret(name: str = "mysecret", endpoint: str = "minio:9000", https: str = "0") -> dict:
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": "default",
                         "annotations": {"s3-endpoint": endpoint, "s3-usehttps": https}},
            "data": {"ACCESS_KEY_ID": base64.b64encode(b"AK").decode(),
                     "SECRET_ACCESS_KEY": base64.b64encode(b"SK").decode()}}


def refs(*objs: dict) -> Refs:
    r = Refs()
    for obj in objs:
        {"Model": r.models, "Dataset": r.datasets, "Secret": r.secrets}[obj["kind"]][obj["metadata"]["name"]] = obj
    return r


def env_of(manifest: dict, container: int = 0) -> dict[str, str]:
    spec = manifest["spec"]
    if manifest["kind"] == "Deployment":
        spec = spec["template"]["spec"]
    return {e["name"]: e.get("value") for e in spec["containers"][container].get("env") or []}


def pod_spec(manifest: dict) -> dict:
    return manifest["spec"]["template"]["spec"] if manifest["kind"] == "Deployment" else manifest["spec"]


def validate(manifest: dict) -> None:
    """Strict OpenAPI validation; generateName-only pods get a placeholder name as the API server would."""
    doc = yaml.safe_load(yaml.safe_dump(manifest))
    if "name" not in doc["metadata"] and "generateName" in doc["metadata"]:
        doc["metadata"]["name"] = doc["metadata"]["generateName"] + "abcde"
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def as_observed(plan_create: list[dict], phase: str = "Running", node: str | None = None) -> Observed:
    """Turn planned manifests into what the API would list back (names filled, pods in ``phase``)."""
    obs = Observed()
    for i, m in enumerate(plan_create):
        m = yaml.safe_load(yaml.safe_dump(m))
        m["metadata"].setdefault("name", m["metadata"].get("generateName", "x-") + f"{i:05d}")
        m["metadata"].setdefault("creationTimestamp", NOW_STR)
        if m["kind"] == "Pod":
            m["status"] = {"phase": phase}
            if node:
                m["spec"]["nodeName"] = node
            obs.pods.append(m)
        elif m["kind"] == "Deployment":
            obs.deployments.append(m)
        elif m["kind"] == "Service":
            obs.services.append(m)
        elif m["kind"] == "HorizontalPodAutoscaler":
            obs.hpas.append(m)
    return obs
