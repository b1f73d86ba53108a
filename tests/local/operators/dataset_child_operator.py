"""A tiny kopf operator used by the emulator tests: on create of a Dataset it makes a child ConfigMap and a
Deployment owned by the Dataset and patches the Dataset's status; it records every handler call in $OPERATOR_RECORD."""

import os

import kopf
from kubernetes import client, config

RECORD = os.environ["OPERATOR_RECORD"]


def record(line: str) -> None:
    with open(RECORD, "a") as fh:
        fh.write(line + "\n")


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_):
    settings.watching.server_timeout = 30
    settings.watching.client_timeout = 40
    settings.posting.level = 20  # post INFO events too (created with generateName)
    config.load_kube_config()


@kopf.on.create("sedna.io", "v1alpha1", "datasets")
def create_child(name, namespace, body, patch, **_):
    record(f"create {name}")
    child = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{name}-child"},
             "data": {"url": body["spec"]["url"]}}
    kopf.adopt(child)
    client.CoreV1Api().create_namespaced_config_map(namespace, child)
    labels = {"dataset": name}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": f"{name}-worker"},
                  "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                           "template": {"metadata": {"labels": labels},
                                        "spec": {"containers": [{"name": "worker", "image": "worker:1"}]}}}}
    kopf.adopt(deployment)
    client.AppsV1Api().create_namespaced_deployment(namespace, deployment)
    patch.status["numberOfSamples"] = 3
    kopf.info(body, reason="ChildCreated", message=f"created ConfigMap {name}-child")


@kopf.on.delete("sedna.io", "v1alpha1", "datasets")
def deleted(name, **_):
    record(f"delete {name}")
