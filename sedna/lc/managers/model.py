"""Model manager (§12): keeps pushed Model objects for the incremental learning engine."""

from __future__ import annotations

from typing import Any

from sedna.lc.managers.base import Manager


class ModelManager(Manager):
    kind = "model"
    object_kind = "Model"

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get(self.key(namespace, name))

    def model_ref(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The model as the LC reports it upstream: ``{"format", "url"}`` (+ devices when set)."""
        obj = self.get(namespace, name)
        if obj is None:
            return None
        spec = obj.get("spec") or {}
        ref: dict[str, Any] = {"format": spec.get("format", ""), "url": spec.get("url", "")}
        devices = spec.get("deviceSocVersions") or spec.get("device_soc_versions")
        if devices:
            ref["device_soc_versions"] = list(devices)
        return ref
