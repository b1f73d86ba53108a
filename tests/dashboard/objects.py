"""Objects the dashboard tests write: Sedna CRs in wire form, worker pods as the GM labels them, and the
container statuses a process runtime reports."""

from __future__ import annotations

from typing import Any

API = "/apis/sedna.io/v1alpha1"


def ji_service(name: str, ns: str = "default") -> dict[str, Any]:
    template = {"spec": {"nodeName": "edge-node", "containers": [{"name": "w", "image": "x"}]}}
    return {"apiVersion": "sedna.io/v1alpha1", "kind": "JointInferenceService",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"edgeWorker": {"model": {"name": "little"}, "hardExampleMining": {"name": "IBT"},
                                    "template": template},
                     "cloudWorker": {"model": {"name": "big"}, "template": template}}}


def fl_job(name: str, ns: str = "default", model: str = "agg-model") -> dict[str, Any]:
    template = {"spec": {"nodeName": "edge-node", "containers": [{"name": "w", "image": "x"}]}}
    return {"apiVersion": "sedna.io/v1alpha1", "kind": "FederatedLearningJob",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"aggregationWorker": {"model": {"name": model}, "template": template},
                     "trainingWorkers": [{"dataset": {"name": "d1"}, "template": template}]}}


def model(name: str, ns: str = "default") -> dict[str, Any]:
    return {"apiVersion": "sedna.io/v1alpha1", "kind": "Model", "metadata": {"name": name, "namespace": ns},
            "spec": {"url": "/models/m.npz", "format": "npz"}}


def worker_pod(owner_kind: str, owner: str, pod: str, ns: str = "default") -> dict[str, Any]:
    k = owner_kind.lower()
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod, "namespace": ns,
                         "labels": {f"{k}.sedna.io/name": owner, f"{k}.sedna.io/worker-type": "edge"}},
            "spec": {"containers": [{"name": "worker", "image": "x"}]}}


def crash_looping(exit_code: int = 3, restarts: int = 4) -> dict[str, Any]:
    return {"phase": "Running", "containerStatuses": [{
        "name": "worker", "ready": False, "restartCount": restarts, "image": "x", "imageID": "",
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 20s restarting failed container"}},
        "lastState": {"terminated": {"exitCode": exit_code, "reason": "Error"}}}]}


def running() -> dict[str, Any]:
    return {"phase": "Running", "containerStatuses": [{
        "name": "worker", "ready": True, "restartCount": 0, "image": "x", "imageID": "",
        "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}, "lastState": {}}]}


def put_status(kube, path: str, status: dict[str, Any]) -> None:
    current = kube.get(path).json()
    current["status"] = status
    resp = kube.put(f"{path}/status", json=current)
    assert resp.status_code == 200, resp.text


def il_job(name: str, ns: str = "default") -> dict[str, Any]:
    template = {"spec": {"nodeName": "edge-node", "containers": [{"name": "w", "image": "x"}]}}
    trigger = {"checkPeriodSeconds": 60, "condition": {"operator": ">", "threshold": 500, "metric": "num_of_samples"}}
    return {"apiVersion": "sedna.io/v1alpha1", "kind": "IncrementalLearningJob",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"dataset": {"name": "ds", "trainProb": 0.8}, "initialModel": {"name": "m0"},
                     "outputDir": "/output",
                     "trainSpec": {"template": template, "trigger": trigger},
                     "evalSpec": {"template": template},
                     "deploySpec": {"model": {"name": "m"}, "trigger": {"condition": {
                         "operator": ">", "threshold": 0.1, "metric": "precision_delta"}},
                         "hardExampleMining": {"name": "IBT"}, "template": template}}}
